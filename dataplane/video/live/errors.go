package live

import "errors"

// Sentinel errors of the package.
var (
	// ErrNoSource is returned by Subscribe for a stream that has no live
	// source now (no camera publishing or being pulled).
	ErrNoSource = errors.New("live: the stream has no live source")
	// ErrTooManyViewers is returned by Subscribe when the stream has
	// MaxViewers viewers already.
	ErrTooManyViewers = errors.New("live: too many viewers of the stream")
	// ErrViewerClosed is returned by Viewer.Next after Close.
	ErrViewerClosed = errors.New("live: viewer closed")
	// ErrHubClosed is returned by Subscribe after Hub.Close.
	ErrHubClosed = errors.New("live: hub closed")
)
