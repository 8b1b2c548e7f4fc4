package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/dataplane/video/replay"
	"github.com/kinedge/kinedge/firehose/uplink"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/index/streamname"
)

// Errors of the Manager.
var (
	// ErrInvalidTarget is a Target that cannot be used (its message says
	// which field).
	ErrInvalidTarget = errors.New("upstream: invalid target")
	// ErrFixed is a stream whose upstream the config file sets: the API
	// neither replaces nor deletes it.
	ErrFixed = errors.New("upstream: set in the config file")
	// ErrNotSet is a stream without an upstream.
	ErrNotSet = errors.New("upstream: no upstream set")
)

// Target is where a stream is forwarded and how: the KVS data endpoint,
// the credentials it is signed with, the name upstream, the upload
// windows and the bandwidth cap.
type Target struct {
	Endpoint  string `json:"endpoint"`
	Region    string `json:"region"`
	AccessKey string `json:"access_key,omitempty"`
	SecretKey string `json:"secret_key,omitempty"`
	// Stream is the name upstream; empty: the local name.
	Stream string `json:"stream,omitempty"`
	// Window is the upload windows, "HH:MM-HH:MM" local time, separated
	// by commas (uplink.ParseWindows); empty: always.
	Window string `json:"window,omitempty"`
	// BandwidthLimit is the cap in bytes/s; 0: none.
	BandwidthLimit int64 `json:"bandwidth_limit,omitempty"`
}

// Validate checks the fields; errors wrap ErrInvalidTarget.
func (t Target) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidTarget, fmt.Sprintf(format, args...))
	}
	if ep, err := url.Parse(t.Endpoint); err != nil || (ep.Scheme != "http" && ep.Scheme != "https") || ep.Host == "" {
		return bad("endpoint %q must be an http(s) URL", t.Endpoint)
	}
	if t.Region == "" {
		return bad("region is required")
	}
	if t.AccessKey == "" || t.SecretKey == "" {
		return bad("access_key and secret_key are required")
	}
	if t.Stream != "" && !streamname.Valid(t.Stream) {
		return bad("stream %q: %s", t.Stream, streamname.Rule)
	}
	if _, err := uplink.ParseWindows(t.Window); err != nil {
		return bad("window: %v", err)
	}
	if t.BandwidthLimit < 0 {
		return bad("bandwidth_limit %d is negative", t.BandwidthLimit)
	}
	return nil
}

// Sealer seals the secret keys of the targets kept in the Space;
// fragment/seal's Keyring is one (its Open is the Manager's Opener).
type Sealer interface {
	Seal(ctx context.Context, alias, stream string, fragmentNumber uint64, plaintext []byte) (sealed []byte, keyID string, err error)
}

// SealAlias is the keyring alias the targets' secret keys are sealed
// under; each is bound (the AAD) to "kinedge/upstream/<local stream>".
const SealAlias = "kinedge/upstream"

// storedTarget is a target as the Space keeps it: the secret key sealed
// (SecretSealed), never in clear. A record with SecretKey set is a legacy
// one (before sealing), sealed again by Start.
type storedTarget struct {
	Target
	SecretSealed []byte `json:"secret_sealed,omitempty"`
}

// Manager owns the forwarders of an appliance: those the config file
// sets (fixed) and those set through the API (Set, Delete), which are
// kept in the Space (key t/<stream>, the secret key sealed by Sealer) and
// started again by Start after a restart. Set the fields, then Start; Close stops every forwarder. Its
// methods are safe for concurrent use.
type Manager struct {
	// Index, Space, Opener, Now and Logger are handed to each Forwarder;
	// Index, Space and Opener are required.
	Index  Index
	Space  *store.Space
	Opener replay.Opener
	// Sealer seals the secret keys of the targets set through the API
	// (Opener opens them). Required.
	Sealer Sealer
	Now    func() time.Time
	Logger *slog.Logger
	// Tune, when set, is called on each Forwarder before its Start
	// (tests shorten the backoff).
	Tune func(*Forwarder)

	mu      sync.Mutex
	streams map[string]*managed
	closed  bool
}

