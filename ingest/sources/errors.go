package sources

import "errors"

// Sentinel errors of the package.
var (
	// ErrInvalidConfig reports missing or invalid Manager fields.
	ErrInvalidConfig = errors.New("sources: invalid configuration")
	// ErrInvalidPull is a pulled camera with a bad name or URL (HTTP 400).
	ErrInvalidPull = errors.New("sources: invalid pulled camera")
	// ErrPullExists is an AddPull for a video stream already pulled (HTTP
	// 409).
	ErrPullExists = errors.New("sources: the video stream is already pulled")
	// ErrNotPulled is a RemovePull for a video stream not pulled (HTTP
	// 404).
	ErrNotPulled = errors.New("sources: the video stream is not pulled")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("sources: the appliance is shutting down")
)
