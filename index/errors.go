package index

import "errors"

// Errors returned by the package. They are wrapped with context (stream
// name, fragment number); test for them with errors.Is.
var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("index: closed")
	// ErrStreamNotFound is returned for a video stream name that is not in
	// the registry (never created, or deleted). KVS: ResourceNotFoundException.
	ErrStreamNotFound = errors.New("index: stream not found")
	// ErrStreamExists is returned by CreateStream for a name already in
	// use. KVS: ResourceInUseException.
	ErrStreamExists = errors.New("index: stream already exists")
	// ErrVersionMismatch is returned by UpdateStream when the caller's
	// version is not the stream's current one. KVS: VersionMismatchException.
	ErrVersionMismatch = errors.New("index: stream version mismatch")
	// ErrInvalidStream is returned for a stream that cannot be stored: a
	// bad name, retention, status or field length. KVS: InvalidArgumentException.
	ErrInvalidStream = errors.New("index: invalid stream")
	// ErrFragmentNotFound is returned for a fragment number that is not
	// stored, belongs to a deleted stream, or lies beyond its stream's
	// retention.
	ErrFragmentNotFound = errors.New("index: fragment not found")
	// ErrFragmentExists is returned by PutFragment for a fragment number
	// that is already stored.
	ErrFragmentExists = errors.New("index: fragment already exists")
	// ErrInvalidFragment is returned by PutFragment for a fragment without
	// number or stream, or whose Size does not match the sealed blob.
	ErrInvalidFragment = errors.New("index: invalid fragment")
	// ErrInvalidQuery is returned by List and Iterate for an unknown
	// timestamp type or an End before Start.
	ErrInvalidQuery = errors.New("index: invalid query")
	// ErrInvalidToken is returned for a NextToken that this index did not
	// issue for the same stream and timestamp type (KVS: InvalidArgumentException).
	ErrInvalidToken = errors.New("index: invalid next token")
	// ErrInvalidOptions is returned by Open when Options are not usable;
	// the message lists every problem found.
	ErrInvalidOptions = errors.New("index: invalid options")
	// ErrCorrupt marks a stored record that cannot be decoded: the database
	// was altered or written by an incompatible version.
	ErrCorrupt = errors.New("index: corrupt record")
)
