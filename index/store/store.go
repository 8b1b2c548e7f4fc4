package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// DB is the appliance's one Badger database. It is the only code that
// opens, writes, drops, garbage-collects or closes it: every other package
// reads and writes through a Space, a handle scoped to its key prefix. DB
// guards the disk under the database (see the package doc): it keeps
// Badger's memory-mapped files preallocated, holds a reserve file,
// enforces the storage budget and refuses writes it cannot make safely. It
// is safe for concurrent use.
type DB struct {
	opts Options
	log  *slog.Logger

	// life guards bdb: every operation holds it for reading, Close and
	// the read-only → read-write reopen for writing.
	life     sync.RWMutex
	bdb      *badger.DB
	readOnly bool
	closed   bool
	gen      uint64 // counts opens of bdb (sequences are per open)

	// gate lets writes wait instead of failing while a prefix is dropped
	// (Badger refuses writes with ErrBlockedWrites meanwhile), and keeps
	// them out of a value-log file's rewrite (see CollectGarbage): writes
	// hold it for reading, DropPrefix and CollectGarbage for writing.
	gate sync.RWMutex

	spacesMu  sync.Mutex
	spaces    []string
	spaceList []*Space
	seqs      []*Sequence

	budget budgetState

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Class says what a write is, for the budget's admission control.
type Class int

const (
	// Data is media and records: refused (ErrFull) when the budget is
	// reached and cannot be made good, or the disk lacks Badger's room.
	Data Class = iota
	// Meta is small bookkeeping (stream registry, keys, sequences,
	// checkpoints): refused only when the disk lacks the room Badger
	// needs to flush.
	Meta
	// Reclaim is a write that frees space (deletions, retention, the
	// eviction floor): never refused for lack of space.
	Reclaim
)

// Open opens (or creates) the database in opts.Dir and starts the disk
// guard and the budget. On a disk too full to open the database for
// writing, it first releases the store's reserve file; if that is not
// enough it opens an existing database read-only (reads work, writes fail
// with ErrReadOnly) and reopens it for writing once there is room.
func Open(opts Options) (*DB, error) {
	if err := opts.EnsureDefaults().Validate(); err != nil {
		return nil, err
	}
	d := &DB{opts: opts, log: opts.Logger}
	d.budget.init(d)
	if opts.InMemory {
		bdb, err := badger.Open(opts.badgerOptions(false))
		if err != nil {
			return nil, fmt.Errorf("store: open in memory: %w", err)
		}
		d.bdb, d.gen = bdb, 1
		d.ctx, d.cancel = context.WithCancel(context.Background())
		return d, nil
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// /proc/self/maps names the mapped files by their absolute, resolved
	// path.
	if dir, err := filepath.Abs(opts.Dir); err == nil {
		if dir, err = filepath.EvalSymlinks(dir); err == nil {
			d.budget.pageOutDir = dir
		}
	}
	if err := d.budget.checkMaxBytes(); err != nil {
		return nil, err
	}
	if err := removeEmptyValueLogs(opts.Dir, d.log); err != nil {
		return nil, err
	}
	readOnly, err := d.budget.prepareOpen()
	if err != nil {
		return nil, err
	}
	bdb, err := badger.Open(opts.badgerOptions(readOnly))
	if err != nil && !readOnly && exists(filepath.Join(opts.Dir, badger.ManifestFilename)) && d.budget.tight() {
		// Badger could not write its files (the pid file, a memtable) on
		// a disk that filled up meanwhile: serve reads.
		d.log.Warn("store: opening read-only: the disk is too full to open the database for writing", "err", err)
		readOnly = true
		bdb, err = badger.Open(opts.badgerOptions(true))
	}
	if err != nil && readOnly && errors.Is(err, badger.ErrTruncateNeeded) {
		// Badger cannot open read-only a database that was not closed
		// cleanly: it must truncate its memtable logs first.
		return nil, fmt.Errorf("%w: the database under %s was not closed cleanly and needs %s free on the disk to recover; free space there: %w",
			ErrFull, opts.Dir, bytesText(d.budget.openFloor()), err)
	}
	if err != nil {
		return nil, fmt.Errorf("store: open %q: %w", opts.Dir, err)
	}
	d.bdb, d.readOnly, d.gen = bdb, readOnly, 1
	if readOnly {
		d.log.Warn("store: database open read-only until the disk has room", "dir", opts.Dir,
			"need_free_bytes", d.budget.openFloor())
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.budget.check()
	d.wg.Add(2)
	go d.budget.watch()
	go d.budget.evictLoop()
	return d, nil
}

// removeEmptyValueLogs deletes the value-log files of length zero in dir.
// Badger creates a value-log file and then sizes it; a process killed
// between the two (kill -9, a power cut) leaves an empty file, which
// Badger's open refuses for good ("Open existing file: … Create a new
// file"): a crash loop. An empty file holds no header and no entries, so
// nothing can point into it, and removing it loses nothing.
func removeEmptyValueLogs(dir string, log *slog.Logger) error {
	paths, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != 0 {
			continue
		}
		log.Warn("store: removing an empty value-log file left by an interrupted start or rotation", "file", filepath.Base(p))
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("store: remove the empty value-log file %s: %w", p, err)
		}
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Close stops the guard and the budget, waits for them, releases the
// sequences and closes the database. It is idempotent; methods called
// after it return ErrClosed.
func (d *DB) Close() error {
	d.cancel()
	d.wg.Wait()
	d.life.Lock()
	defer d.life.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	d.spacesMu.Lock()
	for _, s := range d.seqs {
		if err := s.release(d.gen); err != nil {
			errs = append(errs, err)
		}
	}
	d.spacesMu.Unlock()
	if !d.opts.InMemory && !d.readOnly {
		// Closing flushes the memtable to a table: make room for it
		// if the disk filled up.
		d.budget.releaseReserveIfTight()
	}
	if err := d.bdb.Close(); err != nil {
		errs = append(errs, fmt.Errorf("store: close: %w", err))
	}
	return errors.Join(errs...)
}

// enter holds the database open for an operation until the returned func
// is called.
func (d *DB) enter() (func(), error) {
	d.life.RLock()
	if d.closed {
		d.life.RUnlock()
		return nil, ErrClosed
	}
	return d.life.RUnlock, nil
}

// enterWrite holds the database open and the gate for reading, after
// admission control for class.
func (d *DB) enterWrite(class Class) (func(), error) {
	leave, err := d.enter()
	if err != nil {
		return nil, err
	}
	if d.readOnly {
		leave()
		return nil, ErrReadOnly
	}
	if err := d.budget.admit(class); err != nil {
		leave()
		return nil, err
	}
	d.gate.RLock()
	return func() {
		d.gate.RUnlock()
		leave()
	}, nil
}

// ReadOnly reports whether the database is open read-only (see Open).
func (d *DB) ReadOnly() bool {
	leave, err := d.enter()
	if err != nil {
		return false
	}
	defer leave()
	return d.readOnly
}

// InMemory reports whether the database lives in RAM only.
func (d *DB) InMemory() bool { return d.opts.InMemory }

// Dir returns the database directory ("" in memory).
func (d *DB) Dir() string { return d.opts.Dir }

// Space returns the handle of the key space prefix. A prefix may be taken
// once and must not be a prefix of another one or have one as its
// prefix (ErrPrefixTaken).
func (d *DB) Space(prefix string) (*Space, error) {
	if prefix == "" {
		return nil, fmt.Errorf("%w: empty prefix", ErrPrefixTaken)
	}
	d.spacesMu.Lock()
	defer d.spacesMu.Unlock()
	for _, p := range d.spaces {
		if len(p) <= len(prefix) && prefix[:len(p)] == p || len(prefix) < len(p) && p[:len(prefix)] == prefix {
			return nil, fmt.Errorf("%w: %q and %q", ErrPrefixTaken, prefix, p)
		}
	}
	d.spaces = append(d.spaces, prefix)
	sp := &Space{db: d, prefix: []byte(prefix)}
	d.spaceList = append(d.spaceList, sp)
	return sp, nil
}

// CollectGarbage runs Badger's value-log GC with discardRatio until it
// finds no file to rewrite, and returns how many files it rewrote or
// deleted. A file goes once discardRatio of it is garbage; its live part
// is written again (see the package doc). In memory it does nothing.
func (d *DB) CollectGarbage(ctx context.Context, discardRatio float64) (int, error) {
	if d.opts.InMemory {
		return 0, nil
	}
	leave, err := d.enter()
	if err != nil {
		return 0, err
	}
	defer leave()
	if d.readOnly {
		return 0, ErrReadOnly
	}
	n := 0
	for ctx.Err() == nil {
		// Writes wait while a file is rewritten, as for DropPrefix: Badger
		// v4.9.6 starts a rewrite by reading the memtable's max version
		// (DB.MaxVersion) without the writer's synchronisation, a data race
		// (-race reports it; a torn read on 32-bit arm) that no commit may
		// run into. Writers get in between files.
		d.gate.Lock()
		err := d.bdb.RunValueLogGC(discardRatio)
		d.gate.Unlock()
		if err != nil {
			if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
				break
			}
			return n, fmt.Errorf("store: value log gc: %w", err)
		}
		n++
		d.budget.stats.vlogFilesGCed.Add(1)
	}
	if n > 0 {
		d.budget.kickCheck()
	}
	return n, ctx.Err()
}

// Sync makes every write committed so far durable (for writers on a
// database opened with NoSync that sync in groups).
func (d *DB) Sync() error {
	leave, err := d.enter()
	if err != nil {
		return err
	}
	defer leave()
	if d.readOnly {
		return nil
	}
	if err := d.bdb.Sync(); err != nil {
		return fmt.Errorf("store: sync: %w", err)
	}
	return nil
}

// Durable reports whether every commit is synced to disk before it
// returns (or there is no disk): writers then need no Sync of their own.
func (d *DB) Durable() bool { return !d.opts.NoSync || d.opts.InMemory }

// SetEvictor sets what the budget calls to remove the oldest media when
// the policy is DELETE_OLDEST_MEDIA, and the space the media is written
// in. The video index sets it.
func (d *DB) SetEvictor(e Evictor, media *Space) { d.budget.setEvictor(e, media) }

// Evictor removes media to bring the database under its budget.
type Evictor interface {
	// Evict removes the oldest media across all streams, at least
	// atLeast bytes of it (in whole time buckets) if there is that much,
	// and collects the value-log garbage it leaves. It returns
	// ErrNothingToEvict when no media is left that may go.
	Evict(ctx context.Context, atLeast int64) (Evicted, error)
}

// Evicted says what one Evict call removed.
type Evicted struct {
	// Fragments and Bytes are the media fragments removed and their
	// sealed size.
	Fragments, Bytes int64
	// Before is the new eviction floor: media older than it is gone.
	Before time.Time
}
