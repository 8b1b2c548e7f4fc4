package index

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Index is the appliance's Badger database and, on its "v/" prefix, the
// store of video streams and fragments. It is safe for concurrent use.
type Index struct {
	opts   Options
	logger *slog.Logger
	db     *badger.DB

	fragSeq *badger.Sequence
	sidSeq  *badger.Sequence
	verSeq  *badger.Sequence

	// life guards the open state: every method holds it for reading,
	// Close takes it for writing.
	life   sync.RWMutex
	closed bool

	// gate lets writes wait instead of failing while retention drops
	// prefixes (badger refuses writes with ErrBlockedWrites meanwhile):
	// writes hold it for reading, DropPrefix for writing.
	gate sync.RWMutex

	// gcMu serialises GC cycles (the loop and RunGC).
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
	bucketsDropped   atomic.Uint64
	gcRuns           atomic.Uint64
	vlogFilesGCed    atomic.Uint64
	bytesReclaimed   atomic.Uint64
	gcErrors         atomic.Uint64
}

// Stats are counters since Open, for the wiring layer to export.
type Stats struct {
	// FragmentsStored and BytesStored count PutFragment calls that
	// succeeded and their sealed bytes.
	FragmentsStored, BytesStored uint64
	// FragmentsExpired counts fragments removed by retention.
	FragmentsExpired uint64
	// BucketsDropped counts blob buckets dropped (retention or deletion).
	BucketsDropped uint64
	// GCRuns counts GC cycles; GCErrors those that failed.
	GCRuns, GCErrors uint64
	// VlogFilesGCed counts value-log files rewritten or deleted by GC.
	VlogFilesGCed uint64
	// BytesReclaimed adds up, over GC cycles, how much the value log on
	// disk shrank during each (writes during a cycle offset it).
	BytesReclaimed uint64
}

// Open opens (or creates) the database and starts the background
// retention and GC loop, which Close stops.
func Open(opts Options) (*Index, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	db, err := badger.Open(opts.badgerOptions())
	if err != nil {
		return nil, fmt.Errorf("index: open %q: %w", opts.Dir, err)
	}
	x := &Index{opts: opts, logger: opts.Logger, db: db, kick: make(chan struct{}, 1)}
	seqs := []struct {
		p   **badger.Sequence
		key string
		bw  uint64
	}{{&x.fragSeq, keySeqFragment, 1000}, {&x.sidSeq, keySeqStream, 10}, {&x.verSeq, keySeqVersion, 100}}
	for _, s := range seqs {
		if *s.p, err = db.GetSequence([]byte(s.key), s.bw); err != nil {
			x.releaseSeqs()
			return nil, errors.Join(fmt.Errorf("index: sequence %s: %w", s.key, err), db.Close())
		}
	}
	// Resume the purge of streams deleted before a restart.
	if pending, err := x.deletedStreams(); err != nil {
		x.releaseSeqs()
		return nil, errors.Join(err, db.Close())
	} else if len(pending) > 0 {
		x.kickGC()
	}
	x.loopCtx, x.cancel = context.WithCancel(context.Background())
	x.wg.Add(1)
	go x.loop()
	return x, nil
}

// DB returns the shared badger database. Other packages own their own
// prefixes (see the package doc) and should write through Update, so that
// their writes wait out prefix drops instead of failing.
func (x *Index) DB() *badger.DB { return x.db }

// Update runs fn in a read-write badger transaction, as badger's
// DB.Update, waiting while a retention drop is in progress and retrying
// fn (up to 10 times) when the transaction conflicts with another. fn
// must not call the Index (a drop waiting for the gate would deadlock).
func (x *Index) Update(ctx context.Context, fn func(txn *badger.Txn) error) error {
	done, err := x.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	return x.update(ctx, fn)
}

// Close stops the background loop, waits for it, and closes the
// database. It is idempotent; methods called after it return ErrClosed.
func (x *Index) Close() error {
	x.cancel()
	x.wg.Wait()
	x.life.Lock()
	defer x.life.Unlock()
	if x.closed {
		return nil
	}
	x.closed = true
	err := x.releaseSeqs()
	if cerr := x.db.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("index: close: %w", cerr))
	}
	return err
}

// releaseSeqs returns the unused leases of the sequences.
func (x *Index) releaseSeqs() error {
	var errs []error
	for _, s := range []*badger.Sequence{x.fragSeq, x.sidSeq, x.verSeq} {
		if s != nil {
			if err := s.Release(); err != nil {
				errs = append(errs, fmt.Errorf("index: release sequence: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// Stats returns the counters since Open.
func (x *Index) Stats() Stats {
	c := &x.stats
	return Stats{
		FragmentsStored:  c.fragmentsStored.Load(),
		BytesStored:      c.bytesStored.Load(),
		FragmentsExpired: c.fragmentsExpired.Load(),
		BucketsDropped:   c.bucketsDropped.Load(),
		GCRuns:           c.gcRuns.Load(),
		GCErrors:         c.gcErrors.Load(),
		VlogFilesGCed:    c.vlogFilesGCed.Load(),
		BytesReclaimed:   c.bytesReclaimed.Load(),
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

// maxConflictRetries bounds the retries of a conflicting transaction.
const maxConflictRetries = 10

// update runs fn in a write transaction under the gate, retrying on
// badger.ErrConflict.
func (x *Index) update(ctx context.Context, fn func(txn *badger.Txn) error) error {
	var err error
	for range maxConflictRetries {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		x.gate.RLock()
		err = x.db.Update(fn)
		x.gate.RUnlock()
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
	return err
}

// seqNext returns the next value of seq. A lease renewal writes to the
// database, so it waits out prefix drops like every write.
func (x *Index) seqNext(seq *badger.Sequence) (uint64, error) {
	x.gate.RLock()
	defer x.gate.RUnlock()
	return seq.Next()
}

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
