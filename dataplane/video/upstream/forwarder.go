package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/dataplane/video/replay"
	"github.com/kinedge/kinedge/firehose/uplink"
	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
)

// Index is what the forwarder reads of the index; *index.Index satisfies
// it.
type Index interface {
	Iterate(ctx context.Context, stream string, q index.Query, fn func(index.Fragment) error) error
	Blob(ctx context.Context, number uint64) ([]byte, error)
}

// Defaults.
const (
	DefaultBatch      = 32
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = time.Minute
	DefaultRescan     = 30 * time.Second
)

// Forwarder sends every fragment of one local stream to an upstream KVS
// with PutMedia, in order, from a durable cursor (see the package doc).
// Set the fields, then Start; Close stops it. It owns one goroutine.
type Forwarder struct {
	// Index is read; Space ("u/" in the appliance) holds the cursor;
	// Opener decrypts the sealed blobs; Client sends. All required.
	Index  Index
	Space  *store.Space
	Opener replay.Opener
	Client *Client
	// Stream is the local stream; Remote the stream's name upstream. It
	// defaults to Stream.
	Stream, Remote string
	// Batch is the most fragments one PutMedia session carries. It
	// defaults to DefaultBatch.
	Batch int
	// MinBackoff and MaxBackoff bound the capped exponential backoff
	// (equal jitter) after a failed session; sessions are retried
	// forever. They default to DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Rescan is how often the index is read without a Notify. It defaults
	// to DefaultRescan.
	Rescan time.Duration
	// SkipAfter is how many permanent refusals (Permanent) of one
	// fragment in a row make the forwarder skip it. It defaults to
	// DefaultSkipAfter.
	SkipAfter int
	// Windows are the daily upload windows (firehose/uplink; none: always
	// open). Outside them no session starts; the backlog is still
	// counted. A session started inside runs to its end.
	Windows uplink.Windows
	// BandwidthLimit caps the upload in bytes/s (0: none): a token bucket
	// of one second's bytes, set as the Client's Limiter unless it has
	// one.
	BandwidthLimit int64
	// Now is the clock; Logger the log.
	Now    func() time.Time
	Logger *slog.Logger

	// sinceCount is the rounds since the backlog was last counted (loop
	// goroutine): a catch-up reads a batch a round, not the whole backlog,
	// and counts it again every recountRounds.
	sinceCount int
	// sleep is the cap's wait (tests advance their clock instead).
	sleep func(ctx context.Context, d time.Duration) error
	// closedLogged is set while the windows are closed and logged once
	// (loop goroutine).
	closedLogged bool
	// refusedNumber is the fragment refused for good last, refusedCount
	// how many times in a row (loop goroutine).
	refusedNumber uint64
	refusedCount  int

	kick    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	started atomic.Bool
	closeMu sync.Once
	stats   counters
}

type counters struct {
	fragments, bytes, failures, sessions atomic.Uint64
	skipped                              atomic.Uint64 // the stream's skips in all (the record's total)
	backlog                              atomic.Int64
	oldestPending                        atomic.Int64 // Unix ns of the oldest fragment not forwarded; 0 none
}

// Stats is a snapshot of a forwarder's counters.
type Stats struct {
	// Fragments and Bytes are the fragments acknowledged PERSISTED (and
	// their cluster bytes); Failures the failed sessions (each retried);
	// Sessions the PutMedia requests made; Skipped the fragments skipped
	// (refused for good SkipAfter times in a row), since the stream was
	// first forwarded.
	Fragments, Bytes, Failures, Sessions, Skipped uint64
	// Backlog is the fragments stored and not yet persisted upstream, as
	// of the last reading of the index; Lag how old the oldest of them is.
	Backlog int64
	Lag     time.Duration
}

// Stats returns the counters.
func (f *Forwarder) Stats() Stats {
	st := Stats{
		Fragments: f.stats.fragments.Load(), Bytes: f.stats.bytes.Load(),
		Failures: f.stats.failures.Load(), Sessions: f.stats.sessions.Load(), Skipped: f.stats.skipped.Load(),
		Backlog: max(f.stats.backlog.Load(), 0),
	}
	if ns := f.stats.oldestPending.Load(); ns != 0 {
		st.Lag = max(f.Now().Sub(time.Unix(0, ns)), 0)
	}
	return st
}

