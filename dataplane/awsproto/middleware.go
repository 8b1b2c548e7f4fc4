package awsproto

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxBody is the body limit Middleware applies when given
// maxBody <= 0: 16 MiB, above Kinesis PutRecords' 5 MiB of data once
// base64-encoded in JSON.
const DefaultMaxBody = 16 << 20

type ctxKey int

const (
	ctxAccessKey ctxKey = iota
	ctxRequestID
)

// WithAccessKey returns a copy of ctx carrying the verified access key id.
func WithAccessKey(ctx context.Context, accessKey string) context.Context {
	return context.WithValue(ctx, ctxAccessKey, accessKey)
}

// AccessKey returns the access key id Middleware verified, "" for none
// (anonymous access).
func AccessKey(ctx context.Context) string {
	k, _ := ctx.Value(ctxAccessKey).(string)
	return k
}

// WithRequestID returns a copy of ctx carrying the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxRequestID, id)
}

// RequestID returns the request id Middleware gave the request, or a new
// one if there is none.
func RequestID(ctx context.Context) string {
	if id, ok := ctx.Value(ctxRequestID).(string); ok && id != "" {
		return id
	}
	return NewRequestID()
}

// Middleware authenticates AWS requests before next sees them. It gives the
// request an id (RequestID), refuses what the headers alone prove wrong
// (VerifyHeaders: no or malformed signature, unknown access key, a date
// outside the skew window) before reading the body, reads the body with
// ReadBody (at most maxBody bytes, DefaultMaxBody when maxBody <= 0; larger
// bodies get HTTP 413 RequestEntityTooLarge; under a BodyBudget, 503 when
// the budget has no room), verifies the SigV4 signature with v, stores the
// access key in the context and hands next a request
// whose Body replays the bytes read. Failures are written as AWS errors in
// the request's codec.
//
// Requests whose payload is not hashed into the signature (X-Amz-Content-Sha256
// UNSIGNED-PAYLOAD or STREAMING-*) are verified on their seed signature and
// passed with their body unread and unbounded: next owns the stream. An
// aws-chunked STREAMING-AWS4-HMAC-SHA256-PAYLOAD body reaches next decoded,
// its chunk signatures checked as it is read (see ChunkedReader).
//
// A nil v means anonymous access: bodies are still bounded, nothing is
// verified and the access key in the context is "".
func Middleware(v *Verifier, next http.Handler, maxBody int64) http.Handler {
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := NewRequestID()
		codec, err := CodecOf(r)
		if err != nil {
			codec = JSON
		}
		if !v.admit(w, r, codec, id) {
			return
		}
		ctx := WithRequestID(r.Context(), id)
		declared := declaredPayloadHash(r)
		if v != nil && (declared == UnsignedPayload || strings.HasPrefix(declared, StreamingPayloadPrefix)) {
			key, err := v.VerifyStreaming(r)
			if err != nil {
				v.failed(r, err)
				WriteError(w, codec, id, err)
				return
			}
			v.succeeded(r)
			r2 := r.WithContext(WithAccessKey(ctx, key))
			if err := v.wrapStreamingBody(r2, declared); err != nil {
				WriteError(w, codec, id, err)
				return
			}
			next.ServeHTTP(w, r2)
			return
		}
		if v != nil {
			// Refuse what the headers alone prove wrong before reading a
			// byte of the body.
			if _, err := v.VerifyHeaders(r); err != nil {
				v.failed(r, err)
				WriteError(w, codec, id, err)
				return
			}
		}
		body, err := ReadBody(r, maxBody)
		if err != nil {
			WriteError(w, codec, id, err)
			return
		}
		key := ""
		if v != nil {
			if key, err = v.Verify(r, body); err != nil {
				v.failed(r, err)
				WriteError(w, codec, id, err)
				return
			}
			v.succeeded(r)
		}
		r2 := r.WithContext(WithAccessKey(ctx, key))
		r2.Body = newReplayBody(body)
		r2.ContentLength = int64(len(body))
		r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		next.ServeHTTP(w, r2)
	})
}

