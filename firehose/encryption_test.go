package firehose

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// spoolValues returns the raw values of stream name's spooled records.
func spoolValues(t *testing.T, e *Engine, name string) [][]byte {
	t.Helper()
	sp := e.sp
	var out [][]byte
	err := sp.View(func(txn *store.Txn) error {
		return iterate(txn, sp.Key([]byte(keyRecord), []byte(name), []byte("/")), true, func(_, v []byte) error {
			out = append(out, v)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEncryptionSealsTheSpool: records put while encryption is on are
// sealed in the spool (no plaintext in Badger), those before and after
// are not; all of them are delivered in the clear, after a restart too.
func TestEncryptionSealsTheSpool(t *testing.T) {
	dir := t.TempDir()
	keys := &seal.MemKeyStore{}
	master := seal.NewMasterKey()
	ring := func() *seal.Keyring { return &seal.Keyring{Store: keys, Master: master} }
	m := &memDest{}
	m.fail.Store(true)
	db := openDB(t, dir)
	e := openEngine(t, db, m, func(o *Options) { o.Sealer = ring() })
	ctx := context.Background()
	if _, err := e.Create(ctx, "enc", dest("bkt", 1, 900, Uncompressed)); err != nil {
		t.Fatal(err)
	}
	before, during, after := records(3, 40, "plain-before"), records(3, 40, "secret"), records(3, 40, "plain-after")
	if _, err := e.Put(ctx, "enc", before); err != nil {
		t.Fatal(err)
	}
	if err := e.StartEncryption(ctx, "enc", "CUSTOMER_MANAGED_CMK"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("customer key: %v", err)
	}
	if err := e.StartEncryption(ctx, "enc", ""); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.Describe("enc"); !s.Encryption.Enabled() || s.Encryption.KeyType != KeyAWSOwned || s.VersionID != 1 {
		t.Fatalf("after start: %+v", s.Encryption)
	}
	if _, err := e.Put(ctx, "enc", during); err != nil {
		t.Fatal(err)
	}
	if err := e.StopEncryption(ctx, "enc"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Put(ctx, "enc", after); err != nil {
		t.Fatal(err)
	}
	vals := spoolValues(t, e, "enc")
	if len(vals) != 9 {
		t.Fatalf("%d records spooled", len(vals))
	}
	for i, v := range vals {
		secret := bytes.Contains(v, []byte("secret"))
		if plain := i < 3 || i >= 6; plain != bytes.Equal(v, append(append(before, during...), after...)[i]) || (!plain && secret) {
			t.Fatalf("record %d in the spool: %q", i, v)
		}
	}
	e.Close()
	db.Close()

	m.fail.Store(false)
	e2 := openEngine(t, openDB(t, dir), m, func(o *Options) { o.Sealer = ring() })
	if s, _ := e2.Describe("enc"); s.Encryption.Enabled() {
		t.Fatalf("after restart: %+v", s.Encryption)
	}
	if _, err := e2.Update(ctx, "enc", 1, func(d *S3Destination) { d.IntervalInSeconds = 0 }); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "the object", func() bool { return m.count() == 1 })
	for _, body := range m.objects {
		if want := bytes.Join(append(append(before, during...), after...), nil); !bytes.Equal(body, want) {
			t.Fatalf("object %q, want %q", body, want)
		}
	}

	e3 := openEngine(t, openDB(t, ""), m, nil)
	if _, err := e3.Create(ctx, "x", dest("bkt", 1, 60, GZIP)); err != nil {
		t.Fatal(err)
	}
	if err := e3.StartEncryption(ctx, "x", ""); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("start without a Sealer: %v", err)
	}
}