// Start checks the fields, sets the defaults and starts the goroutine.
func (f *Forwarder) Start() error {
	if f.Index == nil || f.Space == nil || f.Opener == nil || f.Client == nil || f.Stream == "" {
		return errors.New("upstream: Index, Space, Opener, Client and Stream are required")
	}
	if f.Client.Endpoint == "" {
		return errors.New("upstream: the client's Endpoint is required")
	}
	if f.started.Swap(true) {
		return errors.New("upstream: already started")
	}
	if f.Remote == "" {
		f.Remote = f.Stream
	}
	if f.Batch <= 0 {
		f.Batch = DefaultBatch
	}
	if f.MinBackoff <= 0 {
		f.MinBackoff = DefaultMinBackoff
	}
	if f.MaxBackoff < f.MinBackoff {
		f.MaxBackoff = max(DefaultMaxBackoff, f.MinBackoff)
	}
	if f.Rescan <= 0 {
		f.Rescan = DefaultRescan
	}
	if f.SkipAfter <= 0 {
		f.SkipAfter = DefaultSkipAfter
	}
	if f.Now == nil {
		f.Now = time.Now
	}
	if f.Logger == nil {
		f.Logger = slog.New(slog.DiscardHandler)
	}
	if f.BandwidthLimit < 0 {
		return fmt.Errorf("upstream: BandwidthLimit %d is negative", f.BandwidthLimit)
	}
	if f.sleep == nil {
		f.sleep = uplink.Sleep
	}
	if f.BandwidthLimit > 0 && f.Client.Limiter == nil {
		f.Client.Limiter = &uplink.Limiter{Rate: f.BandwidthLimit, Burst: f.BandwidthLimit, Now: f.Now, Sleep: f.sleep}
	}
	total, _, err := f.Skips()
	if err != nil {
		return err
	}
	f.stats.skipped.Store(total)
	f.kick = make(chan struct{}, 1)
	f.done = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go f.loop(ctx)
	return nil
}

// Close stops the forwarder and waits for its goroutine. A session in
// flight is abandoned: what it sent after the cursor is sent again at the
// next start. Idempotent.
func (f *Forwarder) Close() error {
	if !f.started.Load() {
		return nil
	}
	f.closeMu.Do(func() {
		f.cancel()
		<-f.done
	})
	return nil
}

