package awsproto

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingBody is a request body that counts the bytes it gives out.
type countingBody struct {
	r    io.Reader
	read atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}

func (c *countingBody) Close() error { return nil }

// TestMiddlewareRejectsBeforeBody: what the headers alone prove wrong is
// refused before a byte of the body is read, so an anonymous client cannot
// make the appliance buffer bodies it will refuse anyway.
func TestMiddlewareRejectsBeforeBody(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(r *http.Request)
		wantType string
	}{
		{"no authorization", func(r *http.Request) { r.Header.Del("Authorization") }, MissingAuthenticationTokenException},
		{"malformed authorization", func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 garbage") }, IncompleteSignatureException},
		{"unknown access key", func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), testKey, "AKIDOTHER", 1))
		}, UnrecognizedClientException},
		{"date out of window", func(r *http.Request) {}, InvalidSignatureException},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := testSignTime
			if tt.name == "date out of window" {
				now = testSignTime.Add(time.Hour)
			}
			r, _ := sign(t, `{"Limit":5}`, signOpts{}).onServer(t)
			tt.edit(r)
			body := &countingBody{r: strings.NewReader(strings.Repeat("x", 1<<20))}
			r.Body, r.ContentLength = body, 1<<20
			ran := false
			h := Middleware(testVerifier(now), http.HandlerFunc(func(http.ResponseWriter, *http.Request) { ran = true }), 0)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusForbidden || w.Header().Get(HeaderErrorType) == "" ||
				!strings.HasPrefix(w.Header().Get(HeaderErrorType), tt.wantType) {
				t.Fatalf("status %d type %q, want 403 %s; body %s", w.Code, w.Header().Get(HeaderErrorType), tt.wantType, w.Body)
			}
			if ran {
				t.Fatal("handler ran")
			}
			if n := body.read.Load(); n != 0 {
				t.Fatalf("%d body bytes read before the request was refused", n)
			}
		})
	}
}

func TestReadBody(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		length   int64 // -1: unknown (chunked)
		max      int64
		want     string
		wantType string
	}{
		{"known length", "hello", 5, 10, "hello", ""},
		{"unknown length", "hello", -1, 10, "hello", ""},
		{"exactly max", "0123456789", -1, 10, "0123456789", ""},
		{"over max by length", "01234567890", 11, 10, "", RequestEntityTooLarge},
		{"over max unknown length", "01234567890", -1, 10, "", RequestEntityTooLarge},
		{"empty", "", 0, 10, "", ""},
		{"large unknown length", strings.Repeat("a", 3<<20), -1, 4 << 20, strings.Repeat("a", 3<<20), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			r.ContentLength = tt.length
			got, err := ReadBody(r, tt.max)
			if TypeOf(err) != tt.wantType {
				t.Fatalf("err = %v, want type %q", err, tt.wantType)
			}
			if err == nil && string(got) != tt.want {
				t.Fatalf("got %d bytes, want %d", len(got), len(tt.want))
			}
		})
	}
}

// TestReadBodyBehindMiddleware: a handler behind Middleware gets the bytes
// Middleware read, not a second copy.
func TestReadBodyBehindMiddleware(t *testing.T) {
	var first, second []byte
	h := Middleware(nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		if first, err = ReadBody(r, 100); err != nil {
			t.Error(err)
		}
		if second, err = io.ReadAll(r.Body); err != nil {
			t.Error(err)
		}
	}), 0)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"a":1}`)))
	if string(first) != `{"a":1}` || len(second) != 0 {
		t.Fatalf("ReadBody %q, then Read %q", first, second)
	}
}

// TestBodyBudget: bodies in flight together stay within the budget; a
// request that finds no room within the wait gets 503
// ServiceUnavailableException, and the room comes back when the holder's
// handler returns.
func TestBodyBudget(t *testing.T) {
	budget := &BodyBudget{Bytes: 1000, Wait: 50 * time.Millisecond}
	holding := make(chan struct{})
	release := make(chan struct{})
	h := budget.Handler(Middleware(nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Hold") != "" {
			close(holding)
			<-release
		}
		w.WriteHeader(http.StatusOK)
	}), 0))
	post := func(n int, hold bool) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("x", n)))
		if hold {
			r.Header.Set("X-Hold", "1")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	done := make(chan int)
	go func() { done <- post(800, true).Code }()
	<-holding
	if w := post(300, false); w.Code != http.StatusServiceUnavailable || !strings.HasPrefix(w.Header().Get(HeaderErrorType), ServiceUnavailableException) {
		t.Fatalf("over budget: %d %q %s", w.Code, w.Header().Get(HeaderErrorType), w.Body)
	}
	if w := post(200, false); w.Code != http.StatusOK {
		t.Fatalf("within budget: %d %s", w.Code, w.Body)
	}
	close(release)
	if code := <-done; code != http.StatusOK {
		t.Fatalf("holder: %d", code)
	}
	if w := post(900, false); w.Code != http.StatusOK {
		t.Fatalf("after release: %d %s", w.Code, w.Body)
	}
	if used := budget.InUse(); used != 0 {
		t.Fatalf("%d bytes still counted after every request ended", used)
	}
}

// TestBodyBudgetWaits: a request waits (bounded) for room rather than
// failing at once when the budget frees up in time.
func TestBodyBudgetWaits(t *testing.T) {
	budget := &BodyBudget{Bytes: 1000, Wait: time.Minute}
	lease := budget.lease()
	if err := lease.take(context.Background(), 900, true); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		l := budget.lease()
		defer l.release()
		got <- l.take(context.Background(), 500, true)
	}()
	lease.release()
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := budget.lease()
	if err := l.take(ctx, 900, true); err != nil {
		t.Fatal(err)
	}
	l2 := budget.lease()
	cancel()
	if err := l2.take(ctx, 900, true); !errors.Is(err, &Error{Type: ServiceUnavailableException}) {
		t.Fatalf("canceled waiter: %v", err)
	}
	l.release()
	l2.release()
}
