package events

import "errors"

// Sentinel errors of the package.
var (
	// ErrNoEngine is returned by a Publisher without an Engine.
	ErrNoEngine = errors.New("events: publisher has no engine")
	// ErrBadEvent is returned for an event without a stream name.
	ErrBadEvent = errors.New("events: event has no stream name")
)
