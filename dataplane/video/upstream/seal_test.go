package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// openDiskBox opens an appliance's storage in dir, on disk, with master.
func openDiskBox(t *testing.T, dir string, master seal.MasterKey) (*box, func()) {
	t.Helper()
	db, err := store.Open(store.Options{Dir: dir, MemTableSize: 8 << 20, BlockCacheSize: 1 << 20, IndexCacheSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := index.Open(index.Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := db.Space("u/")
	if err != nil {
		t.Fatal(err)
	}
	var closed bool
	closeAll := func() {
		if !closed {
			closed = true
			idx.Close()
			db.Close()
		}
	}
	t.Cleanup(closeAll)
	return &box{idx: idx, sp: sp, kr: &seal.Keyring{Store: idx.Keys(), Master: master}}, closeAll
}

func startManager(t *testing.T, b *box) *Manager {
	t.Helper()
	m := &Manager{Index: b.idx, Space: b.sp, Opener: b.kr, Sealer: b.kr,
		Tune: func(f *Forwarder) {
			f.MinBackoff, f.MaxBackoff, f.Rescan = 5*time.Millisecond, 20*time.Millisecond, 50*time.Millisecond
		}}
	if err := m.Start(nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func waitForwarded(t *testing.T, m *Manager, stream string, n int) {
	t.Helper()
	eventually(t, stream+" forwarded", func() error {
		for _, f := range m.Forwarders() {
			if f.Stream == stream {
				if st := f.Stats(); st.Fragments != uint64(n) || st.Backlog != 0 {
					return fmt.Errorf("stats %+v", st)
				}
				return nil
			}
		}
		return fmt.Errorf("no forwarder of %s", stream)
	})
}

// TestManagerSealsSecrets: a target set through the API keeps its secret
// key sealed: no file of the database directory holds it (its region,
// kept in clear in the same record, is found there: the scan reads the
// records); after a restart it opens and the stream is forwarded still.
func TestManagerSealsSecrets(t *testing.T) {
	dir := t.TempDir()
	master := seal.NewMasterKey()
	_, up := newUpstream(t)
	b, closeAll := openDiskBox(t, dir, master)
	m := startManager(t, b)
	// The region is any name: a control kept in clear in the same
	// record as the secret, as unlike the rest as the secret is.
	const region = "Hd4Jf6Rg5Tc1Yb9W"
	if err := m.Set(t.Context(), "cam1", Target{Endpoint: up.URL, Region: region, AccessKey: testKey, SecretKey: testSecret, Stream: "edge1"}); err != nil {
		t.Fatal(err)
	}
	stored := b.record(t, "cam1", time.Now().Add(-time.Hour).Truncate(time.Second))
	m.Notify(stored[0])
	waitForwarded(t, m, "cam1", len(stored))
	m.Close()
	closeAll()
	if !testtool.DirHolds(t, dir, []byte(region)) {
		t.Fatal("the database files do not hold the target's region: the scan proves nothing")
	}
	if testtool.DirHolds(t, dir, []byte(testSecret)) {
		t.Fatal("a database file holds the secret key in clear")
	}

	b, _ = openDiskBox(t, dir, master)
	m = startManager(t, b)
	if tg, _, err := m.Get("cam1"); err != nil || tg.SecretKey != testSecret || tg.AccessKey != testKey {
		t.Fatalf("target after a restart: %v (secret opened: %v)", err, tg.SecretKey == testSecret)
	}
	more := b.record(t, "cam1", time.Now().Add(-30*time.Minute).Truncate(time.Second))
	m.Notify(more[0])
	waitForwarded(t, m, "cam1", len(more))
}

// TestManagerSealsLegacyTargets: a target kept in clear (before sealing)
// is sealed again at Start: the record holds no secret_key any more, and
// the stream is forwarded with it; a sealed record moved to another
// stream's key does not open (the seal is bound to its stream).
func TestManagerSealsLegacyTargets(t *testing.T) {
	b := openBox(t)
	rec, up := newUpstream(t)
	legacy := Target{Endpoint: up.URL, Region: "us-east-1", AccessKey: testKey, SecretKey: testSecret, Stream: "edge1"}
	v, _ := json.Marshal(legacy)
	key := (&Manager{Space: b.sp}).targetKey
	if err := b.sp.Update(t.Context(), store.Meta, func(txn *store.Txn) error { return txn.Set(key("cam1"), v) }); err != nil {
		t.Fatal(err)
	}
	raw := func(stream string) []byte {
		t.Helper()
		var out []byte
		if err := b.sp.View(func(txn *store.Txn) error {
			item, err := txn.Get(key(stream))
			if err != nil {
				return err
			}
			out, err = item.ValueCopy(nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if !bytes.Contains(raw("cam1"), []byte(testSecret)) {
		t.Fatal("the legacy record was not written in clear")
	}
	m := startManager(t, b)
	got := raw("cam1")
	if bytes.Contains(got, []byte(testSecret)) || bytes.Contains(got, []byte("secret_key")) || !bytes.Contains(got, []byte("secret_sealed")) {
		t.Fatalf("record after Start: %s", got)
	}
	stored := b.record(t, "cam1", time.Now().Add(-time.Hour).Truncate(time.Second))
	m.Notify(stored[0])
	waitForwarded(t, m, "cam1", len(stored))
	if len(rec.walls()) == 0 {
		t.Fatal("nothing reached the upstream")
	}
	m.Close()

	// The sealed record copied under cam2: its secret does not open
	// there, cam2 is not started, cam1 is.
	if err := b.sp.Update(t.Context(), store.Meta, func(txn *store.Txn) error { return txn.Set(key("cam2"), got) }); err != nil {
		t.Fatal(err)
	}
	m = startManager(t, b)
	if _, _, err := m.Get("cam2"); err == nil {
		t.Fatal("a sealed secret moved to another stream opened")
	}
	if tg, _, err := m.Get("cam1"); err != nil || tg.SecretKey != testSecret {
		t.Fatalf("cam1 after a second start: %v", err)
	}
	if strings.Contains(string(raw("cam1")), testSecret) {
		t.Fatal("secret in clear after a second start")
	}
}
