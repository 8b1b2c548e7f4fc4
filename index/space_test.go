package index

import (
	"context"
	"expvar"
	"fmt"
	"testing"
	"time"

	"github.com/kinedge/kinedge/index/store"
)

// badgerWrites returns badger's process-wide counters of bytes written:
// to the value log (including GC rewrites), to memtables (their
// write-ahead logs, about what a memtable flush writes again as a level-0
// table) and by compactions.
func badgerWrites() (vlog, mem, compaction int64) {
	if v, ok := expvar.Get("badger_write_bytes_vlog").(*expvar.Int); ok {
		vlog = v.Value()
	}
	if v, ok := expvar.Get("badger_write_bytes_l0").(*expvar.Int); ok {
		mem = v.Value()
	}
	if m, ok := expvar.Get("badger_write_bytes_compaction").(*expvar.Map); ok {
		m.Do(func(kv expvar.KeyValue) {
			if v, ok := kv.Value.(*expvar.Int); ok {
				compaction += v.Value()
			}
		})
	}
	return vlog, mem, compaction
}

// simStream is one camera of a space simulation.
type simStream struct {
	name  string
	hours int
}

// simResult is what a space simulation measured.
type simResult struct {
	video                       int64 // sealed bytes put
	vlogWritten, lsmWritten     int64 // bytes badger wrote (see badgerWrites)
	vlogOnDisk, maxVlogOnDisk   int64
	reclaimed                   uint64
	filesGCed, fragmentsExpired uint64
	maxDrop                     time.Duration // longest DropPrefix
	maxUsed, limit              int64         // the budget's usage at its highest, and its limit
	fragmentsEvicted            uint64
	kept                        time.Duration // history of the first stream at the end
}

// amplification is bytes written to disk per byte of video.
func (r simResult) amplification() float64 {
	return float64(r.vlogWritten+r.lsmWritten) / float64(r.video)
}

