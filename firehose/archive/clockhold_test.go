package archive

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// unsetClock is a recording clock that has not been set: fragments
// recorded on it are marked ClockUnsynced.
type unsetClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *unsetClock) Read() (time.Time, fragment.ClockState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t, fragment.ClockState{}
}

// recordUnsynced records the test clip into stream on a clock that reads
// base at its start and is not set.
func (b *box) recordUnsynced(t *testing.T, stream string, base time.Time) []index.Fragment {
	t.Helper()
	if _, err := b.idx.CreateStream(t.Context(), index.Stream{Name: stream}); err != nil {
		t.Fatal(err)
	}
	clk := &unsetClock{t: base}
	var mu sync.Mutex
	var stored []index.Fragment
	r := &fragment.Recorder{Stream: stream, Tracks: clip(t).Tracks, Sink: b.idx, Sealer: b.kr, Clock: clk,
		OnStored: func(f index.Fragment) { mu.Lock(); stored = append(stored, f); mu.Unlock() }}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range clip(t).Frames {
		clk.mu.Lock()
		clk.t = base.Add(f.DTS)
		clk.mu.Unlock()
		cf := *f
		r.WriteFrame(&cf)
	}
	r.Close()
	if len(stored) < 2 || !stored[0].ClockUnsynced {
		t.Fatalf("stored %d fragments (first unsynced: %v)", len(stored), len(stored) > 0 && stored[0].ClockUnsynced)
	}
	return stored
}

// TestUnsyncedWaitsForTheClock: fragments recorded before the clock was
// set are not uploaded while ClockHold says so and they are younger than
// UnsyncedGrace (the
// archive holds nothing after them either, and the eviction hold stays
// before them); once the clock correction moves them, they go up under
// their real hour. Fragments older than the grace go up as they are.
func TestUnsyncedWaitsForTheClock(t *testing.T) {
	for _, prio := range []Priority{Oldest, Newest} {
		t.Run(string(prio), func(t *testing.T) {
			b := openBox(t, "", seal.NewMasterKey())
			// The boot timeline reads 3 hours behind the real time (the
			// index's clock, which keeps the fragments within retention).
			boot := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
			stored := b.recordUnsynced(t, "cam1", boot)
			var mu sync.Mutex
			now := boot.Add(time.Minute)
			bk := &memBucket{}
			hold := true
			a := &Archiver{Index: b.idx, Space: b.sp, Bucket: bk, Keys: b.idx.Keys(), Sealed: true, ApplianceID: "pi-7",
				Priority: prio, Rescan: time.Hour, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
				ClockHold: func() bool { mu.Lock(); defer mu.Unlock(); return hold }}
			if err := a.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close() })
			testtool.WaitFor(t, "a pass over the backlog", func() bool {
				st := a.Stats()
				return st.Passes >= 1 && st.Backlog == int64(len(stored))
			})
			a.Notify(index.Fragment{}) // and one more pass after it
			testtool.WaitFor(t, "a second pass", func() bool { return a.Stats().Passes >= 2 })
			if st := a.Stats(); st.Objects != 0 {
				t.Fatalf("%d fragments uploaded before the clock was set", st.Objects)
			}
			if through := a.ArchivedThrough(); through.After(stored[0].ServerTime) {
				t.Fatalf("eviction hold %v after the first waiting fragment %v", through, stored[0].ServerTime)
			}
			// The clock is set: the real time is 2 hours after the boot
			// timeline's. The appliance releases the hold once the
			// correction is done (a pass between the two would upload
			// under the boot timeline's hour).
			offset := 2 * time.Hour
			mu.Lock()
			now = now.Add(offset)
			mu.Unlock()
			if c, err := b.idx.CorrectClock(context.Background(), stored[0].Number, offset, true); err != nil || c.Settled != len(stored) {
				t.Fatalf("CorrectClock: %+v %v", c, err)
			}
			mu.Lock()
			hold = false
			mu.Unlock()
			a.Notify(index.Fragment{})
			archived(t, a, uint64(len(stored)))
			bk.mu.Lock()
			defer bk.mu.Unlock()
			for _, f := range stored {
				if _, ok := bk.objs[ObjectKey("", "pi-7", "cam1", f.ServerTime.Add(offset), f.Number)]; !ok {
					t.Errorf("fragment %d not archived under its real time %v", f.Number, f.ServerTime.Add(offset))
				}
			}
		})
	}
	t.Run("grace", func(t *testing.T) {
		b := openBox(t, "", seal.NewMasterKey())
		boot := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
		stored := b.recordUnsynced(t, "cam1", boot)
		bk := &memBucket{}
		// Never set, and recorded longer ago than the grace: they go.
		a := &Archiver{Index: b.idx, Space: b.sp, Bucket: bk, Keys: b.idx.Keys(), Sealed: true, ApplianceID: "pi-7",
			UnsyncedGrace: time.Hour, Rescan: time.Hour, Now: func() time.Time { return boot.Add(2 * time.Hour) },
			ClockHold: func() bool { return true }}
		if err := a.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		archived(t, a, uint64(len(stored)))
		bk.mu.Lock()
		defer bk.mu.Unlock()
		for _, f := range stored {
			if _, ok := bk.objs[ObjectKey("", "pi-7", "cam1", f.ServerTime, f.Number)]; !ok {
				t.Errorf("fragment %d not archived at its boot-timeline time %v", f.Number, f.ServerTime)
			}
		}
	})
}
