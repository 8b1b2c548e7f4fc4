package seal

import (
	"cmp"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Keyring defaults.
const (
	// DefaultRotation is how long a data key seals new fragments.
	DefaultRotation = time.Hour
	// DefaultCacheSize is how many unwrapped data keys are kept in memory
	// for opening, besides the current key of each alias.
	DefaultCacheSize = 256
)

// Keyring seals and opens fragments with per-alias data keys that it
// generates, wraps with Master, persists in Store and rotates. Set the
// exported fields, then use it; Initialize reports configuration problems
// early, and Seal and Open call it otherwise. The fields must not change
// afterwards. A Keyring is safe for concurrent use; one Keyring owns a
// Store (two Keyrings writing the same store would each keep their own
// current key per alias, which is safe but wasteful).
type Keyring struct {
	// Store persists the wrapped data keys. Required.
	Store KeyStore
	// Master wraps the data keys. Required (non-zero).
	Master MasterKey
	// Retired are earlier master keys (and the pending one of an unfinished
	// rotation, see RotateMaster): they only unwrap the stored data keys
	// they wrapped; new keys are wrapped by Master.
	Retired []MasterKey
	// Rotation is the age at which an alias's data key is replaced by a new
	// one for sealing. It defaults to 1 h (DefaultRotation).
	Rotation time.Duration
	// CacheSize bounds the number of unwrapped data keys kept for Open.
	// It defaults to DefaultCacheSize.
	CacheSize int
	// Now is the clock. It defaults to time.Now.
	Now func() time.Time
	// Logger receives key creation and rotation events. It defaults to
	// discarding them.
	Logger *slog.Logger

	initMu   sync.Mutex  // serialises Initialize
	ready    atomic.Bool // set once the fields below are
	rotation time.Duration
	now      func() time.Time
	log      *slog.Logger
	check    string
	masters  map[string]MasterKey // by check value: Master and Retired
	cache    *keyCache

	mu      sync.Mutex // guards aliases
	aliases map[string]*aliasState
}

// aliasState is one alias's key line.
type aliasState struct {
	mu     sync.Mutex // serialises key creation for the alias
	cur    atomic.Pointer[dataKey]
	stored *KeyRecord // newest record of the alias (guarded by mu)
}

// dataKey is an unwrapped data key, ready to seal and open.
type dataKey struct {
	id      string
	created time.Time
	header  []byte // sealed-blob header for this key
	aead    cipher.AEAD
}

// Initialize checks the configuration, applies defaults and loads the key
// index from Store (which key is current for each alias). It fails with
// ErrInvalidConfig for unusable fields and with ErrBadMasterKey if stored
// keys were wrapped by another master key. It is idempotent and safe to call
// concurrently; after a failure (a Store error, say) the next call retries.
func (k *Keyring) Initialize(ctx context.Context) error {
	if k.ready.Load() {
		return nil
	}
	k.initMu.Lock()
	defer k.initMu.Unlock()
	if k.ready.Load() {
		return nil
	}
	var problems []error
	if k.Store == nil {
		problems = append(problems, errors.New("missing Store"))
	}
	if k.Master.IsZero() {
		problems = append(problems, errors.New("missing Master (zero key)"))
	}
	if k.Rotation < 0 {
		problems = append(problems, fmt.Errorf("negative Rotation (%s)", k.Rotation))
	}
	if k.CacheSize < 0 {
		problems = append(problems, fmt.Errorf("negative CacheSize (%d)", k.CacheSize))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(problems...))
	}

	check := k.Master.CheckValue()
	masters := map[string]MasterKey{check: k.Master}
	for _, m := range k.Retired {
		if !m.IsZero() {
			masters[m.CheckValue()] = m
		}
	}
	recs, err := k.Store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("seal: list keys: %w", err)
	}
	var foreign []string
	latest := make(map[string]*KeyRecord)
	for i := range recs {
		rec := &recs[i]
		if _, ok := masters[rec.MasterCheck]; !ok {
			foreign = append(foreign, rec.MasterCheck)
			continue
		}
		if rec.Retired {
			continue
		}
		if cur, ok := latest[rec.Alias]; !ok || newer(rec, cur) {
			latest[rec.Alias] = rec
		}
	}
	if n := len(foreign); n > 0 {
		slices.Sort(foreign)
		foreign = slices.Compact(foreign)
		return fmt.Errorf("%w: %d stored data keys were wrapped by master key check %s, not by the configured master key (check %s); "+
			"set %s or restore %s to the master key they were made with",
			ErrBadMasterKey, n, strings.Join(foreign, ","), check, MasterKeyEnv, MasterKeyFile)
	}

	k.rotation = cmp.Or(k.Rotation, DefaultRotation)
	k.now = k.Now
	if k.now == nil {
		k.now = time.Now
	}
	k.log = k.Logger
	if k.log == nil {
		k.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	k.check = check
	k.masters = masters
	k.cache = newKeyCache(cmp.Or(k.CacheSize, DefaultCacheSize))
	k.mu.Lock()
	k.aliases = make(map[string]*aliasState, len(latest))
	for alias, rec := range latest {
		k.aliases[alias] = &aliasState{stored: rec}
	}
	k.mu.Unlock()
	k.ready.Store(true)
	k.log.Info("seal: keyring ready", "keys", len(recs), "aliases", len(latest), "master_check", check)
	return nil
}

