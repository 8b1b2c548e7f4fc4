package seal

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is an injectable clock that tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testMaster is a fixed master key, so fuzz seeds stay valid across runs.
func testMaster() MasterKey {
	var m MasterKey
	for i := range m {
		m[i] = byte(i + 1)
	}
	return m
}

// Fixed data key used by fixedKeyring.
const (
	fixedKeyID = "00112233aabbccdd"
	fixedAlias = "cam1"
)

// fixedKeyring returns a keyring whose store holds one known data key
// (bytes 100..131) for alias cam1, so blobs sealed by it open in any run.
func fixedKeyring(tb testing.TB) *Keyring {
	tb.Helper()
	raw := make([]byte, MasterKeySize)
	for i := range raw {
		raw[i] = byte(100 + i)
	}
	master := testMaster()
	wrapped, err := wrapKey(master, fixedKeyID, fixedAlias, raw)
	if err != nil {
		tb.Fatal(err)
	}
	store := &MemKeyStore{}
	clock := newFakeClock()
	rec := KeyRecord{ID: fixedKeyID, Alias: fixedAlias, Created: clock.Now(), Wrapped: wrapped, MasterCheck: master.CheckValue()}
	if err := store.PutKey(context.Background(), rec); err != nil {
		tb.Fatal(err)
	}
	return &Keyring{Store: store, Master: master, Now: clock.Now}
}

func TestSealOpenRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16)
	tests := []struct {
		name      string
		alias     string
		stream    string
		fn        uint64
		plaintext []byte
	}{
		{"empty", "", "cam1", 0, nil},
		{"one byte", "", "cam1", 1, []byte{0}},
		{"text", "", "cam1", 42, []byte("a fragment")},
		{"64 KiB", "", "cam1", 7, big},
		{"max fragment number", "", "cam1", ^uint64(0), []byte("last")},
		{"shared alias", "site-key", "cam2", 3, []byte("shared")},
		{"unicode stream", "", "caméra/entrée 1", 9, []byte("unicode")},
		{"long stream", "", strings.Repeat("s", 256), 9, []byte("long")},
	}
	ctx := context.Background()
	k := &Keyring{Store: &MemKeyStore{}, Master: NewMasterKey()}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealed, id, err := k.Seal(ctx, tt.alias, tt.stream, tt.fn, tt.plaintext)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(sealed), len(tt.plaintext)+sealedOverhead(len(id)); got != want {
				t.Errorf("len(sealed) = %d, want %d", got, want)
			}
			if len(tt.plaintext) > 8 && bytes.Contains(sealed, tt.plaintext[:8]) {
				t.Error("sealed blob contains plaintext")
			}
			gotID, err := sealedKeyID(sealed)
			if err != nil || gotID != id {
				t.Errorf("key id in the header = %q, %v; want %q", gotID, err, id)
			}
			got, err := k.Open(ctx, tt.stream, tt.fn, sealed)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.plaintext) {
				t.Fatalf("Open = %d bytes, want the %d sealed", len(got), len(tt.plaintext))
			}
			again, _, err := k.Seal(ctx, tt.alias, tt.stream, tt.fn, tt.plaintext)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(again, sealed) {
				t.Error("two seals of the same fragment are identical: nonce reused")
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	ctx := context.Background()
	k := &Keyring{Store: &MemKeyStore{}, Master: NewMasterKey()}
	blob, id, err := k.Seal(ctx, "", "cam1", 5, []byte("fragment five"))
	if err != nil {
		t.Fatal(err)
	}
	other, otherID, err := k.Seal(ctx, "", "cam2", 5, []byte("fragment five of cam2"))
	if err != nil {
		t.Fatal(err)
	}
	if otherID == id {
		t.Fatal("streams without alias share a key; want per-stream keys")
	}
	// cam2's blob relabelled with cam1's key id: swapped key.
	relabelled := append(sealedHeader(id), other[2+len(otherID):]...)
	unknown := append(sealedHeader("ffffffffffffffff"), blob[2+len(id):]...)
	withBody := func(h []byte) []byte { return append(h, blob[2+len(id):]...) }

	tests := []struct {
		name   string
		stream string
		fn     uint64
		blob   []byte
		want   error
	}{
		{"wrong stream", "cam2", 5, blob, ErrAuthentication},
		{"wrong fragment number", "cam1", 6, blob, ErrAuthentication},
		{"other stream's blob", "cam1", 5, other, ErrAuthentication},
		{"relabelled key id", "cam2", 5, relabelled, ErrAuthentication},
		{"truncated tag", "cam1", 5, blob[:len(blob)-1], ErrAuthentication},
		{"extra byte", "cam1", 5, append(bytes.Clone(blob), 0), ErrAuthentication},
		{"unknown key id", "cam1", 5, unknown, ErrKeyNotFound},
		{"nil", "cam1", 5, nil, ErrMalformed},
		{"one byte", "cam1", 5, []byte{1}, ErrMalformed},
		{"header only", "cam1", 5, sealedHeader(id), ErrMalformed},
		{"shorter than nonce and tag", "cam1", 5, blob[:2+len(id)+nonceSize+tagSize-1], ErrMalformed},
		{"version 0", "cam1", 5, append([]byte{0}, blob[1:]...), ErrMalformed},
		{"version 2", "cam1", 5, append([]byte{2}, blob[1:]...), ErrMalformed},
		{"key id length 0", "cam1", 5, withBody([]byte{1, 0}), ErrMalformed},
		{"key id length 65", "cam1", 5, withBody(append([]byte{1, 65}, bytes.Repeat([]byte{'a'}, 65)...)), ErrMalformed},
		{"key id with slash", "cam1", 5, withBody([]byte{1, 3, 'a', '/', 'b'}), ErrMalformed},
		{"key id with newline", "cam1", 5, withBody([]byte{1, 3, 'a', '\n', 'b'}), ErrMalformed},
		{"empty stream", "", 5, blob, ErrEmptyName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := k.Open(ctx, tt.stream, tt.fn, tt.blob)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open error = %v, want %v", err, tt.want)
			}
			if got != nil {
				t.Fatalf("Open returned %d bytes with an error", len(got))
			}
		})
	}
	// The authentication error names what failed to open.
	_, err = k.Open(ctx, "cam2", 5, blob)
	for _, part := range []string{`"cam2"`, "fragment 5", id} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not mention %s", err, part)
		}
	}
}

