package api

import (
	"errors"
	"fmt"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
	"github.com/kinedge/kinedge/index/store"
)

// Sentinel errors of the package.
var (
	// ErrNoEngine is logged when a Handler has no Engine.
	ErrNoEngine = errors.New("kinesisapi: handler has no engine")
)

// awsError maps an engine error to the AWS error the client gets:
// engine.Err* kinds become the Kinesis exception types with the engine's
// AWS-worded message; *awsproto.Error passes through; corrupt stored data
// and anything else is an InternalFailure (and is logged by the caller).
func awsError(err error) (*awsproto.Error, bool) {
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return ae, true
	}
	var se *engine.Error
	msg := ""
	if errors.As(err, &se) {
		msg = se.Message
	}
	typ := ""
	switch {
	case errors.Is(err, engine.ErrNotFound):
		typ = awsproto.ResourceNotFoundException
	case errors.Is(err, engine.ErrInUse):
		typ = awsproto.ResourceInUseException
	case errors.Is(err, engine.ErrInvalidArgument):
		typ = awsproto.InvalidArgumentException
	case errors.Is(err, engine.ErrLimitExceeded):
		typ = awsproto.LimitExceededException
	case errors.Is(err, engine.ErrThroughputExceeded):
		typ = awsproto.ProvisionedThroughputExceededException
	case errors.Is(err, engine.ErrExpiredIterator):
		typ = awsproto.ExpiredIteratorException
	case errors.Is(err, engine.ErrExpiredNextToken):
		typ = awsproto.ExpiredNextTokenException
	case errors.Is(err, engine.ErrClosed), errors.Is(err, store.ErrClosed):
		return awsproto.Errorf(awsproto.ServiceUnavailableException, "The service is shutting down."), true
	case errors.Is(err, engine.ErrCorrupt):
		// A stored record that fails its integrity check (a sealed record
		// moved or altered on disk): its data is never sent. Logged.
		return awsproto.Errorf(awsproto.InternalFailure, "A stored record failed its integrity check; the appliance's log names it."), false
	case errors.Is(err, store.ErrFull), errors.Is(err, store.ErrReadOnly):
		// HTTP 503: the SDKs retry it with backoff.
		return awsproto.Errorf(awsproto.ServiceUnavailableException, "The appliance cannot store records now: %s", store.Reason(err)), true
	default:
		return awsproto.Errorf(awsproto.InternalFailure, "An internal error occurred."), false
	}
	if msg == "" {
		msg = fmt.Sprint(err)
	}
	return awsproto.Errorf(typ, "%s", msg), true
}