// newer reports whether a was created after b (ties broken by id).
func newer(a, b *KeyRecord) bool {
	if c := a.Created.Compare(b.Created); c != 0 {
		return c > 0
	}
	return a.ID > b.ID
}

// Seal encrypts one fragment with the current data key of alias (the
// stream name when alias is empty), creating or rotating that key first if
// needed, and returns the sealed blob and the id of the key used. The AAD
// binds the blob to stream and fragmentNumber: Open must be given the same
// values.
func (k *Keyring) Seal(ctx context.Context, alias, stream string, fragmentNumber uint64, plaintext []byte) (sealed []byte, keyID string, err error) {
	if stream == "" {
		return nil, "", ErrEmptyName
	}
	if err := k.Initialize(ctx); err != nil {
		return nil, "", err
	}
	if alias == "" {
		alias = stream
	}
	dk, err := k.currentKey(ctx, alias)
	if err != nil {
		return nil, "", fmt.Errorf("seal %q fragment %d (alias %q): %w", stream, fragmentNumber, alias, err)
	}
	out := make([]byte, len(dk.header), len(dk.header)+nonceSize+len(plaintext)+tagSize)
	copy(out, dk.header)
	out = dk.aead.Seal(out, nil, plaintext, sealAAD(dk.header, stream, fragmentNumber))
	return out, dk.id, nil
}

// Open decrypts a blob made by Seal for the same stream and fragment
// number. It fails with ErrMalformed for a garbled header, with
// ErrKeyNotFound when the key is not in the store, and with
// ErrAuthentication when the blob was altered, swapped with another
// fragment or stream, or sealed under another key.
func (k *Keyring) Open(ctx context.Context, stream string, fragmentNumber uint64, sealed []byte) ([]byte, error) {
	if stream == "" {
		return nil, ErrEmptyName
	}
	if err := k.Initialize(ctx); err != nil {
		return nil, err
	}
	header, id, body, err := parseSealed(sealed)
	if err != nil {
		return nil, fmt.Errorf("open %q fragment %d: %w", stream, fragmentNumber, err)
	}
	dk, err := k.keyByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("open %q fragment %d (key %q): %w", stream, fragmentNumber, id, err)
	}
	plain, err := dk.aead.Open(nil, nil, body, sealAAD(header, stream, fragmentNumber))
	if err != nil {
		return nil, fmt.Errorf("open %q fragment %d (key %q): %w", stream, fragmentNumber, id, ErrAuthentication)
	}
	return plain, nil
}

// Rotate makes a new data key current for alias now, whatever the age of
// the current one, and returns its id. The previous key is marked retired;
// it still opens what it sealed.
func (k *Keyring) Rotate(ctx context.Context, alias string) (keyID string, err error) {
	if alias == "" {
		return "", fmt.Errorf("rotate: %w", ErrEmptyName)
	}
	if err := k.Initialize(ctx); err != nil {
		return "", err
	}
	st := k.aliasState(alias)
	st.mu.Lock()
	defer st.mu.Unlock()
	dk, err := k.rotateLocked(ctx, st, alias, k.now(), "forced")
	if err != nil {
		return "", fmt.Errorf("rotate alias %q: %w", alias, err)
	}
	return dk.id, nil
}

// MasterCheck returns the check value of the configured master key, for
// logs; it is empty before Initialize succeeds.
func (k *Keyring) MasterCheck() string {
	if !k.ready.Load() {
		return ""
	}
	return k.check
}

// Forget drops the cached unwrapped keys ids (destroyed by someone else
// through the Store) and the current key of any alias they belong to.
func (k *Keyring) Forget(ids ...string) {
	if !k.ready.Load() {
		return
	}
	gone := make(map[string]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
		k.cache.remove(id)
	}
	k.mu.Lock()
	states := make([]*aliasState, 0, len(k.aliases))
	for _, st := range k.aliases {
		states = append(states, st)
	}
	k.mu.Unlock()
	for _, st := range states {
		st.mu.Lock()
		if dk := st.cur.Load(); dk != nil && gone[dk.id] {
			st.cur.Store(nil)
		}
		if st.stored != nil && gone[st.stored.ID] {
			st.stored = nil
		}
		st.mu.Unlock()
	}
}

