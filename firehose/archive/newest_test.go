package archive

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/testdata/s3test"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// orderBucket records the keys of the fragment objects written, in
// order, and after limit of them (0: none) holds every further PUT until
// its context ends: the archiver is stopped in the middle of its backlog.
type orderBucket struct {
	Bucket
	mu    sync.Mutex
	keys  *[]string
	limit int
	// After the pause-th fragment object, Put sends on paused and
	// waits for resume.
	pause          int
	paused, resume chan struct{}
}

func (o *orderBucket) Put(ctx context.Context, key string, body []byte, meta map[string]string) error {
	if strings.HasSuffix(key, ".mkv") {
		o.mu.Lock()
		full := o.limit > 0 && len(*o.keys) >= o.limit
		o.mu.Unlock()
		if full {
			<-ctx.Done()
			return ctx.Err()
		}
	}
	if err := o.Bucket.Put(ctx, key, body, meta); err != nil {
		return err
	}
	if strings.HasSuffix(key, ".mkv") {
		o.mu.Lock()
		*o.keys = append(*o.keys, key)
		n := len(*o.keys)
		o.mu.Unlock()
		if o.pause > 0 && n == o.pause {
			o.paused <- struct{}{}
			<-o.resume
		}
	}
	return nil
}

func (o *orderBucket) written() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(*o.keys)
}

// TestArchiveNewestFirst: with Priority Newest a backlog of two cameras
// goes up newest first across both, fragments stored meanwhile go before
// the rest of the backlog, the archiver stopped in the middle
// and started again on the same database resumes without uploading
// anything twice, and every hour's manifest lists all its fragments. The
// eviction hold stays behind the oldest fragment not yet archived, and
// no done mark is left once the backlog is drained.
func TestArchiveNewestFirst(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(bucket)
	dir := t.TempDir()
	master := seal.NewMasterKey()
	b := openBox(t, dir, master)
	// Across an hour boundary, the two cameras interleaved in time.
	base := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour - 30*time.Second)
	var stored []index.Fragment
	for i, at := range []time.Duration{0, 10 * time.Minute, 40 * time.Minute} {
		stored = append(stored, b.record(t, "cam1", base.Add(at))...)
		stored = append(stored, b.record(t, "cam2", base.Add(at+time.Duration(i+1)*time.Second))...)
	}
	byKey := map[string]index.Fragment{}
	oldest := stored[0].ServerTime
	for _, f := range stored {
		byKey[ObjectKey("video/", "pi-7", streamOf(t, b, f), f.ServerTime, f.Number)] = f
		if f.ServerTime.Before(oldest) {
			oldest = f.ServerTime
		}
	}
	if len(byKey) != len(stored) {
		t.Fatalf("%d keys for %d fragments", len(byKey), len(stored))
	}
	var order []string
	const batch, pause = 3, 2
	half := len(stored) / 2
	start := func(limit int) (*Archiver, *orderBucket) {
		bk := &orderBucket{Bucket: s3Bucket(t, srv), keys: &order, limit: limit, paused: make(chan struct{}), resume: make(chan struct{})}
		if limit > 0 {
			bk.pause = pause
		}
		a := &Archiver{Index: b.idx, Space: b.sp, Bucket: bk, Keys: b.idx.Keys(), Sealed: true, Priority: Newest,
			ApplianceID: "pi-7", Prefix: "video/", MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
			Rescan: 50 * time.Millisecond, batch: batch}
		if err := a.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a, bk
	}
	a, bk := start(half)
	// After the second upload, a camera stores new fragments: they are
	// the newest, and go up as soon as the round in progress is done.
	<-bk.paused
	arrivals := b.record(t, "cam1", base.Add(50*time.Minute))
	for _, f := range arrivals {
		byKey[ObjectKey("video/", "pi-7", "cam1", f.ServerTime, f.Number)] = f
	}
	a.Notify(arrivals[0])
	bk.mu.Lock()
	bk.limit = half + len(arrivals)
	bk.mu.Unlock()
	close(bk.resume)
	testtool.WaitFor(t, "half the backlog", func() bool { return bk.written() == half+len(arrivals) })
	if h := a.ArchivedThrough(); h.After(oldest) {
		t.Fatalf("eviction hold %v past the oldest fragment not archived (%v)", h, oldest)
	}
	a.Close()
	b.close()

	b = openBox(t, dir, master)
	a, _ = start(0)
	testtool.WaitFor(t, "the rest of the backlog", func() bool {
		st := a.Stats()
		return st.Objects == uint64(len(stored)-half) && st.Backlog == 0
	})
	stored = append(stored, arrivals...)
	manifested(t, srv, len(stored))

	// The order: the backlog newest first, interrupted once by the
	// arrivals (newest first too) after at most the rest of the round
	// in progress (a batch per camera).
	isArrival := map[uint64]bool{}
	for _, f := range arrivals {
		isArrival[f.Number] = true
	}
	seen := map[string]bool{}
	first, last := -1, -1
	var prevOld, prevNew time.Time
	for i, k := range order {
		f, ok := byKey[k]
		if !ok || seen[k] {
			t.Fatalf("upload %d: %s unknown or uploaded twice", i, k)
		}
		seen[k] = true
		prev := &prevOld
		if isArrival[f.Number] {
			prev = &prevNew
			if first < 0 {
				first = i
			}
			last = i
		}
		if !prev.IsZero() && f.ServerTime.After(*prev) {
			t.Fatalf("upload %d (%s, %v) is newer than the one before it (%v)", i, k, f.ServerTime, *prev)
		}
		*prev = f.ServerTime
	}
	if len(seen) != len(stored) {
		t.Fatalf("%d fragments uploaded, want %d", len(seen), len(stored))
	}
	if first < pause || first > pause+2*batch || last-first+1 != len(arrivals) {
		t.Fatalf("the arrivals went up at uploads %d to %d (paused after %d, batch %d)", first, last, pause, batch)
	}
	frags, manifests := bucketObjects(t, srv)
	if len(frags) != len(stored) {
		t.Fatalf("%d objects, want %d", len(frags), len(stored))
	}
	hours := map[string]int{}
	for k := range byKey {
		hours[k[:strings.LastIndex(k, "/")]]++
	}
	for _, m := range manifests {
		dir := strings.TrimSuffix(ManifestKey("video/", "pi-7", m.Stream, m.Hour), "/manifest.json")
		if len(m.Fragments) != hours[dir] {
			t.Fatalf("manifest of %s lists %d fragments, the hour has %d", dir, len(m.Fragments), hours[dir])
		}
		delete(hours, dir)
	}
	if len(hours) != 0 {
		t.Fatalf("hours without a manifest: %v", hours)
	}
	testtool.WaitFor(t, "the eviction hold past every fragment", func() bool {
		return a.ArchivedThrough().After(stored[len(stored)-1].ServerTime)
	})
	marks := 0
	if err := b.sp.View(func(txn *store.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: b.sp.Key([]byte("x/"))})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			marks++
		}
		return nil
	}); err != nil || marks != 0 {
		t.Fatalf("%d done marks left after the backlog (%v)", marks, err)
	}
}

// streamOf returns the name of f's stream.
func streamOf(t *testing.T, b *box, f index.Fragment) string {
	t.Helper()
	for _, name := range []string{"cam1", "cam2"} {
		var found bool
		err := b.idx.Iterate(t.Context(), name, index.Query{By: index.ServerTime, Start: f.ServerTime, End: f.ServerTime}, func(g index.Fragment) error {
			found = found || g.Number == f.Number
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if found {
			return name
		}
	}
	t.Fatalf("fragment %d in no stream", f.Number)
	return ""
}
