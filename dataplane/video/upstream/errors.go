package upstream

import (
	"errors"
	"fmt"

	"github.com/kinedge/kinedge/ingest/putmedia"
)

// Errors of the upstream package.
var (
	// ErrIncomplete is returned when a PutMedia response ends before
	// every cluster sent was acknowledged PERSISTED (the connection was
	// cut, or the server ended the session).
	ErrIncomplete = errors.New("upstream: response ended before every cluster was persisted")
	// ErrAckTimeout is returned when the server sent nothing (not even
	// IDLE) for the client's AckTimeout.
	ErrAckTimeout = errors.New("upstream: no ack within the timeout")
)

// AckError is an ERROR ack: the upstream refused a cluster. The session
// ends there; the forwarder sends that fragment again in a new session.
type AckError struct {
	// Timecode is the cluster's timecode (ms) and Number the local
	// fragment it carried (0 when the ack named no cluster sent).
	Timecode uint64
	Number   uint64
	// ID and Code are KVS's ErrorId and ErrorCode.
	ID   putmedia.ErrorID
	Code string
}

func (e *AckError) Error() string {
	return fmt.Sprintf("upstream: ERROR ack %d %s for fragment %d (timecode %d)", e.ID, e.Code, e.Number, e.Timecode)
}

// HTTPError is a PutMedia request refused before the ack stream began
// (KVS's REST-JSON error: 400, 403, 404, 503...).
type HTTPError struct {
	Status  int
	Type    string // the __type, e.g. ResourceNotFoundException
	Message string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("upstream: PutMedia HTTP %d %s: %s", e.Status, e.Type, e.Message)
}

// Permanent reports whether an ERROR ack's ErrorId refuses the fragment
// for good: sending the same bytes again gets the same refusal (KVS API
// reference, PutMedia, ErrorId; see the package doc's table). Everything
// else (4000 STREAM_READ_ERROR, 4003 MAX_CONNECTION_DURATION_REACHED,
// 4008 STREAM_NOT_ACTIVE, the 45xx KMS errors, 5000 INTERNAL_ERROR, 5001
// ARCHIVAL_ERROR and ids KVS may add) is transient: the fragment is sent
// again after the backoff, forever.
func Permanent(id putmedia.ErrorID) bool {
	switch id {
	case putmedia.MaxFragmentSizeReached, // 4001
		putmedia.MaxFragmentDurationReached,     // 4002
		putmedia.FragmentTimecodeLesserThanPrev, // 4004
		putmedia.MoreThanAllowedTracksFound,     // 4005
		putmedia.InvalidMKVData,                 // 4006
		putmedia.InvalidProducerTimestamp,       // 4007
		putmedia.FragmentMetadataLimitReached,   // 4009
		putmedia.TrackNumberMismatch,            // 4010
		putmedia.FramesMissingForTrack:          // 4011
		return true
	}
	return false
}

// permanentRefusal returns the ERROR ack of err when it refuses a
// fragment sent (Number set) for good.
func permanentRefusal(err error) (*AckError, bool) {
	var ae *AckError
	if !errors.As(err, &ae) || ae.Number == 0 || !Permanent(ae.ID) {
		return nil, false
	}
	return ae, true
}
