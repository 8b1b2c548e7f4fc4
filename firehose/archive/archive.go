package archive

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/dataplane/video/replay"
	"github.com/kinedge/kinedge/firehose"
	"github.com/kinedge/kinedge/firehose/uplink"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
)

// Index is what the archiver reads of the index; *index.Index satisfies it.
type Index interface {
	Streams(ctx context.Context) ([]index.Stream, error)
	Iterate(ctx context.Context, stream string, q index.Query, fn func(index.Fragment) error) error
	Blob(ctx context.Context, number uint64) ([]byte, error)
}

// Defaults.
const (
	DefaultMinBackoff       = 500 * time.Millisecond
	DefaultMaxBackoff       = time.Minute
	DefaultRescan           = 30 * time.Second
	DefaultManifestInterval = 10 * time.Second
	DefaultUnsyncedGrace    = time.Hour
)

// errClockHold is archive's answer for a fragment that waits for the clock
// to be set (see Archiver.UnsyncedGrace): the pass stops the stream there.
var errClockHold = errors.New("archive: the fragment waits for the clock to be set")

// Archiver uploads every fragment of the index to a bucket, in order per
// stream, and keeps the manifests (see the package doc). Set the fields,
// then Start; Close stops it. It owns one goroutine.
type Archiver struct {
	// Index is read; Space ("a/") holds the cursors and the manifest
	// entries. Bucket is written. All three are required.
	Index  Index
	Space  *store.Space
	Bucket Bucket
	// Keys gives the wrapped data keys (sealed mode; required then).
	Keys seal.KeyStore
	// Opener opens sealed blobs for the plaintext mode (Sealed false).
	Opener replay.Opener
	// Sealed uploads the sealed blobs as stored (the default the
	// appliance configures); false uploads playable MKV.
	Sealed bool
	// ApplianceID and Prefix make the object keys
	// <Prefix><ApplianceID>/<stream>/YYYY/MM/DD/HH/<number>.mkv.
	ApplianceID, Prefix string
	// MinBackoff and MaxBackoff bound the capped exponential backoff
	// (with jitter) between failed uploads; uploads are retried forever.
	MinBackoff, MaxBackoff time.Duration
	// Rescan is how often the index is reconciled without a Notify.
	Rescan time.Duration
	// ManifestInterval is the least time between two rewrites of a
	// manifest of the hour being filled (0: after every pass; the
	// appliance uses DefaultManifestInterval).
	ManifestInterval time.Duration
	// Window limits uploads to daily windows (none: always).
	Window Windows
	// ClockHold, when set, reports whether fragments recorded while the
	// clock was not set (index.Fragment.ClockUnsynced) wait for the clock
	// correction (the appliance: the run started on a time known to be
	// wrong and the clock has been neither set nor moved since). A held
	// fragment goes up once the correction moved it to its real time
	// (and cleared its mark, or ClockHold turned false), so its object,
	// its manifest and its hour are right. A stream's uploads stop at its
	// first held fragment, in order.
	ClockHold func() bool
	// UnsyncedGrace caps the hold: a fragment older than this on Now
	// goes anyway (a clock that is never set must not stop the archive;
	// its object keeps the boot timeline's time). 0 means
	// DefaultUnsyncedGrace; negative never holds.
	UnsyncedGrace time.Duration
	// Priority is the order of the uploads: Oldest ("" too) or Newest.
	Priority Priority
	// BandwidthLimit caps the uplink the archive uses, in bytes/s
	// (0: none), averaged over uploads.
	BandwidthLimit int64
	// Now is the clock; Logger the log.
	Now    func() time.Time
	Logger *slog.Logger

	sleep   func(ctx context.Context, d time.Duration) error // waits of the window and the cap (tests record them)
	limiter *uplink.Limiter                                  // the cap (Burst 0), set by Start; used on the loop goroutine
	batch   int                                              // passNewest's batch per stream (0: passBatch; tests set less)

	kick    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
	started atomic.Bool
	closeMu sync.Once

	lastFlush map[string]time.Time // stream → last manifest rewrite (loop goroutine)
	merged    map[string]bool      // manifest keys read back from the bucket since Start (loop goroutine)
	keysUp    map[string]bool      // data keys whose object is archived (loop goroutine; see archiveKey)
	shredDue  atomic.Bool          // a data key may have been destroyed: shred before the next pass
	holdNs    atomic.Int64         // see ArchivedThrough
	clockHeld bool                 // logged that uploads wait for the clock (loop goroutine; once a run)
	stats     counters
}

