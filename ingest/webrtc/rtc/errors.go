package rtc

import "errors"

// Sentinel errors of the package.
var (
	// ErrInvalidConfig is returned by Listen for a bad Config.
	ErrInvalidConfig = errors.New("rtc: invalid config")
	// ErrBadSDPFrag is returned by ParseSDPFrag for a malformed fragment.
	ErrBadSDPFrag = errors.New("rtc: malformed trickle-ice-sdpfrag")
	// ErrClosed is returned by NewAPI after Close.
	ErrClosed = errors.New("rtc: network closed")
)
