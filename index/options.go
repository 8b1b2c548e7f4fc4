package index

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kinedge/kinedge/index/store"
)

// Options configures Open. The zero value of every field is usable but
// for where the data lives: DB, or Dir (or InMemory) for a database of the
// index's own. "It defaults to" names the value used for a zero field.
type Options struct {
	// DB is the appliance's database (package store), shared with the
	// other packages that keep data in it. When nil, Open opens a
	// database of its own in Dir (or in memory) with the Badger sizes
	// below, and Close closes it; those fields must be zero when DB is
	// set.
	DB *store.DB
	// Dir is the database directory of a database of the index's own.
	Dir string
	// InMemory keeps a database of the index's own in RAM (tests).
	// Value-log GC does not run in this mode; retention still drops
	// fragments. Blobs are limited to 1 MiB.
	InMemory bool
	// NoSync turns off fsync on commit in a database of the index's own,
	// for tests and benchmarks only.
	NoSync bool
	// MemTableSize, ValueLogFileSize and ValueThreshold size a database
	// of the index's own (see store.Options).
	MemTableSize, ValueLogFileSize, ValueThreshold int64

	// Logger receives the index's messages. It defaults to discarding.
	Logger *slog.Logger
	// Now is the clock for stream creation times, server timestamps and
	// retention. It defaults to time.Now.
	Now func() time.Time
	// BootClock reads the kernel's boot: its id and the time since it
	// (clock.KernelBoot). With it, retention reads the age of a fragment
	// recorded before the clock was set, by a recorded run of this boot
	// (RecordClockRun), on the boot's clock rather than from its time:
	// until the correction moves it, that time is on the run's timeline,
	// which may lie far behind the present clock (docs/clock.md). Nil or
	// failing: such fragments age by their time, like any other.
	BootClock func() (id string, since time.Duration, err error)
	// GCInterval is how often the background loop applies retention and
	// runs value-log GC. It defaults to 5 m.
	GCInterval time.Duration
	// GCDiscardRatio is the share of a value-log file that must be garbage
	// before GC rewrites its live part (Badger RunValueLogGC). It defaults
	// to 0.9, not Badger's suggested 0.5: expired buckets free whole files,
	// and a lower ratio only adds rewrites of live video (see the package
	// doc for the measurements).
	GCDiscardRatio float64
	// Region and Account fill stream ARNs. They default to "us-east-1"
	// and "000000000000".
	Region, Account string
	// ZeroRetention is how long fragments of a stream with RetentionHours
	// 0 are kept (KVS stores nothing for such a stream; the appliance keeps
	// a short window so live readers can still read them, and the S3
	// archive once it exists).
	// It defaults to 10 m.
	ZeroRetention time.Duration
	// BucketWidth is the longest time span of one blob bucket: the unit in
	// which expired or evicted video is dropped. Buckets get shorter when
	// the storage budget is small next to the ingest rate (see width.go).
	// It defaults to 10 m.
	BucketWidth time.Duration
	// ExpirySlack is added to each key's Badger TTL past the end of its
	// bucket's retention, so retention (not the TTL) normally removes it.
	// It defaults to 1 h.
	ExpirySlack time.Duration
	// TimeFloor, if set, is the earliest server time a fragment may
	// have: PutFragment refuses one before it (a clock at 1970 must
	// never reach the index; docs/clock.md). Zero: no floor.
	TimeFloor time.Time
	// FutureTolerance, if set, is how far past Now a fragment's server
	// time may be: PutFragment refuses one later. Zero: no limit.
	FutureTolerance time.Duration
}

const (
	defaultGCInterval    = 5 * time.Minute
	defaultDiscardRatio  = 0.9
	defaultRegion        = "us-east-1"
	defaultAccount       = "000000000000"
	defaultZeroRetention = 10 * time.Minute
	defaultBucketWidth   = 10 * time.Minute
	defaultExpirySlack   = time.Hour
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
	return o
}

// Validate reports every problem with o at once. Zero fields that have a
// default are problems until EnsureDefaults ran.
func (o *Options) Validate() error {
	var errs []error
	if o.DB == nil && o.Dir == "" && !o.InMemory {
		errs = append(errs, errors.New("DB, Dir or InMemory is required"))
	}
	if o.DB != nil && (o.Dir != "" || o.InMemory || o.NoSync || o.MemTableSize != 0 || o.ValueLogFileSize != 0 || o.ValueThreshold != 0) {
		errs = append(errs, errors.New("with DB set, Dir, InMemory, NoSync and the Badger sizes belong to DB's options"))
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
	if o.DB == nil {
		so := o.storeOptions()
		if err := so.EnsureDefaults().Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidOptions, errors.Join(errs...))
}

// storeOptions returns the options of a database of the index's own.
func (o Options) storeOptions() store.Options {
	return store.Options{
		Dir: o.Dir, InMemory: o.InMemory, NoSync: o.NoSync, Logger: o.Logger,
		MemTableSize: o.MemTableSize, ValueLogFileSize: o.ValueLogFileSize, ValueThreshold: o.ValueThreshold,
	}
}
