package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/minio/minio-go/v7"

	"github.com/kinedge/kinedge/firehose"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index/store"
)

// keysDir is the directory of the archived data keys under an
// appliance's root. "~" is not allowed in a stream name, so it never
// takes a stream's place (Remote.Streams skips it).
const keysDir = "~keys"

// KeyObjectKey returns the key of the object that holds data key id,
// wrapped by the master key: the only place the archive keeps it.
func KeyObjectKey(prefix, appliance, id string) string {
	return prefix + appliance + "/" + keysDir + "/" + id
}

// TombstoneKey returns the key of the object that says data key id was
// destroyed (crypto-shredded), and why.
func TombstoneKey(prefix, appliance, id string) string {
	return KeyObjectKey(prefix, appliance, id) + ".destroyed"
}

// KeyObject is the body of an archived data key (JSON).
type KeyObject struct {
	ID          string    `json:"id"`
	Alias       string    `json:"alias"`
	Created     time.Time `json:"created"`
	Wrapped     []byte    `json:"wrapped"`
	MasterCheck string    `json:"master_check"`
}

// Tombstone is the body of a destroyed key's tombstone (JSON).
type Tombstone struct {
	ID        string    `json:"id"`
	Reason    string    `json:"reason"`
	Shredded  time.Time `json:"shredded"`
	Appliance string    `json:"appliance"`
}

// ParseKeyObject reads an archived data key and checks that it is the
// key id.
func ParseKeyObject(id string, body []byte) (KeyObject, error) {
	var k KeyObject
	if err := json.Unmarshal(body, &k); err != nil {
		return KeyObject{}, fmt.Errorf("archive: data key object %s: %w", id, err)
	}
	if k.ID != id || len(k.Wrapped) == 0 || k.MasterCheck == "" {
		return KeyObject{}, fmt.Errorf("archive: data key object %s: not the key %q, or no wrapped key or master check", id, id)
	}
	return k, nil
}

// ParseTombstone reads a tombstone.
func ParseTombstone(id string, body []byte) (Tombstone, error) {
	var t Tombstone
	if err := json.Unmarshal(body, &t); err != nil {
		return Tombstone{}, fmt.Errorf("archive: tombstone of data key %s: %w", id, err)
	}
	if t.ID != id {
		return Tombstone{}, fmt.Errorf("archive: tombstone of data key %s names key %q", id, t.ID)
	}
	return t, nil
}

// validKeyID reports whether id can name an object: key ids come from
// manifests and blobs, which are untrusted.
func validKeyID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Delete removes key; removing a missing key is not an error.
func (b *S3Bucket) Delete(ctx context.Context, key string) error {
	if err := b.client.RemoveObject(ctx, b.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("archive: delete s3://%s/%s: %w", b.bucket, key, err)
	}
	return nil
}

// Key marks of the "a/" space: "a/u/<id>" says data key id is (being)
// archived: "0" before its object's PUT, "1" once it succeeded. Marks are
// what shredding goes through, so a mark is written before the PUT.
func (a *Archiver) keyMark(id string) []byte { return a.Space.Key([]byte("u/"), []byte(id)) }

// archiveKey uploads data key rec once, before the first object it
// sealed: its mark first, then its object.
func (a *Archiver) archiveKey(ctx context.Context, rec seal.KeyRecord) error {
	if a.keysUp[rec.ID] {
		return nil
	}
	done := false
	err := a.Space.View(func(txn *store.Txn) error {
		item, err := txn.Get(a.keyMark(rec.ID))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { done = string(v) == "1"; return nil })
	})
	if err != nil {
		return fmt.Errorf("archive: mark of key %s: %w", rec.ID, err)
	}
	if done {
		a.keysUp[rec.ID] = true
		return nil
	}
	if err := a.Space.Update(ctx, store.Meta, func(txn *store.Txn) error { return txn.Set(a.keyMark(rec.ID), []byte("0")) }); err != nil {
		return fmt.Errorf("archive: mark of key %s: %w", rec.ID, err)
	}
	body, err := json.Marshal(KeyObject{ID: rec.ID, Alias: rec.Alias, Created: rec.Created.UTC(), Wrapped: rec.Wrapped, MasterCheck: rec.MasterCheck})
	if err != nil {
		return err
	}
	if err := a.pace(ctx, len(body)); err != nil {
		return err
	}
	if err := a.put(ctx, KeyObjectKey(a.Prefix, a.ApplianceID, rec.ID), body, nil); err != nil {
		return err
	}
	if err := a.Space.Update(ctx, store.Meta, func(txn *store.Txn) error { return txn.Set(a.keyMark(rec.ID), []byte("1")) }); err != nil {
		return fmt.Errorf("archive: mark of key %s: %w", rec.ID, err)
	}
	a.keysUp[rec.ID] = true
	return nil
}

