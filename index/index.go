package index

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index/store"
)

// Index is, on its "v/" prefix of the appliance's database, the store of
// video streams and fragments, and on "k/" the store of data keys. It is
// safe for concurrent use.
type Index struct {
	opts   Options
	logger *slog.Logger
	db     *store.DB
	ownDB  bool // opened by Open, closed by Close
	v, k   *store.Space

	fragSeq *store.Sequence
	sidSeq  *store.Sequence
	verSeq  *store.Sequence

	// life guards the open state: every method holds it for reading,
	// Close takes it for writing.
	life   sync.RWMutex
	closed bool

	// floor is the eviction floor (Unix ns): fragments whose server time
	// is before it were evicted for the storage budget. Mirrors keyFloor.
	floor atomic.Int64
	// numBase is added to the fragment sequence's numbers (see
	// SeedFragmentNumbers). numMu orders the base's moves with the
	// numbers issued (a seed may come while recording).
	numBase atomic.Uint64
	numMu   sync.Mutex

	// hold, when set, is the time before which media may be evicted
	// first (SetEvictionHold: what the archive has uploaded).
	hold atomic.Pointer[func() time.Time]

	// keysDestroyed, when set, hears the data keys DeleteStream destroyed
	// (OnKeysDestroyed: the keyring forgets its cached copies).
	keysDestroyed atomic.Pointer[func(ids ...string)]
	// corrected hears each fragment the clock correction changed
	// (OnClockCorrected: the fragment events).
	corrected atomic.Pointer[func(ctx context.Context, f Fragment, was time.Time)]

	// usage holds the sealed bytes of each stream's undropped buckets, by
	// stream id (see pfxUsage).
	usageMu sync.Mutex
	usage   map[uint64]int64

	// rate measures the bytes stored per second, for bucketWidth.
	rate rateMeter

	// stored wakes the readers that follow a stream (Stored).
	stored storedSignal

	// gcMu serialises GC cycles (the loop, RunGC and eviction).
	gcMu sync.Mutex

	cancel  context.CancelFunc
	loopCtx context.Context
	kick    chan struct{}
	wg      sync.WaitGroup

	stats counters
}

// counters are the Stats, updated atomically.
type counters struct {
	fragmentsStored  atomic.Uint64
	bytesStored      atomic.Uint64
	fragmentsExpired atomic.Uint64
	fragmentsEvicted atomic.Uint64
	bytesExpired     atomic.Uint64
	bytesEvicted     atomic.Uint64
	bucketsDropped   atomic.Uint64
	gcRuns           atomic.Uint64
	vlogFilesGCed    atomic.Uint64
	bytesReclaimed   atomic.Uint64
	gcErrors         atomic.Uint64
	evictedPastHold  atomic.Uint64
}

// Stats are counters since Open, for the wiring layer to export.
type Stats struct {
	// FragmentsStored and BytesStored count PutFragment calls that
	// succeeded and their sealed bytes.
	FragmentsStored, BytesStored uint64
	// FragmentsExpired and BytesExpired count fragments removed by
	// retention; FragmentsEvicted and BytesEvicted those removed for the
	// storage budget (DELETE_OLDEST_MEDIA). Fragments are counted when
	// they vanish from the index, bytes when their bucket is dropped.
	FragmentsExpired, BytesExpired uint64
	FragmentsEvicted, BytesEvicted uint64
	// BucketsDropped counts blob buckets dropped (retention, budget or
	// deletion).
	BucketsDropped uint64
	// GCRuns counts GC cycles; GCErrors those that failed.
	GCRuns, GCErrors uint64
	// VlogFilesGCed counts value-log files rewritten or deleted by GC.
	VlogFilesGCed uint64
	// BytesReclaimed adds up, over GC cycles, how much the value log on
	// disk shrank during each (writes during a cycle offset it).
	BytesReclaimed uint64
	// EvictionsPastHold counts evictions that had to go past the
	// eviction hold (media not yet archived) because nothing before it
	// was left.
	EvictionsPastHold uint64
}

