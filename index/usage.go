package index

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index/store"
)

// Usage accounting. Every blob bucket has a usage record (pfxUsage) that
// PutFragment updates in its transaction and the drop of the bucket
// removes with it, so what each stream holds on disk is known without
// reading its fragments: the sum of its buckets' records, kept in memory
// from Open on.

// addUsage adds u to the usage record of stream sid's bucket in txn.
func addUsage(txn *store.Txn, sid uint64, bucket int64, u bucketUsage) error {
	k := usageKey(sid, bucket)
	var cur bucketUsage
	item, err := txn.Get(k)
	switch {
	case err == nil:
		err = item.Value(func(v []byte) error {
			var ok bool
			if cur, ok = decodeUsage(v); !ok {
				return fmt.Errorf("%w: usage record of %d bytes", ErrCorrupt, len(v))
			}
			return nil
		})
		if err != nil {
			return err
		}
	case !errors.Is(err, badger.ErrKeyNotFound):
		return err
	}
	cur.bytes += u.bytes
	cur.fragments += u.fragments
	return txn.Set(k, cur.encode())
}

// addStreamUsage adds n bytes to stream sid's in-memory usage.
func (x *Index) addStreamUsage(sid uint64, n int64) {
	x.usageMu.Lock()
	x.usage[sid] += n
	if x.usage[sid] <= 0 {
		delete(x.usage, sid)
	}
	x.usageMu.Unlock()
}

// loadUsage sums the usage records per stream.
func (x *Index) loadUsage() error {
	usage := map[uint64]int64{}
	err := x.view(func(txn *store.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pfxUsage), PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != usageKeyLen {
				return fmt.Errorf("%w: usage key %x", ErrCorrupt, k)
			}
			sid := binary.BigEndian.Uint64(k[len(pfxUsage):])
			err := it.Item().Value(func(v []byte) error {
				u, ok := decodeUsage(v)
				if !ok {
					return fmt.Errorf("%w: usage record of %d bytes", ErrCorrupt, len(v))
				}
				usage[sid] += u.bytes
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index: load usage: %w", err)
	}
	x.usageMu.Lock()
	x.usage = usage
	x.usageMu.Unlock()
	return nil
}

// StreamUsage is what one video stream holds on disk.
type StreamUsage struct {
	// Stream is the stream's name.
	Stream string
	// Bytes is the sealed size of its fragments not yet dropped (expired
	// fragments count until their bucket is dropped).
	Bytes int64
	// Oldest is the server time of its oldest fragment still shown (zero
	// when it has none).
	Oldest time.Time
}

// Usage returns what each stream holds, sorted by name.
func (x *Index) Usage(ctx context.Context) ([]StreamUsage, error) {
	done, err := x.enter(ctx)
	if err != nil {
		return nil, err
	}
	recs, err := x.streamRecords(ctx)
	done()
	if err != nil {
		return nil, err
	}
	out := make([]StreamUsage, len(recs))
	x.usageMu.Lock()
	for i := range recs {
		out[i] = StreamUsage{Stream: recs[i].Name, Bytes: x.usage[recs[i].ID]}
	}
	x.usageMu.Unlock()
	for i := range out {
		if f, err := x.edge(ctx, out[i].Stream, false); err == nil {
			out[i].Oldest = f.ServerTime
		}
	}
	return out, nil
}

// EvictionFloor returns the time before which media was evicted for the
// storage budget (zero when none was).
func (x *Index) EvictionFloor() time.Time {
	f := x.floor.Load()
	if f == minFloor {
		return time.Time{}
	}
	return time.Unix(0, f).UTC()
}