// KeysDestroyed tells the archiver data keys were destroyed locally (the
// index's OnKeysDestroyed): it shreds their archived copies before its
// next uploads. It does not wait for the bucket. The archiver goes
// through its key marks, so a lost call (a crash after the keys were
// destroyed) is made up at the next Start; ids without a mark (keys
// archived before key objects existed, whose wrapped copies are in
// their objects' metadata and manifests) get one, so that they are
// tombstoned too.
//
// A plaintext archive (Sealed false) has no keys to shred: its objects
// are playable MKV, which no key destruction reaches.
func (a *Archiver) KeysDestroyed(ids ...string) {
	if !a.started.Load() || !a.Sealed {
		return
	}
	err := a.Space.Update(context.Background(), store.Meta, func(txn *store.Txn) error {
		// Their wrapped copies in legacy manifests and objects, if any,
		// go too (scrub).
		if err := a.scrubDue(txn); err != nil {
			return err
		}
		for _, id := range ids {
			if !validKeyID(id) {
				continue
			}
			if _, err := txn.Get(a.keyMark(id)); errors.Is(err, badger.ErrKeyNotFound) {
				if err := txn.Set(a.keyMark(id), []byte("0")); err != nil {
					return err
				}
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		a.Logger.Warn("archive: marking destroyed keys for shredding", "err", err)
	}
	a.shredDue.Store(true)
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// Shredded returns how many archived data keys the archiver has shredded
// since Start.
func (a *Archiver) Shredded() uint64 { return a.stats.shredded.Load() }

// Scrubbed returns how many wrapped copies of destroyed data keys the
// archiver has scrubbed from legacy manifests (and their objects) since
// Start: one per key and manifest.
func (a *Archiver) Scrubbed() uint64 { return a.stats.scrubbed.Load() }

// shred shreds the archived copy of every archived data key that is
// destroyed locally: it writes the key's tombstone, deletes its object,
// then its mark. Each step is retried until the bucket answers, and the
// marks make it resumable: a crash or an outage anywhere leaves the mark
// and the local tombstone, and the next pass (or Start) does it again.
func (a *Archiver) shred(ctx context.Context) error {
	if !a.shredDue.Swap(false) {
		return nil
	}
	var ids []string
	pfx := a.Space.Key([]byte("u/"))
	err := a.Space.View(func(txn *store.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			ids = append(ids, string(it.Item().Key()[len(pfx):]))
		}
		return nil
	})
	if err != nil {
		a.shredDue.Store(true)
		return fmt.Errorf("archive: key marks: %w", err)
	}
	for _, id := range ids {
		_, err := a.Keys.GetKey(ctx, id)
		if !errors.Is(err, seal.ErrKeyDestroyed) {
			continue // alive (or unknown: not ours to shred)
		}
		if err := a.shredKey(ctx, id, destroyedReason(err)); err != nil {
			a.shredDue.Store(true)
			return err
		}
	}
	return nil
}

// destroyedReason is the reason of a seal.DestroyedError.
func destroyedReason(err error) string {
	msg := err.Error()
	if _, r, ok := strings.Cut(msg, " was destroyed: "); ok {
		return r
	}
	return msg
}

func (a *Archiver) shredKey(ctx context.Context, id, reason string) error {
	body, err := json.Marshal(Tombstone{ID: id, Reason: reason, Shredded: a.Now().UTC(), Appliance: a.ApplianceID})
	if err != nil {
		return err
	}
	if err := a.put(ctx, TombstoneKey(a.Prefix, a.ApplianceID, id), body, nil); err != nil {
		return err
	}
	if err := a.del(ctx, KeyObjectKey(a.Prefix, a.ApplianceID, id)); err != nil {
		return err
	}
	if err := a.Space.Update(ctx, store.Meta, func(txn *store.Txn) error { return txn.Delete(a.keyMark(id)) }); err != nil {
		return fmt.Errorf("archive: mark of key %s: %w", id, err)
	}
	delete(a.keysUp, id)
	a.stats.shredded.Add(1)
	a.Logger.Info("archived data key shredded", "key", id, "reason", reason)
	return nil
}

// del deletes an object, retrying like put.
func (a *Archiver) del(ctx context.Context, key string) error {
	for attempt := 0; ; attempt++ {
		err := a.Bucket.Delete(ctx, key)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.stats.failures.Add(1)
		wait := firehose.Backoff(a.MinBackoff, a.MaxBackoff, attempt)
		a.Logger.Warn("archive delete failed, retrying", "key", key, "attempt", attempt+1, "wait", wait, "err", err)
		if err := sleepCtx(ctx, wait); err != nil {
			return err
		}
	}
}

// bucketKeys is the seal.KeyStore of a Remote: the data keys archived as
// their own objects (KeyObjectKey), a tombstone (TombstoneKey) making a
// key destroyed, and the wrapped keys that manifests written before that
// carried (legacy) — which a tombstone overrides too. Read only.
type bucketKeys struct {
	r      *Remote
	legacy map[string]Key
}

func (k bucketKeys) GetKey(ctx context.Context, id string) (seal.KeyRecord, error) {
	if !validKeyID(id) {
		return seal.KeyRecord{}, fmt.Errorf("%w: %q is not a key id", seal.ErrKeyNotFound, id)
	}
	if k.r.Local != nil {
		rec, err := k.r.Local.GetKey(ctx, id)
		if err == nil || errors.Is(err, seal.ErrKeyDestroyed) {
			return rec, err
		}
		if !errors.Is(err, seal.ErrKeyNotFound) {
			return seal.KeyRecord{}, err
		}
	}
	body, err := k.r.Bucket.Get(ctx, TombstoneKey(k.r.Prefix, k.r.ApplianceID, id))
	if err == nil {
		t, err := ParseTombstone(id, body)
		if err != nil {
			return seal.KeyRecord{}, err
		}
		return seal.KeyRecord{}, seal.DestroyedError(id, fmt.Sprintf("%s (archived copy shredded %s)", t.Reason, t.Shredded.Format(time.RFC3339)))
	}
	if !errors.Is(err, ErrNoObject) {
		return seal.KeyRecord{}, err
	}
	if l, ok := k.legacy[id]; ok {
		return seal.KeyRecord{ID: id, Alias: l.Alias, Wrapped: l.Wrapped, MasterCheck: l.MasterCheck, Retired: true}, nil
	}
	body, err = k.r.Bucket.Get(ctx, KeyObjectKey(k.r.Prefix, k.r.ApplianceID, id))
	if errors.Is(err, ErrNoObject) {
		return seal.KeyRecord{}, fmt.Errorf("%w: data key %s is not in the archive (no %s)", seal.ErrKeyNotFound, id, KeyObjectKey(k.r.Prefix, k.r.ApplianceID, id))
	}
	if err != nil {
		return seal.KeyRecord{}, err
	}
	o, err := ParseKeyObject(id, body)
	if err != nil {
		return seal.KeyRecord{}, err
	}
	return seal.KeyRecord{ID: id, Alias: o.Alias, Created: o.Created, Wrapped: o.Wrapped, MasterCheck: o.MasterCheck, Retired: true}, nil
}

func (k bucketKeys) PutKey(context.Context, seal.KeyRecord) error {
	return errors.New("archive: the archive's data keys are read only")
}

func (k bucketKeys) ListKeys(context.Context) ([]seal.KeyRecord, error) { return nil, nil }

func (k bucketKeys) DestroyKey(context.Context, string, string) error {
	return errors.New("archive: the archive's data keys are read only")
}
