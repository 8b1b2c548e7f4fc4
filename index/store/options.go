package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Options configures Open. The zero value of every field but Dir (or
// InMemory) is usable; "It defaults to" names the value used for a zero
// field. The Badger defaults target a Raspberry Pi: a few tens of MB of
// RAM and an SD card that pays for every byte written.
type Options struct {
	// Dir is the database directory. Required unless InMemory.
	Dir string
	// InMemory keeps everything in RAM (tests). There is no value log, no
	// budget and no disk to guard; values are limited to 1 MiB.
	InMemory bool
	// Logger receives the store's and Badger's messages (Badger's Info and
	// Debug lines at Debug level). It defaults to discarding.
	Logger *slog.Logger
	// Now is the clock of status times. It defaults to time.Now.
	Now func() time.Time
	// NoSync turns off fsync on commit (Badger SyncWrites), for tests and
	// benchmarks only: a write is then not durable when it returns.
	NoSync bool

	// MemTableSize is Badger's memtable size. It defaults to 8 MiB
	// (Badger: 64 MiB). Only keys, small values and value pointers go to
	// memtables.
	MemTableSize int64
	// NumMemtables is how many memtables may be held in RAM. It defaults
	// to 2 (Badger: 5).
	NumMemtables int
	// BlockCacheSize is Badger's block cache. It defaults to 8 MiB
	// (Badger: 256 MiB).
	BlockCacheSize int64
	// IndexCacheSize bounds the memory of table indexes and bloom filters.
	// It defaults to 4 MiB (Badger: 0, unbounded).
	IndexCacheSize int64
	// ValueLogFileSize is the size of one value-log file: the unit in which
	// space is given back. It defaults to 64 MiB (Badger: 1 GiB).
	ValueLogFileSize int64
	// ValueThreshold is the size above which a value goes to the value log
	// instead of the LSM tree. It defaults to 1 KiB.
	ValueThreshold int64
	// NumCompactors is how many compactions may run at once. It defaults
	// to 2 (Badger's minimum when compactions run).
	NumCompactors int

	// Budget bounds the disk space the database takes; see Budget.
	Budget Budget
	// CheckInterval is how often disk space is measured, the writable
	// files preallocated and the budget enforced (also after every
	// WriteKick bytes written). It defaults to 1 s.
	CheckInterval time.Duration
	// WriteKick is how many bytes written trigger a check before
	// CheckInterval is up. It defaults to a quarter of ValueLogFileSize.
	WriteKick int64
	// ResidentTail is how many bytes of the newest value-log file, up to
	// its write position, the page-out of mapped files leaves resident
	// (see "Memory and writes of the memory-mapped files" in the package
	// doc): what was just written is what readers such as a Firehose
	// delivery read next. It defaults to a quarter of ValueLogFileSize
	// (16 MiB by default, 4 MiB with the pi profile's 16 MiB files); -1
	// pages out the whole file.
	ResidentTail int64
	// Disk measures the filesystem that holds Dir. It defaults to statfs;
	// tests inject a fake to play a filling disk.
	Disk func(dir string) (DiskSpace, error)
}

// Policy is what the store does when the budget is reached, as the KVS
// Edge Agent names it.
type Policy string

// Policies.
const (
	// DeleteOldestMedia evicts the oldest media fragments across all
	// streams until usage is back under the budget (the default).
	DeleteOldestMedia Policy = "DELETE_OLDEST_MEDIA"
	// DenyNewMedia refuses new media and records (ErrFull) until
	// retention brings usage back under the budget; nothing stored is
	// touched.
	DenyNewMedia Policy = "DENY_NEW_MEDIA"
)

// Budget bounds the disk space of the database. The limit is the smaller
// of MaxBytes and what keeps MinFree free on the filesystem; it counts
// every byte the database's directory holds on disk (allocated blocks):
// video, data-stream records, the spool, Badger's own files and the
// store's reserve.
type Budget struct {
	// MaxBytes caps the database's size on disk; 0 means no cap but the
	// free-space one.
	MaxBytes int64
	// MinFreeBytes and MinFreePercent (of the filesystem's size) keep
	// that much free for everything else on the disk; the larger wins.
	// MinFreePercent defaults to 10; -1 turns the percentage off. The
	// store keeps at least the room Badger needs to flush and compact
	// (Floor) free whatever they say.
	MinFreeBytes   int64
	MinFreePercent float64
	// Policy applies when the limit is reached. It defaults to
	// DeleteOldestMedia.
	Policy Policy
}

// DiskSpace is what the filesystem holding the database reports.
type DiskSpace struct {
	// Total is the filesystem's size, Free the bytes an unprivileged
	// writer may still allocate (statfs f_bavail).
	Total, Free int64
}

const (
	defaultMemTableSize   = 8 << 20
	defaultNumMemtables   = 2
	defaultBlockCacheSize = 8 << 20
	defaultIndexCacheSize = 4 << 20
	defaultVLogFileSize   = 64 << 20
	defaultValueThreshold = 1 << 10
	defaultNumCompactors  = 2
	defaultCheckInterval  = time.Second
	defaultMinFreePercent = 10
	maxValueThreshold     = 1 << 20 // Badger's limit
)

// EnsureDefaults sets o's zero fields to their defaults and returns o.
// Open calls it, then Validate.
func (o *Options) EnsureDefaults() *Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
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
	if o.NumCompactors == 0 {
		o.NumCompactors = defaultNumCompactors
	}
	if o.CheckInterval == 0 {
		o.CheckInterval = defaultCheckInterval
	}
	if o.WriteKick == 0 {
		o.WriteKick = o.ValueLogFileSize / 4
	}
	if o.ResidentTail == 0 {
		o.ResidentTail = o.ValueLogFileSize / 4
	}
	if o.Disk == nil {
		o.Disk = statDisk
	}
	if o.Budget.MinFreePercent == 0 {
		o.Budget.MinFreePercent = defaultMinFreePercent
	}
	if o.Budget.Policy == "" {
		o.Budget.Policy = DeleteOldestMedia
	}
	return o
}

