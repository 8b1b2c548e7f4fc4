package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/fxamacker/cbor/v2"

	"github.com/kinedge/kinedge/index/store"

	"github.com/kinedge/kinedge/fragment/seal"
)

// Keys returns the seal.KeyStore kept in this database under the "k/"
// prefix. Data keys never expire by themselves: a key outlives every blob
// it sealed, and removing one (crypto-shredding, DestroyKey) is a
// deliberate act of DeleteStream's purge or of retention (ShredKeys), which
// leaves a tombstone under "k/x/" so that opening a blob of a destroyed key
// says why it cannot be opened.
func (x *Index) Keys() seal.KeyStore { return keyStore{x: x} }

// keyStore implements seal.KeyStore on the index's database.
type keyStore struct{ x *Index }

var _ seal.KeyStore = keyStore{}

// keyRecord is a seal.KeyRecord as stored (CBOR, integer keys).
type keyRecord struct {
	ID          string `cbor:"1,keyasint"`
	Alias       string `cbor:"2,keyasint,omitempty"`
	Created     int64  `cbor:"3,keyasint"` // Unix ns
	Wrapped     []byte `cbor:"4,keyasint"`
	MasterCheck string `cbor:"5,keyasint,omitempty"`
	Retired     bool   `cbor:"6,keyasint,omitempty"`
}

func keyKey(id string) []byte { return append([]byte(pfxKeys), id...) }

func keyTombstoneKey(id string) []byte { return append([]byte(pfxKeyTombstones), id...) }

// tombstone returns the reason id was destroyed, or ok false.
func keyTombstone(txn *store.Txn, id string) (reason string, ok bool, err error) {
	item, err := txn.Get(keyTombstoneKey(id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	v, err := item.ValueCopy(nil)
	return string(v), err == nil, err
}

func decodeKey(v []byte) (seal.KeyRecord, error) {
	var r keyRecord
	if err := cbor.Unmarshal(v, &r); err != nil {
		return seal.KeyRecord{}, fmt.Errorf("%w: key: %w", ErrCorrupt, err)
	}
	return seal.KeyRecord{
		ID: r.ID, Alias: r.Alias, Created: time.Unix(0, r.Created).UTC(),
		Wrapped: r.Wrapped, MasterCheck: r.MasterCheck, Retired: r.Retired,
	}, nil
}

// PutKey implements seal.KeyStore: the record is durable on return.
func (s keyStore) PutKey(ctx context.Context, rec seal.KeyRecord) error {
	done, err := s.x.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	b, err := cbor.Marshal(&keyRecord{
		ID: rec.ID, Alias: rec.Alias, Created: rec.Created.UnixNano(),
		Wrapped: rec.Wrapped, MasterCheck: rec.MasterCheck, Retired: rec.Retired,
	})
	if err != nil {
		return fmt.Errorf("index: put key %q: %w", rec.ID, err)
	}
	err = s.x.k.Update(ctx, store.Meta, func(txn *store.Txn) error {
		if reason, ok, err := keyTombstone(txn, rec.ID); err != nil {
			return err
		} else if ok {
			return seal.DestroyedError(rec.ID, reason)
		}
		return txn.Set(keyKey(rec.ID), b)
	})
	if err != nil {
		return fmt.Errorf("index: put key %q: %w", rec.ID, err)
	}
	return nil
}

// GetKey implements seal.KeyStore.
func (s keyStore) GetKey(ctx context.Context, id string) (seal.KeyRecord, error) {
	done, err := s.x.enter(ctx)
	if err != nil {
		return seal.KeyRecord{}, err
	}
	defer done()
	var rec seal.KeyRecord
	err = s.x.k.View(func(txn *store.Txn) error {
		item, err := txn.Get(keyKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			if reason, ok, err := keyTombstone(txn, id); err != nil {
				return err
			} else if ok {
				return seal.DestroyedError(id, reason)
			}
			return fmt.Errorf("index: %w: %q", seal.ErrKeyNotFound, id)
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			rec, err = decodeKey(v) // cbor copies byte strings out of v
			return err
		})
	})
	return rec, err
}

// ListKeys implements seal.KeyStore; the records come sorted by ID.
func (s keyStore) ListKeys(ctx context.Context) ([]seal.KeyRecord, error) {
	done, err := s.x.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var out []seal.KeyRecord
	err = s.x.k.View(func(txn *store.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pfxKeys), PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if bytes.HasPrefix(it.Item().Key(), []byte(pfxKeyTombstones)) {
				continue
			}
			err := it.Item().Value(func(v []byte) error {
				rec, err := decodeKey(v)
				out = append(out, rec)
				return err
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// DestroyKey implements seal.KeyStore: the wrapped key is deleted and a
// tombstone holding reason written in one transaction, durable on return.
// Badger keeps deleted values until compaction rewrites their table; the
// key stays wrapped by the master key there, and compaction drops it.
func (s keyStore) DestroyKey(ctx context.Context, id, reason string) error {
	done, err := s.x.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	err = s.x.k.Update(ctx, store.Meta, func(txn *store.Txn) error {
		if _, ok, err := keyTombstone(txn, id); err != nil || ok {
			return err
		}
		if err := txn.Delete(keyKey(id)); err != nil {
			return err
		}
		return txn.Set(keyTombstoneKey(id), []byte(reason))
	})
	if err != nil {
		return fmt.Errorf("index: destroy key %q: %w", id, err)
	}
	s.x.logger.Info("data key destroyed", "key_id", id, "reason", reason)
	return nil
}
