package archive

import (
	"encoding/binary"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index/store"
)

// What the archiver knows, for tiered replay: which local fragments are
// archived, and which part of the bucket it will not change again. Both
// read the "a/" space only (no bucket request) and may be called from
// any goroutine once the fields are set.

// SettledThrough returns the time before which the archiver will not
// change stream's part of the bucket again (zero: none): its cursor's
// server time (no object of a fragment before it is still to come, so no
// new hour directory either), or the start of the oldest hour whose
// manifest waits to be rewritten if that is earlier (every manifest of an
// hour that ends by then lists all its fragments). Read in one
// transaction before the bucket is, it makes what is read of the time
// before it final: the manifest cache keeps that without expiry. A
// stream with no cursor is settled nowhere.
func (a *Archiver) SettledThrough(stream string) (time.Time, error) {
	var through time.Time
	err := a.Space.View(func(txn *store.Txn) error {
		var c cursor
		if ok, err := getJSON(txn, a.cursorKey(stream), &c); err != nil || !ok {
			return err
		}
		through = time.Unix(0, c.Server)
		pfx := a.Space.Key([]byte("d/"), []byte(stream), []byte{0})
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx})
		defer it.Close()
		it.Rewind()
		if it.Valid() {
			k := it.Item().Key()
			if len(k) != len(pfx)+8 {
				return fmt.Errorf("bad dirty key %q", k)
			}
			// The marks sort by hour: the first is the oldest.
			if hour := time.Unix(int64(binary.BigEndian.Uint64(k[len(pfx):])), 0); hour.Before(through) {
				through = hour
			}
		}
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("archive: state of %s: %w", stream, err)
	}
	return through, nil
}

// Listed returns a test of whether a fragment of stream (by server time
// and number) is in the bucket and listed in its hour's manifest as the
// bucket holds it now: at or before the cursor, in an hour whose manifest
// has no rewrite pending (the mark is cleared only after a write that
// lists every entry recorded). Read in one transaction; no bucket request.
// The video API marks local fragments "archived" with it.
func (a *Archiver) Listed(stream string) (func(server time.Time, number uint64) bool, error) {
	var c cursor
	var ok bool
	dirty := map[int64]bool{}
	err := a.Space.View(func(txn *store.Txn) error {
		var err error
		if ok, err = getJSON(txn, a.cursorKey(stream), &c); err != nil || !ok {
			return err
		}
		pfx := a.Space.Key([]byte("d/"), []byte(stream), []byte{0})
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != len(pfx)+8 {
				return fmt.Errorf("bad dirty key %q", k)
			}
			dirty[int64(binary.BigEndian.Uint64(k[len(pfx):]))] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("archive: state of %s: %w", stream, err)
	}
	return func(server time.Time, number uint64) bool {
		s := server.UnixNano()
		return ok && (s < c.Server || s == c.Server && number <= c.Number) && !dirty[server.UTC().Truncate(time.Hour).Unix()]
	}, nil
}
