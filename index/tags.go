package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index/store"
)

// Tags of video streams (KVS TagStream, UntagStream, ListTagsForStream)
// are kept by stream id: a stream deleted and created again under the
// same name starts without tags, and a deleted stream's tags go with its
// purge.

// readTags returns the tags of stream sid in txn (an empty map when it has
// none).
func readTags(txn *store.Txn, sid uint64) (map[string]string, error) {
	tags := map[string]string{}
	item, err := txn.Get(tagsKey(sid))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return tags, nil
	}
	if err != nil {
		return nil, err
	}
	err = item.Value(func(v []byte) error { return json.Unmarshal(v, &tags) })
	if err != nil {
		return nil, fmt.Errorf("%w: tags of stream %d: %w", ErrCorrupt, sid, err)
	}
	return tags, nil
}

// StreamTags returns the named stream's tags, or an error wrapping
// ErrStreamNotFound.
func (x *Index) StreamTags(ctx context.Context, name string) (map[string]string, error) {
	done, err := x.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var tags map[string]string
	err = x.view(func(txn *store.Txn) error {
		rec, err := getStream(txn, name)
		if err != nil {
			return err
		}
		tags, err = readTags(txn, rec.ID)
		return err
	})
	return tags, err
}

// UpdateStreamTags applies fn to the named stream's tags and stores the
// result in one transaction (no key when no tag is left). An error from fn
// is returned as is and nothing is stored; fn may run again if a
// concurrent write conflicts and must not call the Index.
func (x *Index) UpdateStreamTags(ctx context.Context, name string, fn func(tags map[string]string) error) error {
	done, err := x.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	return x.update(ctx, store.Meta, func(txn *store.Txn) error {
		rec, err := getStream(txn, name)
		if err != nil {
			return err
		}
		tags, err := readTags(txn, rec.ID)
		if err != nil {
			return err
		}
		if err := fn(tags); err != nil {
			return err
		}
		if len(tags) == 0 {
			return txn.Delete(tagsKey(rec.ID))
		}
		b, err := json.Marshal(tags)
		if err != nil {
			return err
		}
		return txn.Set(tagsKey(rec.ID), b)
	})
}