// Notify wakes the forwarder (wire it to the recorders' OnStored). It
// never blocks; the fragment itself is read back from the index.
func (f *Forwarder) Notify(fr index.Fragment) {
	if fr.Stream != "" && fr.Stream != f.Stream {
		return
	}
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

func (f *Forwarder) loop(ctx context.Context) {
	defer close(f.done)
	t := time.NewTicker(f.Rescan)
	defer t.Stop()
	backoff := time.Duration(0)
	for {
		n, closed, err := f.round(ctx)
		if ctx.Err() != nil {
			return
		}
		var wait <-chan time.Time
		switch {
		case closed > 0:
			// Outside the windows: wake at the opening, or at the
			// next rescan or Notify to count the backlog again.
			backoff = 0
			f.sinceCount = 0
			if !f.closedLogged {
				f.Logger.Info("upstream waiting for its upload window", "stream", f.Stream, "windows", f.Windows.String(), "wait", closed)
				f.closedLogged = true
			}
			tm := time.NewTimer(min(closed, f.Rescan))
			select {
			case <-ctx.Done():
				tm.Stop()
				return
			case <-f.kick:
			case <-tm.C:
			}
			tm.Stop()
			continue
		case err != nil:
			f.sinceCount = 0
			f.stats.failures.Add(1)
			backoff = min(max(2*backoff, f.MinBackoff), f.MaxBackoff)
			d := backoff/2 + rand.N(backoff/2+1) // equal jitter
			f.Logger.Warn("upstream session failed", "stream", f.Stream, "endpoint", f.Client.Endpoint, "retry_in", d, "err", err)
			tm := time.NewTimer(d)
			select {
			case <-ctx.Done():
				tm.Stop()
				return
			case <-tm.C:
			}
			continue
		case n > 0:
			backoff = 0
			continue // more may be waiting
		default:
			backoff = 0
			f.sinceCount = 0
			wait = t.C
		}
		select {
		case <-ctx.Done():
			return
		case <-f.kick:
		case <-wait:
		}
	}
}

// cursor is what of the stream is persisted upstream: everything up to
// and including (Server, Number) in server-time order.
type cursor struct {
	Server int64  `json:"server"`
	Number uint64 `json:"number"`
}

func (c cursor) before(fr index.Fragment) bool {
	s := fr.ServerTime.UnixNano()
	return s > c.Server || s == c.Server && fr.Number > c.Number
}

// cursorKey is per local stream, endpoint and remote stream: pointing a
// stream at another upstream starts from its oldest stored fragment.
func (f *Forwarder) cursorKey() []byte {
	return f.Space.Key([]byte("c/"), []byte(f.Stream), []byte{0}, []byte(f.Client.Endpoint), []byte{0}, []byte(f.Remote))
}

// Cursor returns the last fragment persisted upstream (ok false: none).
func (f *Forwarder) Cursor() (server time.Time, number uint64, ok bool, err error) {
	c, ok, err := f.readCursor()
	return time.Unix(0, c.Server), c.Number, ok, err
}

func (f *Forwarder) readCursor() (cursor, bool, error) {
	var c cursor
	var ok bool
	err := f.Space.View(func(txn *store.Txn) error {
		item, err := txn.Get(f.cursorKey())
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ok = true
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &c) })
	})
	if err != nil {
		return cursor{}, false, fmt.Errorf("upstream: cursor of %s: %w", f.Stream, err)
	}
	return c, ok, nil
}

func (f *Forwarder) writeCursor(ctx context.Context, fr index.Fragment) error {
	v, _ := json.Marshal(cursor{Server: fr.ServerTime.UnixNano(), Number: fr.Number}) // plain fields
	err := f.Space.Update(ctx, store.Meta, func(txn *store.Txn) error { return txn.Set(f.cursorKey(), v) })
	if err != nil {
		return fmt.Errorf("upstream: cursor of %s: %w", f.Stream, err)
	}
	return nil
}

// recountRounds is how often, in rounds of a catch-up, the whole backlog
// is counted again (the gauge is decremented in between).
const recountRounds = 64

// round reads the fragments after the cursor (counting the backlog on the
// first round after a wait, and every recountRounds) and sends the first
// batch of them in one session; it returns how many were persisted, or,
// outside the upload windows, how long until one opens (nothing sent).
func (f *Forwarder) round(ctx context.Context) (int, time.Duration, error) {
	c, _, err := f.readCursor()
	if err != nil {
		return 0, 0, err
	}
	var pending []index.Fragment
	var backlog int64
	var oldest time.Time
	count := f.sinceCount%recountRounds == 0
	f.sinceCount++
	q := index.Query{By: index.ServerTime, Start: time.Unix(0, c.Server)}
	if !count {
		q.Limit = f.Batch + 8 // the cursor's own fragment (and its server time's) are read again
	}
	err = f.Index.Iterate(ctx, f.Stream, q, func(fr index.Fragment) error {
		if !c.before(fr) {
			return nil
		}
		if backlog == 0 {
			oldest = fr.ServerTime
		}
		backlog++
		if len(pending) < f.Batch {
			pending = append(pending, fr)
		}
		return nil
	})
	if errors.Is(err, index.ErrStreamNotFound) {
		err = nil // not created yet: nothing to forward
	}
	if err != nil {
		return 0, 0, fmt.Errorf("upstream: list %s: %w", f.Stream, err)
	}
	if count {
		f.stats.backlog.Store(backlog)
	}
	if oldest.IsZero() {
		f.stats.oldestPending.Store(0)
	} else {
		f.stats.oldestPending.Store(oldest.UnixNano())
	}
	if len(pending) == 0 {
		return 0, 0, nil
	}
	if d := f.Windows.Wait(f.Now()); d > 0 {
		return 0, d, nil
	}
	f.closedLogged = false
	n, err := f.send(ctx, pending)
	return n, 0, err
}

