package firehose

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/kinedge/kinedge/index/store"
)

// Options configure an Engine (see Open).
type Options struct {
	// Space is the engine's key space of the appliance's database
	// (prefix "f/"). Required.
	Space *store.Space
	// Destination writes the objects. Nil means the appliance has no S3
	// endpoint: CreateDeliveryStream is refused, and delivery streams
	// already defined keep their records spooled until one is configured.
	Destination Destination
	// Source is the appliance's data streams, for KinesisStreamAsSource
	// delivery streams. Nil: such streams are refused.
	Source Source
	// Sealer seals the records of streams with server-side encryption
	// enabled (the appliance's keyring). Nil: StartDeliveryStreamEncryption
	// is refused.
	Sealer Sealer
	// Logger receives the engine's logs. Default: discarded.
	Logger *slog.Logger
	// Now is the clock: object keys and buffering intervals. Default:
	// time.Now.
	Now func() time.Time
	// SpoolBytes is the spool's quota: records (data and keys) waiting for
	// delivery across all delivery streams. Past it puts fail with
	// ErrSpoolFull. Default 256 MiB.
	SpoolBytes int64
	// MaxStreams bounds the number of delivery streams. Default 50.
	MaxStreams int
	// RetryMin and RetryMax bound the exponential backoff between two
	// attempts to write an object (with jitter). Defaults 1 s and 1 min.
	RetryMin, RetryMax time.Duration
	// RetryFor is how long a batch's object is retried before the batch
	// is written under the error prefix instead (error output type
	// s3-failed; AWS discards S3 data after 24 hours). Negative: forever
	// (the video archive). Default 24 h.
	RetryFor time.Duration
	// HTTPClient calls the transformation endpoints of Lambda
	// processors. Default: a client of its own.
	HTTPClient *http.Client
	// TransformTimeout bounds one invocation of a transformation
	// endpoint. Default 5 min (AWS's longest Lambda transformation).
	TransformTimeout time.Duration
	// Region and AccountID appear in ARNs. Defaults us-east-1 and
	// 000000000000.
	Region, AccountID string
}

// EnsureDefaults sets the zero fields to their defaults.
func (o *Options) EnsureDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SpoolBytes == 0 {
		o.SpoolBytes = 256 << 20
	}
	if o.MaxStreams == 0 {
		o.MaxStreams = 50
	}
	if o.RetryMin == 0 {
		o.RetryMin = time.Second
	}
	if o.RetryMax == 0 {
		o.RetryMax = time.Minute
	}
	if o.RetryFor == 0 {
		o.RetryFor = 24 * time.Hour
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.TransformTimeout == 0 {
		o.TransformTimeout = 5 * time.Minute
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.AccountID == "" {
		o.AccountID = "000000000000"
	}
}

// Validate reports every problem of o at once.
func (o *Options) Validate() error {
	var errs []error
	if o.Space == nil {
		errs = append(errs, errors.New("no Space"))
	}
	if o.SpoolBytes < 0 {
		errs = append(errs, fmt.Errorf("SpoolBytes %d is negative", o.SpoolBytes))
	}
	if o.MaxStreams < 0 {
		errs = append(errs, fmt.Errorf("MaxStreams %d is negative", o.MaxStreams))
	}
	if o.RetryMin < 0 || o.RetryMax < o.RetryMin {
		errs = append(errs, fmt.Errorf("RetryMin %v and RetryMax %v: want 0 <= min <= max", o.RetryMin, o.RetryMax))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, errors.Join(errs...))
	}
	return nil
}
