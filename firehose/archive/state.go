package archive

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index/store"
)

// What the archiver knows, for tiered replay: which local fragments are
// archived, and which part of the bucket it will not change again. Both
// read the "a/" space only (no bucket request) and may be called from
// any goroutine once the fields are set.

// Cursor returns the position through which stream is archived: every
// fragment of it at or before (server, number), in server-time order, is
// in the bucket with its manifest entry recorded (or was gone locally
// before its turn); ok is false when nothing of stream is. The manifest
// that lists the last ones may lag by up to ManifestInterval.
func (a *Archiver) Cursor(stream string) (server time.Time, number uint64, ok bool, err error) {
	c, ok, err := a.readCursor(stream)
	if err != nil || !ok {
		return time.Time{}, 0, false, err
	}
	return time.Unix(0, c.Server), c.Number, true, nil
}

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
		item, err := txn.Get(a.cursorKey(stream))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var c cursor
		if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &c) }); err != nil {
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
