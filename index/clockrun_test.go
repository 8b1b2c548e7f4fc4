package index

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index/store"
)

// putMarked stores a fragment of stream cam recorded unsynchronised at
// server time at on a timeline with offset off.
func putMarked(t *testing.T, x *Index, at time.Time, off time.Duration) uint64 {
	t.Helper()
	ctx := context.Background()
	num, err := x.NextFragmentNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f := Fragment{Number: num, Stream: "cam", ServerTime: at, Duration: 2 * time.Second,
		Tracks: []TrackInfo{{Codec: "H264", Kind: "video"}}, ClockUnsynced: true, ClockOffset: off}
	if err := x.PutFragment(ctx, f, blobFor(num, 3000)); err != nil {
		t.Fatalf("PutFragment: %v", err)
	}
	return num
}

// nextNumber is the first number a run starting now may issue: past
// every stored one (as the appliance reads it at start).
func nextNumber(t *testing.T, x *Index) uint64 {
	t.Helper()
	f, err := x.Latest(context.Background(), "cam")
	if errors.Is(err, ErrFragmentNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return f.Number + 1
}

// TestCorrectEarlierRuns: run A of a board's boot starts unsynchronised
// at the floor, records, jumps (still unsynchronised) and records more,
// and the process restarts; run B of the same boot continues after A's
// newest fragment, records, and the clock is set. B corrects its own
// fragments (CorrectClock) and A's (CorrectEarlierRuns), placing A by the
// boot time between the runs: every fragment is at its real time, settled.
func TestCorrectEarlierRuns(t *testing.T) {
	forModes(t, func(t *testing.T, x *Index, clk *fakeClock) {
		ctx := context.Background()
		mustStream(t, x, "cam", 24*100)
		floor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		// The real time of the instant b after the boot.
		bootReal := t0.Add(-time.Hour)
		realAt := func(b time.Duration) time.Time { return bootReal.Add(b) }

		// Run A: starts 100 s after the boot.
		bA := 100 * time.Second
		clk.Set(floor)
		runA := ClockRun{BootID: "boot-1", BootTime: bA, Start: floor, FirstNumber: nextNumber(t, x)}
		if err := x.RecordClockRun(ctx, runA); err != nil {
			t.Fatal(err)
		}
		var numsA []uint64
		var bootsA []time.Duration
		for i := range 3 {
			numsA = append(numsA, putMarked(t, x, floor.Add(time.Duration(i)*2*time.Second), 0))
			bootsA = append(bootsA, bA+time.Duration(i)*2*time.Second)
		}
		// fake-hwclock restores a time: A's timeline moves by jump, still
		// unsynchronised, and records one more on it.
		jump := 7 * time.Hour
		if _, err := x.CorrectClock(ctx, runA.FirstNumber, jump, false); err != nil {
			t.Fatal(err)
		}
		numsA = append(numsA, putMarked(t, x, floor.Add(6*time.Second+jump), jump))
		bootsA = append(bootsA, bA+6*time.Second)

		// The process restarts 30 s later; run B starts after A's newest
		// fragment (RaiseStart), on a timeline without offset.
		bB := bA + 8*time.Second + 30*time.Second
		startB := floor.Add(8*time.Second + jump)
		clk.Set(startB)
		runB := ClockRun{BootID: "boot-1", BootTime: bB, Start: startB, FirstNumber: nextNumber(t, x)}
		if runB.FirstNumber != numsA[3]+1 {
			t.Fatalf("run B from %d, want %d", runB.FirstNumber, numsA[3]+1)
		}
		if err := x.RecordClockRun(ctx, runB); err != nil {
			t.Fatal(err)
		}
		var numsB []uint64
		var bootsB []time.Duration
		for i := range 2 {
			numsB = append(numsB, putMarked(t, x, startB.Add(time.Duration(i)*2*time.Second), 0))
			bootsB = append(bootsB, bB+time.Duration(i)*2*time.Second)
		}
		// NTP sets the clock 5 s into B: B's offset is the real time
		// minus B's timeline then.
		bS := bB + 5*time.Second
		offB := realAt(bS).Sub(startB.Add(bS - bB))
		clk.Set(realAt(bS))
		if c, err := x.CorrectClock(ctx, runB.FirstNumber, offB, true); err != nil || c.Moved != 2 {
			t.Fatalf("B's own correction %+v, %v: want 2 moved", c, err)
		}
		c, err := x.CorrectEarlierRuns(ctx, runB, offB)
		if err != nil || c.Moved != 4 || c.Settled != 4 {
			t.Fatalf("correction of the earlier run %+v, %v: want 4 moved and settled", c, err)
		}
		check := func(when string) {
			t.Helper()
			for i, n := range append(append([]uint64{}, numsA...), numsB...) {
				b := append(append([]time.Duration{}, bootsA...), bootsB...)[i]
				got, err := x.Fragment(ctx, n)
				if err != nil {
					t.Fatalf("%s: fragment %d: %v", when, n, err)
				}
				if want := realAt(b); !got.ServerTime.Equal(want) || !got.ProducerTime.Equal(want) || got.ClockUnsynced {
					t.Errorf("%s: fragment %d at %v/%v unsynced %v, want %v", when, n, got.ServerTime, got.ProducerTime, got.ClockUnsynced, want)
				}
			}
			// Replay by timestamp finds the six at their real times, and
			// none at the timelines'.
			if fs, _, err := x.List(ctx, "cam", Query{Start: realAt(bA), End: realAt(bS)}); err != nil || len(fs) != 6 {
				t.Errorf("%s: %d fragments at the real times, %v; want 6", when, len(fs), err)
			}
			if fs, _, _ := x.List(ctx, "cam", Query{End: realAt(bA).Add(-time.Second)}); len(fs) != 0 {
				t.Errorf("%s: %d fragments left before the real times", when, len(fs))
			}
		}
		check("after the sync")
		// A's record is gone (settled); B's stays for a later run of the
		// boot to settle any fragment B leaves marked.
		if runs, err := x.ClockRuns(ctx); err != nil || len(runs) != 1 || runs[0] != runB {
			t.Fatalf("runs left %+v, %v: want B's", runs, err)
		}
		// Idempotent: the repeats at the next looks move nothing.
		c, err = x.CorrectEarlierRuns(ctx, runB, offB)
		if err != nil || c != (ClockCorrection{}) {
			t.Fatalf("repeat %+v, %v: want nothing", c, err)
		}
		if c, err := x.CorrectClock(ctx, runB.FirstNumber, offB, true); err != nil || c != (ClockCorrection{}) {
			t.Fatalf("repeat of B's own %+v, %v: want nothing", c, err)
		}
		// A third run of the boot, synchronised at start, settles B's
		// record; nothing moves.
		runC := ClockRun{BootID: "boot-1", BootTime: bS + time.Minute, Start: realAt(bS + time.Minute), FirstNumber: nextNumber(t, x)}
		if c, err := x.CorrectEarlierRuns(ctx, runC, 0); err != nil || c != (ClockCorrection{}) {
			t.Fatalf("a synced run's correction %+v, %v: want nothing", c, err)
		}
		if runs, _ := x.ClockRuns(ctx); len(runs) != 0 {
			t.Fatalf("runs left %+v", runs)
		}
		check("after the repeats")
	})
}

// TestCorrectEarlierRunsOtherBoot: a run of an earlier boot (a power cut
// between: the boot clock started again) is not corrected; its fragments
// keep their marks and times, its record is dropped.
func TestCorrectEarlierRunsOtherBoot(t *testing.T) {
	forModes(t, func(t *testing.T, x *Index, clk *fakeClock) {
		ctx := context.Background()
		mustStream(t, x, "cam", 24*100)
		floor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		clk.Set(floor)
		runA := ClockRun{BootID: "boot-1", BootTime: time.Hour, Start: floor, FirstNumber: nextNumber(t, x)}
		if err := x.RecordClockRun(ctx, runA); err != nil {
			t.Fatal(err)
		}
		nums := []uint64{putMarked(t, x, floor, 0), putMarked(t, x, floor.Add(2*time.Second), 0)}
		// The next boot starts with its clock synchronised, 20 s after
		// the boot (less than A's boot time: a boot time alone would
		// place A in the future).
		clk.Set(t0)
		cur := ClockRun{BootID: "boot-2", BootTime: 20 * time.Second, Start: t0, FirstNumber: nextNumber(t, x)}
		c, err := x.CorrectEarlierRuns(ctx, cur, 0)
		if err != nil || c != (ClockCorrection{}) {
			t.Fatalf("correction %+v, %v: want nothing", c, err)
		}
		for i, n := range nums {
			got, err := x.Fragment(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			if want := floor.Add(time.Duration(i) * 2 * time.Second); !got.ServerTime.Equal(want) || !got.ClockUnsynced {
				t.Errorf("fragment %d at %v unsynced %v, want %v still marked", n, got.ServerTime, got.ClockUnsynced, want)
			}
		}
		if runs, _ := x.ClockRuns(ctx); len(runs) != 0 {
			t.Fatalf("runs left %+v: the other boot's record should be dropped", runs)
		}
	})
}

// TestRecordClockRun: records are kept in number order; a new run drops
// the records of other boots and those it supersedes.
func TestRecordClockRun(t *testing.T) {
	x := openT(t, Options{InMemory: true})
	ctx := context.Background()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	run := func(boot string, n uint64) ClockRun {
		return ClockRun{BootID: boot, BootTime: time.Duration(n) * time.Second, Start: at.Add(time.Duration(n) * time.Minute), Offset: time.Duration(n), FirstNumber: n}
	}
	for _, step := range []struct {
		rec  ClockRun
		want []ClockRun
	}{
		{run("boot-1", 10), []ClockRun{run("boot-1", 10)}},
		{run("boot-2", 20), []ClockRun{run("boot-2", 20)}},
		{run("boot-2", 30), []ClockRun{run("boot-2", 20), run("boot-2", 30)}},
		{run("boot-2", 40), []ClockRun{run("boot-2", 20), run("boot-2", 30), run("boot-2", 40)}},
		// A run that issued nothing is superseded by the next from the same number.
		{run("boot-2", 30), []ClockRun{run("boot-2", 20), run("boot-2", 30)}},
	} {
		if err := x.RecordClockRun(ctx, step.rec); err != nil {
			t.Fatal(err)
		}
		got, err := x.ClockRuns(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(step.want) {
			t.Fatalf("after %+v: %+v, want %+v", step.rec, got, step.want)
		}
		for i := range got {
			if got[i] != step.want[i] {
				t.Fatalf("after %+v: %+v, want %+v", step.rec, got, step.want)
			}
		}
	}
	if err := x.RecordClockRun(ctx, ClockRun{FirstNumber: 50}); err == nil {
		t.Fatal("a run without a boot id was recorded")
	}
	// An unreadable record is left out, not an error, and the next
	// record drops it.
	if err := x.update(ctx, store.Meta, func(txn *store.Txn) error { return txn.Set(clockRunKey(5), []byte("{garbage")) }); err != nil {
		t.Fatal(err)
	}
	if got, err := x.ClockRuns(ctx); err != nil || len(got) != 2 {
		t.Fatalf("with an unreadable record: %+v, %v; want the two good ones", got, err)
	}
	if err := x.RecordClockRun(ctx, run("boot-2", 40)); err != nil {
		t.Fatal(err)
	}
	if n := countPrefix(t, x, []byte(pfxClockRun)); n != 3 {
		t.Fatalf("%d run records, want 3 (the unreadable one dropped)", n)
	}
}

func FuzzDecodeClockRun(f *testing.F) {
	good, _ := json.Marshal(clockRunRecord{BootID: "4dfb04db-b803-443f-a596-cd20d218407b", BootTime: 1e9, Start: 1767225600e9, Offset: -5})
	for _, v := range [][]byte{good, []byte(`{}`), []byte(`{"boot_id":""}`), []byte(`{"boot_id":7}`), []byte(`null`), nil} {
		f.Add(clockRunKey(42), v)
		f.Add([]byte(pfxClockRun), v)
	}
	f.Fuzz(func(t *testing.T, k, v []byte) {
		r, err := decodeClockRun(k, v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%q %q: %v, not ErrCorrupt", k, v, err)
			}
			return
		}
		if r.BootID == "" {
			t.Fatalf("%q %q: decoded a run without a boot id", k, v)
		}
	})
}

// TestNumbersStoredEnd: one past the highest number stored, also when the
// fragment is past its retention on the present clock.
func TestNumbersStoredEnd(t *testing.T) {
	forModes(t, func(t *testing.T, x *Index, clk *fakeClock) {
		ctx := context.Background()
		if n, err := x.NumbersStoredEnd(ctx); err != nil || n != 0 {
			t.Fatalf("empty: %d, %v", n, err)
		}
		mustStream(t, x, "cam", 1)
		mustPut(t, x, "cam", t0, t0, 100)
		last := mustPut(t, x, "cam", t0.Add(2*time.Second), t0.Add(2*time.Second), 100)
		clk.Advance(48 * time.Hour) // both past their retention, not yet swept
		if _, err := x.Latest(ctx, "cam"); !errors.Is(err, ErrFragmentNotFound) {
			t.Fatalf("Latest past retention: %v", err)
		}
		if n, err := x.NumbersStoredEnd(ctx); err != nil || n != last.Number+1 {
			t.Fatalf("%d, %v; want %d", n, err, last.Number+1)
		}
	})
}

// TestUnsyncedFragmentHasNoTTL: the keys of a fragment recorded before
// the clock was set carry no badger TTL (one stamped on a system clock at
// 1970 would expire when NTP sets it); the correction that settles it
// gives it its TTL.
func TestUnsyncedFragmentHasNoTTL(t *testing.T) {
	forModes(t, func(t *testing.T, x *Index, clk *fakeClock) {
		ctx := context.Background()
		mustStream(t, x, "cam", 24)
		num := putMarked(t, x, t0, 0)
		ttls := func() []uint64 {
			var exp []uint64
			for _, pfx := range []string{pfxNumber, pfxServer, pfxProducer, pfxBlob} {
				err := x.view(func(txn *store.Txn) error {
					it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pfx)})
					defer it.Close()
					for it.Rewind(); it.Valid(); it.Next() {
						exp = append(exp, it.Item().ExpiresAt())
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			return exp
		}
		if exp := ttls(); len(exp) != 4 || exp[0] != 0 || exp[1] != 0 || exp[2] != 0 || exp[3] != 0 {
			t.Fatalf("marked fragment's key TTLs %v, want four without", exp)
		}
		if _, err := x.CorrectClock(ctx, num, time.Hour, true); err != nil {
			t.Fatal(err)
		}
		for _, e := range ttls() {
			if e == 0 {
				t.Fatalf("settled fragment's key TTLs %v, want all set", ttls())
			}
		}
	})
}

// TestCorrectEarlierRunsTwo: runs A and B of one boot both end before the
// clock is set, each restarted after the other's newest fragment; run C
// starts synchronised and settles both, each by its own offset over its
// own number range.
func TestCorrectEarlierRunsTwo(t *testing.T) {
	forModes(t, func(t *testing.T, x *Index, clk *fakeClock) {
		ctx := context.Background()
		mustStream(t, x, "cam", 24*100)
		floor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		bootReal := t0.Add(-time.Hour)
		realAt := func(b time.Duration) time.Time { return bootReal.Add(b) }
		type frag struct {
			num  uint64
			boot time.Duration
		}
		var frags []frag
		// run records n fragments 2 s apart from boot time b on a
		// timeline that starts at start.
		run := func(b time.Duration, start time.Time, n int) {
			clk.Set(start)
			end, err := x.NumbersStoredEnd(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := x.RecordClockRun(ctx, ClockRun{BootID: "boot-1", BootTime: b, Start: start, FirstNumber: end}); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				d := time.Duration(i) * 2 * time.Second
				frags = append(frags, frag{putMarked(t, x, start.Add(d), 0), b + d})
			}
		}
		run(10*time.Second, floor, 3)                                // A: ends at boot 16 s, floor + 6 s
		run(16*time.Second+time.Minute, floor.Add(6*time.Second), 4) // B: after a minute's restart, raised to A's end
		if runs, _ := x.ClockRuns(ctx); len(runs) != 2 {
			t.Fatalf("runs recorded %+v, want 2", runs)
		}
		bC := 5 * time.Minute
		clk.Set(realAt(bC))
		end, _ := x.NumbersStoredEnd(ctx)
		c, err := x.CorrectEarlierRuns(ctx, ClockRun{BootID: "boot-1", BootTime: bC, Start: realAt(bC), FirstNumber: end}, 0)
		if err != nil || c.Moved != 7 || c.Settled != 7 {
			t.Fatalf("correction %+v, %v: want 7 moved and settled", c, err)
		}
		for _, f := range frags {
			got, err := x.Fragment(ctx, f.num)
			if err != nil {
				t.Fatal(err)
			}
			if want := realAt(f.boot); !got.ServerTime.Equal(want) || got.ClockUnsynced {
				t.Errorf("fragment %d at %v unsynced %v, want %v", f.num, got.ServerTime, got.ClockUnsynced, want)
			}
		}
		if runs, _ := x.ClockRuns(ctx); len(runs) != 0 {
			t.Fatalf("runs left %+v", runs)
		}
	})
}

// storedNumber tells whether fragment n's number key is stored, visible
// or not.
func storedNumber(t *testing.T, x *Index, n uint64) bool {
	t.Helper()
	err := x.view(func(txn *store.Txn) error {
		_, err := txn.Get(numberKey(n))
		return err
	})
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// TestRetentionAgesUnsyncedOnBootClock: the clock is set (the index's
// clock reads the real time) before the correction moved the fragments a
// run of this boot recorded at the floor, and a retention cycle runs
// between. Retention reads their age on the boot's clock: what was
// recorded within retention stays, blob and all, and the correction then
// lists it at its real time; what is older goes, as does a marked
// fragment no run of this boot recorded (an earlier boot's: its time is
// all there is).
func TestRetentionAgesUnsyncedOnBootClock(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock()
			var boot atomic.Int64 // the boot clock, ns
			opts := m.opts(t)
			opts.Now = clk.Now
			opts.BootClock = func() (string, time.Duration, error) { return "boot-1", time.Duration(boot.Load()), nil }
			x := openT(t, opts)
			mustStream(t, x, "cam", 1)
			floor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			clk.Set(floor)
			earlierBoot := putMarked(t, x, floor, 0)
			// The run starts 10 min after the boot, its timeline at floor+1m.
			run := ClockRun{BootID: "boot-1", BootTime: 10 * time.Minute, Start: floor.Add(time.Minute), FirstNumber: nextNumber(t, x)}
			if err := x.RecordClockRun(ctx, run); err != nil {
				t.Fatal(err)
			}
			old := putMarked(t, x, floor.Add(time.Minute), 0)               // boot 10 min
			young := putMarked(t, x, floor.Add(51*time.Minute), 0)          // boot 60 min
			jump := 7 * time.Hour                                           // fake-hwclock moved the timeline
			jumped := putMarked(t, x, floor.Add(jump+52*time.Minute), jump) // boot 61 min
			// NTP sets the clock 90 min after the boot (a restart
			// between: the run is an earlier one); a retention cycle runs
			// before the correction.
			clk.Set(t0)
			boot.Store(int64(90 * time.Minute))
			if _, err := x.RunGC(ctx); err != nil {
				t.Fatal(err)
			}
			for _, n := range []uint64{earlierBoot, old} {
				if storedNumber(t, x, n) {
					t.Errorf("fragment %d past retention on the boot clock is still stored", n)
				}
			}
			end, err := x.NumbersStoredEnd(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cur := ClockRun{BootID: "boot-1", BootTime: 90 * time.Minute, Start: t0, FirstNumber: end}
			if _, err := x.CorrectEarlierRuns(ctx, cur, 0); err != nil {
				t.Fatal(err)
			}
			for n, at := range map[uint64]time.Time{young: t0.Add(-30 * time.Minute), jumped: t0.Add(-29 * time.Minute)} {
				f, err := x.Fragment(ctx, n)
				if err != nil {
					t.Fatalf("fragment %d within retention on the boot clock: %v", n, err)
				}
				if !f.ServerTime.Equal(at) || f.ClockUnsynced {
					t.Errorf("fragment %d at %v (unsynced %v), want %v", n, f.ServerTime, f.ClockUnsynced, at)
				}
				b, err := x.Blob(ctx, n)
				if err != nil || !bytes.Equal(b, blobFor(n, 3000)) {
					t.Fatalf("blob of fragment %d: %d bytes, %v", n, len(b), err)
				}
			}
		})
	}
}

// TestEvictionDropsHeldUnsynced: the storage budget's floor evicts a
// marked fragment that retention holds for its age on the boot clock.
func TestEvictionDropsHeldUnsynced(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	x := openT(t, Options{InMemory: true, Now: clk.Now,
		BootClock: func() (string, time.Duration, error) { return "boot-1", 20 * time.Minute, nil }})
	mustStream(t, x, "cam", 1)
	floor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk.Set(floor)
	run := ClockRun{BootID: "boot-1", BootTime: 10 * time.Minute, Start: floor, FirstNumber: nextNumber(t, x)}
	if err := x.RecordClockRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	n := putMarked(t, x, floor.Add(time.Minute), 0)
	clk.Set(t0)
	if _, err := x.RunGC(ctx); err != nil {
		t.Fatal(err)
	}
	if !storedNumber(t, x, n) {
		t.Fatal("a fragment 9 min old on the boot clock was expired")
	}
	if err := x.raiseFloor(ctx, floor.Add(time.Hour).UnixNano()); err != nil {
		t.Fatal(err)
	}
	if _, err := x.RunGC(ctx); err != nil {
		t.Fatal(err)
	}
	if storedNumber(t, x, n) {
		t.Fatal("a fragment below the eviction floor is still stored")
	}
}
