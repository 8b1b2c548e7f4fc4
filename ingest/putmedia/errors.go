package putmedia

import "errors"

// Sentinel errors of the package. A Publisher returns (or wraps) the first
// three; ServeHTTP turns them into KVS's HTTP errors before any ack.
var (
	// ErrStreamNotFound: no such video stream and none is created on
	// publish (404 ResourceNotFoundException).
	ErrStreamNotFound = errors.New("putmedia: video stream not found")
	// ErrStreamBusy: another source feeds the video stream (400
	// ResourceInUseException).
	ErrStreamBusy = errors.New("putmedia: video stream busy")
	// ErrUnavailable: the storage cannot record now (503
	// ServiceUnavailableException, which the SDKs retry).
	ErrUnavailable = errors.New("putmedia: storage unavailable")
	// ErrInvalidConfig reports missing or invalid Server fields.
	ErrInvalidConfig = errors.New("putmedia: invalid configuration")
	// ErrUnsupportedCodec is a track whose Matroska CodecID kinedge does not
	// record (400 InvalidArgumentException).
	ErrUnsupportedCodec = errors.New("putmedia: unsupported codec")
	// ErrInvalidCodecPrivate is a track whose CodecPrivate cannot be parsed
	// (an avcC or hvcC record that is too short or inconsistent).
	ErrInvalidCodecPrivate = errors.New("putmedia: invalid codec private data")
	// ErrBadAck is a PutMedia response line that is not a KVS AckEvent
	// (ParseAck).
	ErrBadAck = errors.New("putmedia: malformed ack")
)

// ErrorID is a KVS PutMedia ack ErrorId (KVS API reference, PutMedia,
// "AckEvent"; the producer SDKs' SERVICE_CALL_RESULT values).
type ErrorID int

// The ErrorIds of KVS PutMedia acks.
const (
	StreamReadError                ErrorID = 4000
	MaxFragmentSizeReached         ErrorID = 4001
	MaxFragmentDurationReached     ErrorID = 4002
	MaxConnectionDurationReached   ErrorID = 4003
	FragmentTimecodeLesserThanPrev ErrorID = 4004
	MoreThanAllowedTracksFound     ErrorID = 4005
	InvalidMKVData                 ErrorID = 4006
	InvalidProducerTimestamp       ErrorID = 4007
	StreamNotActive                ErrorID = 4008
	FragmentMetadataLimitReached   ErrorID = 4009
	TrackNumberMismatch            ErrorID = 4010
	FramesMissingForTrack          ErrorID = 4011
	KMSKeyAccessDenied             ErrorID = 4500
	InternalError                  ErrorID = 5000
	ArchivalError                  ErrorID = 5001
)

// String returns KVS's name of the error id (the ack's ErrorCode), e.g.
// "INVALID_MKV_DATA".
func (e ErrorID) String() string {
	switch e {
	case StreamReadError:
		return "STREAM_READ_ERROR"
	case MaxFragmentSizeReached:
		return "MAX_FRAGMENT_SIZE_REACHED"
	case MaxFragmentDurationReached:
		return "MAX_FRAGMENT_DURATION_REACHED"
	case MaxConnectionDurationReached:
		return "MAX_CONNECTION_DURATION_REACHED"
	case FragmentTimecodeLesserThanPrev:
		return "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS"
	case MoreThanAllowedTracksFound:
		return "MORE_THAN_ALLOWED_TRACKS_FOUND"
	case InvalidMKVData:
		return "INVALID_MKV_DATA"
	case InvalidProducerTimestamp:
		return "INVALID_PRODUCER_TIMESTAMP"
	case StreamNotActive:
		return "STREAM_NOT_ACTIVE"
	case FragmentMetadataLimitReached:
		return "FRAGMENT_METADATA_LIMIT_REACHED"
	case TrackNumberMismatch:
		return "TRACK_NUMBER_MISMATCH"
	case FramesMissingForTrack:
		return "FRAMES_MISSING_FOR_TRACK"
	case KMSKeyAccessDenied:
		return "KMS_KEY_ACCESS_DENIED"
	case InternalError:
		return "INTERNAL_ERROR"
	case ArchivalError:
		return "ARCHIVAL_ERROR"
	}
	return "UNKNOWN_ERROR"
}
