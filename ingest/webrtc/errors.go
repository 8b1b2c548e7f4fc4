package webrtc

import "errors"

// Errors a Publisher returns to choose the HTTP status of a refused
// publish; wrap them with the reason.
var (
	// ErrForbidden is a Verifier's answer for a bearer that identifies a
	// user without the permission to publish the stream: 403, not 401.
	ErrForbidden = errors.New("webrtc: not allowed to publish this stream")
	// ErrStreamNotFound: the stream does not exist and is not created
	// (404).
	ErrStreamNotFound = errors.New("webrtc: video stream not found")
	// ErrStreamBusy: another source publishes the stream and takeover is
	// off (409).
	ErrStreamBusy = errors.New("webrtc: video stream is already being published")
	// ErrUnavailable: the appliance cannot record now (503).
	ErrUnavailable = errors.New("webrtc: cannot record now")
	// ErrNoStorableCodec is an offer with no codec the appliance stores.
	ErrNoStorableCodec = errors.New("offer has no video or audio codec the appliance can store")
	// ErrBadOffer is an SDP offer that does not parse or negotiate.
	ErrBadOffer = errors.New("bad SDP offer")
)

// ErrBadPayload is an RTP payload or reassembled frame that cannot be
// stored (counted and skipped).
var ErrBadPayload = errors.New("webrtc: bad media payload")
