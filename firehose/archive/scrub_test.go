package archive

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// dirsCounter counts the delimited listings (the scrub's walk).
type dirsCounter struct {
	memBucket
	dirs atomic.Int64
}

func (d *dirsCounter) Dirs(ctx context.Context, prefix string) ([]string, error) {
	d.dirs.Add(1)
	return d.memBucket.Dirs(ctx, prefix)
}

// scrubFlag reports whether "a/s/<name>" is set.
func scrubFlag(t *testing.T, b *box, a *Archiver, name string) bool {
	t.Helper()
	set := false
	err := b.sp.View(func(txn *store.Txn) error {
		_, err := txn.Get(a.scrubKey(name))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		set = err == nil
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestScrubCleanStopsScanning: while a manifest carries a live key of
// the keyring (a legacy archive), each destruction makes a pass over the
// manifests; once one finds none, the archive is marked clean and later
// destructions scan nothing.
func TestScrubCleanStopsScanning(t *testing.T) {
	b := openBox(t, "", seal.NewMasterKey())
	stored := b.record(t, "cam1", time.Now().UTC().Add(-time.Minute).Truncate(time.Second))
	bk := &dirsCounter{}
	a := startArchiver(t, b, bk, true)
	archived(t, a, uint64(len(stored)))
	testtool.WaitFor(t, "the first scrub pass to find the archive clean", func() bool { return scrubFlag(t, b, a, "clean") })
	a.Close()

	// A legacy manifest naming a live key: the next start's pass sees it
	// and leaves the archive not clean.
	rec, err := b.idx.Keys().GetKey(t.Context(), stored[0].KeyID)
	if err != nil {
		t.Fatal(err)
	}
	mkey := ManifestKey("video/", "pi-7", "cam1", stored[0].ServerTime)
	body, err := bk.Get(t.Context(), mkey)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseManifest(body)
	if err != nil {
		t.Fatal(err)
	}
	m.Keys = map[string]Key{rec.ID: {Alias: rec.Alias, Wrapped: rec.Wrapped, MasterCheck: rec.MasterCheck}}
	body, _ = json.Marshal(m)
	if err := bk.Put(t.Context(), mkey, body, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.sp.Update(t.Context(), store.Meta, func(txn *store.Txn) error { return txn.Delete(a.scrubKey("clean")) }); err != nil {
		t.Fatal(err)
	}
	a2 := startArchiver(t, b, bk, true)
	testtool.WaitFor(t, "the start's scrub pass", func() bool {
		return bk.dirs.Load() > 0 && !scrubFlag(t, b, a2, "again") && !scrubFlag(t, b, a2, "cursor")
	})
	if scrubFlag(t, b, a2, "clean") {
		t.Fatal("marked clean with a live key in a manifest")
	}
	// The key is destroyed: the pass scrubs it, finds nothing else, and
	// marks the archive clean.
	if err := b.idx.Keys().DestroyKey(t.Context(), rec.ID, "retention of stream cam1 expired its period"); err != nil {
		t.Fatal(err)
	}
	a2.KeysDestroyed(rec.ID)
	testtool.WaitFor(t, "the archive marked clean", func() bool { return scrubFlag(t, b, a2, "clean") })
	if a2.Scrubbed() != 1 {
		t.Fatalf("Scrubbed() %d, want 1", a2.Scrubbed())
	}
	body, err = bk.Get(t.Context(), mkey)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := ParseManifest(body); err != nil || len(m.Keys) != 0 || len(m.Fragments) == 0 {
		t.Fatalf("the scrubbed manifest: %+v %v", m, err)
	}
	// Clean: a destruction (and a restart) lists nothing.
	dirs, passes := bk.dirs.Load(), a2.Stats().Passes
	a2.KeysDestroyed("another-key")
	testtool.WaitFor(t, "two more passes", func() bool { return a2.Stats().Passes > passes+1 })
	a2.Close()
	a3 := startArchiver(t, b, bk, true)
	testtool.WaitFor(t, "the restart's passes", func() bool { return a3.Stats().Passes > 1 })
	if n := bk.dirs.Load(); n != dirs {
		t.Fatalf("%d listings after the archive was clean", n-dirs)
	}
}
