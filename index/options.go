package index

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Options configures Open. The zero value of every field but Dir (or
// InMemory) is usable; "It defaults to" names the value used for a zero
// field. The badger tuning defaults target a Raspberry Pi: a few tens of MB
// of RAM and an SD card that pays for every byte written.
type Options struct {
	// Dir is the database directory. Required unless InMemory.
	Dir string
	// InMemory keeps everything in RAM (tests). Value-log GC does not run
	// in this mode; retention still drops fragments. Blobs are limited to
	// 1 MiB (badger keeps every value in its LSM tree then).
	InMemory bool
	// Logger receives the index's and badger's messages (badger's Info
	// and Debug lines at Debug level). It defaults to discarding.
	Logger *slog.Logger
	// Now is the clock for stream creation times, server timestamps and
	// retention. It defaults to time.Now.
	Now func() time.Time
	// GCInterval is how often the background loop applies retention and
	// runs value-log GC. It defaults to 5 m.
	GCInterval time.Duration
	// GCDiscardRatio is the share of a value-log file that must be garbage
	// before GC rewrites its live part (badger RunValueLogGC). It defaults
	// to 0.9, not badger's suggested 0.5: expired buckets free whole files,
	// and a lower ratio only adds rewrites of live video (see the package
	// doc for the measurements).
	GCDiscardRatio float64
	// Region and Account fill stream ARNs. They default to "us-east-1"
	// and "000000000000".
	Region, Account string
	// ZeroRetention is how long fragments of a stream with RetentionHours
	// 0 are kept (KVS stores nothing for such a stream; the appliance keeps
	// a short window so live readers and the archive can still read them).
	// It defaults to 10 m.
	ZeroRetention time.Duration
	// BucketWidth is the time span of one blob bucket: the unit in which
	// expired video is dropped (see the package doc). It defaults to 10 m.
	BucketWidth time.Duration
	// ExpirySlack is added to each key's badger TTL past the end of its
	// bucket's retention, so retention (not the TTL) normally removes it.
	// It defaults to 1 h.
	ExpirySlack time.Duration
	// NoSync turns off fsync on commit (badger SyncWrites), for tests and
	// benchmarks only: a fragment is then not durable when PutFragment
	// returns.
	NoSync bool
	// MemTableSize is badger's memtable size. It defaults to 8 MiB (badger:
	// 64 MiB). Only keys and value pointers go to memtables: one fragment
	// takes about 0.5 KiB.
	MemTableSize int64
	// NumMemtables is how many memtables may be held in RAM. It defaults
	// to 2 (badger: 5).
	NumMemtables int
	// BlockCacheSize is badger's block cache. It defaults to 8 MiB (badger:
	// 256 MiB).
	BlockCacheSize int64
	// IndexCacheSize bounds the memory of table indexes and bloom filters.
	// It defaults to 4 MiB (badger: 0, unbounded).
	IndexCacheSize int64
	// ValueLogFileSize is the size of one value-log file: the unit in which
	// space is given back. It defaults to 64 MiB (badger: 1 GiB).
	ValueLogFileSize int64
	// ValueThreshold is the size above which a value goes to the value log
	// instead of the LSM tree. It defaults to 1 KiB: sealed fragments go to
	// the value log and are never rewritten by compaction; fragment
	// metadata (a few hundred bytes) stays in the LSM tree.
	ValueThreshold int64
}

const (
	defaultGCInterval     = 5 * time.Minute
	defaultDiscardRatio   = 0.9
	defaultRegion         = "us-east-1"
	defaultAccount        = "000000000000"
	defaultZeroRetention  = 10 * time.Minute
	defaultBucketWidth    = 10 * time.Minute
	defaultExpirySlack    = time.Hour
	defaultMemTableSize   = 8 << 20
	defaultNumMemtables   = 2
	defaultBlockCacheSize = 8 << 20
	defaultIndexCacheSize = 4 << 20
	defaultVLogFileSize   = 64 << 20
	defaultValueThreshold = 1 << 10
	maxValueThreshold     = 1 << 20 // badger's limit
)

// withDefaults returns o with zero fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.GCInterval == 0 {
		o.GCInterval = defaultGCInterval
	}
	if o.GCDiscardRatio == 0 {
		o.GCDiscardRatio = defaultDiscardRatio
	}
	if o.Region == "" {
		o.Region = defaultRegion
	}
	if o.Account == "" {
		o.Account = defaultAccount
	}
	if o.ZeroRetention == 0 {
		o.ZeroRetention = defaultZeroRetention
	}
	if o.BucketWidth == 0 {
		o.BucketWidth = defaultBucketWidth
	}
	if o.ExpirySlack == 0 {
		o.ExpirySlack = defaultExpirySlack
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = defaultMemTableSize
	}
	if o.NumMemtables == 0 {
		o.NumMemtables = defaultNumMemtables
	}
	if o.BlockCacheSize == 0 {
		o.BlockCacheSize = defaultBlockCacheSize
	}
	if o.IndexCacheSize == 0 {
		o.IndexCacheSize = defaultIndexCacheSize
	}
	if o.ValueLogFileSize == 0 {
		o.ValueLogFileSize = defaultVLogFileSize
	}
	if o.ValueThreshold == 0 {
		o.ValueThreshold = defaultValueThreshold
	}
	return o
}

