package camsim

import "errors"

// Errors returned by the package. Callers match them with errors.Is.
var (
	// ErrClip is returned (wrapped) when a clip cannot be loaded: it is not
	// MPEG-TS, has no supported track, or a track has no usable frames.
	ErrClip = errors.New("camsim: unusable clip")
	// ErrNoSupportedTrack is returned (wrapped in ErrClip's message chain)
	// when a clip has no H.264, H.265, AAC or Opus track.
	ErrNoSupportedTrack = errors.New("camsim: no H.264, H.265, AAC or Opus track")
	// ErrNoParameterSets is returned when a video track's first keyframe
	// carries no SPS/PPS (or VPS for H.265) in-band.
	ErrNoParameterSets = errors.New("camsim: video keyframe without in-band parameter sets")
	// ErrConfig is returned (wrapped, joined for every problem found) when a
	// Config is invalid.
	ErrConfig = errors.New("camsim: invalid config")
	// ErrNeverConnected is returned by Run when no camera ever managed to
	// publish; it wraps the last connection error.
	ErrNeverConnected = errors.New("camsim: no camera could publish")
)
