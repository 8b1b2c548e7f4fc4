package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index/store"
)

// The appliance's keyring is a Sealer.
var _ Sealer = (*seal.Keyring)(nil)

func TestEncryptionAtRest(t *testing.T) {
	k := newKeyring()
	e, _ := newEngine(t, func(o *Options) { o.Sealer = k })
	mustCreate(t, e, "s", 1)
	ctx := context.Background()
	secret := []byte("the secret payload of a record")
	put := func(data []byte) PutResult {
		t.Helper()
		r, err := e.PutRecord(ctx, "s", PutEntry{PartitionKey: "k", Data: data}, "")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name    string
		toggle  func() error
		data    []byte
		encType string
		inClear bool
	}{
		{"before", func() error { return nil }, []byte("clear one"), EncryptionNone, true},
		{"on", func() error { return e.StartEncryption("s", EncryptionKMS, "alias/aws/kinesis") }, secret, EncryptionKMS, false},
		{"off", func() error { return e.StopEncryption("s", EncryptionKMS, "alias/aws/kinesis") }, []byte("clear two"), EncryptionNone, true},
	}
	for _, tt := range tests {
		if err := tt.toggle(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		r := put(tt.data)
		if r.EncryptionType != tt.encType {
			t.Errorf("%s: put EncryptionType %q, want %q", tt.name, r.EncryptionType, tt.encType)
		}
		it, err := e.GetShardIterator("s", r.ShardID, AtSequenceNumber, r.SequenceNumber, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.GetRecords(it, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Records) != 1 || !bytes.Equal(res.Records[0].Data, tt.data) || res.Records[0].EncryptionType != tt.encType {
			t.Errorf("%s: read %+v", tt.name, res.Records)
		}
		stored := false
		_ = e.sp.View(func(txn *store.Txn) error {
			p := e.key(keyRecord)
			it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true})
			defer it.Close()
			for it.Seek(p); it.Valid(); it.Next() {
				_ = it.Item().Value(func(v []byte) error {
					stored = stored || bytes.Contains(v, tt.data)
					return nil
				})
			}
			return nil
		})
		if stored != tt.inClear {
			t.Errorf("%s: plaintext stored = %v, want %v", tt.name, stored, tt.inClear)
		}
	}
}

// newSealedEngine is newEngine with the appliance's keyring as Sealer and
// stream name (shards shards) created with encryption on.
func newSealedEngine(t *testing.T, k *seal.Keyring, name string, shards int) *Engine {
	t.Helper()
	e, _ := newEngine(t, func(o *Options) { o.Sealer = k })
	mustCreate(t, e, name, shards)
	if err := e.StartEncryption(name, EncryptionKMS, "alias/aws/kinesis"); err != nil {
		t.Fatal(err)
	}
	return e
}

func newKeyring() *seal.Keyring {
	return &seal.Keyring{Store: &seal.MemKeyStore{}, Master: seal.NewMasterKey()}
}

// storedRecord is a record's key and value as the engine stored them.
type storedRecord struct {
	key, value []byte
}

