package events

import "errors"

// Sentinel errors of the package.
var (
	// ErrNoEngine is returned by an Appender without an Engine.
	ErrNoEngine = errors.New("events: appender has no engine")
	// ErrBadEvent is returned for an event without a stream name.
	ErrBadEvent = errors.New("events: event has no stream name")
	// ErrQueueFull counts an event dropped because the Queue was full.
	ErrQueueFull = errors.New("events: queue full")
)