type managed struct {
	target Target
	fixed  bool
	f      *Forwarder
}

func (m *Manager) targetKey(stream string) []byte {
	return m.Space.Key([]byte("t/"), []byte(stream))
}

// Start starts the forwarders of fixed (the config file's, by local
// stream) and of the targets the API set before, which a fixed one
// overrides.
func (m *Manager) Start(fixed map[string]Target) error {
	if m.Index == nil || m.Space == nil || m.Opener == nil || m.Sealer == nil {
		return errors.New("upstream: Manager needs Index, Space, Opener and Sealer")
	}
	if m.Logger == nil {
		m.Logger = slog.New(slog.DiscardHandler)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.streams = map[string]*managed{}
	stored, err := m.loadTargets(context.Background())
	if err != nil {
		return err
	}
	for stream, t := range fixed {
		if err := m.startLocked(stream, t, true); err != nil {
			return err
		}
	}
	for stream, t := range stored {
		if _, ok := fixed[stream]; ok {
			m.Logger.Warn("upstream set through the API is overridden by the config file", "stream", stream)
			continue
		}
		if err := m.startLocked(stream, t, false); err != nil {
			m.Logger.Error("upstream stored target not started", "stream", stream, "err", err)
		}
	}
	return nil
}

func (m *Manager) startLocked(stream string, t Target, fixed bool) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("upstream of %s: %w", stream, err)
	}
	ws, _ := uplink.ParseWindows(t.Window) // checked by Validate
	f := &Forwarder{Index: m.Index, Space: m.Space, Opener: m.Opener,
		Client: &Client{Endpoint: t.Endpoint, Region: t.Region,
			Credentials: aws.Credentials{AccessKeyID: t.AccessKey, SecretAccessKey: t.SecretKey}},
		Stream: stream, Remote: t.Stream, Windows: ws, BandwidthLimit: t.BandwidthLimit,
		Now: m.Now, Logger: m.Logger}
	if m.Tune != nil {
		m.Tune(f)
	}
	if err := f.Start(); err != nil {
		return err
	}
	m.streams[stream] = &managed{target: t, fixed: fixed, f: f}
	m.Logger.Info("upstream forwarding on", "stream", stream, "endpoint", t.Endpoint, "region", t.Region,
		"remote_stream", f.Remote, "window", t.Window, "bandwidth_limit", t.BandwidthLimit, "from_config", fixed)
	return nil
}

// Get returns the target of stream (with its secrets: callers redact)
// and whether the config file sets it.
func (m *Manager) Get(stream string) (t Target, fixed bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.streams[stream]
	if !ok {
		return Target{}, false, ErrNotSet
	}
	return e.target, e.fixed, nil
}

// Set sets (or replaces) the upstream of stream, keeps it in the Space
// and (re)starts its forwarder. Empty credentials keep those of the
// target it replaces. A replaced forwarder's session in flight is
// abandoned (sent again: delivery is at least once); a new endpoint or
// remote stream starts a new cursor.
func (m *Manager) Set(ctx context.Context, stream string, t Target) error {
	if !streamname.Valid(stream) {
		return fmt.Errorf("%w: local stream %q: %s", ErrInvalidTarget, stream, streamname.Rule)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("upstream: manager closed")
	}
	old := m.streams[stream]
	if old != nil && old.fixed {
		return ErrFixed
	}
	if old != nil && t.AccessKey == "" && t.SecretKey == "" {
		t.AccessKey, t.SecretKey = old.target.AccessKey, old.target.SecretKey
	}
	if err := t.Validate(); err != nil {
		return err
	}
	if err := m.keep(ctx, stream, t); err != nil {
		return err
	}
	if old != nil {
		old.f.Close()
		delete(m.streams, stream)
	}
	return m.startLocked(stream, t, false)
}