type counters struct {
	objects, bytes, manifests, failures, passes atomic.Uint64
	shredded, scrubbed                          atomic.Uint64
	backlog, backlogBytes                       atomic.Int64
	oldestPending                               atomic.Int64 // Unix ns; 0 none
}

// Stats is a snapshot of the archiver's counters.
type Stats struct {
	// Objects and Bytes are the fragments uploaded (and their bytes);
	// Manifests the manifest writes; UploadFailures failed PUTs (each
	// retried).
	Objects, Bytes, Manifests, UploadFailures, Passes uint64
	// Backlog and BacklogBytes are the stored fragments not yet archived,
	// as of the last pass; Lag is how old the oldest of them is.
	Backlog, BacklogBytes int64
	Lag                   time.Duration
}

// Stats returns the counters.
func (a *Archiver) Stats() Stats {
	st := Stats{
		Objects: a.stats.objects.Load(), Bytes: a.stats.bytes.Load(), Manifests: a.stats.manifests.Load(),
		UploadFailures: a.stats.failures.Load(), Passes: a.stats.passes.Load(),
		Backlog: a.stats.backlog.Load(), BacklogBytes: a.stats.backlogBytes.Load(),
	}
	if o := a.stats.oldestPending.Load(); o != 0 && a.Now != nil {
		st.Lag = max(a.Now().Sub(time.Unix(0, o)), 0)
	}
	return st
}

