package rtsp

import (
	"errors"
	"fmt"
)

// Errors a Router returns to choose the RTSP status of a refused publish, and
// errors of the decoding path.
var (
	// ErrStreamNotFound is returned by a Router when the stream does not
	// exist and streams are not created on publish. It maps to 404 Not Found.
	ErrStreamNotFound = errors.New("rtsp: stream not found")
	// ErrStreamBusy is returned by a Router when another session publishes
	// the stream. It maps to 455 Method Not Valid in This State with a reason
	// phrase naming the stream, which ffmpeg prints.
	ErrStreamBusy = errors.New("rtsp: stream is already being published")
	// ErrUnavailable is the class of an UnavailableError: the appliance
	// cannot record now. It maps to 503 Service Unavailable.
	ErrUnavailable = errors.New("rtsp: cannot record now")
	// ErrUnsupportedCodec is returned for a format kinedge cannot ingest.
	ErrUnsupportedCodec = errors.New("rtsp: unsupported codec")
	// ErrNoSupportedTrack is the refusal of an ANNOUNCE whose session
	// description has no supported codec (415 Unsupported Media Type).
	ErrNoSupportedTrack = errors.New("rtsp: no supported codec in session description")
	// ErrAuth marks a failed authentication (401 Unauthorized).
	ErrAuth = errors.New("rtsp: authentication failed")
	// ErrForbidden marks a user whose credentials are right but who may
	// not publish or play the stream (403 Forbidden).
	ErrForbidden = errors.New("rtsp: permission denied")
	// ErrAuthLocked marks an address refused after too many failed
	// authentications.
	ErrAuthLocked = errors.New("rtsp: too many failed authentications")
	// ErrDecode is a payload that cannot be decoded (garbage, loss). The
	// session goes on.
	ErrDecode = errors.New("rtsp: cannot decode RTP payload")
	// ErrFrameDropped is a decoded access unit that is not delivered: video
	// before the first keyframe or after a DTS extraction error, until the
	// next keyframe.
	ErrFrameDropped = errors.New("rtsp: frame dropped until next keyframe")
	// ErrNeedMorePackets is the normal steady-state answer of a decoder that
	// has not completed an access unit yet.
	ErrNeedMorePackets = errors.New("rtsp: need more packets")
	// ErrInvalidStreamName is the refusal (400 Bad Request) of a path that
	// is not a video stream name (package streamname: "cam 1", "a/b").
	ErrInvalidStreamName = errors.New("rtsp: invalid stream name")
	// ErrUnexpectedRequest is a request out of the ANNOUNCE/SETUP/RECORD
	// order.
	ErrUnexpectedRequest = errors.New("rtsp: unexpected request")
	// errDecoderPanic is a recovered panic of a decoder; it is an ErrDecode.
	errDecoderPanic = fmt.Errorf("%w: decoder panic", ErrDecode)
	// errDTSAfterPTS is a DTS extraction result that breaks DTS <= PTS or
	// lies implausibly far before PTS.
	errDTSAfterPTS = errors.New("rtsp: implausible DTS")
	// ErrInvalidConfig reports invalid Server or Puller fields.
	ErrInvalidConfig = errors.New("rtsp: invalid configuration")
	// ErrPullAuth is a camera's 401 to a Puller: the URL's credentials are
	// missing or wrong.
	ErrPullAuth = errors.New("rtsp: camera refused the credentials")
	// ErrPullTimeout ends a pulled connection that received no RTP packet
	// for the Puller's ReadTimeout.
	ErrPullTimeout = errors.New("rtsp: no RTP packet from the camera")
)

// UnavailableError is a Router's refusal of a publish because the
// appliance cannot record now (its storage is full or denies new media):
// 503 Service Unavailable, with Reason in the status line for the camera's
// operator (ffmpeg prints it). errors.Is(err, ErrUnavailable) holds.
type UnavailableError struct {
	// Reason says why, in words, on one line.
	Reason string
}

// Error implements error.
func (e *UnavailableError) Error() string { return "rtsp: cannot record now: " + e.Reason }

// Is reports whether target is ErrUnavailable.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }
