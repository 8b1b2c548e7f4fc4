package index

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/index/store"
)

// TestEvictOldest checks eviction for the storage budget: the oldest
// bucket of all streams goes at once, from every read, with its usage;
// the floor survives a restart and refuses fragments older than it; the
// bucket still being written is never evicted.
func TestEvictOldest(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock()
			opts := m.opts(t)
			opts.Now, opts.BucketWidth = clk.Now, time.Minute
			x := openT(t, opts)
			mustStream(t, x, "a", 24)
			mustStream(t, x, "b", 24)
			// Buckets end at t0+1m, +2m, +3m; a 1 KiB fragment of each
			// stream in each, 10 s apart.
			var byBucket [3][]Fragment
			for i := range 18 {
				at := t0.Add(time.Duration(i) * 10 * time.Second)
				f := mustPut(t, x, []string{"a", "b"}[i%2], at, at, 1000+i)
				byBucket[i/6] = append(byBucket[i/6], f)
			}
			clk.Set(t0.Add(150 * time.Second)) // inside the third bucket
			usage := func() map[string]int64 {
				u, err := x.Usage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				out := map[string]int64{}
				for _, s := range u {
					out[s.Stream] = s.Bytes
				}
				return out
			}
			sum := func(fs []Fragment, stream string) (n int64) {
				for _, f := range fs {
					if stream == "" || f.Stream == stream {
						n += f.Size
					}
				}
				return n
			}
			all := append(append(append([]Fragment{}, byBucket[0]...), byBucket[1]...), byBucket[2]...)
			if u := usage(); u["a"] != sum(all, "a") || u["b"] != sum(all, "b") {
				t.Fatalf("usage %v, want a=%d b=%d", u, sum(all, "a"), sum(all, "b"))
			}

			got, err := x.Evict(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if got.Fragments != 6 || got.Bytes != sum(byBucket[0], "") || !got.Before.Equal(t0.Add(time.Minute)) {
				t.Errorf("Evict = %+v, want 6 fragments, %d bytes, before %v", got, sum(byBucket[0], ""), t0.Add(time.Minute))
			}
			for _, f := range byBucket[0] {
				_, err := x.Fragment(ctx, f.Number)
				checkErr(t, "evicted fragment", err, ErrFragmentNotFound)
				_, err = x.Blob(ctx, f.Number)
				checkErr(t, "evicted blob", err, ErrFragmentNotFound)
			}
			for _, f := range byBucket[1] {
				if _, err := x.Blob(ctx, f.Number); err != nil {
					t.Errorf("newer fragment %d: %v", f.Number, err)
				}
			}
			if e, err := x.Earliest(ctx, "a"); err != nil || e.Number != byBucket[1][0].Number {
				t.Errorf("Earliest after eviction: %d, %v, want %d", e.Number, err, byBucket[1][0].Number)
			}
			if u := usage(); u["a"] != sum(byBucket[1], "a")+sum(byBucket[2], "a") {
				t.Errorf("usage after eviction %v", u)
			}
			s := x.Stats()
			if s.FragmentsEvicted != 6 || s.BytesEvicted != uint64(sum(byBucket[0], "")) || s.FragmentsExpired != 0 || s.BytesExpired != 0 {
				t.Errorf("stats %+v", s)
			}
			if !x.EvictionFloor().Equal(t0.Add(time.Minute)) {
				t.Errorf("floor %v", x.EvictionFloor())
			}
			// A fragment older than the floor is refused, and says why.
			n, _ := x.NextFragmentNumber(ctx)
			err = x.PutFragment(ctx, Fragment{Number: n, Stream: "a", ServerTime: t0.Add(30 * time.Second)}, []byte("late"))
			if !errors.Is(err, ErrInvalidFragment) || !strings.Contains(err.Error(), "eviction floor") {
				t.Errorf("put before the floor: %v", err)
			}

			if _, err := x.Evict(ctx, 1); err != nil {
				t.Fatal(err)
			}
			// Only the bucket being written is left.
			if _, err := x.Evict(ctx, 1); !errors.Is(err, store.ErrNothingToEvict) {
				t.Errorf("evicting the open bucket: %v", err)
			}
			for _, f := range byBucket[2] {
				if _, err := x.Blob(ctx, f.Number); err != nil {
					t.Errorf("newest fragment %d: %v", f.Number, err)
				}
			}
			if m.name != "disk" {
				return
			}
			if err := x.Close(); err != nil {
				t.Fatal(err)
			}
			x = openT(t, opts)
			if !x.EvictionFloor().Equal(t0.Add(2 * time.Minute)) {
				t.Errorf("floor after restart %v", x.EvictionFloor())
			}
			if u := usage(); u["a"] != sum(byBucket[2], "a") || u["b"] != sum(byBucket[2], "b") {
				t.Errorf("usage after restart %v", u)
			}
			fs, _, err := x.List(ctx, "b", Query{})
			if err != nil || len(fs) != 3 {
				t.Errorf("list after restart: %d fragments, %v", len(fs), err)
			}
		})
	}
}