// admit refuses, with LockedOutType and Retry-After, a request from an
// address the Limiter has locked out; a nil v or Limiter admits.
func (v *Verifier) admit(w http.ResponseWriter, r *http.Request, codec Codec, id string) bool {
	if v == nil || v.Limiter == nil {
		return true
	}
	wait, ok := v.Limiter.Check(r.RemoteAddr)
	if ok {
		return true
	}
	typ := v.LockedOutType
	if typ == "" {
		typ = ThrottlingException
	}
	secs := int((wait + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	WriteError(w, codec, id, &Error{Type: typ, Status: http.StatusBadRequest,
		Message: fmt.Sprintf("Too many failed authentications from this address. Try again in %d seconds.", secs)})
	return false
}

// failed reports to the Limiter a verification error that is a
// credential guess: an unknown access key or a wrong signature (not a
// missing or malformed one, nor a clock out of skew).
func (v *Verifier) failed(r *http.Request, err error) {
	if v == nil || v.Limiter == nil {
		return
	}
	var e *Error
	if errors.As(err, &e) && (e.Type == UnrecognizedClientException || (e.Type == InvalidSignatureException && e.Message == msgSignatureInvalid)) {
		v.Limiter.Fail(r.RemoteAddr, "aws")
	}
}

// StreamingMiddleware authenticates requests whose body is a long stream
// (KVS PutMedia) without reading it: it verifies the signature with
// VerifyStreaming, stores the access key and a request id in the context
// and hands next the body unread and unbounded. When the client declared a
// SHA-256 of the payload in X-Amz-Content-Sha256, next's reads of the body
// end with an InvalidSignatureException *Error instead of io.EOF if the
// streamed bytes do not match it; an aws-chunked body
// (STREAMING-AWS4-HMAC-SHA256-PAYLOAD) is decoded and each chunk's signature
// checked before next sees it. next must treat a read error as the end of
// the upload and discard what is not yet committed.
//
// An upload that lasts longer than the server's ReadTimeout (kinedge's
// timeouts.http_read) must move its connection's read deadline as it
// goes: next calls http.NewResponseController(w).SetReadDeadline, for
// example a little ahead of each chunk, so that a stalled producer is
// still cut.
//
// A nil v means anonymous access.
func StreamingMiddleware(v *Verifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := NewRequestID()
		codec, err := CodecOf(r)
		if err != nil {
			codec = JSON
		}
		if !v.admit(w, r, codec, id) {
			return
		}
		key := ""
		if v != nil {
			if key, err = v.VerifyStreaming(r); err != nil {
				v.failed(r, err)
				WriteError(w, codec, id, err)
				return
			}
			v.succeeded(r)
		}
		r2 := r.WithContext(WithAccessKey(WithRequestID(r.Context(), id), key))
		if v != nil {
			if err := v.wrapStreamingBody(r2, declaredPayloadHash(r)); err != nil {
				WriteError(w, codec, id, err)
				return
			}
		}
		next.ServeHTTP(w, r2)
	})
}

// wrapStreamingBody replaces the body of a verified streaming request by
// one that checks what the signature promises: the declared SHA-256, or
// the chunk signatures of STREAMING-AWS4-HMAC-SHA256-PAYLOAD.
func (v *Verifier) wrapStreamingBody(r *http.Request, declared string) error {
	switch {
	case declared == StreamingSignedPayload:
		body, err := v.ChunkedReader(r)
		if err != nil {
			return err
		}
		r.Body = body
		r.ContentLength = -1
		if n, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64); err == nil {
			r.ContentLength = n
		}
	case len(declared) == sha256.Size*2 && r.Body != nil:
		want, err := hex.DecodeString(declared)
		if err != nil {
			return Errorf(InvalidSignatureException, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-..., or a valid sha256 value.")
		}
		r.Body = &hashCheckReader{rc: r.Body, h: sha256.New(), want: want}
	}
	return nil
}

// hashCheckReader passes a body through and, at its end, compares its
// SHA-256 with the declared one.
type hashCheckReader struct {
	rc   io.ReadCloser
	h    hash.Hash
	want []byte
	err  error
}

func (h *hashCheckReader) Read(p []byte) (int, error) {
	if h.err != nil {
		return 0, h.err
	}
	n, err := h.rc.Read(p)
	h.h.Write(p[:n])
	if errors.Is(err, io.EOF) {
		if !hmac.Equal(h.h.Sum(nil), h.want) {
			h.err = Errorf(InvalidSignatureException, "The provided 'x-amz-content-sha256' header does not match what was computed.")
			return n, h.err
		}
		h.err = io.EOF
	}
	return n, err
}

func (h *hashCheckReader) Close() error { return h.rc.Close() }

// succeeded reports a verified request to the Limiter.
func (v *Verifier) succeeded(r *http.Request) {
	if v != nil && v.Limiter != nil {
		v.Limiter.Succeed(r.RemoteAddr)
	}
}
