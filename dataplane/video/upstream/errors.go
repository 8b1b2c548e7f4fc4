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
