package awsproto

import (
	"log/slog"
	"net/http"
	"strings"
)

// JSONAPI serves an awsJson API: POST with X-Amz-Target
// "<TargetPrefix><Operation>" and a JSON (or CBOR) body. It is the fourth
// step of Operation for that protocol, in one place for every such API
// of the appliance (Kinesis Data Streams, Firehose): route by target
// (an unknown operation is refused before its body is read), read the
// body within MaxBody and the shared BodyBudget, run the operation, write
// its output or its error in the request's codec. Authentication is
// Middleware's job; mount the API behind it.
type JSONAPI struct {
	// Name names the API in logs ("kinesis", "firehose").
	Name string
	// TargetPrefix is the X-Amz-Target prefix of the operations
	// ("Kinesis_20131202.").
	TargetPrefix string
	// Ops are the operations by name.
	Ops map[string]Op
	// Streams are the operations that write their own response (event
	// streams such as SubscribeToShard), by name.
	Streams map[string]StreamOp
	// MaxBody bounds a request body (ReadBody).
	MaxBody int64
	// Ready, if set, is checked before each request: an error (a handler
	// missing its backend) fails the request with InternalFailure and is
	// logged.
	Ready func() error
	// Error maps an operation's error to the AWS error the client gets;
	// known is false for errors worth logging. Nil: an *Error as it is,
	// anything else an InternalFailure.
	Error func(error) (ae *Error, known bool)
	// Logger receives the failures. Nil: discarded.
	Logger *slog.Logger
}

// StreamOp is an operation that writes its own response.
type StreamOp func(w http.ResponseWriter, r *http.Request, c Codec, requestID string, body []byte)

// ServeHTTP implements http.Handler.
func (a *JSONAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := RequestID(r.Context())
	if reqID == "" {
		reqID = NewRequestID()
	}
	codec, err := CodecOf(r)
	if err != nil {
		WriteError(w, JSON, reqID, err)
		return
	}
	if a.Ready != nil {
		if err := a.Ready(); err != nil {
			a.logger().Error(a.Name+" request", "err", err)
			WriteError(w, codec, reqID, Errorf(InternalFailure, "An internal error occurred."))
			return
		}
	}
	if r.Method != http.MethodPost {
		WriteError(w, codec, reqID, &Error{Type: UnknownOperationException, Message: "Only POST is supported.", Status: http.StatusMethodNotAllowed})
		return
	}
	target := r.Header.Get("X-Amz-Target")
	name, ok := strings.CutPrefix(target, a.TargetPrefix)
	run, isOp := a.Ops[name]
	stream, isStream := a.Streams[name]
	if !ok || !isOp && !isStream {
		WriteError(w, codec, reqID, Errorf(UnknownOperationException, "Operation %s is not supported.", target))
		return
	}
	body, err := ReadBody(r, a.MaxBody)
	if err != nil {
		WriteError(w, codec, reqID, err)
		return
	}
	if isStream {
		stream(w, r, codec, reqID, body)
		return
	}
	out, err := run(r.Context(), r, codec, body)
	if err != nil {
		ae, known := a.mapError(err)
		if !known {
			a.logger().Error(a.Name+" request failed", "op", name, "request_id", reqID, "err", err)
		}
		WriteError(w, codec, reqID, ae)
		return
	}
	WriteResponse(w, codec, reqID, out)
}

func (a *JSONAPI) mapError(err error) (*Error, bool) {
	if a.Error != nil {
		return a.Error(err)
	}
	if ae, ok := err.(*Error); ok {
		return ae, true
	}
	return Errorf(InternalFailure, "An internal error occurred."), false
}

func (a *JSONAPI) logger() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}