// validate reports every problem with o (after withDefaults) at once.
func (o Options) validate() error {
	var errs []error
	if o.Dir == "" && !o.InMemory {
		errs = append(errs, errors.New("Dir is required unless InMemory"))
	}
	if o.GCInterval < 0 {
		errs = append(errs, fmt.Errorf("GCInterval %v is negative", o.GCInterval))
	}
	if o.GCDiscardRatio <= 0 || o.GCDiscardRatio >= 1 {
		errs = append(errs, fmt.Errorf("GCDiscardRatio %v is not in (0, 1)", o.GCDiscardRatio))
	}
	if o.ZeroRetention < 0 {
		errs = append(errs, fmt.Errorf("ZeroRetention %v is negative", o.ZeroRetention))
	}
	if o.BucketWidth < time.Second {
		errs = append(errs, fmt.Errorf("BucketWidth %v is under 1 s", o.BucketWidth))
	}
	if o.ExpirySlack < 0 {
		errs = append(errs, fmt.Errorf("ExpirySlack %v is negative", o.ExpirySlack))
	}
	if o.MemTableSize < 1<<20 {
		errs = append(errs, fmt.Errorf("MemTableSize %d is under 1 MiB", o.MemTableSize))
	}
	if o.NumMemtables < 1 {
		errs = append(errs, fmt.Errorf("NumMemtables %d is under 1", o.NumMemtables))
	}
	if o.BlockCacheSize < 0 || o.IndexCacheSize < 0 {
		errs = append(errs, errors.New("cache sizes must not be negative"))
	}
	if o.ValueLogFileSize < 1<<20 || o.ValueLogFileSize >= 2<<30 {
		errs = append(errs, fmt.Errorf("ValueLogFileSize %d is not in [1 MiB, 2 GiB)", o.ValueLogFileSize))
	}
	if o.ValueThreshold < 1 || o.ValueThreshold > maxValueThreshold {
		errs = append(errs, fmt.Errorf("ValueThreshold %d is not in [1, %d]", o.ValueThreshold, maxValueThreshold))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidOptions, errors.Join(errs...))
}

// badgerOptions translates o into badger's options.
func (o Options) badgerOptions() badger.Options {
	dir := o.Dir
	if o.InMemory {
		dir = ""
	}
	threshold, memtable := o.ValueThreshold, o.MemTableSize
	if o.InMemory {
		// Without a value log every value lives in the LSM tree, and badger
		// refuses values over the threshold: allow blobs up to 1 MiB.
		threshold, memtable = maxValueThreshold, max(memtable, 64<<20)
	}
	return badger.DefaultOptions(dir).
		WithInMemory(o.InMemory).
		WithLogger(badgerLogger{l: o.Logger}).
		WithSyncWrites(!o.NoSync).
		WithMemTableSize(memtable).
		WithNumMemtables(o.NumMemtables).
		WithNumLevelZeroTables(3).
		WithNumLevelZeroTablesStall(8).
		WithNumCompactors(2).
		WithBlockCacheSize(o.BlockCacheSize).
		WithIndexCacheSize(o.IndexCacheSize).
		WithValueLogFileSize(o.ValueLogFileSize).
		WithValueThreshold(threshold).
		WithNumGoroutines(2).
		WithNumVersionsToKeep(1)
}

// badgerLogger adapts slog to badger.Logger. Badger is chatty at Info
// level (every compaction), so Info goes to Debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) { b.log(slog.LevelError, f, a) }
func (b badgerLogger) Warningf(f string, a ...any) {
	b.log(slog.LevelWarn, f, a)
}
func (b badgerLogger) Infof(f string, a ...any)  { b.log(slog.LevelDebug, f, a) }
func (b badgerLogger) Debugf(f string, a ...any) { b.log(slog.LevelDebug-4, f, a) }

func (b badgerLogger) log(level slog.Level, f string, a []any) {
	ctx := context.Background()
	if !b.l.Enabled(ctx, level) {
		return
	}
	b.l.Log(ctx, level, fmt.Sprintf(f, a...), "component", "badger")
}