func TestOpenFlippedByte(t *testing.T) {
	ctx := context.Background()
	k := &Keyring{Store: &MemKeyStore{}, Master: NewMasterKey()}
	blob, id, err := k.Seal(ctx, "", "cam1", 9, []byte("a short fragment"))
	if err != nil {
		t.Fatal(err)
	}
	headerLen := 2 + len(id)
	for i := range blob {
		for _, bit := range []byte{0x01, 0x80} {
			b := bytes.Clone(blob)
			b[i] ^= bit
			got, err := k.Open(ctx, "cam1", 9, b)
			switch {
			case err == nil || got != nil:
				t.Fatalf("byte %d ^ %#x: Open succeeded", i, bit)
			case i >= headerLen && !errors.Is(err, ErrAuthentication):
				t.Fatalf("byte %d ^ %#x (nonce/ciphertext/tag): error = %v, want ErrAuthentication", i, bit, err)
			case i < headerLen && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrKeyNotFound) && !errors.Is(err, ErrAuthentication):
				t.Fatalf("byte %d ^ %#x (header): error = %v, want ErrMalformed, ErrKeyNotFound or ErrAuthentication", i, bit, err)
			}
		}
	}
}

func TestRotation(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	store := &MemKeyStore{}
	master := NewMasterKey()
	k := &Keyring{Store: store, Master: master, Now: clock.Now, Rotation: 10 * time.Minute}

	seal := func(fn uint64) ([]byte, string) {
		t.Helper()
		b, id, err := k.Seal(ctx, "", "cam1", fn, fmt.Appendf(nil, "fragment %d", fn))
		if err != nil {
			t.Fatal(err)
		}
		return b, id
	}
	b1, key1 := seal(1)
	clock.Advance(10*time.Minute - time.Nanosecond)
	b2, id := seal(2)
	if id != key1 {
		t.Fatalf("just before Rotation: sealed with %q, want %q", id, key1)
	}
	clock.Advance(time.Nanosecond)
	b3, key2 := seal(3)
	if key2 == key1 {
		t.Fatal("at Rotation the key did not change")
	}
	b4, id := seal(4)
	if id != key2 {
		t.Fatalf("after rotation: sealed with %q, want %q", id, key2)
	}
	// A clock stepped back by more than Rotation (NTP after boot) rotates too.
	clock.Advance(-30 * time.Minute)
	b5, key3 := seal(5)
	if key3 == key2 || key3 == key1 {
		t.Fatal("after the clock went back past Rotation the key did not change")
	}

	blobs := [][]byte{b1, b2, b3, b4, b5}
	check := func(k *Keyring) {
		t.Helper()
		for i, b := range blobs {
			fn := uint64(i + 1)
			got, err := k.Open(ctx, "cam1", fn, b)
			if err != nil {
				t.Fatalf("Open fragment %d: %v", fn, err)
			}
			if want := fmt.Sprintf("fragment %d", fn); string(got) != want {
				t.Fatalf("Open fragment %d = %q, want %q", fn, got, want)
			}
		}
	}
	check(k)
	fresh := &Keyring{Store: store, Master: master, Now: clock.Now, Rotation: 10 * time.Minute}
	check(fresh)

	recs, err := store.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	retired := map[string]bool{}
	for _, r := range recs {
		retired[r.ID] = r.Retired
	}
	want := map[string]bool{key1: true, key2: true, key3: false}
	if fmt.Sprint(retired) != fmt.Sprint(want) {
		t.Fatalf("stored keys (id: retired) = %v, want %v", retired, want)
	}
	// The fresh keyring continues with the current key, and rotates on time.
	if _, id, err := fresh.Seal(ctx, "", "cam1", 6, nil); err != nil || id != key3 {
		t.Fatalf("fresh keyring sealed with %q, %v; want the current key %q", id, err, key3)
	}
	clock.Advance(10 * time.Minute)
	if _, id, err := fresh.Seal(ctx, "", "cam1", 7, nil); err != nil || id == key3 {
		t.Fatalf("fresh keyring after Rotation sealed with %q, %v; want a new key", id, err)
	}
}