// Validate reports every problem with o at once. Zero fields that have a
// default are problems until EnsureDefaults ran.
func (o *Options) Validate() error {
	var errs []error
	if o.Dir == "" && !o.InMemory {
		errs = append(errs, errors.New("Dir is required unless InMemory"))
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
	if o.ValueLogFileSize < 1<<20 || o.ValueLogFileSize >= 1<<30 {
		errs = append(errs, fmt.Errorf("ValueLogFileSize %d is not in [1 MiB, 1 GiB)", o.ValueLogFileSize))
	}
	if o.ValueThreshold < 1 || o.ValueThreshold > maxValueThreshold {
		errs = append(errs, fmt.Errorf("ValueThreshold %d is not in [1, %d]", o.ValueThreshold, maxValueThreshold))
	}
	if o.NumCompactors < 2 {
		errs = append(errs, fmt.Errorf("NumCompactors %d is under 2", o.NumCompactors))
	}
	if o.CheckInterval < 0 || o.WriteKick < 0 {
		errs = append(errs, errors.New("CheckInterval and WriteKick must not be negative"))
	}
	if o.ResidentTail < -1 {
		errs = append(errs, fmt.Errorf("ResidentTail %d is under -1", o.ResidentTail))
	}
	b := o.Budget
	if b.MaxBytes < 0 || b.MinFreeBytes < 0 {
		errs = append(errs, errors.New("budget sizes must not be negative"))
	}
	if b.MinFreePercent != -1 && (b.MinFreePercent < 0 || b.MinFreePercent >= 100) {
		errs = append(errs, fmt.Errorf("MinFreePercent %v is not in [0, 100) or -1", b.MinFreePercent))
	}
	switch b.Policy {
	case DeleteOldestMedia, DenyNewMedia:
	default:
		errs = append(errs, fmt.Errorf("policy %q is not %s or %s", b.Policy, DeleteOldestMedia, DenyNewMedia))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidOptions, errors.Join(errs...))
}

// ParsePolicy returns the policy named s (case-sensitive, as the KVS Edge
// Agent writes it).
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case DeleteOldestMedia, DenyNewMedia:
		return p, nil
	}
	return "", fmt.Errorf("%w: storage policy %q is not %s or %s", ErrInvalidOptions, s, DeleteOldestMedia, DenyNewMedia)
}

// badgerOptions translates o into Badger's options.
func (o Options) badgerOptions(readOnly bool) badger.Options {
	dir := o.Dir
	if o.InMemory {
		dir = ""
	}
	threshold, memtable := o.ValueThreshold, o.MemTableSize
	if o.InMemory {
		// Without a value log every value lives in the LSM tree, and Badger
		// refuses values over the threshold: allow values up to 1 MiB.
		threshold, memtable = maxValueThreshold, max(memtable, 64<<20)
	}
	bo := badger.DefaultOptions(dir)
	// Every table of every level is at most BaseTableSize (Badger
	// doubles it per level below the base level): a compaction's table
	// builders hold whole tables in memory, up to 8 + splits at a time.
	bo.TableSizeMultiplier = 1
	return bo.
		WithInMemory(o.InMemory).
		WithReadOnly(readOnly).
		WithLogger(badgerLogger{l: o.Logger}).
		WithSyncWrites(!o.NoSync).
		WithMemTableSize(memtable).
		WithNumMemtables(o.NumMemtables).
		WithNumLevelZeroTables(3).
		WithNumLevelZeroTablesStall(8).
		WithNumCompactors(o.NumCompactors).
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

func (b badgerLogger) Errorf(f string, a ...any)   { b.log(slog.LevelError, f, a) }
func (b badgerLogger) Warningf(f string, a ...any) { b.log(slog.LevelWarn, f, a) }
func (b badgerLogger) Infof(f string, a ...any)    { b.log(slog.LevelDebug, f, a) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.log(slog.LevelDebug-4, f, a) }

func (b badgerLogger) log(level slog.Level, f string, a []any) {
	ctx := context.Background()
	if !b.l.Enabled(ctx, level) {
		return
	}
	b.l.Log(ctx, level, fmt.Sprintf(f, a...), "component", "badger")
}
