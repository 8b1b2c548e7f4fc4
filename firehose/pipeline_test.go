package firehose

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// gateDest is a bucket in memory whose Put number hold (1-based, 0:
// none) stores the object, as S3 would, and then does not return until
// release is closed (nil) or its context ends (the context's error): a
// write in flight when the engine stops, or the appliance dies.
type gateDest struct {
	mu      sync.Mutex
	objects map[string][]byte
	keys    []string // every attempted key, in order
	hold    int
	held    chan struct{} // closed once Put number hold is in flight
	release chan struct{}
}

func newGateDest(hold int) *gateDest {
	return &gateDest{objects: map[string][]byte{}, hold: hold, held: make(chan struct{}), release: make(chan struct{})}
}

func (g *gateDest) Put(ctx context.Context, bucket, key string, body []byte) error {
	g.mu.Lock()
	g.keys = append(g.keys, key)
	g.objects[bucket+"/"+key] = bytes.Clone(body)
	hold := len(g.keys) == g.hold
	g.mu.Unlock()
	if !hold {
		return nil
	}
	close(g.held)
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gateDest) isHeld() bool {
	select {
	case <-g.held:
		return true
	default:
		return false
	}
}

func (g *gateDest) attempts() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.keys...)
}

// checkOnce fails unless the objects of g hold every record of recs
// exactly once, each object decoded as its key's extension says.
func (g *gateDest) checkOnce(t *testing.T, recs [][]byte) {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	var all []byte
	for key, body := range g.objects {
		format := Uncompressed
		if strings.HasSuffix(key, ".gz") {
			format = GZIP
		} else if bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
			t.Fatalf("object %s has no .gz extension and is gzip", key)
		}
		all = append(all, decompress(t, format, body)...)
	}
	if want := len(bytes.Join(recs, nil)); len(all) != want {
		t.Fatalf("%d bytes in %d objects, want %d (each record once)", len(all), len(g.objects), want)
	}
	for _, r := range recs {
		head := r[:bytes.IndexByte(r, '|')+1]
		if n := bytes.Count(all, head); n != 1 {
			t.Fatalf("record %s delivered %d times", head, n)
		}
	}
}

// TestCrashMidPipeline: the engine stops (as the appliance would die)
// while a batch is fixed and its object is being written, after S3 has
// stored it, with the next batch read and compressed ahead. After a
// restart the batch is written again under its fixed key (no second
// object), and every record is in exactly one object.
func TestCrashMidPipeline(t *testing.T) {
	dir := t.TempDir()
	g := newGateDest(2)
	db := openDB(t, dir)
	e := openEngine(t, db, g, nil)
	ctx := context.Background()
	if _, err := e.Create(ctx, "mid", dest("bkt", 1, 0, GZIP)); err != nil {
		t.Fatal(err)
	}
	recs := records(48, 64<<10, "mid") // 3 MiB: batches of about 1 MiB
	if _, err := e.Put(ctx, "mid", recs); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "the second object in flight", g.isHeld)
	e.Close() // abandons the write in flight
	db.Close()
	keys := g.attempts()
	if len(keys) != 2 {
		t.Fatalf("attempts before the restart: %q", keys)
	}

	g.mu.Lock()
	g.hold = 0
	g.mu.Unlock()
	e2 := openEngine(t, openDB(t, dir), g, nil)
	testtool.WaitFor(t, "an empty spool", func() bool { return e2.Stats().SpoolRecords == 0 })
	after := g.attempts()[2:]
	if len(after) == 0 || after[0] != keys[1] {
		t.Fatalf("after the restart wrote %q first, the batch in flight was fixed as %q", after, keys[1])
	}
	seen := map[string]bool{}
	for _, k := range g.attempts()[1:] {
		if seen[k] && k != keys[1] {
			t.Fatalf("key %s written twice", k)
		}
		seen[k] = true
	}
	g.checkOnce(t, recs)
	if st := e2.Stats(); st.SpoolBytes != 0 || st.RecordsDelivered != uint64(len(recs))-uint64(bytes.Count(decompress(t, GZIP, g.objects["bkt/"+keys[0]]), []byte("|"))) {
		t.Fatalf("stats after the restart: %+v", st)
	}
}

// TestReadAheadDroppedOnUpdate: the next batch's body is read ahead with
// the destination of the batch being written; an UpdateDestination
// meanwhile (GZIP to UNCOMPRESSED) applies to the next batch, so the body
// read ahead is not used: every later object is uncompressed.
func TestReadAheadDroppedOnUpdate(t *testing.T) {
	g := newGateDest(1)
	e := openEngine(t, openDB(t, ""), g, nil)
	ctx := context.Background()
	s, err := e.Create(ctx, "upd", dest("bkt", 1, 0, GZIP))
	if err != nil {
		t.Fatal(err)
	}
	recs := records(48, 64<<10, "upd")
	if _, err := e.Put(ctx, "upd", recs); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "the first object in flight", g.isHeld)
	if _, err := e.Update(ctx, "upd", s.VersionID, func(d *S3Destination) { d.Compression = Uncompressed }); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	testtool.WaitFor(t, "an empty spool", func() bool { return e.Stats().SpoolRecords == 0 })
	keys := g.attempts()
	if len(keys) < 3 || !strings.HasSuffix(keys[0], ".gz") {
		t.Fatalf("keys %q", keys)
	}
	for _, k := range keys[1:] {
		if strings.HasSuffix(k, ".gz") {
			t.Fatalf("object %s after the update is GZIP", k)
		}
	}
	g.checkOnce(t, recs)
}

// TestDeleteAndFixOneCommit: when the next batch is due at once, the
// commit that deletes a delivered batch's records also stores the next
// batch (one fsynced commit per batch): the batch key's version is the
// version of the records' tombstones.
func TestDeleteAndFixOneCommit(t *testing.T) {
	g := newGateDest(2)
	e := openEngine(t, openDB(t, ""), g, nil)
	ctx := context.Background()
	if _, err := e.Create(ctx, "one", dest("bkt", 1, 0, Uncompressed)); err != nil {
		t.Fatal(err)
	}
	recs := records(48, 64<<10, "one") // 3 MiB: batches of about 1 MiB
	if _, err := e.Put(ctx, "one", recs); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "the second object in flight", g.isHeld)
	defer close(g.release)
	var b batch
	var fixedAt uint64
	tombstones := map[uint64]uint64{} // seq → version
	err := e.sp.View(func(txn *store.Txn) error {
		item, err := txn.Get(e.sp.Key([]byte(keyBatch), []byte("one")))
		if err != nil {
			return err
		}
		fixedAt = item.Version()
		if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &b) }); err != nil {
			return err
		}
		opt := badger.DefaultIteratorOptions
		opt.Prefix = e.sp.Key([]byte(keyRecord), []byte("one"), []byte("/"))
		opt.PrefetchValues = false
		opt.AllVersions = true
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if it.Item().IsDeletedOrExpired() {
				tombstones[seqOf(it.Item().Key())] = it.Item().Version()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.From == 0 || len(tombstones) == 0 {
		t.Fatalf("batch in flight %+v, %d records deleted: want the second batch, the first's records deleted", b, len(tombstones))
	}
	for seq, v := range tombstones {
		if seq >= b.From {
			t.Errorf("record %d of the batch in flight (from %d) is deleted", seq, b.From)
		}
		if v != fixedAt {
			t.Errorf("record %d deleted at version %d, the batch in flight fixed at %d: two commits", seq, v, fixedAt)
		}
	}
}