func TestRotateAndAliases(t *testing.T) {
	ctx := context.Background()
	k := &Keyring{Store: &MemKeyStore{}, Master: NewMasterKey()}
	sealID := func(alias, stream string) string {
		t.Helper()
		_, id, err := k.Seal(ctx, alias, stream, 1, []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	a := sealID("site", "cam1")
	if b := sealID("site", "cam2"); b != a {
		t.Fatalf("streams sharing alias site used keys %q and %q", a, b)
	}
	if c := sealID("", "site"); c != a {
		t.Fatalf("stream named like the alias used %q, want the alias's key %q", c, a)
	}
	own := sealID("", "cam1")
	if own == a {
		t.Fatal("cam1 without alias used the shared alias's key")
	}
	rotated, err := k.Rotate(ctx, "site")
	if err != nil {
		t.Fatal(err)
	}
	if rotated == a {
		t.Fatal("Rotate returned the old key")
	}
	if got := sealID("site", "cam1"); got != rotated {
		t.Fatalf("after Rotate sealed with %q, want %q", got, rotated)
	}
	if got := sealID("", "cam1"); got != own {
		t.Fatalf("Rotate(site) changed cam1's own key: %q, want %q", got, own)
	}
	if _, err := k.Rotate(ctx, ""); !errors.Is(err, ErrEmptyName) {
		t.Fatalf("Rotate(\"\") error = %v, want ErrEmptyName", err)
	}
	if _, _, err := k.Seal(ctx, "site", "", 1, nil); !errors.Is(err, ErrEmptyName) {
		t.Fatalf("Seal with empty stream: error = %v, want ErrEmptyName", err)
	}
}

func TestWrongMasterKey(t *testing.T) {
	ctx := context.Background()
	store := &MemKeyStore{}
	good := NewMasterKey()
	k := &Keyring{Store: store, Master: good}
	blob, id, err := k.Seal(ctx, "", "cam1", 1, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	bad := NewMasterKey()
	k2 := &Keyring{Store: store, Master: bad}
	err = k2.Initialize(ctx)
	if !errors.Is(err, ErrBadMasterKey) {
		t.Fatalf("Initialize with another master: %v, want ErrBadMasterKey", err)
	}
	for _, part := range []string{good.CheckValue(), bad.CheckValue(), MasterKeyEnv} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not mention %s", err, part)
		}
	}
	if _, err := k2.Open(ctx, "cam1", 1, blob); !errors.Is(err, ErrBadMasterKey) {
		t.Fatalf("Open with another master: %v, want ErrBadMasterKey", err)
	}

	// A record that claims the right master but whose wrapping was altered
	// or moved to another key id fails authentication.
	rec, err := store.GetKey(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	tamper := []struct {
		name string
		edit func(r *KeyRecord)
		want error
	}{
		{"flipped wrapped byte", func(r *KeyRecord) { r.Wrapped[20] ^= 1 }, ErrAuthentication},
		{"other alias", func(r *KeyRecord) { r.Alias = "cam2" }, ErrAuthentication},
		{"short wrapped", func(r *KeyRecord) { r.Wrapped = r.Wrapped[:10] }, ErrMalformed},
		{"wrapped version", func(r *KeyRecord) { r.Wrapped[0] = 9 }, ErrMalformed},
	}
	for _, tt := range tamper {
		t.Run(tt.name, func(t *testing.T) {
			s := &MemKeyStore{}
			r := cloneRecord(rec)
			tt.edit(&r)
			if err := s.PutKey(ctx, r); err != nil {
				t.Fatal(err)
			}
			k := &Keyring{Store: s, Master: good}
			if _, err := k.Open(ctx, "cam1", 1, blob); !errors.Is(err, tt.want) {
				t.Fatalf("Open: %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("moved to another id", func(t *testing.T) {
		s := &MemKeyStore{}
		r := cloneRecord(rec)
		r.ID = "0000000000000001"
		if err := s.PutKey(ctx, r); err != nil {
			t.Fatal(err)
		}
		k := &Keyring{Store: s, Master: good}
		moved := append(sealedHeader(r.ID), blob[2+len(id):]...)
		if _, err := k.Open(ctx, "cam1", 1, moved); !errors.Is(err, ErrAuthentication) {
			t.Fatalf("Open: %v, want ErrAuthentication", err)
		}
	})
}

func TestInitializeConfig(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		k     *Keyring
		parts []string
	}{
		{"empty", &Keyring{}, []string{"missing Store", "missing Master"}},
		{"negative", &Keyring{Store: &MemKeyStore{}, Master: testMaster(), Rotation: -time.Second, CacheSize: -1},
			[]string{"negative Rotation", "negative CacheSize"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.k.Initialize(ctx)
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Initialize: %v, want ErrInvalidConfig", err)
			}
			for _, p := range tt.parts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not report %q", err, p)
				}
			}
			if _, _, err := tt.k.Seal(ctx, "", "cam1", 1, nil); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Seal: %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// flakyStore fails PutKey or ListKeys while told to.
type flakyStore struct {
	MemKeyStore
	mu       sync.Mutex
	failPut  bool
	failList bool
	// failRetired fails the puts that mark a key retired; set it only
	// while no other goroutine uses the store.
	failRetired bool
}

var errFlaky = errors.New("flaky store")

func (s *flakyStore) set(put, list bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failPut, s.failList = put, list
}

func (s *flakyStore) PutKey(ctx context.Context, rec KeyRecord) error {
	s.mu.Lock()
	fail := s.failPut
	s.mu.Unlock()
	if fail || (rec.Retired && s.failRetired) {
		return errFlaky
	}
	return s.MemKeyStore.PutKey(ctx, rec)
}

func (s *flakyStore) ListKeys(ctx context.Context) ([]KeyRecord, error) {
	s.mu.Lock()
	fail := s.failList
	s.mu.Unlock()
	if fail {
		return nil, errFlaky
	}
	return s.MemKeyStore.ListKeys(ctx)
}

func TestStoreFailures(t *testing.T) {
	ctx := context.Background()
	store := &flakyStore{}
	store.set(false, true)
	clock := newFakeClock()
	k := &Keyring{Store: store, Master: NewMasterKey(), Now: clock.Now}
	if err := k.Initialize(ctx); !errors.Is(err, errFlaky) {
		t.Fatalf("Initialize with failing ListKeys: %v, want the store's error", err)
	}
	store.set(true, false)
	if err := k.Initialize(ctx); err != nil {
		t.Fatalf("Initialize did not retry after a store failure: %v", err)
	}
	// The key must be persisted before it seals anything.
	if b, _, err := k.Seal(ctx, "", "cam1", 1, []byte("x")); !errors.Is(err, errFlaky) || b != nil {
		t.Fatalf("Seal with failing PutKey = %d bytes, %v; want no blob and the store's error", len(b), err)
	}
	if recs, _ := store.ListKeys(ctx); len(recs) != 0 {
		t.Fatalf("store holds %d keys after a failed put", len(recs))
	}
	store.set(false, false)
	b, id, err := k.Seal(ctx, "", "cam1", 1, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.GetKey(ctx, id); err != nil {
		t.Fatalf("key %q used for sealing is not in the store: %v", id, err)
	}
	// A rotation whose new key cannot be stored keeps the old key.
	store.set(true, false)
	if _, err := k.Rotate(ctx, "cam1"); !errors.Is(err, errFlaky) {
		t.Fatalf("Rotate with failing PutKey: %v, want the store's error", err)
	}
	if _, used, err := k.Seal(ctx, "", "cam1", 2, nil); err != nil || used != id {
		t.Fatalf("after failed Rotate sealed with %q, %v; want the old key %q", used, err, id)
	}
	// Failing to mark the old key retired does not fail the rotation, and a
	// restarted keyring still picks the newest key as current.
	store.set(false, false)
	store.failRetired = true
	clock.Advance(time.Second)
	id2, err := k.Rotate(ctx, "cam1")
	if err != nil {
		t.Fatalf("Rotate when marking retired fails: %v", err)
	}
	if old, err := store.GetKey(ctx, id); err != nil || old.Retired {
		t.Fatalf("old key record = %+v, %v; want it stored and not retired", old, err)
	}
	store.failRetired = false
	if _, err := k.Open(ctx, "cam1", 1, b); err != nil {
		t.Fatal(err)
	}
	restarted := &Keyring{Store: store, Master: k.Master, Now: clock.Now}
	if _, used, err := restarted.Seal(ctx, "", "cam1", 3, nil); err != nil || used != id2 {
		t.Fatalf("restarted keyring sealed with %q, %v; want the newest key %q", used, err, id2)
	}
}

func TestCacheBound(t *testing.T) {
	ctx := context.Background()
	store := &MemKeyStore{}
	master := NewMasterKey()
	k := &Keyring{Store: store, Master: master, CacheSize: 2}
	type sealed struct {
		stream string
		blob   []byte
	}
	var all []sealed
	for i := range 6 {
		stream := fmt.Sprintf("cam%d", i)
		b, _, err := k.Seal(ctx, "", stream, 1, []byte(stream))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, sealed{stream, b})
	}
	for range 2 {
		for _, s := range all {
			got, err := k.Open(ctx, s.stream, 1, s.blob)
			if err != nil || string(got) != s.stream {
				t.Fatalf("Open %s = %q, %v", s.stream, got, err)
			}
			if n := cacheLen(k.cache); n > 2 {
				t.Fatalf("cache holds %d keys, bound is 2", n)
			}
		}
	}
}

func TestConcurrentSeal(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	store := &MemKeyStore{}
	master := NewMasterKey()
	k := &Keyring{Store: store, Master: master, Now: clock.Now, Rotation: time.Minute, CacheSize: 8}
	const streams, fragments = 64, 20
	type result struct {
		stream string
		fn     uint64
		blob   []byte
	}
	results := make([][]result, streams)
	var wg sync.WaitGroup
	for s := range streams {
		wg.Go(func() {
			stream := fmt.Sprintf("cam%d", s)
			alias := ""
			if s%4 == 0 {
				alias = "shared" // a quarter of the streams share a key line
			}
			for fn := range uint64(fragments) {
				if s == 0 {
					clock.Advance(20 * time.Second) // rotations race with seals
				}
				b, _, err := k.Seal(ctx, alias, stream, fn, fmt.Appendf(nil, "%s/%d", stream, fn))
				if err != nil {
					t.Error(err)
					return
				}
				got, err := k.Open(ctx, stream, fn, b)
				if err != nil || string(got) != fmt.Sprintf("%s/%d", stream, fn) {
					t.Errorf("Open %s/%d = %q, %v", stream, fn, got, err)
					return
				}
				results[s] = append(results[s], result{stream, fn, b})
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	fresh := &Keyring{Store: store, Master: master, Now: clock.Now}
	for _, rs := range results {
		for _, r := range rs {
			if _, err := fresh.Open(ctx, r.stream, r.fn, r.blob); err != nil {
				t.Fatalf("fresh keyring: Open %s/%d: %v", r.stream, r.fn, err)
			}
		}
	}
	recs, err := store.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	current := map[string]int{}
	for _, r := range recs {
		if !r.Retired {
			current[r.Alias]++
		}
	}
	for alias, n := range current {
		if n != 1 {
			t.Errorf("alias %q has %d current (not retired) keys, want 1", alias, n)
		}
	}
	if want := streams - streams/4 + 1; len(current) != want {
		t.Errorf("%d aliases have keys, want %d", len(current), want)
	}
}

// FuzzOpen feeds arbitrary blobs, stream names and fragment numbers to Open:
// it must never panic, must fail only with the documented errors, and
// whatever it opens must be a well-formed blob of the known key.
func FuzzOpen(f *testing.F) {
	ctx := context.Background()
	k := fixedKeyring(f)
	for _, seed := range []struct {
		stream string
		fn     uint64
		plain  string
	}{
		{fixedAlias, 0, ""},
		{fixedAlias, 1, "fragment"},
		{"cam2", 42, "another stream, same alias"},
	} {
		b, _, err := k.Seal(ctx, fixedAlias, seed.stream, seed.fn, []byte(seed.plain))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, seed.stream, seed.fn)
		f.Add(b[:len(b)/2], seed.stream, seed.fn)
	}
	f.Add([]byte{}, "cam1", uint64(0))
	f.Add([]byte{1, 16}, "cam1", uint64(0))
	f.Add([]byte{1, 255, 'a'}, "cam1", uint64(0))
	f.Fuzz(func(t *testing.T, blob []byte, stream string, fn uint64) {
		plain, err := k.Open(ctx, stream, fn, blob)
		if err != nil {
			if plain != nil {
				t.Fatalf("Open returned %d bytes with error %v", len(plain), err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrAuthentication) &&
				!errors.Is(err, ErrKeyNotFound) && !errors.Is(err, ErrEmptyName) {
				t.Fatalf("Open error %v is none of the documented ones", err)
			}
			return
		}
		id, err := sealedKeyID(blob)
		if err != nil || id != fixedKeyID {
			t.Fatalf("opened a blob whose key id is %q, %v", id, err)
		}
		if len(blob) != len(plain)+sealedOverhead(len(id)) {
			t.Fatalf("opened %d bytes from a %d-byte blob", len(plain), len(blob))
		}
	})
}

// FuzzUnwrapKey feeds arbitrary wrapped keys (read from the store) to
// unwrapKey: it must never panic nor return a key with an error.
func FuzzUnwrapKey(f *testing.F) {
	master := testMaster()
	raw := bytes.Repeat([]byte{7}, MasterKeySize)
	w, err := wrapKey(master, fixedKeyID, fixedAlias, raw)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(w, fixedKeyID, fixedAlias)
	f.Add(w[:30], fixedKeyID, fixedAlias)
	f.Add([]byte{}, "", "")
	f.Fuzz(func(t *testing.T, wrapped []byte, id, alias string) {
		key, err := unwrapKey(master, id, alias, wrapped)
		if err != nil {
			if key != nil {
				t.Fatal("key returned with an error")
			}
			return
		}
		if len(key) != MasterKeySize {
			t.Fatalf("unwrapped a %d-byte key", len(key))
		}
	})
}

func benchmarkFragment(b *testing.B) (*Keyring, []byte) {
	k := &Keyring{Store: &MemKeyStore{}, Master: NewMasterKey()}
	frag := make([]byte, 1<<20)
	for i := range frag {
		frag[i] = byte(i * 7)
	}
	return k, frag
}

// BenchmarkSeal seals a 1 MiB fragment (about 2 s of 4 Mbit/s video).
func BenchmarkSeal(b *testing.B) {
	ctx := context.Background()
	k, frag := benchmarkFragment(b)
	b.SetBytes(int64(len(frag)))
	b.ReportAllocs()
	var fn uint64
	for b.Loop() {
		fn++
		if _, _, err := k.Seal(ctx, "", "cam1", fn, frag); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealParallel seals 1 MiB fragments from many goroutines, each
// its own stream and key line, as 64 cameras would.
func BenchmarkSealParallel(b *testing.B) {
	ctx := context.Background()
	k, frag := benchmarkFragment(b)
	b.SetBytes(int64(len(frag)))
	var streams atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		stream := fmt.Sprintf("cam%d", streams.Add(1))
		var fn uint64
		for pb.Next() {
			fn++
			if _, _, err := k.Seal(ctx, "", stream, fn, frag); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkOpen opens a sealed 1 MiB fragment.
func BenchmarkOpen(b *testing.B) {
	ctx := context.Background()
	k, frag := benchmarkFragment(b)
	sealed, _, err := k.Seal(ctx, "", "cam1", 1, frag)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(frag)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Open(ctx, "cam1", 1, sealed); err != nil {
			b.Fatal(err)
		}
	}
}

// TestGoldenFormat pins the on-disk formats: a wrapped key and a sealed
// blob written by an earlier build must keep opening, and the master key
// check value stored in key records must not change.
func TestGoldenFormat(t *testing.T) {
	const (
		wrappedHex = "01c27c19f08fef9aae13a0316771cb60dc0b5474cd008d69b31cb383ab23f7a7bcb5390a83846df9f53f69241fe678fbb90c4f2820bf3ec59e16e3feb9"
		sealedHex  = "0110303031313232333361616262636364644b5bcc9ab4bdb93cdcc221b54e1ac7dfafa8701a53ced3ab8b62468497dba7cdb6a5927d2b9ab70318e8c83d2a6efa"
		check      = "0461cf88840b1f7f"
	)
	ctx := context.Background()
	master := testMaster()
	if got := master.CheckValue(); got != check {
		t.Fatalf("CheckValue = %s, want %s", got, check)
	}
	wrapped, _ := hex.DecodeString(wrappedHex)
	sealed, _ := hex.DecodeString(sealedHex)
	store := &MemKeyStore{}
	rec := KeyRecord{ID: fixedKeyID, Alias: fixedAlias, Created: newFakeClock().Now(), Wrapped: wrapped, MasterCheck: check}
	if err := store.PutKey(ctx, rec); err != nil {
		t.Fatal(err)
	}
	k := &Keyring{Store: store, Master: master}
	got, err := k.Open(ctx, "cam1", 7, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "seed fragment seven" {
		t.Fatalf("Open = %q", got)
	}
}

// blockingStore blocks PutKey for one alias until released.
type blockingStore struct {
	MemKeyStore
	alias   string
	entered chan struct{} // closed when a put for alias is waiting
	release chan struct{}
	once    sync.Once
}

func (s *blockingStore) PutKey(ctx context.Context, rec KeyRecord) error {
	if rec.Alias == s.alias {
		s.once.Do(func() { close(s.entered) })
		select {
		case <-s.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.MemKeyStore.PutKey(ctx, rec)
}

// TestSlowKeyCreationBlocksOnlyItsAlias: while one alias waits for its new
// key to be persisted, other aliases keep sealing and opening.
func TestSlowKeyCreationBlocksOnlyItsAlias(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	store := &blockingStore{alias: "slow", entered: make(chan struct{}), release: make(chan struct{})}
	k := &Keyring{Store: store, Master: NewMasterKey()}
	if _, _, err := k.Seal(ctx, "", "fast", 1, []byte("x")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := k.Seal(ctx, "", "slow", 1, []byte("y"))
		done <- err
	}()
	select {
	case <-store.entered:
	case <-ctx.Done():
		t.Fatal("the slow alias never reached PutKey")
	}
	for fn := range uint64(10) {
		b, _, err := k.Seal(ctx, "", "fast", fn, []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Open(ctx, "fast", fn, b); err != nil {
			t.Fatal(err)
		}
	}
	close(store.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// sealedOverhead is how many bytes Seal adds to a plaintext when the key id
// is keyIDLen bytes long: the header (version, id length, id), the nonce
// and the GCM tag.
func sealedOverhead(keyIDLen int) int { return 2 + keyIDLen + nonceSize + tagSize }

// sealedKeyID reads the key id of a sealed blob's header without opening it.
func sealedKeyID(sealed []byte) (string, error) {
	_, id, _, err := parseSealed(sealed)
	return id, err
}

// cacheLen returns the number of cached keys.
func cacheLen(c *keyCache) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
