package firehose

import (
	"errors"
	"fmt"
)

// Kinds of errors returned by the Engine, wrapped in an *Error whose
// Message is worded for the API's client; test for them with errors.Is.
var (
	// ErrNotFound: no delivery stream of that name.
	ErrNotFound = errors.New("firehose: delivery stream not found")
	// ErrInUse: a delivery stream of that name exists already.
	ErrInUse = errors.New("firehose: delivery stream in use")
	// ErrInvalidArgument: a request the engine refuses (a bad
	// destination, an unsupported option, no S3 endpoint configured).
	ErrInvalidArgument = errors.New("firehose: invalid argument")
	// ErrLimitExceeded: too many delivery streams.
	ErrLimitExceeded = errors.New("firehose: limit exceeded")
	// ErrConcurrentModification: an update named a version that is not
	// the stream's current one.
	ErrConcurrentModification = errors.New("firehose: concurrent modification")
	// ErrSpoolFull: the spool holds its quota of bytes; the records were
	// not accepted. The API answers ServiceUnavailableException (503).
	ErrSpoolFull = errors.New("firehose: spool full")
	// ErrClosed: the engine is closed.
	ErrClosed = errors.New("firehose: closed")
	// ErrInvalidOptions is returned by Open for unusable Options.
	ErrInvalidOptions = errors.New("firehose: invalid options")
)

// Error is an engine error with a message in AWS's words.
type Error struct {
	// Kind is one of the Err* sentinels.
	Kind error
	// Message is what the API's client is told.
	Message string
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Message }

// Unwrap returns Kind.
func (e *Error) Unwrap() error { return e.Kind }

func errorf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}
