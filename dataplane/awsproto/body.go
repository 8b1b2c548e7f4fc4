package awsproto

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Defaults of BodyBudget.
const (
	// DefaultBodyBudget is the default BodyBudget.Bytes: 64 MiB, four
	// maximal Kinesis bodies at once, a small part of a 1 GiB board.
	DefaultBodyBudget = 64 << 20
	// DefaultBodyWait is the default BodyBudget.Wait.
	DefaultBodyWait = time.Second
)

// bodyStep is how far ReadBody's buffer grows before the bytes arrive: a
// body of unknown length is reserved from the budget (and allocated) a
// step at a time.
const bodyStep = 1 << 20

// ReadBody reads a request body of at most max bytes (DefaultMaxBody when
// max <= 0) into memory. It is the one way the AWS APIs read a body:
// Middleware uses it, and a handler behind Middleware gets the bytes
// Middleware already read, without a copy.
//
// A body declared (Content-Length) or found larger than max is a 413
// RequestEntityTooLarge *Error; a body that cannot be read (the client
// stalled past the server's read timeout or went away) is a
// SerializationException. When the request runs under a BodyBudget's
// Handler, the bytes are reserved from the budget before they are read
// (all of a declared Content-Length at once, waiting at most the budget's
// Wait; a body of unknown length a step at a time, without waiting) and
// held until the handler returns; no room is a 503
// ServiceUnavailableException the SDKs retry.
func ReadBody(r *http.Request, max int64) ([]byte, error) {
	if max <= 0 {
		max = DefaultMaxBody
	}
	if rb, ok := r.Body.(*replayBody); ok {
		if b, ok := rb.take(); ok {
			if int64(len(b)) > max {
				return nil, tooLarge(max)
			}
			return b, nil
		}
	}
	if r.ContentLength > max {
		return nil, tooLarge(max)
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, nil
	}
	ctx := r.Context()
	lease, _ := ctx.Value(ctxBodyLease).(*bodyLease)
	// limit is the capacity that holds the whole body plus one byte, so
	// the read sees EOF (or a body over max) without growing again.
	limit := max + 1
	reserved := min(limit, bodyStep)
	if r.ContentLength > 0 {
		limit = r.ContentLength + 1
		reserved = r.ContentLength // the extra byte only ever holds EOF
	}
	if err := lease.take(ctx, reserved, true); err != nil {
		return nil, err
	}
	// A declared length is reserved, so it is allocated at once: growing
	// step by step would leave garbage that the budget does not count.
	buf := make([]byte, 0, min(limit, bodyStep))
	if r.ContentLength > 0 {
		buf = make([]byte, 0, limit)
	}
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= limit {
				break
			}
			grow := min(int64(cap(buf)), limit-int64(cap(buf)), bodyStep)
			if want := int64(cap(buf)) + grow; want > reserved && r.ContentLength <= 0 {
				if err := lease.take(ctx, want-reserved, false); err != nil {
					return nil, err
				}
				reserved = want
			}
			buf = slices.Grow(buf, int(grow))
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, Errorf(SerializationException, "Unable to read the request body after %d bytes.", len(buf))
		}
	}
	if int64(len(buf)) > max {
		return nil, tooLarge(max)
	}
	return buf, nil
}

func tooLarge(max int64) *Error {
	return Errorf(RequestEntityTooLarge, "Request body is larger than the %d bytes accepted.", max)
}

// replayBody is the body Middleware hands on: the bytes it read, readable
// once more, and available to ReadBody without a copy.
type replayBody struct {
	*bytes.Reader
	b []byte
}

func newReplayBody(b []byte) *replayBody {
	return &replayBody{Reader: bytes.NewReader(b), b: b}
}

// take returns the bytes if nothing was read yet, and marks them read.
func (rb *replayBody) take() ([]byte, bool) {
	if rb.Len() != len(rb.b) {
		return nil, false
	}
	_, _ = rb.Seek(0, io.SeekEnd)
	return rb.b, true
}

func (rb *replayBody) Close() error { return nil }

// BodyBudget bounds the memory that all request bodies read by ReadBody
// may hold together, so that many concurrent large bodies (honest bursts,
// or a client that opens connections to exhaust memory) cannot grow the
// heap past it. Wrap the server's handler with Handler; a zero BodyBudget
// is ready to use with the defaults.
type BodyBudget struct {
	// Bytes is how many body bytes may be held at once. It defaults to
	// DefaultBodyBudget (64 MiB). A single body larger than the whole
	// budget is still read when it is the only one.
	Bytes int64
	// Wait is how long a body with a declared length waits for room before
	// the request is refused with 503. It defaults to DefaultBodyWait (1 s).
	Wait time.Duration

	mu    sync.Mutex
	used  int64
	freed chan struct{} // closed and replaced whenever bytes are released
}

type bodyCtxKey int

const ctxBodyLease bodyCtxKey = 0

// Handler runs next with the budget in the request's context: ReadBody
// reserves from it, and what the request reserved is released when next
// returns.
func (b *BodyBudget) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := b.lease()
		defer l.release()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxBodyLease, l)))
	})
}

// InUse returns how many bytes are reserved now.
func (b *BodyBudget) InUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

func (b *BodyBudget) limit() int64 {
	if b.Bytes <= 0 {
		return DefaultBodyBudget
	}
	return b.Bytes
}

func (b *BodyBudget) wait() time.Duration {
	if b.Wait <= 0 {
		return DefaultBodyWait
	}
	return b.Wait
}

func (b *BodyBudget) lease() *bodyLease { return &bodyLease{b: b} }

// bodyLease is what one request holds of a BodyBudget.
type bodyLease struct {
	b    *BodyBudget
	mu   sync.Mutex
	held int64
}

var errNoRoom = Errorf(ServiceUnavailableException, "Too many request bodies are being read at once; retry the request.")

// take reserves n more bytes, waiting for room (at most the budget's Wait,
// or until ctx ends) when wait is set. A nil lease has no budget.
func (l *bodyLease) take(ctx context.Context, n int64, wait bool) error {
	if l == nil {
		return nil
	}
	b := l.b
	l.mu.Lock()
	mine := l.held
	l.mu.Unlock()
	var timeout <-chan time.Time
	for {
		b.mu.Lock()
		if b.used == mine || b.used+n <= b.limit() {
			b.used += n
			b.mu.Unlock()
			l.mu.Lock()
			l.held += n
			l.mu.Unlock()
			return nil
		}
		if b.freed == nil {
			b.freed = make(chan struct{})
		}
		freed := b.freed
		b.mu.Unlock()
		if !wait {
			return errNoRoom
		}
		if timeout == nil {
			t := time.NewTimer(b.wait())
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-freed:
		case <-timeout:
			return errNoRoom
		case <-ctx.Done():
			return errNoRoom
		}
	}
}

// release gives back everything the lease holds.
func (l *bodyLease) release() {
	l.mu.Lock()
	n := l.held
	l.held = 0
	l.mu.Unlock()
	if n == 0 {
		return
	}
	b := l.b
	b.mu.Lock()
	b.used -= n
	if b.freed != nil {
		close(b.freed)
		b.freed = nil
	}
	b.mu.Unlock()
}
