// Package enginetest opens a data streams engine for the tests of the
// packages that append to one (the fragment events, the appliance).
package enginetest

import (
	"testing"

	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
	"github.com/kinedge/kinedge/index/store"
)

// Open returns an engine on an in-memory store with small caches; both
// are closed when the test ends.
func Open(t testing.TB) *engine.Engine {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true, MemTableSize: 8 << 20, BlockCacheSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sp, err := db.Space("d/")
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.Open(engine.Options{Space: sp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}
