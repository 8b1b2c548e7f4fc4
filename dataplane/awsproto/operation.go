package awsproto

import (
	"context"
	"net/http"
)

// Operations.
//
// Every AWS API of the appliance serves an operation in one shape:
//
//	decode the body into the operation's input shape (SerializationException)
//	→ validate it (ValidationException, in the API model's words)
//	→ call the backend with the valid input
//	→ encode the output, or the error, in the API's protocol
//
// Operation builds the first three steps from an input type and two
// functions; the API keeps its operations in a table (by X-Amz-Target
// operation for awsJson, by path for restJson) and does the fourth in one
// place, since each protocol writes responses and errors its own way.

// Op is one operation with its input type erased: it decodes body with
// codec c, validates it and calls the backend, and returns the output to
// encode or the error to write (an *Error, or an error the API maps to
// one).
type Op func(ctx context.Context, r *http.Request, c Codec, body []byte) (any, error)

// Operation returns the Op of an operation whose input shape is In.
// validate, if not nil, returns the error (usually a ValidationException
// *Error) for an input the API model forbids; call runs the operation on a
// valid input. The request r is passed on for operations that answer with
// something of it (the endpoint it reached).
func Operation[In any](validate func(in *In) error, call func(ctx context.Context, r *http.Request, in *In) (any, error)) Op {
	return func(ctx context.Context, r *http.Request, c Codec, body []byte) (any, error) {
		in, err := DecodeInput(c, body, validate)
		if err != nil {
			return nil, err
		}
		return call(ctx, r, in)
	}
}

// DecodeInput decodes body with codec c into a new In and validates it with
// validate (if not nil): the first two steps of Operation, for operations
// that write their response themselves (event streams).
func DecodeInput[In any](c Codec, body []byte, validate func(in *In) error) (*In, error) {
	in := new(In)
	if err := Decode(c, body, in); err != nil {
		return nil, err
	}
	if validate != nil {
		if err := validate(in); err != nil {
			return nil, err
		}
	}
	return in, nil
}
