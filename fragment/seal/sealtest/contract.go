// Package sealtest holds the contract test that every seal.KeyStore
// implementation must pass. The index package runs it against Badger; the
// seal package runs it against seal.MemKeyStore.
package sealtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/seal"
)

// TestKeyStoreContract runs the KeyStore contract against stores made by
// newStore, which must return a new, empty store for each call (use
// t.TempDir and t.Cleanup for on-disk stores).
//
// The contract: GetKey of an unknown id fails with an error wrapping
// seal.ErrKeyNotFound; PutKey then GetKey returns an equal record (Created
// equal to the nanosecond per time.Time.Equal); PutKey of an existing id
// replaces the record; ListKeys returns every record exactly once;
// records are copied in and out (no shared Wrapped slices); the store is
// safe for concurrent use; a seal.Keyring persisted in it reopens; and
// DestroyKey removes a record for good, leaving a tombstone: GetKey and
// PutKey of that id then fail with seal.ErrKeyDestroyed naming the reason,
// ListKeys no longer lists it, and a blob it sealed fails to open.
func TestKeyStoreContract(t *testing.T, newStore func(t *testing.T) seal.KeyStore) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, s seal.KeyStore)
	}{
		{"GetMissing", testGetMissing},
		{"PutGet", testPutGet},
		{"Replace", testReplace},
		{"List", testList},
		{"Copies", testCopies},
		{"Concurrent", testConcurrent},
		{"KeyringReopen", testKeyringReopen},
		{"KeyringWrongMaster", testKeyringWrongMaster},
		{"Destroy", testDestroy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newStore(t))
		})
	}
}

// record returns a distinct, fully populated record.
func record(i int) seal.KeyRecord {
	return seal.KeyRecord{
		ID:          fmt.Sprintf("%016x", 0xabc000+i),
		Alias:       fmt.Sprintf("cam-%d", i%3),
		Created:     time.Date(2026, 11, 25, 20, 30, i, 123456789, time.UTC),
		Wrapped:     bytes.Repeat([]byte{byte(i + 1)}, 61),
		MasterCheck: "0123456789abcdef",
		Retired:     i%2 == 1,
	}
}

// equalRecord reports whether two records hold the same data.
func equalRecord(a, b seal.KeyRecord) bool {
	return a.ID == b.ID && a.Alias == b.Alias && a.Created.Equal(b.Created) &&
		bytes.Equal(a.Wrapped, b.Wrapped) && a.MasterCheck == b.MasterCheck && a.Retired == b.Retired
}