// aliasState returns the key line of alias, creating an empty one.
func (k *Keyring) aliasState(alias string) *aliasState {
	k.mu.Lock()
	defer k.mu.Unlock()
	st, ok := k.aliases[alias]
	if !ok {
		st = &aliasState{}
		k.aliases[alias] = st
	}
	return st
}

// fresh reports whether a key created at created may still seal at now.
// A clock that jumped backwards by more than the rotation period (a board
// without a real-time clock before NTP sync) also forces a new key, rather
// than keeping one key for as long as the jump.
func (k *Keyring) fresh(created, now time.Time) bool {
	age := now.Sub(created)
	return age < k.rotation && age > -k.rotation
}

// currentKey returns the key that seals for alias now.
func (k *Keyring) currentKey(ctx context.Context, alias string) (*dataKey, error) {
	st := k.aliasState(alias)
	if dk := st.cur.Load(); dk != nil && k.fresh(dk.created, k.now()) {
		return dk, nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	now := k.now()
	dk := st.cur.Load()
	if dk != nil && k.fresh(dk.created, now) {
		return dk, nil // another goroutine rotated while we waited
	}
	if dk == nil && st.stored != nil && k.fresh(st.stored.Created, now) {
		// The current key from before a restart: unwrap it once.
		dk, err := k.keyByID(ctx, st.stored.ID)
		if err != nil {
			return nil, err
		}
		st.cur.Store(dk)
		return dk, nil
	}
	reason := "rotation"
	if st.stored == nil {
		reason = "first key"
	}
	return k.rotateLocked(ctx, st, alias, now, reason)
}

// rotateLocked creates, persists and installs a new key for alias, then
// marks the previous one retired. st.mu must be held.
func (k *Keyring) rotateLocked(ctx context.Context, st *aliasState, alias string, now time.Time, reason string) (*dataKey, error) {
	raw := make([]byte, MasterKeySize)
	_, _ = rand.Read(raw) // crypto/rand.Read never fails (it aborts the program instead).
	defer clear(raw)
	id := newKeyID()
	wrapped, err := wrapKey(k.Master, id, alias, raw)
	if err != nil {
		return nil, err
	}
	rec := KeyRecord{
		ID:          id,
		Alias:       alias,
		Created:     now.Round(0),
		Wrapped:     wrapped,
		MasterCheck: k.check,
	}
	// Persist before first use: a blob must never exist whose key does not.
	if err := k.Store.PutKey(ctx, rec); err != nil {
		return nil, fmt.Errorf("persist new data key %q: %w", id, err)
	}
	dk, err := newDataKey(id, now, raw)
	if err != nil {
		return nil, err
	}
	prev := st.stored
	st.stored = &rec
	st.cur.Store(dk)
	k.cache.add(dk)

	prevID := ""
	if prev != nil {
		prevID = prev.ID
		retired := *prev
		retired.Retired = true
		if err := k.Store.PutKey(ctx, retired); err != nil {
			// Not fatal: on restart the newest key of the alias wins anyway.
			k.log.Warn("seal: cannot mark data key retired", "alias", alias, "key_id", prevID, "err", err)
		}
	}
	k.log.Info("seal: new data key", "alias", alias, "key_id", id, "reason", reason,
		"previous_key_id", prevID, "master_check", k.check)
	return dk, nil
}

// keyByID returns the unwrapped key id from the cache or the store.
func (k *Keyring) keyByID(ctx context.Context, id string) (*dataKey, error) {
	if dk := k.cache.get(id); dk != nil {
		return dk, nil
	}
	rec, err := k.Store.GetKey(ctx, id)
	if err != nil {
		return nil, err
	}
	if rec.ID != id {
		return nil, fmt.Errorf("%w: store returned key %q for id %q", ErrMalformed, rec.ID, id)
	}
	master, ok := k.masters[rec.MasterCheck]
	if !ok {
		return nil, fmt.Errorf("%w: key %q was wrapped by master key check %s, the configured master key is check %s",
			ErrBadMasterKey, id, rec.MasterCheck, k.check)
	}
	raw, err := unwrapKey(master, rec.ID, rec.Alias, rec.Wrapped)
	if err != nil {
		return nil, fmt.Errorf("unwrap data key %q: %w", id, err)
	}
	defer clear(raw)
	dk, err := newDataKey(rec.ID, rec.Created, raw)
	if err != nil {
		return nil, err
	}
	k.cache.add(dk)
	return dk, nil
}

// newDataKey builds the cipher for a raw data key.
func newDataKey(id string, created time.Time, raw []byte) (*dataKey, error) {
	aead, err := newAEAD(raw)
	if err != nil {
		return nil, err
	}
	return &dataKey{id: id, created: created, header: sealedHeader(id), aead: aead}, nil
}

// newKeyID returns a random key id: 16 lowercase hex digits (64 bits).
func newKeyID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails.
	return hex.EncodeToString(b[:])
}