// Delete stops forwarding stream and forgets its target (its cursor
// stays: setting the same endpoint and remote stream again resumes).
func (m *Manager) Delete(ctx context.Context, stream string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.streams[stream]
	if !ok {
		return ErrNotSet
	}
	if e.fixed {
		return ErrFixed
	}
	if err := m.Space.Update(ctx, store.Meta, func(txn *store.Txn) error { return txn.Delete(m.targetKey(stream)) }); err != nil {
		return fmt.Errorf("upstream: forget the target of %s: %w", stream, err)
	}
	e.f.Close()
	delete(m.streams, stream)
	m.Logger.Info("upstream forwarding off", "stream", stream)
	return nil
}

// Notify wakes the forwarder of fr's stream (wire it to the recorders'
// OnStored). It never blocks for long.
func (m *Manager) Notify(fr index.Fragment) {
	m.mu.Lock()
	e := m.streams[fr.Stream]
	m.mu.Unlock()
	if e != nil {
		e.f.Notify(fr)
	}
}

// Forwarders returns the running forwarders, by local stream.
func (m *Manager) Forwarders() []*Forwarder {
	m.mu.Lock()
	defer m.mu.Unlock()
	fs := make([]*Forwarder, 0, len(m.streams))
	for _, e := range m.streams {
		fs = append(fs, e.f)
	}
	slices.SortFunc(fs, func(a, b *Forwarder) int {
		switch {
		case a.Stream < b.Stream:
			return -1
		case a.Stream > b.Stream:
			return 1
		}
		return 0
	})
	return fs
}

// Close stops every forwarder and waits for them.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for _, e := range m.streams {
		e.f.Close()
	}
	return nil
}

// sealStream is the AAD a target's sealed secret is bound to: a record
// moved to another stream's key does not open.
func sealStream(stream string) string { return SealAlias + "/" + stream }

// keep seals t's secret key and writes t under t/<stream>.
func (m *Manager) keep(ctx context.Context, stream string, t Target) error {
	sealed, _, err := m.Sealer.Seal(ctx, SealAlias, sealStream(stream), 0, []byte(t.SecretKey))
	if err != nil {
		return fmt.Errorf("upstream: seal the secret key of %s: %w", stream, err)
	}
	st := storedTarget{Target: t, SecretSealed: sealed}
	st.SecretKey = ""
	v, _ := json.Marshal(st) // plain fields
	if err := m.Space.Update(ctx, store.Meta, func(txn *store.Txn) error { return txn.Set(m.targetKey(stream), v) }); err != nil {
		return fmt.Errorf("upstream: keep the target of %s: %w", stream, err)
	}
	return nil
}

// loadTargets reads the targets kept under t/, opening their sealed
// secret keys; a legacy record (secret key in clear) is sealed again and
// rewritten (migration). A record that cannot be read or opened is
// logged and left alone (its stream is not forwarded).
func (m *Manager) loadTargets(ctx context.Context) (map[string]Target, error) {
	raw := map[string]storedTarget{}
	pfx := m.Space.Key([]byte("t/"))
	err := m.Space.View(func(txn *store.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			stream := string(it.Item().Key()[len(pfx):])
			var st storedTarget
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &st) }); err != nil {
				m.Logger.Error("upstream stored target unreadable", "stream", stream, "err", err)
				continue
			}
			raw[stream] = st
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("upstream: stored targets: %w", err)
	}
	out := make(map[string]Target, len(raw))
	for stream, st := range raw {
		t := st.Target
		switch {
		case len(st.SecretSealed) > 0:
			plain, err := m.Opener.Open(ctx, sealStream(stream), 0, st.SecretSealed)
			if err != nil {
				m.Logger.Error("upstream stored target: its secret key does not open", "stream", stream, "err", err)
				continue
			}
			t.SecretKey = string(plain)
			clear(plain)
		case t.SecretKey != "":
			// Legacy: kept in clear before sealing.
			if err := m.keep(ctx, stream, t); err != nil {
				return nil, err
			}
			m.Logger.Info("upstream stored target: secret key sealed (it was kept in clear)", "stream", stream)
		}
		out[stream] = t
	}
	return out, nil
}
