package awsproto

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors of the package. They are wrapped with %w and context;
// callers use errors.Is.
var (
	// ErrMessageTooLarge is returned by ReadMessage and the event-stream
	// encoder when a message exceeds MaxMessageSize.
	ErrMessageTooLarge = errors.New("awsproto: event-stream message too large")
	// ErrMessageCorrupt is returned by ReadMessage when a message is
	// malformed (bad lengths, bad CRC, bad header encoding).
	ErrMessageCorrupt = errors.New("awsproto: event-stream message corrupt")
	// ErrHeaderInvalid is returned by the event-stream encoder when a header
	// name or value cannot be encoded.
	ErrHeaderInvalid = errors.New("awsproto: event-stream header invalid")
)

// AWS error types (the "__type" of an error response, the ErrorCode the SDKs
// expose). Errorf gives each its HTTP status (see StatusOf).
const (
	ValidationException                    = "ValidationException"
	SerializationException                 = "SerializationException"
	InvalidArgumentException               = "InvalidArgumentException"
	ResourceNotFoundException              = "ResourceNotFoundException"
	ResourceInUseException                 = "ResourceInUseException"
	LimitExceededException                 = "LimitExceededException"
	ExpiredIteratorException               = "ExpiredIteratorException"
	ExpiredNextTokenException              = "ExpiredNextTokenException"
	ProvisionedThroughputExceededException = "ProvisionedThroughputExceededException"
	AccessDeniedException                  = "AccessDeniedException"
	UnrecognizedClientException            = "UnrecognizedClientException"
	InvalidSignatureException              = "InvalidSignatureException"
	IncompleteSignatureException           = "IncompleteSignatureException"
	MissingAuthenticationTokenException    = "MissingAuthenticationTokenException"
	InternalFailure                        = "InternalFailure"
	ServiceUnavailableException            = "ServiceUnavailableException"
	UnknownOperationException              = "UnknownOperationException"
	// ThrottlingException is sent (HTTP 400) to an address locked out
	// after too many failed signatures (Verifier.Limiter).
	ThrottlingException = "ThrottlingException"
	// RequestEntityTooLarge is sent with HTTP 413 when a request body is
	// larger than the server accepts.
	RequestEntityTooLarge = "RequestEntityTooLarge"
)

// Error is an AWS error as the SDKs parse it: the error type travels in the
// X-Amzn-ErrorType header and the "__type" member of the body, the message
// in the "message" member, and Status is the HTTP status code.
type Error struct {
	// Type is the AWS error type, e.g. "ResourceNotFoundException".
	Type string
	// Message is the human-readable message sent to the client.
	Message string
	// Status is the HTTP status code. Zero means 400.
	Status int
}

// Error implements error.
func (e *Error) Error() string {
	if e.Message == "" {
		return "awsproto: " + e.Type
	}
	return "awsproto: " + e.Type + ": " + e.Message
}

// HTTPStatus returns Status, or 400 when Status is zero.
func (e *Error) HTTPStatus() int {
	if e.Status == 0 {
		return http.StatusBadRequest
	}
	return e.Status
}

// Is reports whether target is an *Error of the same Type, so that
// errors.Is(err, &Error{Type: ResourceNotFoundException}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Type == e.Type
}

// Errorf returns an *Error of type typ with a formatted message. Its Status
// is StatusOf(typ): 400 for most types.
func Errorf(typ, format string, args ...any) *Error {
	return &Error{Type: typ, Message: fmt.Sprintf(format, args...), Status: StatusOf(typ)}
}

// StatusOf returns the HTTP status AWS sends with an error type: 403 for the
// authentication errors, 500 for InternalFailure, 503 for
// ServiceUnavailableException, 413 for RequestEntityTooLarge, 400 otherwise.
func StatusOf(typ string) int {
	switch typ {
	case UnrecognizedClientException, InvalidSignatureException,
		IncompleteSignatureException, MissingAuthenticationTokenException:
		return http.StatusForbidden
	case InternalFailure:
		return http.StatusInternalServerError
	case ServiceUnavailableException:
		return http.StatusServiceUnavailable
	case RequestEntityTooLarge:
		return http.StatusRequestEntityTooLarge
	default:
		return http.StatusBadRequest
	}
}