// TestUsageRetentionAndDeletion checks the per-stream usage as retention
// drops buckets and a deleted stream is purged, and the split of the
// counters by reason.
func TestUsageRetentionAndDeletion(t *testing.T) {
	forModes(t, func(t *testing.T, x *Index, clk *fakeClock) {
		ctx := context.Background()
		mustStream(t, x, "a", 1)
		mustStream(t, x, "b", 1)
		var total int64
		for i := range 4 {
			at := t0.Add(time.Duration(i) * 15 * time.Minute)
			total += mustPut(t, x, "a", at, at, 2000).Size
			mustPut(t, x, "b", at, at, 3000)
		}
		clk.Set(t0.Add(time.Hour + 20*time.Minute)) // the first two buckets are past the 1 h retention
		before := x.Stats()
		// DeleteStream kicks the index's own GC cycle, which may do the
		// work before RunGC (cycles are serialized): the counters since
		// before add up both, the report only RunGC's.
		if err := x.DeleteStream(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		if _, err := x.RunGC(ctx); err != nil {
			t.Fatal(err)
		}
		after := x.Stats()
		if d := after.FragmentsExpired - before.FragmentsExpired; d != 2 {
			t.Errorf("%d fragments expired, want 2", d)
		}
		if d := after.BytesExpired - before.BytesExpired; d != 4000 {
			t.Errorf("%d bytes expired, want 4000", d)
		}
		if d := after.BytesEvicted - before.BytesEvicted; d != 0 {
			t.Errorf("%d bytes evicted by retention and deletion", d)
		}
		if d := after.BucketsDropped - before.BucketsDropped; d < 2 {
			t.Errorf("%d buckets dropped, want at least the 2 past retention", d)
		}
		if n := countPrefix(t, x, []byte(pfxDeleted)); n != 0 {
			t.Errorf("%d deleted streams still being purged", n)
		}
		u, err := x.Usage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(u) != 1 || u[0].Stream != "a" || u[0].Bytes != total-4000 || !u[0].Oldest.Equal(t0.Add(30*time.Minute)) {
			t.Errorf("usage %+v", u)
		}
		x.usageMu.Lock()
		n := len(x.usage)
		x.usageMu.Unlock()
		if n != 1 {
			t.Errorf("usage of %d stream ids kept, want 1 (the deleted stream's goes)", n)
		}
	})
}

func TestStreamTags(t *testing.T) {
	forModes(t, func(t *testing.T, x *Index, clk *fakeClock) {
		ctx := context.Background()
		mustStream(t, x, "a", 1)
		set := func(kv ...string) error {
			return x.UpdateStreamTags(ctx, "a", func(tags map[string]string) error {
				for i := 0; i < len(kv); i += 2 {
					if kv[i+1] == "" {
						delete(tags, kv[i])
					} else {
						tags[kv[i]] = kv[i+1]
					}
				}
				return nil
			})
		}
		if err := set("site", "barn", "owner", "ops"); err != nil {
			t.Fatal(err)
		}
		if err := set("owner", ""); err != nil {
			t.Fatal(err)
		}
		tags, err := x.StreamTags(ctx, "a")
		if err != nil || len(tags) != 1 || tags["site"] != "barn" {
			t.Errorf("tags %v, %v", tags, err)
		}
		boom := errors.New("boom")
		if err := x.UpdateStreamTags(ctx, "a", func(map[string]string) error { return boom }); !errors.Is(err, boom) {
			t.Errorf("fn error: %v", err)
		}
		_, err = x.StreamTags(ctx, "nope")
		checkErr(t, "tags of a missing stream", err, ErrStreamNotFound)

		// Deleted and created again: no tags.
		if err := x.DeleteStream(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		mustStream(t, x, "a", 1)
		if tags, err := x.StreamTags(ctx, "a"); err != nil || len(tags) != 0 {
			t.Errorf("tags of the new stream %v, %v", tags, err)
		}
		if _, err := x.RunGC(ctx); err != nil {
			t.Fatal(err)
		}
		if n := countPrefix(t, x, []byte(pfxTags)); n != 0 {
			t.Errorf("%d tag records after the purge", n)
		}

		// A corrupt record is an error, not an empty set.
		st, err := x.Stream(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		var sid uint64
		_ = x.view(func(txn *store.Txn) error {
			rec, err := getStream(txn, st.Name)
			sid = rec.ID
			return err
		})
		if err := x.update(ctx, store.Meta, func(txn *store.Txn) error { return txn.Set(tagsKey(sid), []byte("{not json")) }); err != nil {
			t.Fatal(err)
		}
		_, err = x.StreamTags(ctx, "a")
		checkErr(t, "corrupt tags", err, ErrCorrupt)
	})
}

// TestBucketWidth checks that buckets shrink when the storage budget is
// small next to the ingest rate: 1/32 of the limit per bucket.
func TestBucketWidth(t *testing.T) {
	db, err := store.Open(store.Options{Dir: t.TempDir(), NoSync: true, MemTableSize: 1 << 20, ValueLogFileSize: 1 << 20,
		Budget: store.Budget{MaxBytes: 32 << 20, MinFreePercent: -1}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clk := newClock()
	x := openT(t, Options{DB: db, Now: clk.Now, GCInterval: time.Hour})
	if w := x.bucketWidth(clk.Now()); w != 10*time.Minute {
		t.Errorf("width before any fragment: %v", w)
	}
	mustStream(t, x, "a", 24)
	// 100 KiB a second for 30 s: 1 MiB buckets take 10 s.
	var last Fragment
	for range 30 {
		last = mustPut(t, x, "a", clk.Now(), clk.Now(), 100<<10)
		clk.Advance(time.Second)
	}
	if w := x.bucketWidth(clk.Now()); w != 10*time.Second {
		t.Errorf("width at 100 KiB/s on a 32 MiB budget: %v, want 10s", w)
	}
	var rec fragmentRecord
	err = x.view(func(txn *store.Txn) error {
		var err error
		rec, err = x.visibleRecord(txn, last.Number)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if end := time.Unix(rec.Bucket, 0); end.Sub(last.ServerTime) > 10*time.Second || end.Unix()%10 != 0 {
		t.Errorf("last fragment at %v is in the bucket ending %v", last.ServerTime, end)
	}
	// Ten times the rate: 1 s buckets (the shortest).
	for range 5 {
		mustPut(t, x, "a", clk.Now(), clk.Now(), 1000<<10)
		clk.Advance(time.Second)
	}
	if w := x.bucketWidth(clk.Now()); w != time.Second {
		t.Errorf("width at 1 MiB/s: %v, want 1s", w)
	}
}

// TestEvictionHold checks that with a hold (the archive's "archived
// through") eviction takes buckets before it first, even when asked for
// more, and goes past it only when nothing before it is left.
func TestEvictionHold(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	opts := modes[0].opts(t)
	opts.Now, opts.BucketWidth = clk.Now, time.Minute
	x := openT(t, opts)
	mustStream(t, x, "a", 24)
	// Buckets end at t0+1m … t0+4m; two fragments in each.
	var fs []Fragment
	for i := range 8 {
		at := t0.Add(time.Duration(i) * 30 * time.Second)
		fs = append(fs, mustPut(t, x, "a", at, at, 1000))
	}
	clk.Set(t0.Add(3*time.Minute + 30*time.Second)) // inside the fourth bucket
	hold := t0.Add(90 * time.Second)                // archived: the first three fragments
	x.SetEvictionHold(func() time.Time { return hold })
	got, err := x.Evict(ctx, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if got.Fragments != 2 || !got.Before.Equal(t0.Add(time.Minute)) || x.Stats().EvictionsPastHold != 0 {
		t.Fatalf("with the hold: %+v, %d past the hold; want the first bucket only", got, x.Stats().EvictionsPastHold)
	}
	if _, err := x.Blob(ctx, fs[2].Number); err != nil {
		t.Fatalf("fragment after the hold's last whole bucket: %v", err)
	}
	// Nothing archived is left: the budget wins.
	got, err = x.Evict(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got.Fragments != 2 || !got.Before.Equal(t0.Add(2*time.Minute)) || x.Stats().EvictionsPastHold != 1 {
		t.Fatalf("past the hold: %+v, %d past the hold", got, x.Stats().EvictionsPastHold)
	}
}
