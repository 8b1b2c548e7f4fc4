package engine

import "errors"

// Sentinel errors of the engine. Every error the engine returns to a caller
// wraps one of them (inside an *Error that carries the AWS-worded message),
// so callers use errors.Is to classify and errors.As(*Error) for the text.
var (
	// ErrNotFound means the stream, shard or consumer does not exist
	// (Kinesis ResourceNotFoundException).
	ErrNotFound = errors.New("kinesis: resource not found")
	// ErrInUse means the resource exists already or is busy
	// (Kinesis ResourceInUseException).
	ErrInUse = errors.New("kinesis: resource in use")
	// ErrInvalidArgument means a request argument is semantically invalid
	// (Kinesis InvalidArgumentException).
	ErrInvalidArgument = errors.New("kinesis: invalid argument")
	// ErrLimitExceeded means an account or stream limit would be exceeded
	// (Kinesis LimitExceededException).
	ErrLimitExceeded = errors.New("kinesis: limit exceeded")
	// ErrThroughputExceeded means a per-shard rate limit was hit
	// (Kinesis ProvisionedThroughputExceededException). It is normal in
	// steady state under load; clients retry.
	ErrThroughputExceeded = errors.New("kinesis: provisioned throughput exceeded")
	// ErrExpiredIterator means a shard iterator is older than IteratorTTL
	// (Kinesis ExpiredIteratorException).
	ErrExpiredIterator = errors.New("kinesis: shard iterator expired")
	// ErrExpiredNextToken means a pagination token is too old
	// (Kinesis ExpiredNextTokenException).
	ErrExpiredNextToken = errors.New("kinesis: next token expired")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("kinesis: engine closed")
	// ErrCorrupt marks stored data that cannot be decoded.
	ErrCorrupt = errors.New("kinesis: corrupt stored data")
	// ErrOptions is returned by Open for invalid Options.
	ErrOptions = errors.New("kinesis: invalid options")
)

// Error is an engine error with the message Kinesis would send for it. Kind
// is one of the sentinel errors above; errors.Is(err, ErrNotFound) works on
// an *Error.
type Error struct {
	// Kind is the sentinel error classifying the failure.
	Kind error
	// Message is the AWS-worded message, e.g.
	// "Stream foo under account 000000000000 not found.".
	Message string
}

// Error implements error.
func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Message }

// Unwrap returns Kind.
func (e *Error) Unwrap() error { return e.Kind }

func newErr(kind error, msg string) *Error { return &Error{Kind: kind, Message: msg} }
