package engine

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index/store"
)

// The appliance's keyring is a Sealer.
var _ Sealer = (*seal.Keyring)(nil)

func TestEncryptionAtRest(t *testing.T) {
	k := &seal.Keyring{Store: &seal.MemKeyStore{}, Master: seal.NewMasterKey()}
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
