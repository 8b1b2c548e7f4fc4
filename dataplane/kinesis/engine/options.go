package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kinedge/kinedge/index/store"
)

// Limits are the per-shard rate limits of Kinesis Data Streams (Kinesis
// Data Streams quotas and limits). The zero value of a field means the AWS
// default.
type Limits struct {
	// Enabled switches rate limiting on. When false no call is throttled.
	Enabled bool
	// RecordsPerSecond is the write limit in records per shard. It
	// defaults to 1000.
	RecordsPerSecond int
	// BytesInPerSecond is the write limit in bytes (data plus partition
	// key) per shard. It defaults to 1 MiB.
	BytesInPerSecond int
	// BytesOutPerSecond is the read limit in bytes per shard. It defaults
	// to 2 MiB.
	BytesOutPerSecond int
	// GetRecordsPerSecond is the number of GetRecords calls per shard per
	// second. It defaults to 5.
	GetRecordsPerSecond int
}

// DefaultLimits returns the AWS limits, enabled.
func DefaultLimits() Limits {
	return Limits{Enabled: true, RecordsPerSecond: 1000, BytesInPerSecond: 1 << 20, BytesOutPerSecond: 2 << 20, GetRecordsPerSecond: 5}
}

func (l *Limits) ensureDefaults() {
	d := DefaultLimits()
	if l.RecordsPerSecond == 0 {
		l.RecordsPerSecond = d.RecordsPerSecond
	}
	if l.BytesInPerSecond == 0 {
		l.BytesInPerSecond = d.BytesInPerSecond
	}
	if l.BytesOutPerSecond == 0 {
		l.BytesOutPerSecond = d.BytesOutPerSecond
	}
	if l.GetRecordsPerSecond == 0 {
		l.GetRecordsPerSecond = d.GetRecordsPerSecond
	}
}

// Options configure an Engine.
type Options struct {
	// Space is the engine's key space of the appliance's database
	// (store.DB.Space("d/") in the appliance). Required. Every write goes
	// through it: records are refused (store.ErrFull) when the storage
	// budget says so, and writes wait out the index's prefix drops.
	Space *store.Space
	// Now returns the current time. It defaults to time.Now.
	Now func() time.Time
	// Logger receives the engine's logs. It defaults to discarding them.
	Logger *slog.Logger
	// Limits are the per-shard rate limits; see Limits.
	Limits Limits
	// IteratorSecret is the HMAC key of shard iterators and pagination
	// tokens. When empty, a random secret is created once and kept in the
	// DB, so iterators survive a restart.
	IteratorSecret []byte
	// Region is the AWS region in ARNs. It defaults to "us-east-1".
	Region string
	// AccountID is the account in ARNs and messages. It defaults to
	// "000000000000".
	AccountID string
	// MaxStreams is the number of streams allowed (LimitExceededException
	// beyond). It defaults to 100.
	MaxStreams int
	// MaxShards is the number of open shards allowed over all streams
	// (the account's shard limit). It defaults to 500.
	MaxShards int
	// TrimInterval is how often the retention trimmer runs. It defaults to
	// one minute.
	TrimInterval time.Duration
	// Sealer, if set, encrypts the data of records put while a stream has
	// encryption on (StartStreamEncryption), with the stream's KeyId as the
	// key alias; the appliance passes its keyring (*seal.Keyring). Without
	// a Sealer, encryption only changes the reported EncryptionType.
	Sealer Sealer
	// WriteQueue is the number of put requests that may wait for the
	// group-commit writer. It defaults to 256.
	WriteQueue int
}

// EnsureDefaults sets o's zero fields to their defaults and returns o.
// Open calls it, then Validate.
func (o *Options) EnsureDefaults() *Options {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Limits.ensureDefaults()
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.AccountID == "" {
		o.AccountID = "000000000000"
	}
	if o.MaxStreams == 0 {
		o.MaxStreams = 100
	}
	if o.MaxShards == 0 {
		o.MaxShards = 500
	}
	if o.TrimInterval == 0 {
		o.TrimInterval = time.Minute
	}
	if o.WriteQueue == 0 {
		o.WriteQueue = 256
	}
	return o
}

// Validate reports every problem with o at once. Zero fields that have a
// default are problems until EnsureDefaults ran.
func (o *Options) Validate() error {
	var errs []error
	if o.Space == nil {
		errs = append(errs, fmt.Errorf("%w: Space is required", ErrOptions))
	}
	if o.Now == nil || o.Logger == nil {
		errs = append(errs, fmt.Errorf("%w: Now and Logger are required (EnsureDefaults sets them)", ErrOptions))
	}
	if o.Limits.RecordsPerSecond < 0 || o.Limits.BytesInPerSecond < 0 || o.Limits.BytesOutPerSecond < 0 || o.Limits.GetRecordsPerSecond < 0 {
		errs = append(errs, fmt.Errorf("%w: negative limit", ErrOptions))
	}
	if o.MaxStreams <= 0 || o.MaxShards <= 0 {
		errs = append(errs, fmt.Errorf("%w: MaxStreams and MaxShards must be positive", ErrOptions))
	}
	if o.TrimInterval <= 0 {
		errs = append(errs, fmt.Errorf("%w: TrimInterval must be positive", ErrOptions))
	}
	if o.WriteQueue <= 0 {
		errs = append(errs, fmt.Errorf("%w: WriteQueue must be positive", ErrOptions))
	}
	return errors.Join(errs...)
}

// Sealer encrypts record data at rest (envelope encryption). The
// appliance's *seal.Keyring implements it; the engine calls Seal with the
// stream's KeyId as alias, the record's shard (sealedName) as stream and its
// sequence number's counter as n, and Open with the same to read, so that a
// record opens only at the position it was put at. Open failing with
// seal.ErrAuthentication or seal.ErrMalformed is reported as ErrCorrupt.
type Sealer interface {
	// Seal encrypts plaintext with the current key of alias, bound to
	// stream and n, and returns the sealed blob (which names its key).
	Seal(ctx context.Context, alias, stream string, n uint64, plaintext []byte) (sealed []byte, keyID string, err error)
	// Open decrypts a blob made by Seal for the same stream and n.
	Open(ctx context.Context, stream string, n uint64, sealed []byte) ([]byte, error)
}

// sealedName is the name a sealed record is bound to (with its counter):
// the stream id and the shard index, so that a record cannot be moved to
// another shard, another stream, or a stream deleted and created again
// with the same name. With the counter as the seal's number, the AAD holds
// the record's whole position: a record swapped with another of the same
// shard fails to open too.
func sealedName(streamID uint64, shard uint32) string {
	return fmt.Sprintf("kinesis-stream-%d/%s", streamID, shardID(shard))
}

// sealStream is the name records were bound to before flagBound: the
// stream id only, with 0 as number. Such records are still read.
func sealStream(id uint64) string { return fmt.Sprintf("kinesis-stream-%d", id) }