// storedRecords returns the stored records of stream name in key order
// (shard, then sequence number).
func storedRecords(t *testing.T, e *Engine, name string) []storedRecord {
	t.Helper()
	e.mu.RLock()
	id := e.byName[name].meta.ID
	e.mu.RUnlock()
	var out []storedRecord
	err := e.sp.View(func(txn *store.Txn) error {
		p := e.streamRecordsPrefix(id)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true})
		defer it.Close()
		for it.Seek(p); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out = append(out, storedRecord{it.Item().KeyCopy(nil), v})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writeRaw stores value under key, as a disk or a hostile process could.
func writeRaw(t *testing.T, e *Engine, kv ...storedRecord) {
	t.Helper()
	err := e.sp.Update(context.Background(), store.Data, func(txn *store.Txn) error {
		for _, r := range kv {
			if err := txn.Set(r.key, r.value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readShard reads a whole shard from TRIM_HORIZON.
func readShard(e *Engine, name, shard string) ([]Record, error) {
	it, err := e.GetShardIterator(name, shard, TrimHorizon, "", time.Time{})
	if err != nil {
		return nil, err
	}
	res, err := e.GetRecords(it, 0)
	return res.Records, err
}

// A sealed record is bound to its position: moved or swapped to another
// stream, shard or sequence number it fails to open with ErrCorrupt, and
// no data is returned.
func TestSealedRecordBoundToPosition(t *testing.T) {
	k := newKeyring()
	ctx := context.Background()
	setup := func(t *testing.T) (*Engine, []storedRecord, []storedRecord) {
		e := newSealedEngine(t, k, "a", 2)
		mustCreate(t, e, "b", 2)
		if err := e.StartEncryption("b", EncryptionKMS, "alias/aws/kinesis"); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"a", "b"} {
			// Two records in each shard: hash key 0 routes to shard 0,
			// 2^128-1 to shard 1.
			for i, hk := range []string{"0", "0", "340282366920938463463374607431768211455", "340282366920938463463374607431768211455"} {
				if _, err := e.PutRecord(ctx, s, PutEntry{PartitionKey: "k", ExplicitHashKey: hk, Data: fmt.Appendf(nil, "%s record %d", s, i)}, ""); err != nil {
					t.Fatal(err)
				}
			}
		}
		a, b := storedRecords(t, e, "a"), storedRecords(t, e, "b")
		if len(a) != 4 || len(b) != 4 {
			t.Fatalf("stored %d and %d records, want 4 and 4", len(a), len(b))
		}
		return e, a, b
	}
	tests := []struct {
		name  string
		shard string
		// move returns the raw writes that put records at wrong places.
		move func(a, b []storedRecord) []storedRecord
	}{
		{"swapped in a shard", "shardId-000000000000", func(a, _ []storedRecord) []storedRecord {
			return []storedRecord{{a[0].key, a[1].value}, {a[1].key, a[0].value}}
		}},
		{"copied over the next record", "shardId-000000000000", func(a, _ []storedRecord) []storedRecord {
			return []storedRecord{{a[1].key, a[0].value}}
		}},
		{"moved to another shard", "shardId-000000000001", func(a, _ []storedRecord) []storedRecord {
			return []storedRecord{{a[2].key, a[0].value}}
		}},
		{"moved to another stream", "shardId-000000000000", func(a, b []storedRecord) []storedRecord {
			return []storedRecord{{a[0].key, b[0].value}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, a, b := setup(t)
			if recs, err := readShard(e, "a", tt.shard); err != nil || len(recs) != 2 {
				t.Fatalf("before the move: %d records, %v", len(recs), err)
			}
			writeRaw(t, e, tt.move(a, b)...)
			recs, err := readShard(e, "a", tt.shard)
			if !errors.Is(err, ErrCorrupt) || !errors.Is(err, seal.ErrAuthentication) {
				t.Fatalf("err = %v, want ErrCorrupt wrapping seal.ErrAuthentication", err)
			}
			if recs != nil {
				t.Errorf("returned %d records with the error", len(recs))
			}
			// The other shard still reads.
			other := "shardId-000000000001"
			if tt.shard == other {
				other = "shardId-000000000000"
			}
			if recs, err := readShard(e, "a", other); err != nil || len(recs) != 2 {
				t.Errorf("other shard: %d records, %v", len(recs), err)
			}
		})
	}
}

// Records sealed before seals were bound to positions (the stream only,
// number 0, no flagBound) still read.
func TestSealedRecordOldFormat(t *testing.T) {
	k := newKeyring()
	e := newSealedEngine(t, k, "s", 1)
	ctx := context.Background()
	for i := range 2 {
		if _, err := e.PutRecord(ctx, "s", PutEntry{PartitionKey: "k", Data: fmt.Appendf(nil, "new %d", i)}, ""); err != nil {
			t.Fatal(err)
		}
	}
	recs := storedRecords(t, e, "s")
	if len(recs) != 2 || recs[0].value[0] != flagKMS|flagSealed|flagBound {
		t.Fatalf("stored %d records, flags %#x", len(recs), recs[0].value[0])
	}
	// Rewrite the first record as the engine wrote it before flagBound.
	e.mu.RLock()
	id := e.byName["s"].meta.ID
	e.mu.RUnlock()
	old := []byte("sealed the old way")
	sealed, _, err := k.Seal(ctx, "alias/aws/kinesis", sealStream(id), 0, old)
	if err != nil {
		t.Fatal(err)
	}
	writeRaw(t, e, storedRecord{recs[0].key, encodeRecord(nil, "k", sealed, flagKMS|flagSealed)})
	got, err := readShard(e, "s", "shardId-000000000000")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !bytes.Equal(got[0].Data, old) || string(got[1].Data) != "new 1" || got[0].EncryptionType != EncryptionKMS {
		t.Errorf("read %+v", got)
	}
}

// Concurrent puts of many records to a sealed stream (batches big enough
// to be sealed by several goroutines) read back as they were put.
func TestSealedBatchesRoundTrip(t *testing.T) {
	e := newSealedEngine(t, newKeyring(), "s", 2)
	ctx := context.Background()
	const callers, perCall = 4, 300
	errs := make(chan error, callers)
	for c := range callers {
		go func() {
			entries := make([]PutEntry, perCall)
			for i := range entries {
				pk := fmt.Sprintf("c%d-%d", c, i)
				entries[i] = PutEntry{PartitionKey: pk, Data: []byte("data of " + pk)}
			}
			res, err := e.PutRecords(ctx, "s", entries)
			for _, r := range res {
				if err == nil && r.Err != nil {
					err = r.Err
				}
			}
			errs <- err
		}()
	}
	for range callers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, sh := range []string{"shardId-000000000000", "shardId-000000000001"} {
		recs, err := readShard(e, "s", sh)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if string(r.Data) != "data of "+r.PartitionKey {
				t.Fatalf("record %s: data %q", r.PartitionKey, r.Data)
			}
		}
		n += len(recs)
	}
	if n != callers*perCall {
		t.Errorf("read %d records, want %d", n, callers*perCall)
	}
}