// Start checks the fields, fills the defaults and starts the loop, which
// reconciles at once.
func (a *Archiver) Start() error {
	var errs []error
	if a.Index == nil || a.Space == nil || a.Bucket == nil {
		errs = append(errs, errors.New("the Index, Space and Bucket fields are required"))
	}
	if a.Sealed && a.Keys == nil {
		errs = append(errs, errors.New("the Keys field is required in sealed mode"))
	}
	if !a.Sealed && a.Opener == nil {
		errs = append(errs, errors.New("the Opener field is required to archive playable MKV"))
	}
	if a.ApplianceID == "" {
		errs = append(errs, errors.New("the ApplianceID field is empty"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("archive: %w", errors.Join(errs...))
	}
	if a.MinBackoff <= 0 {
		a.MinBackoff = DefaultMinBackoff
	}
	if a.MaxBackoff < a.MinBackoff {
		a.MaxBackoff = max(DefaultMaxBackoff, a.MinBackoff)
	}
	if a.Rescan <= 0 {
		a.Rescan = DefaultRescan
	}
	if a.Now == nil {
		a.Now = time.Now
	}
	if a.Logger == nil {
		a.Logger = slog.New(slog.DiscardHandler)
	}
	if a.sleep == nil {
		a.sleep = sleepCtx
	}
	if a.Priority == "" {
		a.Priority = Oldest
	}
	if a.UnsyncedGrace == 0 {
		a.UnsyncedGrace = DefaultUnsyncedGrace
	}
	if _, err := ParsePriority(string(a.Priority)); err != nil {
		return err
	}
	if a.BandwidthLimit < 0 {
		return fmt.Errorf("archive: BandwidthLimit %d is negative", a.BandwidthLimit)
	}
	a.limiter = &uplink.Limiter{Rate: a.BandwidthLimit, Now: a.Now, Sleep: a.sleep}
	a.kick = make(chan struct{}, 1)
	a.done = make(chan struct{})
	a.lastFlush = map[string]time.Time{}
	a.merged = map[string]bool{}
	a.keysUp = map[string]bool{}
	a.shredDue.Store(a.Sealed) // keys destroyed while stopped (or before a lost KeysDestroyed)
	if a.Sealed {
		// Legacy copies of keys destroyed before this code ran are
		// scrubbed too: a pass at the first start (and until one finds
		// the archive clean).
		if err := a.Space.Update(context.Background(), store.Meta, func(txn *store.Txn) error {
			if _, err := txn.Get(a.scrubKey("cursor")); err == nil {
				return nil // a pass under way resumes
			} else if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			return a.scrubDue(txn)
		}); err != nil {
			return fmt.Errorf("archive: scrub state: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.started.Store(true)
	go a.loop(ctx)
	return nil
}

// Close stops the loop (an upload in flight is abandoned: its fragment is
// after the cursor and is uploaded again, to the same key, after the next
// start) and waits for it.
func (a *Archiver) Close() error {
	if !a.started.Load() {
		return nil
	}
	a.closeMu.Do(func() {
		a.cancel()
		<-a.done
	})
	return nil
}

// Notify tells the archiver a fragment was stored (the recorders'
// OnStored). It never blocks; the fragment itself is found by
// reconciling, so a lost notification only delays it until the next
// rescan.
func (a *Archiver) Notify(index.Fragment) {
	if !a.started.Load() {
		return
	}
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// ArchivedThrough returns a time before which every stored fragment of
// every stream is archived (the zero time until the first pass): the
// index's eviction evicts buckets that end before it first.
func (a *Archiver) ArchivedThrough() time.Time {
	ns := a.holdNs.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func (a *Archiver) loop(ctx context.Context) {
	defer close(a.done)
	t := time.NewTicker(a.Rescan)
	defer t.Stop()
	for {
		pass := a.pass
		if a.Priority == Newest {
			pass = a.passNewest
		}
		// Shredding goes first: nothing more is uploaded before the
		// archived copies of destroyed keys are gone.
		if err := a.shred(ctx); err != nil && ctx.Err() == nil {
			a.Logger.Warn("archive shredding failed", "err", err)
		}
		held, err := pass(ctx)
		if err != nil && ctx.Err() == nil {
			a.Logger.Warn("archive pass failed", "err", err)
		}
		// The legacy copies of destroyed keys (whose key objects and
		// tombstones shred did) are scrubbed after the pass: a scrub
		// reads the whole archive, and an outage must not keep the
		// backlog from being counted and uploaded first.
		if err := a.scrub(ctx); err != nil && ctx.Err() == nil {
			a.Logger.Warn("archive scrub failed", "err", err)
		}
		// A manifest held back by ManifestInterval is written when it
		// has passed, even if no fragment comes.
		var flush <-chan time.Time
		var ft *time.Timer
		if held {
			ft = time.NewTimer(a.ManifestInterval)
			flush = ft.C
		}
		select {
		case <-ctx.Done():
		case <-a.kick:
		case <-t.C:
		case <-flush:
		}
		if ft != nil {
			ft.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// cursor is what of a stream is archived: everything up to and including
// (Server, Number) in server-time order.
type cursor struct {
	Server int64  `json:"server"`
	Number uint64 `json:"number"`
}

func (c cursor) before(f index.Fragment) bool {
	s := f.ServerTime.UnixNano()
	return s > c.Server || s == c.Server && f.Number > c.Number
}

// Keys of the "a/" space.
func (a *Archiver) cursorKey(stream string) []byte { return a.Space.Key([]byte("c/"), []byte(stream)) }
func (a *Archiver) hourPrefix(p, stream string, hour int64) []byte {
	return binary.BigEndian.AppendUint64(a.Space.Key([]byte(p), []byte(stream), []byte{0}), uint64(hour))
}
func (a *Archiver) entryKey(stream string, hour int64, number uint64) []byte {
	return binary.BigEndian.AppendUint64(a.hourPrefix("m/", stream, hour), number)
}
func (a *Archiver) dirtyKey(stream string, hour int64) []byte {
	return a.hourPrefix("d/", stream, hour)
}
func (a *Archiver) foreignKey(id string) []byte { return a.Space.Key([]byte("k/"), []byte(id)) }

// getJSON reads the JSON value of key into v; false when there is none.
func getJSON(txn *store.Txn, key []byte, v any) (bool, error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, item.Value(func(b []byte) error { return json.Unmarshal(b, v) })
}

func (a *Archiver) readCursor(stream string) (cursor, bool, error) {
	var c cursor
	var ok bool
	err := a.Space.View(func(txn *store.Txn) error {
		var err error
		ok, err = getJSON(txn, a.cursorKey(stream), &c)
		return err
	})
	if err != nil {
		return cursor{}, false, fmt.Errorf("archive: cursor of %s: %w", stream, err)
	}
	return c, ok, nil
}

// passBatch is how many fragments of one stream a pass uploads before it
// turns to the next stream.
const passBatch = 64

// holdSlack covers a fragment that began before a pass and is stored after
// it (fragment.max is at most 30 s).
const holdSlack = time.Minute

// pass reconciles every stream with the index: it uploads what is after
// each stream's cursor, in order, a batch per stream in turn, until
// nothing is left; then rewrites the dirty manifests. The first round
// counts the whole backlog (the gauges); later rounds read a batch.
func (a *Archiver) pass(ctx context.Context) (held bool, err error) {
	a.stats.passes.Add(1)
	for round := 0; ; round++ {
		// A long backlog does not hold back shredding.
		if err := a.shred(ctx); err != nil {
			return false, err
		}
		streams, err := a.Index.Streams(ctx)
		if err != nil {
			return false, fmt.Errorf("archive: streams: %w", err)
		}
		hold := a.Now().Add(-holdSlack)
		var oldest time.Time
		type streamWork struct {
			stream  string
			pending []index.Fragment
		}
		var work []streamWork
		progress := false
		if round == 0 {
			a.stats.backlog.Store(0)
			a.stats.backlogBytes.Store(0)
		}
		for _, s := range streams {
			c, _, err := a.readCursor(s.Name)
			if err != nil {
				return false, err
			}
			q := index.Query{By: index.ServerTime, Start: time.Unix(0, c.Server)}
			if round > 0 {
				q.Limit = passBatch + 8 // the cursor's own fragment is read again
			}
			// Marks left by a run with Newest: those fragments are done.
			marks, err := a.hasMarks(s.Name)
			if err != nil {
				return false, err
			}
			var pending []index.Fragment
			var backlog, backlogBytes int64
			err = a.Index.Iterate(ctx, s.Name, q, func(f index.Fragment) error {
				if !c.before(f) {
					return nil
				}
				if marks {
					if done, err := a.marked(s.Name, []pos{posOf(f)}); err != nil || done[posOf(f)] {
						return err
					}
				}
				if len(pending) == 0 && (oldest.IsZero() || f.ServerTime.Before(oldest)) {
					oldest = f.ServerTime
				}
				backlog++
				backlogBytes += f.Size
				if len(pending) < passBatch {
					pending = append(pending, f)
				}
				return nil
			})
			if err != nil {
				return false, fmt.Errorf("archive: list %s: %w", s.Name, err)
			}
			if round == 0 {
				a.stats.backlog.Add(backlog)
				a.stats.backlogBytes.Add(backlogBytes)
			}
			if len(pending) > 0 && pending[0].ServerTime.Before(hold) {
				hold = pending[0].ServerTime
			}
			if len(pending) > 0 {
				work = append(work, streamWork{s.Name, pending})
			}
		}
		// Everything before hold is archived: the lists above were read
		// after the cursors, and a stream's new fragments come later.
		a.holdNs.Store(hold.UnixNano())
		if !oldest.IsZero() {
			a.stats.oldestPending.Store(oldest.UnixNano())
		}
		clockHeld := false
		for _, w := range work {
			for _, f := range w.pending {
				err := a.archive(ctx, w.stream, f)
				if errors.Is(err, errClockHold) {
					clockHeld = true
					break // the stream's later fragments wait behind it
				}
				if err != nil {
					return false, err
				}
				progress = true
			}
		}
		if oldest.IsZero() {
			a.stats.oldestPending.Store(0)
		} else {
			a.stats.oldestPending.Store(oldest.UnixNano())
		}
		if !progress {
			a.holdNs.Store(hold.UnixNano())
			if !clockHeld { // else the backlog waits for the clock
				a.stats.backlog.Store(0)
				a.stats.backlogBytes.Store(0)
			}
			return a.flushManifests(ctx)
		}
		if _, err := a.flushManifests(ctx); err != nil {
			return false, err
		}
	}
}

// recount sets the backlog gauges from the index and the cursors.
func (a *Archiver) recount(ctx context.Context) error {
	streams, err := a.Index.Streams(ctx)
	if err != nil {
		return err
	}
	var n, nb int64
	var oldest time.Time
	for _, s := range streams {
		c, _, err := a.readCursor(s.Name)
		if err != nil {
			return err
		}
		marks, err := a.hasMarks(s.Name)
		if err != nil {
			return err
		}
		err = a.Index.Iterate(ctx, s.Name, index.Query{By: index.ServerTime, Start: time.Unix(0, c.Server)}, func(f index.Fragment) error {
			if marks {
				if done, err := a.marked(s.Name, []pos{posOf(f)}); err != nil || done[posOf(f)] {
					return err
				}
			}
			if c.before(f) {
				if oldest.IsZero() || f.ServerTime.Before(oldest) {
					oldest = f.ServerTime
				}
				n++
				nb += f.Size
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	a.stats.backlog.Store(n)
	a.stats.backlogBytes.Store(nb)
	if !oldest.IsZero() {
		a.stats.oldestPending.Store(oldest.UnixNano())
	}
	return nil
}

// ObjectKey returns the key of a fragment's object.
func ObjectKey(prefix, appliance, stream string, server time.Time, number uint64) string {
	return hourDir(prefix, appliance, stream, server) + strconv.FormatUint(number, 10) + ".mkv"
}

// ManifestKey returns the key of the manifest of stream's hour.
func ManifestKey(prefix, appliance, stream string, hour time.Time) string {
	return hourDir(prefix, appliance, stream, hour) + "manifest.json"
}

func hourDir(prefix, appliance, stream string, t time.Time) string {
	return prefix + appliance + "/" + stream + "/" + t.UTC().Format("2006/01/02/15") + "/"
}

// archive uploads one fragment (retrying forever) and records it.
func (a *Archiver) archive(ctx context.Context, stream string, f index.Fragment) error {
	if f.ClockUnsynced && a.ClockHold != nil && a.UnsyncedGrace > 0 && a.Now().Sub(f.ServerTime) < a.UnsyncedGrace && a.ClockHold() {
		if !a.clockHeld {
			a.clockHeld = true
			a.Logger.Info("archive waits for the clock to be set before uploading what was recorded meanwhile",
				"stream", stream, "fragment", f.Number, "grace", a.UnsyncedGrace)
		}
		return errClockHold
	}
	body, err := a.Index.Blob(ctx, f.Number)
	if errors.Is(err, index.ErrFragmentNotFound) {
		// Expired or evicted meanwhile: nothing to archive; move past it.
		a.Logger.Warn("fragment gone before it was archived", "stream", stream, "fragment", f.Number)
		err := a.Space.Update(ctx, store.Meta, func(txn *store.Txn) error { return a.setDone(txn, stream, f) })
		if err != nil {
			return err
		}
		return a.afterDone(ctx, stream)
	}
	if err != nil {
		return fmt.Errorf("archive: read fragment %d: %w", f.Number, err)
	}
	meta := map[string]string{
		"kinedge-stream":        stream,
		"kinedge-fragment":      f.NumberString(),
		"kinedge-server-time":   f.ServerTime.UTC().Format(time.RFC3339Nano),
		"kinedge-producer-time": f.ProducerTime.UTC().Format(time.RFC3339Nano),
		"kinedge-sealed":        strconv.FormatBool(a.Sealed),
	}
	if a.Sealed {
		rec, err := a.Keys.GetKey(ctx, f.KeyID)
		if errors.Is(err, seal.ErrKeyDestroyed) {
			// Crypto-shredded meanwhile (its stream deleted): it must not
			// leave the box; move past it.
			a.Logger.Warn("fragment's data key destroyed before it was archived", "stream", stream, "fragment", f.Number, "err", err)
			err := a.Space.Update(ctx, store.Meta, func(txn *store.Txn) error { return a.setDone(txn, stream, f) })
			if err != nil {
				return err
			}
			return a.afterDone(ctx, stream)
		}
		if err != nil {
			return fmt.Errorf("archive: key %s of fragment %d: %w", f.KeyID, f.Number, err)
		}
		// The data key is archived once, as its own object, before
		// anything it sealed: shredding deletes that one object.
		if err := a.archiveKey(ctx, rec); err != nil {
			return err
		}
		meta["kinedge-key-id"] = rec.ID
		meta["kinedge-key-alias"] = rec.Alias
		meta["kinedge-master-check"] = rec.MasterCheck
	} else {
		src := replay.Source{Store: blobOf{body}, Opener: a.Opener}
		rf := replay.Fragment{Number: f.Number, ServerTime: f.ServerTime, ProducerTime: f.ProducerTime, Duration: f.Duration}
		body, err = src.AppendFragmentMKV(ctx, nil, stream, rf, f.NumberString())
		if err != nil {
			return fmt.Errorf("archive: fragment %d as MKV: %w", f.Number, err)
		}
	}
	sum := sha256.Sum256(body)
	key := ObjectKey(a.Prefix, a.ApplianceID, stream, f.ServerTime, f.Number)
	if err := a.pace(ctx, len(body)); err != nil {
		return err
	}
	if err := a.put(ctx, key, body, meta); err != nil {
		return err
	}
	a.stats.objects.Add(1)
	a.stats.bytes.Add(uint64(len(body)))
	a.stats.backlog.Add(-1)
	a.stats.backlogBytes.Add(-f.Size)
	e := Entry{Number: f.NumberString(), Key: key, ServerTime: f.ServerTime.UTC(), ProducerTime: f.ProducerTime.UTC(),
		DurationMS: f.Duration.Milliseconds(), Size: int64(len(body)), SHA256: hex.EncodeToString(sum[:]), Gap: f.Gap}
	if a.Sealed {
		e.KeyID = f.KeyID
	}
	for _, t := range f.Tracks {
		e.Codecs = append(e.Codecs, t.Codec)
	}
	ev, err := json.Marshal(e)
	if err != nil {
		return err
	}
	hour := f.ServerTime.UTC().Truncate(time.Hour).Unix()
	// The entry, the manifest's dirty mark and the cursor (or the done
	// mark) move together: a crash before this commit uploads the
	// fragment again, to its key.
	err = a.Space.Update(ctx, store.Meta, func(txn *store.Txn) error {
		if err := txn.Set(a.entryKey(stream, hour, f.Number), ev); err != nil {
			return err
		}
		if err := txn.Set(a.dirtyKey(stream, hour), nil); err != nil {
			return err
		}
		return a.setDone(txn, stream, f)
	})
	if err != nil {
		return fmt.Errorf("archive: record fragment %d: %w", f.Number, err)
	}
	return a.afterDone(ctx, stream)
}

// setDone records f as archived: Oldest moves the cursor to it, Newest
// marks it (the cursor then moves over the marks that join it).
func (a *Archiver) setDone(txn *store.Txn, stream string, f index.Fragment) error {
	if a.Priority == Newest {
		return txn.Set(a.markKey(stream, posOf(f)), nil)
	}
	cv, err := json.Marshal(cursor{Server: f.ServerTime.UnixNano(), Number: f.Number})
	if err != nil {
		return err
	}
	return txn.Set(a.cursorKey(stream), cv)
}

// afterDone moves the cursor over the done marks after a fragment was
// recorded: always for Newest; for Oldest only if marks are left from a
// run with Newest.
func (a *Archiver) afterDone(ctx context.Context, stream string) error {
	if a.Priority != Newest {
		if has, err := a.hasMarks(stream); err != nil || !has {
			return err
		}
	}
	return a.advance(ctx, stream)
}

// blobOf is a replay.Store of one blob.
type blobOf struct{ b []byte }

func (s blobOf) Blob(context.Context, uint64) ([]byte, error) { return s.b, nil }

// put writes an object, retrying with capped exponential backoff and
// jitter until it succeeds or ctx ends.
// failed counts a failed request to the bucket, which is retried: the
// backlog grows during an outage, whichever request waits for the bucket
// (an upload, a manifest read, the scrub's), so it is counted again for
// the gauges (a listing per retry, at most one per MinBackoff).
func (a *Archiver) failed(ctx context.Context) {
	a.stats.failures.Add(1)
	if err := a.recount(ctx); err != nil && ctx.Err() == nil {
		a.Logger.Warn("archive backlog count failed", "err", err)
	}
}

func (a *Archiver) put(ctx context.Context, key string, body []byte, meta map[string]string) error {
	for attempt := 0; ; attempt++ {
		err := a.Bucket.Put(ctx, key, body, meta)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.failed(ctx)
		wait := firehose.Backoff(a.MinBackoff, a.MaxBackoff, attempt)
		a.Logger.Warn("archive upload failed, retrying", "key", key, "attempt", attempt+1, "wait", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// flushManifests rewrites the manifests marked dirty whose hour is
// complete or whose stream's manifest was not rewritten for
// ManifestInterval; held reports whether some are left for later. A
// completed hour's entries are deleted from the database once its
// manifest is written.
func (a *Archiver) flushManifests(ctx context.Context) (held bool, err error) {
	type dirty struct {
		stream string
		hour   int64
	}
	var list []dirty
	pfx := a.Space.Key([]byte("d/"))
	err = a.Space.View(func(txn *store.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()[len(pfx):]
			if len(k) < 9 || k[len(k)-9] != 0 {
				return fmt.Errorf("archive: bad dirty key %q", it.Item().Key())
			}
			list = append(list, dirty{string(k[:len(k)-9]), int64(binary.BigEndian.Uint64(k[len(k)-8:]))})
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("archive: manifests: %w", err)
	}
	now := a.Now()
	for _, d := range list {
		c, _, err := a.readCursor(d.stream)
		if err != nil {
			return false, err
		}
		complete := c.Server >= time.Unix(d.hour, 0).Add(time.Hour).UnixNano()
		if last, ok := a.lastFlush[d.stream]; !complete && ok && now.Sub(last) < a.ManifestInterval {
			held = true
			continue
		}
		if err := a.writeManifest(ctx, d.stream, d.hour, complete); err != nil {
			return false, err
		}
		a.lastFlush[d.stream] = now
	}
	return held, nil
}

// writeManifest builds the manifest of stream's hour from its entries,
// writes it, and clears its dirty mark (and, for a complete hour, its
// entries) unless a newer entry came meanwhile.
func (a *Archiver) writeManifest(ctx context.Context, stream string, hour int64, complete bool) error {
	mkey := ManifestKey(a.Prefix, a.ApplianceID, stream, time.Unix(hour, 0))
	if !a.merged[mkey] {
		if err := a.mergeManifest(ctx, stream, hour, mkey); err != nil {
			return err
		}
		a.merged[mkey] = true
	}
	m := Manifest{Version: ManifestVersion, Appliance: a.ApplianceID, Stream: stream, Hour: time.Unix(hour, 0).UTC(), Sealed: a.Sealed}
	var keys [][]byte
	err := a.Space.View(func(txn *store.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: a.hourPrefix("m/", stream, hour), PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var e Entry
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &e) }); err != nil {
				return err
			}
			m.Fragments = append(m.Fragments, e)
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("archive: manifest of %s: %w", stream, err)
	}
	// Entries are keyed by number, which increases with server time within
	// a stream; sort anyway (a stream deleted and created again).
	sortEntries(m.Fragments)
	m.Gaps = gaps(m.Fragments)
	if a.Sealed {
		// This archiver's keys are key objects (archiveKey); only the
		// wrapped keys of a predecessor's merged manifest written before
		// key objects existed are carried on.
		seen := map[string]bool{}
		for _, e := range m.Fragments {
			if seen[e.KeyID] {
				continue
			}
			seen[e.KeyID] = true
			k, ok, err := a.legacyKey(ctx, e.KeyID)
			if err != nil {
				return err
			}
			if ok {
				if m.Keys == nil {
					m.Keys = map[string]Key{}
				}
				m.Keys[e.KeyID] = k
			}
		}
	}
	body, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	// A manifest is bytes on the uplink like a fragment: it waits for the
	// window and is booked against the cap.
	if err := a.pace(ctx, len(body)); err != nil {
		return err
	}
	if err := a.put(ctx, mkey, body, nil); err != nil {
		return err
	}
	a.stats.manifests.Add(1)
	n := len(m.Fragments)
	return a.Space.Update(ctx, store.Meta, func(txn *store.Txn) error {
		// A fragment archived during the write keeps the mark.
		var now int
		it := txn.NewIterator(badger.IteratorOptions{Prefix: a.hourPrefix("m/", stream, hour)})
		for it.Rewind(); it.Valid(); it.Next() {
			now++
		}
		it.Close()
		if now != n {
			return nil
		}
		if complete {
			for _, k := range keys {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
		}
		return txn.Delete(a.dirtyKey(stream, hour))
	})
}

// mergeManifest reads the manifest of stream's hour from the bucket, the
// first time this archiver writes it, and adds the entries it lists that
// this database does not (with their wrapped keys) to the hour's entries:
// the next write lists them again rather than dropping them. They are a
// predecessor's under the same appliance id (a replacement recording in
// the hour its predecessor stopped), or this database's of an hour whose
// entries were deleted when it completed and that a late fragment dirtied
// again. A missing manifest is the usual case (a new hour).
func (a *Archiver) mergeManifest(ctx context.Context, stream string, hour int64, mkey string) error {
	body, err := a.get(ctx, mkey)
	if errors.Is(err, ErrNoObject) {
		return nil
	}
	if err != nil {
		return err
	}
	m, err := ParseManifest(body)
	if err == nil && (m.Sealed != a.Sealed || m.Stream != stream) {
		err = fmt.Errorf("sealed %v, stream %q: not this archive's", m.Sealed, m.Stream)
	}
	if err != nil {
		// Not one this archive can extend: it is replaced, as before.
		a.Logger.Warn("archive: manifest in the bucket not merged", "key", mkey, "err", err)
		return nil
	}
	return a.Space.Update(ctx, store.Meta, func(txn *store.Txn) error {
		added := 0
		for _, e := range m.Fragments {
			n, err := strconv.ParseUint(e.Number, 10, 64)
			if err != nil {
				return fmt.Errorf("archive: %s: fragment number %q: %w", mkey, e.Number, err)
			}
			if e.Key != ObjectKey(a.Prefix, a.ApplianceID, stream, e.ServerTime, n) || e.ServerTime.UTC().Truncate(time.Hour).Unix() != hour {
				a.Logger.Warn("archive: manifest entry in the bucket not merged (not this hour's object)", "key", mkey, "entry", e.Key)
				continue
			}
			k := a.entryKey(stream, hour, n)
			if _, err := txn.Get(k); err == nil {
				continue // this database's own entry wins
			} else if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			ev, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := txn.Set(k, ev); err != nil {
				return err
			}
			added++
		}
		for id, key := range m.Keys {
			kv, err := json.Marshal(key)
			if err != nil {
				return err
			}
			if err := txn.Set(a.foreignKey(id), kv); err != nil {
				return err
			}
		}
		if added > 0 {
			a.Logger.Info("archive: manifest in the bucket merged", "key", mkey, "entries", added)
		}
		return nil
	})
}

// legacyKey returns the wrapped data key id read from a merged manifest
// written before data keys were archived as objects, if it is one: ok is
// false for a key of this keyring (alive or destroyed), which its key
// object carries.
func (a *Archiver) legacyKey(ctx context.Context, id string) (Key, bool, error) {
	_, err := a.Keys.GetKey(ctx, id)
	if err == nil || errors.Is(err, seal.ErrKeyDestroyed) {
		return Key{}, false, nil
	}
	if !errors.Is(err, seal.ErrKeyNotFound) {
		return Key{}, false, fmt.Errorf("archive: key %s: %w", id, err)
	}
	var k Key
	found := false
	verr := a.Space.View(func(txn *store.Txn) error {
		var err error
		found, err = getJSON(txn, a.foreignKey(id), &k)
		return err
	})
	if verr != nil {
		return Key{}, false, fmt.Errorf("archive: key %s: %w", id, verr)
	}
	return k, found, nil
}

// get reads an object, retrying like put; a missing object is returned at
// once (ErrNoObject).
func (a *Archiver) get(ctx context.Context, key string) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		body, err := a.Bucket.Get(ctx, key)
		if err == nil || errors.Is(err, ErrNoObject) {
			return body, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		a.failed(ctx)
		wait := firehose.Backoff(a.MinBackoff, a.MaxBackoff, attempt)
		a.Logger.Warn("archive read failed, retrying", "key", key, "attempt", attempt+1, "wait", wait, "err", err)
		if err := sleepCtx(ctx, wait); err != nil {
			return nil, err
		}
	}
}
