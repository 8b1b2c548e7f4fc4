package seal

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// KeyRecord is a data key as stored: wrapped by the master key, never in
// plain text.
type KeyRecord struct {
	// ID names the key; it is embedded in every blob sealed with it.
	ID string
	// Alias is the key line the key belongs to (a stream name, or a name
	// shared by several streams).
	Alias string
	// Created is when the key was generated (Keyring.Now).
	Created time.Time
	// Wrapped is the data key encrypted under the master key (see the
	// package doc for the format).
	Wrapped []byte
	// MasterCheck is the check value (MasterKey.CheckValue) of the master
	// key that wrapped it.
	MasterCheck string
	// Retired is set when a newer key replaced this one for sealing. A
	// retired key still opens what it sealed.
	Retired bool
}

// KeyStore persists wrapped data keys. The index package implements it on
// Badger; MemKeyStore is the in-memory implementation. The contract that
// every implementation must pass is sealtest.TestKeyStoreContract.
//
// Implementations must be safe for concurrent use and must not retain or
// hand out slices shared with the caller (Wrapped is copied in and out).
type KeyStore interface {
	// PutKey stores rec under rec.ID, replacing any record with that ID.
	// When it returns nil the record is durable.
	PutKey(ctx context.Context, rec KeyRecord) error
	// GetKey returns the record stored under id, or an error wrapping
	// ErrKeyNotFound.
	GetKey(ctx context.Context, id string) (KeyRecord, error)
	// ListKeys returns every stored record, in no particular order.
	// Destroyed keys are not listed.
	ListKeys(ctx context.Context) ([]KeyRecord, error)
	// DestroyKey removes the record stored under id for good
	// (crypto-shredding) and keeps a tombstone naming why, so that GetKey
	// and PutKey of that id fail with an error wrapping ErrKeyDestroyed
	// that says "data key <id> was destroyed: <reason>". Destroying a
	// missing or already destroyed id is not an error. When it returns nil
	// the removal is durable.
	DestroyKey(ctx context.Context, id, reason string) error
}

// DestroyedError returns the error GetKey and PutKey give for a destroyed
// key: it wraps ErrKeyDestroyed and names the key and the reason.
func DestroyedError(id, reason string) error {
	return fmt.Errorf("%w: data key %s was destroyed: %s", ErrKeyDestroyed, id, reason)
}

// MemKeyStore is a KeyStore in memory, for tests and for appliances that
// keep no video across restarts. The zero value is ready to use.
type MemKeyStore struct {
	mu         sync.Mutex
	recs       map[string]KeyRecord
	tombstones map[string]string // destroyed id → reason
}

var _ KeyStore = (*MemKeyStore)(nil)

// PutKey implements KeyStore.
func (s *MemKeyStore) PutKey(ctx context.Context, rec KeyRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if reason, ok := s.tombstones[rec.ID]; ok {
		return DestroyedError(rec.ID, reason)
	}
	if s.recs == nil {
		s.recs = make(map[string]KeyRecord)
	}
	s.recs[rec.ID] = cloneRecord(rec)
	return nil
}

// GetKey implements KeyStore.
func (s *MemKeyStore) GetKey(ctx context.Context, id string) (KeyRecord, error) {
	if err := ctx.Err(); err != nil {
		return KeyRecord{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if reason, ok := s.tombstones[id]; ok {
		return KeyRecord{}, DestroyedError(id, reason)
	}
	rec, ok := s.recs[id]
	if !ok {
		return KeyRecord{}, fmt.Errorf("%w: %q", ErrKeyNotFound, id)
	}
	return cloneRecord(rec), nil
}

// ListKeys implements KeyStore. The records are sorted by ID.
func (s *MemKeyStore) ListKeys(ctx context.Context) ([]KeyRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]KeyRecord, 0, len(s.recs))
	for _, rec := range s.recs {
		out = append(out, cloneRecord(rec))
	}
	slices.SortFunc(out, func(a, b KeyRecord) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// DestroyKey implements KeyStore.
func (s *MemKeyStore) DestroyKey(ctx context.Context, id, reason string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tombstones[id]; ok {
		return nil
	}
	if s.tombstones == nil {
		s.tombstones = make(map[string]string)
	}
	delete(s.recs, id)
	s.tombstones[id] = reason
	return nil
}

// cloneRecord returns rec with its own copy of Wrapped.
func cloneRecord(rec KeyRecord) KeyRecord {
	rec.Wrapped = slices.Clone(rec.Wrapped)
	return rec
}