func (r simResult) String() string {
	return fmt.Sprintf("video %.1f MiB; written: vlog %.1f MiB, lsm %.1f MiB (%.3f bytes per video byte); vlog on disk %.1f MiB (max %.1f); reclaimed %.1f MiB in %d files; %d fragments expired; longest DropPrefix %v",
		mib(r.video), mib(r.vlogWritten), mib(r.lsmWritten), r.amplification(), mib(r.vlogOnDisk), mib(r.maxVlogOnDisk), mib(int64(r.reclaimed)), r.filesGCed, r.fragmentsExpired, r.maxDrop.Round(time.Millisecond))
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// simulate writes one fragment of blobSize per stream every `every` of
// simulated time for `span`, on the injected clock, and runs a GC cycle
// every 5 simulated minutes, as the background loop would; with a budget
// on opts.DB it also enforces the budget after every round of puts, as
// the store's loop would.
func simulate(tb testing.TB, opts Options, streams []simStream, span, every time.Duration, blobSize int) simResult {
	tb.Helper()
	clk := newClock()
	opts.Now = clk.Now
	opts.GCInterval = time.Hour // cycles are run by hand on the simulated clock
	x, err := Open(opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	defer x.Close()
	ctx := context.Background()
	for _, s := range streams {
		mustStream(tb, x, s.name, s.hours)
	}
	var res simResult
	v0, m0, c0 := badgerWrites()
	nextGC := t0.Add(5 * time.Minute)
	for end := t0.Add(span); clk.Now().Before(end); clk.Advance(every) {
		for _, s := range streams {
			n, err := x.NextFragmentNumber(ctx)
			if err != nil {
				tb.Fatal(err)
			}
			f := Fragment{Number: n, Stream: s.name, ServerTime: clk.Now(), Duration: every}
			if err := x.PutFragment(ctx, f, blobFor(n, blobSize)); err != nil {
				tb.Fatal(err)
			}
			res.video += int64(blobSize)
		}
		if opts.DB != nil {
			st := opts.DB.Enforce(ctx)
			res.maxUsed, res.limit = max(res.maxUsed, st.Used), st.Limit
		}
		if !clk.Now().Before(nextGC) {
			nextGC = nextGC.Add(5 * time.Minute)
			rep, err := x.RunGC(ctx)
			if err != nil {
				tb.Fatalf("RunGC: %v", err)
			}
			res.maxDrop = max(res.maxDrop, rep.DropTime)
			_, v, err := x.DiskUsage()
			if err != nil {
				tb.Fatal(err)
			}
			res.maxVlogOnDisk = max(res.maxVlogOnDisk, v)
		}
	}
	if _, res.vlogOnDisk, err = x.DiskUsage(); err != nil {
		tb.Fatal(err)
	}
	v1, m1, c1 := badgerWrites()
	res.vlogWritten = v1 - v0
	res.lsmWritten = 2*(m1-m0) + (c1 - c0)
	st := x.Stats()
	res.reclaimed, res.filesGCed, res.fragmentsExpired = st.BytesReclaimed, st.VlogFilesGCed, st.FragmentsExpired
	res.fragmentsEvicted = st.FragmentsEvicted
	if f, err := x.Earliest(ctx, streams[0].name); err == nil {
		res.kept = clk.Now().Sub(f.ServerTime)
	}
	return res
}

// TestGCReclaimsSpace writes 3 simulated hours of one camera with 1 h
// retention (135 MiB of sealed fragments) and checks that the value log
// on disk stays near one retention's worth and that GC freed whole files
// without rewriting live video.
func TestGCReclaimsSpace(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 135 MiB")
	}
	opts := Options{Dir: t.TempDir(), NoSync: true, ValueLogFileSize: 4 << 20}
	const blob = 128 << 10
	res := simulate(t, opts, []simStream{{"cam1", 1}}, 3*time.Hour, 10*time.Second, blob)
	t.Logf("one camera, 1 h retention, 3 h: %v", res)
	// One hour of video is 360 fragments, 45 MiB. On disk there may also
	// be one bucket (10 min), one GC interval (5 min) and the open value
	// log file (4 MiB, preallocated up to twice that).
	perHour := int64(360 * blob)
	limit := perHour + perHour/4 + 8<<20
	if res.maxVlogOnDisk > limit {
		t.Errorf("value log reached %.1f MiB on disk, want at most %.1f", mib(res.maxVlogOnDisk), mib(limit))
	}
	if res.reclaimed < uint64(perHour) {
		t.Errorf("GC reclaimed %.1f MiB, want at least an hour of video (%.1f MiB)", mib(int64(res.reclaimed)), mib(perHour))
	}
	// Expired buckets free whole files: value-log GC rewrites (almost)
	// nothing, so the value log is written about once per video byte.
	if vlogAmp := float64(res.vlogWritten) / float64(res.video); vlogAmp > 1.02 {
		t.Errorf("value log written %.3f times per video byte, want at most 1.02", vlogAmp)
	}
}

// TestBudgetReclaimsSpace writes 3 simulated hours of one camera with 24 h
// retention into a 48 MiB storage budget: eviction, not retention, makes
// room. Usage never passes the limit after the store's check, the newest
// video is kept, and eviction costs no rewrites of live video.
func TestBudgetReclaimsSpace(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 135 MiB")
	}
	db, err := store.Open(store.Options{Dir: t.TempDir(), NoSync: true, MemTableSize: 1 << 20, ValueLogFileSize: 4 << 20,
		CheckInterval: time.Hour, Budget: store.Budget{MaxBytes: 48 << 20, MinFreePercent: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res := simulate(t, Options{DB: db}, []simStream{{"cam1", 24}}, 3*time.Hour, 10*time.Second, 128<<10)
	t.Logf("48 MiB budget, 3 h: %v; usage at most %.1f MiB of %.1f; %d fragments evicted; %v of video kept",
		res, mib(res.maxUsed), mib(res.limit), res.fragmentsEvicted, res.kept)
	if res.maxUsed > res.limit {
		t.Errorf("usage reached %d, over the limit %d", res.maxUsed, res.limit)
	}
	if res.fragmentsEvicted == 0 || res.fragmentsExpired != 0 {
		t.Errorf("%d fragments evicted, %d expired: the budget, not retention, should make room", res.fragmentsEvicted, res.fragmentsExpired)
	}
	// About 11 MiB of the 48 hold video (the reserves, the preallocated
	// files and the eviction margin take the rest): 14 minutes.
	if res.kept < 10*time.Minute {
		t.Errorf("only %v of video kept in a 48 MiB budget (12.8 KiB/s)", res.kept)
	}
	if a := float64(res.vlogWritten) / float64(res.video); a > 1.02 {
		t.Errorf("value log written %.3f times per video byte, want at most 1.02 (no rewrites of live video)", a)
	}
}