// Open opens the index on Options.DB (or on a database of its own, see
// Options) and starts the background retention and GC loop, which Close
// stops.
func Open(opts Options) (*Index, error) {
	if err := opts.EnsureDefaults().Validate(); err != nil {
		return nil, err
	}
	x := &Index{opts: opts, logger: opts.Logger, db: opts.DB, kick: make(chan struct{}, 1), usage: map[uint64]int64{}}
	if x.db == nil {
		db, err := store.Open(opts.storeOptions())
		if err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		x.db, x.ownDB = db, true
	}
	fail := func(err error) (*Index, error) {
		if x.ownDB {
			err = errors.Join(err, x.db.Close())
		}
		return nil, err
	}
	var err error
	if x.v, err = x.db.Space(pfxVideo); err != nil {
		return fail(fmt.Errorf("index: %w", err))
	}
	if x.k, err = x.db.Space(pfxKeys); err != nil {
		return fail(fmt.Errorf("index: %w", err))
	}
	seqs := []struct {
		p   **store.Sequence
		key string
		bw  uint64
	}{{&x.fragSeq, keySeqFragment, 1000}, {&x.sidSeq, keySeqStream, 10}, {&x.verSeq, keySeqVersion, 100}}
	for _, s := range seqs {
		if *s.p, err = x.v.Sequence([]byte(s.key), s.bw); err != nil {
			return fail(fmt.Errorf("index: %w", err))
		}
	}
	if err := x.loadFloor(); err != nil {
		return fail(err)
	}
	if err := x.loadNumberBase(); err != nil {
		return fail(err)
	}
	if err := x.loadUsage(); err != nil {
		return fail(err)
	}
	// Resume the purge of streams deleted before a restart.
	if pending, err := x.deletedStreams(); err != nil {
		return fail(err)
	} else if len(pending) > 0 {
		x.kickGC()
	}
	x.loopCtx, x.cancel = context.WithCancel(context.Background())
	x.wg.Add(1)
	go x.loop()
	x.db.SetEvictor(x, x.v)
	return x, nil
}

// Close stops the background loop, waits for it, and closes the database
// if the index opened it. It is idempotent; methods called after it
// return ErrClosed.
func (x *Index) Close() error {
	defer x.stored.closeAll()
	x.cancel()
	x.wg.Wait()
	x.life.Lock()
	defer x.life.Unlock()
	if x.closed {
		return nil
	}
	x.closed = true
	x.db.SetEvictor(nil, nil)
	if x.ownDB {
		if err := x.db.Close(); err != nil {
			return fmt.Errorf("index: close: %w", err)
		}
	}
	return nil
}

// Stats returns the counters since Open.
func (x *Index) Stats() Stats {
	c := &x.stats
	return Stats{
		FragmentsStored:  c.fragmentsStored.Load(),
		BytesStored:      c.bytesStored.Load(),
		FragmentsExpired: c.fragmentsExpired.Load(),
		BytesExpired:     c.bytesExpired.Load(),
		FragmentsEvicted: c.fragmentsEvicted.Load(),
		BytesEvicted:     c.bytesEvicted.Load(),
		BucketsDropped:   c.bucketsDropped.Load(),
		GCRuns:           c.gcRuns.Load(),
		GCErrors:         c.gcErrors.Load(),
		VlogFilesGCed:    c.vlogFilesGCed.Load(),
		BytesReclaimed:   c.bytesReclaimed.Load(),

		EvictionsPastHold: c.evictedPastHold.Load(),
	}
}

// enter checks that the index is open and ctx alive, and holds the index
// open until the returned func is called.
func (x *Index) enter(ctx context.Context) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	x.life.RLock()
	if x.closed {
		x.life.RUnlock()
		return nil, ErrClosed
	}
	return x.life.RUnlock, nil
}

// view runs fn in a read-only transaction.
func (x *Index) view(fn func(txn *store.Txn) error) error { return x.v.View(fn) }

// update runs fn in a write transaction of class (see store.Space.Update).
func (x *Index) update(ctx context.Context, class store.Class, fn func(txn *store.Txn) error) error {
	return x.v.Update(ctx, class, fn)
}

// seqNext returns the next value of seq.
func (x *Index) seqNext(seq *store.Sequence) (uint64, error) { return seq.Next() }

// kickGC asks the loop for a cycle soon, without waiting.
func (x *Index) kickGC() {
	select {
	case x.kick <- struct{}{}:
	default:
	}
}

// loop runs GC cycles on GCInterval and when kicked, until Close.
func (x *Index) loop() {
	defer x.wg.Done()
	t := time.NewTicker(x.opts.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-x.loopCtx.Done():
			return
		case <-t.C:
		case <-x.kick:
		}
		if _, err := x.runGC(x.loopCtx); err != nil && x.loopCtx.Err() == nil {
			x.logger.Warn("index gc failed", "error", err)
		}
	}
}

// loadFloor reads the eviction floor.
func (x *Index) loadFloor() error {
	return x.view(func(txn *store.Txn) error {
		f, err := readFloor(txn)
		x.floor.Store(f)
		return err
	})
}

// readFloor reads the eviction floor in txn (math.MinInt64 when none).
func readFloor(txn *store.Txn) (int64, error) {
	item, err := txn.Get([]byte(keyFloor))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return minFloor, nil
	}
	if err != nil {
		return 0, err
	}
	var f int64
	err = item.Value(func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("%w: eviction floor of %d bytes", ErrCorrupt, len(v))
		}
		f = int64(binary.BigEndian.Uint64(v))
		return nil
	})
	return f, err
}
