package kvs

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
)

// Sentinel errors of the package, wrapped with %w and context.
var (
	// ErrNoIndex is returned (as an InternalFailure to the client, and
	// logged) when a Handler has no Index.
	ErrNoIndex = errors.New("kvs: handler has no index")
	// ErrNoOpener is returned (as an InternalFailure, logged) by the
	// media operations of a Handler without an Opener.
	ErrNoOpener = errors.New("kvs: handler has no opener for sealed fragments")
)

// KVS error types that awsproto does not name (KVS API reference,
// "Errors" of each action; aws-sdk-go-v2 service/kinesisvideo/types).
const (
	// VersionMismatchException: CurrentVersion is not the stream's latest
	// version (HTTP 400).
	VersionMismatchException = "VersionMismatchException"
	// NotAuthorizedException: the caller may not act on the stream (HTTP 401).
	NotAuthorizedException = "NotAuthorizedException"
	// ClientLimitExceededException: too many calls (HTTP 400).
	ClientLimitExceededException = "ClientLimitExceededException"
	// TagsPerResourceExceededLimitException: more than 50 tags on a
	// stream (HTTP 400).
	TagsPerResourceExceededLimitException = "TagsPerResourceExceededLimitException"
)

// KVS archived-media error types that only the media operations send.
const (
	// NoDataRetentionException: the stream keeps no data
	// (DataRetentionInHours 0), so there is nothing to clip (HTTP 400).
	NoDataRetentionException = "NoDataRetentionException"
	// UnsupportedStreamMediaTypeException: the codecs of the first
	// fragment cannot be had in the output format (HTTP 400).
	UnsupportedStreamMediaTypeException = "UnsupportedStreamMediaTypeException"
	// InvalidCodecPrivateDataException: a track's codec private data is
	// not valid for the operation (HTTP 400).
	InvalidCodecPrivateDataException = "InvalidCodecPrivateDataException"
	// MissingCodecPrivateDataException: an HLS session's track has no
	// codec private data that can be read (HTTP 400).
	MissingCodecPrivateDataException = "MissingCodecPrivateDataException"
)

// NotImplemented is AWS's common error for a feature the endpoint does
// not provide (HTTP 501): GetImages without ffmpeg.
const NotImplemented = "NotImplemented"

// statusOf returns the HTTP status KVS sends with an error type.
func statusOf(typ string) int {
	switch typ {
	case awsproto.ResourceNotFoundException:
		return http.StatusNotFound
	case NotAuthorizedException, awsproto.AccessDeniedException:
		return http.StatusUnauthorized
	case NotImplemented:
		return http.StatusNotImplemented
	}
	return awsproto.StatusOf(typ)
}

// errorf returns a KVS error of type typ with its KVS HTTP status.
func errorf(typ, format string, args ...any) *awsproto.Error {
	return &awsproto.Error{Type: typ, Message: fmt.Sprintf(format, args...), Status: statusOf(typ)}
}

// notFound is the ResourceNotFoundException of a stream.
func notFound() *awsproto.Error {
	return errorf(awsproto.ResourceNotFoundException, "The requested stream is not found or not active.")
}

// awsError maps err to the error the client gets: *awsproto.Error passes
// through (with KVS's status for its type), the index's errors become
// their KVS types, anything else is an InternalFailure. known is false for
// the latter, which the caller logs.
func awsError(err error) (e *awsproto.Error, known bool) {
	if errors.As(err, &e) {
		if e.Status == 0 || e.Status == awsproto.StatusOf(e.Type) {
			e = &awsproto.Error{Type: e.Type, Message: e.Message, Status: statusOf(e.Type)}
		}
		return e, true
	}
	switch {
	case errors.Is(err, index.ErrStreamNotFound):
		return notFound(), true
	case errors.Is(err, index.ErrStreamExists):
		return errorf(awsproto.ResourceInUseException, "The stream is already in use: a stream with this name exists."), true
	case errors.Is(err, index.ErrVersionMismatch):
		return errorf(VersionMismatchException, "The stream version specified is not the latest version."), true
	case errors.Is(err, index.ErrInvalidStream):
		return errorf(awsproto.InvalidArgumentException, "%s", trimPrefix(err)), true
	case errors.Is(err, index.ErrInvalidToken):
		return errorf(awsproto.InvalidArgumentException, "NextToken is not valid."), true
	case errors.Is(err, index.ErrInvalidQuery):
		return errorf(awsproto.InvalidArgumentException, "The timestamp range is not valid: EndTimestamp is before StartTimestamp."), true
	case errors.Is(err, index.ErrClosed), errors.Is(err, store.ErrClosed):
		return errorf(awsproto.ServiceUnavailableException, "The service is shutting down."), true
	case errors.Is(err, store.ErrFull), errors.Is(err, store.ErrReadOnly):
		return errorf(awsproto.ServiceUnavailableException, "The appliance cannot store it now: %s", store.Reason(err)), true
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errorf(ClientLimitExceededException, "The request was cancelled before it completed."), true
	}
	return errorf(awsproto.InternalFailure, "An internal error occurred."), false
}

// trimPrefix returns err's text without the index's "index: " prefix.
func trimPrefix(err error) string {
	s := err.Error()
	const p = "index: "
	for len(s) > len(p) && s[:len(p)] == p {
		s = s[len(p):]
	}
	return s
}
