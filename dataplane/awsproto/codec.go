package awsproto

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// Codec is a wire encoding of the AWS JSON protocols: awsJson1.1 / awsJson1.0
// (Kinesis_20131202, Firehose_20150804) or their CBOR variant
// application/x-amz-cbor-1.1, which the AWS Java SDKs send to Kinesis by
// default.
type Codec int

// The codecs.
const (
	// JSON is awsJson1.1 (Content-Type application/x-amz-json-1.1).
	JSON Codec = iota
	// JSON10 is awsJson1.0 (Content-Type application/x-amz-json-1.0): the
	// same encoding as JSON with another content type.
	JSON10
	// CBOR is application/x-amz-cbor-1.1 (RFC 8949): JSON's shapes with blobs
	// as byte strings and timestamps as tag 1 + epoch milliseconds.
	CBOR
)

// Content types of the codecs.
const (
	ContentTypeJSON   = "application/x-amz-json-1.1"
	ContentTypeJSON10 = "application/x-amz-json-1.0"
	ContentTypeCBOR   = "application/x-amz-cbor-1.1"
)

// ContentType returns the Content-Type of c.
func (c Codec) ContentType() string {
	switch c {
	case JSON10:
		return ContentTypeJSON10
	case CBOR:
		return ContentTypeCBOR
	default:
		return ContentTypeJSON
	}
}

// String returns the content type of c.
func (c Codec) String() string { return c.ContentType() }

// CodecOf returns the codec named by the request's Content-Type. A missing
// Content-Type, "application/json" and the awsJson types select JSON (or
// JSON10); application/x-amz-cbor-1.1 and application/cbor select CBOR.
// Anything else is a SerializationException *Error.
func CodecOf(r *http.Request) (Codec, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return JSON, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(ct))
	}
	switch mt {
	case ContentTypeJSON, "application/json", "text/json":
		return JSON, nil
	case ContentTypeJSON10:
		return JSON10, nil
	case ContentTypeCBOR, "application/cbor":
		return CBOR, nil
	}
	return JSON, Errorf(SerializationException, "Unsupported Content-Type: %s", truncate(ct, 64))
}

// Decode decodes body into v (a pointer to a struct with json tags; the CBOR
// codec reads the same tags). An empty body decodes as an empty object. Bad
// input is a SerializationException *Error with an AWS-like message. JSON
// []byte fields are base64 strings, CBOR []byte fields byte strings.
func Decode(c Codec, body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if c == CBOR {
		return decodeCBOR(body, v)
	}
	return decodeJSON(body, v)
}

func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Errorf(SerializationException, "Unexpected content after the end of the request body")
	}
	return nil
}

func jsonError(err error) *Error {
	var (
		syn  *json.SyntaxError
		typ  *json.UnmarshalTypeError
		b64  base64.CorruptInputError
		perr *Error
	)
	switch {
	case errors.As(err, &perr):
		return perr
	case errors.As(err, &syn):
		return Errorf(SerializationException, "Malformed JSON request body at offset %d", syn.Offset)
	case errors.As(err, &typ):
		return Errorf(SerializationException, "%s", typeMismatch(typ.Value, typ.Field, typ.Type))
	case errors.As(err, &b64):
		return Errorf(SerializationException, "Base64 encoded value is invalid at input byte %d", int64(b64))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return Errorf(SerializationException, "Unexpected end of the request body")
	default:
		return Errorf(SerializationException, "Malformed request body")
	}
}

// typeMismatch words a type error the way AWS does ("Start of structure or
// map found where not expected.") without leaking Go type names.
func typeMismatch(value, field string, t reflect.Type) string {
	if value == "object" {
		return "Start of structure or map found where not expected."
	}
	if value == "array" {
		return "Start of list found where not expected."
	}
	where := ""
	if field != "" {
		where = " for member '" + truncate(field, 128) + "'"
	}
	return fmt.Sprintf("Unexpected %s value%s, expected %s", truncate(value, 32), where, shapeName(t))
}

func shapeName(t reflect.Type) string {
	if t == nil {
		return "a different type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[Timestamp]() {
		return "a timestamp"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a blob"
		}
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a structure"
	default:
		return "a different type"
	}
}

func decodeCBOR(body []byte, v any) error {
	err := cbor.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var (
		typ   *cbor.UnmarshalTypeError
		extra *cbor.ExtraneousDataError
		perr  *Error
	)
	switch {
	case errors.As(err, &perr):
		return perr
	case errors.As(err, &typ):
		return Errorf(SerializationException, "Unexpected CBOR %s value for member of another type", truncate(typ.CBORType, 32))
	case errors.As(err, &extra):
		return Errorf(SerializationException, "Unexpected content after the end of the request body")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return Errorf(SerializationException, "Unexpected end of the request body")
	default:
		return Errorf(SerializationException, "Malformed CBOR request body")
	}
}

// Encode encodes v with codec c. Use JSON struct tags (with omitempty for
// optional members); the CBOR codec reads them too.
func Encode(c Codec, v any) ([]byte, error) {
	if c == CBOR {
		b, err := cbor.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("awsproto: encode cbor: %w", err)
		}
		return b, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("awsproto: encode json: %w", err)
	}
	return b, nil
}

// Response headers.
const (
	// HeaderRequestID carries the request id of every response.
	HeaderRequestID = "x-amzn-RequestId"
	// HeaderErrorType carries "<Type>:" on error responses.
	HeaderErrorType = "X-Amzn-ErrorType"
)

// WriteResponse writes a 200 response with v encoded by c and the request
// id. If v cannot be encoded it writes an InternalFailure instead.
func WriteResponse(w http.ResponseWriter, c Codec, requestID string, v any) {
	b, err := Encode(c, v)
	if err != nil {
		WriteError(w, c, requestID, err)
		return
	}
	writeBody(w, c, requestID, http.StatusOK, b)
}

func writeBody(w http.ResponseWriter, c Codec, requestID string, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", c.ContentType())
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if requestID != "" {
		h.Set(HeaderRequestID, requestID)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b) // the client went away: nothing more to do
}

// errorBody is the error document of the AWS JSON protocols; the CBOR codec
// sends the same map, which the Java SDKs' JsonErrorCodeParser and
// JsonErrorMessageParser read.
type errorBody struct {
	Type    string `json:"__type" cbor:"__type"`
	Message string `json:"message,omitempty" cbor:"message,omitempty"`
}

// WriteError writes err as an AWS error response: the status of the *Error
// (or the *Error it wraps), headers x-amzn-RequestId and X-Amzn-ErrorType
// "<Type>:", and the body {"__type": "<Type>", "message": "..."} encoded by
// c. Any other error becomes InternalFailure (500) without its details.
func WriteError(w http.ResponseWriter, c Codec, requestID string, err error) {
	var e *Error
	if !errors.As(err, &e) || e.Type == "" {
		e = &Error{Type: InternalFailure, Message: "An internal error occurred.", Status: http.StatusInternalServerError}
	}
	b, encErr := Encode(c, errorBody{Type: e.Type, Message: e.Message})
	if encErr != nil { // cannot happen with two strings; fall back to JSON anyway
		c = JSON
		b = []byte(`{"__type":"InternalFailure"}`)
	}
	w.Header().Set(HeaderErrorType, e.Type+":")
	writeBody(w, c, requestID, e.HTTPStatus(), b)
}

// NewRequestID returns a random RFC 4122 version 4 UUID string, the form of
// AWS request ids.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// truncate shortens s to at most n bytes (n <= 0: no limit) for messages
// that echo client input.
func truncate(s string, n int) string {
	if n <= 0 || len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
