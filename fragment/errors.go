package fragment

import "errors"

// Errors of the fragment package.
var (
	// ErrUnsupportedCodec is returned for a track whose codec cannot be
	// stored in a fragment.
	ErrUnsupportedCodec = errors.New("fragment: unsupported codec")
	// ErrCorruptBlob is returned when a fragment plaintext does not parse.
	// A blob that opened (authenticated) but does not parse was written by
	// an incompatible version.
	ErrCorruptBlob = errors.New("fragment: corrupt fragment blob")
	// ErrInvalidRecorder is returned by Recorder.Start when a required
	// field is missing.
	ErrInvalidRecorder = errors.New("fragment: invalid recorder")
)