// send opens the fragments and sends those that share the first one's
// session tracks (sessionTracks: the stored tracks it holds frames of),
// with non-decreasing producer times, in one session (a change starts the
// next session). A fragment the upstream refuses for good is counted and,
// at the SkipAfter-th refusal in a row, skipped (refused): the round then
// counts as progress.
func (f *Forwarder) send(ctx context.Context, frags []index.Fragment) (int, error) {
	var tracks []byte
	var clusters []Cluster
	var plains [][]byte
	defer func() {
		for _, p := range plains {
			clear(p)
		}
	}()
	for i, fr := range frags {
		sealed, err := f.Index.Blob(ctx, fr.Number)
		if err != nil {
			return 0, fmt.Errorf("upstream: fragment %d: %w", fr.Number, err)
		}
		plain, err := f.Opener.Open(ctx, f.Stream, fr.Number, sealed)
		if err != nil {
			return 0, fmt.Errorf("upstream: fragment %d: %w", fr.Number, err)
		}
		plains = append(plains, plain)
		b, err := fragment.DecodeBlob(plain)
		if err != nil {
			return 0, fmt.Errorf("upstream: fragment %d: %w", fr.Number, err)
		}
		spans, err := blockSpans(b.Cluster)
		if err != nil {
			return 0, fmt.Errorf("upstream: fragment %d: %w", fr.Number, err)
		}
		st, err := sessionTracks(b.Tracks, spans)
		if err != nil {
			return 0, fmt.Errorf("upstream: fragment %d: %w", fr.Number, err)
		}
		if i == 0 {
			tracks = st
		} else if !bytes.Equal(st, tracks) || fr.ProducerTime.UnixMilli() < frags[i-1].ProducerTime.UnixMilli() ||
			fr.Number == f.refusedNumber {
			// A fragment refused for good starts its own session,
			// so the ones before it are persisted first and it can
			// be skipped without skipping them.
			break
		}
		clusters = append(clusters, Cluster{Number: fr.Number, ProducerTime: fr.ProducerTime, Cluster: b.Cluster})
	}
	f.stats.sessions.Add(1)
	done := 0
	err := f.Client.Put(ctx, f.Remote, tracks, clusters, func(i int) error {
		if err := f.writeCursor(ctx, frags[i]); err != nil {
			return err
		}
		for _, cl := range clusters[done : i+1] {
			f.stats.bytes.Add(uint64(len(cl.Cluster)))
		}
		n := i + 1 - done
		f.stats.fragments.Add(uint64(n))
		f.stats.backlog.Add(-int64(n))
		if i+1 < len(frags) {
			f.stats.oldestPending.Store(frags[i+1].ServerTime.UnixNano())
		}
		done = i + 1
		return nil
	})
	if done > 0 {
		f.Logger.Debug("upstream fragments persisted", "stream", f.Stream, "remote", f.Remote, "fragments", done,
			"first", frags[0].Number, "last", frags[done-1].Number)
	}
	for _, fr := range frags[:done] {
		if fr.Number == f.refusedNumber {
			f.refusedNumber, f.refusedCount = 0, 0 // persisted after all
		}
	}
	if ae, ok := permanentRefusal(err); ok {
		for j, fr := range frags[done:len(clusters)] {
			if fr.Number != ae.Number {
				continue
			}
			skipped, serr := f.refused(ctx, fr, ae, j == 0)
			if serr != nil {
				return done, errors.Join(err, serr)
			}
			if skipped {
				f.stats.failures.Add(1)
				return done + 1, nil
			}
		}
	}
	if err != nil {
		return done, err
	}
	return done, nil
}
