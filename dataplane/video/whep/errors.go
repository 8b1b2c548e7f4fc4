package whep

import "errors"

// Sentinel errors of the package.
var (
	// ErrInvalidConfig is returned by Start for missing fields.
	ErrInvalidConfig = errors.New("whep: invalid config")
	// ErrNothingToSend is returned for an offer that can receive none of
	// the stream's tracks.
	ErrNothingToSend = errors.New("whep: the offer can receive none of the stream's tracks")
	// ErrBadAccessUnit is returned for an H.264 frame that is not AVCC.
	ErrBadAccessUnit = errors.New("whep: malformed H.264 access unit")
)