func testGetMissing(t *testing.T, s seal.KeyStore) {
	ctx := context.Background()
	if _, err := s.GetKey(ctx, "0000000000000000"); !errors.Is(err, seal.ErrKeyNotFound) {
		t.Fatalf("GetKey(empty store) error = %v, want ErrKeyNotFound", err)
	}
	if err := s.PutKey(ctx, record(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetKey(ctx, record(2).ID); !errors.Is(err, seal.ErrKeyNotFound) {
		t.Fatalf("GetKey(other id) error = %v, want ErrKeyNotFound", err)
	}
}

func testPutGet(t *testing.T, s seal.KeyStore) {
	ctx := context.Background()
	for i := range 4 {
		want := record(i)
		if err := s.PutKey(ctx, want); err != nil {
			t.Fatalf("PutKey(%s): %v", want.ID, err)
		}
		got, err := s.GetKey(ctx, want.ID)
		if err != nil {
			t.Fatalf("GetKey(%s): %v", want.ID, err)
		}
		if !equalRecord(got, want) {
			t.Fatalf("GetKey(%s) = %+v, want %+v (Created must round-trip to the nanosecond: "+
				"store Unix nanoseconds or RFC 3339 with nanoseconds)", want.ID, got, want)
		}
	}
}

func testReplace(t *testing.T, s seal.KeyStore) {
	ctx := context.Background()
	rec := record(0)
	if err := s.PutKey(ctx, rec); err != nil {
		t.Fatal(err)
	}
	rec.Retired = true
	if err := s.PutKey(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetKey(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !equalRecord(got, rec) {
		t.Fatalf("after replace GetKey = %+v, want %+v", got, rec)
	}
	list, err := s.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !equalRecord(list[0], rec) {
		t.Fatalf("after replace ListKeys = %+v, want only %+v", list, rec)
	}
}

func testList(t *testing.T, s seal.KeyStore) {
	ctx := context.Background()
	list, err := s.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Fatalf("ListKeys(empty store) = %d records, want 0", len(list))
	}
	var want []seal.KeyRecord
	for i := range 5 {
		want = append(want, record(i))
		if err := s.PutKey(ctx, record(i)); err != nil {
			t.Fatal(err)
		}
	}
	list, err = s.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := func(a, b seal.KeyRecord) int { return strings.Compare(a.ID, b.ID) }
	slices.SortFunc(list, byID)
	if !slices.EqualFunc(list, want, equalRecord) {
		t.Fatalf("ListKeys = %+v, want %+v", list, want)
	}
}

func testCopies(t *testing.T, s seal.KeyStore) {
	ctx := context.Background()
	rec := record(0)
	want := bytes.Clone(rec.Wrapped)
	if err := s.PutKey(ctx, rec); err != nil {
		t.Fatal(err)
	}
	rec.Wrapped[0] ^= 0xff // the caller reuses its buffer
	got, err := s.GetKey(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Wrapped, want) {
		t.Fatal("PutKey kept the caller's Wrapped slice")
	}
	got.Wrapped[1] ^= 0xff
	list, err := s.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || !bytes.Equal(list[0].Wrapped, want) {
		t.Fatal("GetKey returned the store's own Wrapped slice")
	}
	list[0].Wrapped[2] ^= 0xff
	again, err := s.GetKey(ctx, rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Wrapped, want) {
		t.Fatal("ListKeys returned the store's own Wrapped slice")
	}
}

func testConcurrent(t *testing.T, s seal.KeyStore) {
	ctx := context.Background()
	const workers, each = 8, 16
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				rec := record(w*each + i)
				if err := s.PutKey(ctx, rec); err != nil {
					t.Errorf("PutKey: %v", err)
					return
				}
				if _, err := s.GetKey(ctx, rec.ID); err != nil {
					t.Errorf("GetKey: %v", err)
					return
				}
				if _, err := s.ListKeys(ctx); err != nil {
					t.Errorf("ListKeys: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	list, err := s.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != workers*each {
		t.Fatalf("ListKeys after concurrent puts = %d records, want %d", len(list), workers*each)
	}
}

func testKeyringReopen(t *testing.T, s seal.KeyStore) {
	ctx := context.Background()
	master := seal.NewMasterKey()
	now := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	k1 := &seal.Keyring{Store: s, Master: master, Now: clock}
	blob1, id1, err := k1.Seal(ctx, "", "cam1", 1, []byte("fragment one"))
	if err != nil {
		t.Fatal(err)
	}
	id2, err := k1.Rotate(ctx, "cam1")
	if err != nil {
		t.Fatal(err)
	}
	blob2, used, err := k1.Seal(ctx, "", "cam1", 2, []byte("fragment two"))
	if err != nil {
		t.Fatal(err)
	}
	if used != id2 || id2 == id1 {
		t.Fatalf("after Rotate sealed with %q, want the new key %q (old %q)", used, id2, id1)
	}

	k2 := &seal.Keyring{Store: s, Master: master, Now: clock}
	for _, c := range []struct {
		fn   uint64
		blob []byte
		want string
	}{{1, blob1, "fragment one"}, {2, blob2, "fragment two"}} {
		got, err := k2.Open(ctx, "cam1", c.fn, c.blob)
		if err != nil {
			t.Fatalf("reopened keyring: Open fragment %d: %v", c.fn, err)
		}
		if string(got) != c.want {
			t.Fatalf("reopened keyring: Open fragment %d = %q, want %q", c.fn, got, c.want)
		}
	}
	_, used, err = k2.Seal(ctx, "", "cam1", 3, []byte("fragment three"))
	if err != nil {
		t.Fatal(err)
	}
	if used != id2 {
		t.Fatalf("reopened keyring sealed with %q, want the current key %q", used, id2)
	}
}

func testKeyringWrongMaster(t *testing.T, s seal.KeyStore) {
	ctx := context.Background()
	k1 := &seal.Keyring{Store: s, Master: seal.NewMasterKey()}
	blob, _, err := k1.Seal(ctx, "", "cam1", 1, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	k2 := &seal.Keyring{Store: s, Master: seal.NewMasterKey()}
	if err := k2.Initialize(ctx); !errors.Is(err, seal.ErrBadMasterKey) {
		t.Fatalf("Initialize with another master key: error = %v, want ErrBadMasterKey", err)
	}
	if _, err := k2.Open(ctx, "cam1", 1, blob); !errors.Is(err, seal.ErrBadMasterKey) {
		t.Fatalf("Open with another master key: error = %v, want ErrBadMasterKey", err)
	}
}

func testDestroy(t *testing.T, s seal.KeyStore) {
	ctx := context.Background()
	k := &seal.Keyring{Store: s, Master: seal.NewMasterKey()}
	blob, id, err := k.Seal(ctx, "", "cam1", 1, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	_, keepID, err := k.Seal(ctx, "", "cam2", 2, []byte("y"))
	if err != nil {
		t.Fatal(err)
	}
	const reason = "stream deleted (contract test)"
	if err := s.DestroyKey(ctx, id, reason); err != nil {
		t.Fatalf("DestroyKey: %v", err)
	}
	if err := s.DestroyKey(ctx, id, "again"); err != nil {
		t.Fatalf("DestroyKey twice: %v", err)
	}
	if err := s.DestroyKey(ctx, "ffffffffffffffff", "never stored"); err != nil {
		t.Fatalf("DestroyKey of a missing id: %v", err)
	}
	_, err = s.GetKey(ctx, id)
	if !errors.Is(err, seal.ErrKeyDestroyed) || !strings.Contains(err.Error(), "data key "+id+" was destroyed: "+reason) {
		t.Fatalf("GetKey of a destroyed key: error = %v, want ErrKeyDestroyed naming the key and %q", err, reason)
	}
	if err := s.PutKey(ctx, seal.KeyRecord{ID: id, Alias: "cam1", Wrapped: []byte{1}}); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Fatalf("PutKey of a destroyed id: error = %v, want ErrKeyDestroyed", err)
	}
	recs, err := s.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != keepID {
		t.Fatalf("ListKeys after destroy = %d records, want only %s", len(recs), keepID)
	}
	// A fresh keyring (no cached key) cannot open what the key sealed.
	k2 := &seal.Keyring{Store: s, Master: k.Master}
	if _, err := k2.Open(ctx, "cam1", 1, blob); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Fatalf("Open after destroy: error = %v, want ErrKeyDestroyed", err)
	}
}
