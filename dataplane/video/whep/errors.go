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
	// ErrBadHEVCAccessUnit is returned for an H.265 frame that is not
	// length-prefixed NAL units.
	ErrBadHEVCAccessUnit = errors.New("whep: malformed H.265 access unit")
	// ErrVideoNotReceivable is returned for an offer with a video
	// section that can receive none of the stream's video codecs.
	ErrVideoNotReceivable = errors.New("whep: the offer cannot receive the stream's video")
)
