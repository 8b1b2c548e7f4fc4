package awsproto

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"

	"github.com/kinedge/kinedge/dataplane/authlimit"
)

// TestMiddlewareLockout: an SDK client with a wrong secret is refused
// with InvalidSignatureException until its address is locked out, then
// with ThrottlingException (which the SDK classifies as throttling) and
// Retry-After, even with the right secret; another address gets in.
func TestMiddlewareLockout(t *testing.T) {
	now := time.Now()
	lim := &authlimit.Limiter{MaxFailures: 3, Now: func() time.Time { return now }}
	var reached int
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached++
		WriteResponse(w, JSON, RequestID(r.Context()), map[string]any{"StreamNames": []string{}, "HasMoreStreams": false})
	})
	v := &Verifier{Secret: func(k string) (string, bool) { return testSecret, k == testKey }, Limiter: lim}
	srv := httptest.NewServer(Middleware(v, handler, 0))
	defer srv.Close()
	ctx := context.Background()
	bad := newKinesisClient(srv.URL, testKey, "wrong")
	for i := range 3 {
		_, err := bad.ListStreams(ctx, &kinesis.ListStreamsInput{})
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != InvalidSignatureException {
			t.Fatalf("attempt %d: err = %v, want %s", i, err, InvalidSignatureException)
		}
	}
	good := newKinesisClient(srv.URL, testKey, testSecret)
	_, err := good.ListStreams(ctx, &kinesis.ListStreamsInput{})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != ThrottlingException || !strings.Contains(api.ErrorMessage(), "Try again in 1 seconds") {
		t.Fatalf("locked: err = %v, want %s", err, ThrottlingException)
	}
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
		t.Fatalf("the SDK does not see %v as throttling", err)
	}
	if reached != 0 {
		t.Fatalf("handler reached %d times", reached)
	}

	// The raw answer: HTTP 400, Retry-After, the AWS JSON error.
	r, b := sign(t, `{}`, signOpts{at: now.UTC()}).onServer(t)
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.RemoteAddr = "127.0.0.1:9999"
	rec := httptest.NewRecorder()
	Middleware(v, handler, 0).ServeHTTP(rec, r)
	if rec.Code != 400 || rec.Header().Get("Retry-After") != "1" || rec.Header().Get(HeaderErrorType) != ThrottlingException+":" ||
		!strings.Contains(rec.Body.String(), `"__type":"ThrottlingException"`) {
		t.Fatalf("locked answer %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	// Another address, right credentials: in.
	r, b = sign(t, `{}`, signOpts{at: now.UTC()}).onServer(t)
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.RemoteAddr = "127.0.0.2:9999"
	rec = httptest.NewRecorder()
	Middleware(v, handler, 0).ServeHTTP(rec, r)
	if rec.Code != 200 {
		t.Fatalf("other address: %d %s", rec.Code, rec.Body)
	}
	// KVS's REST API names the same refusal its own way, streaming too.
	kv := *v
	kv.LockedOutType = "ClientLimitExceededException"
	r, _ = sign(t, "", signOpts{at: now.UTC(), payloadHash: UnsignedPayload}).onServer(t)
	r.RemoteAddr = "127.0.0.1:9999"
	rec = httptest.NewRecorder()
	StreamingMiddleware(&kv, handler).ServeHTTP(rec, r)
	if rec.Code != 400 || rec.Header().Get(HeaderErrorType) != "ClientLimitExceededException:" || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("kvs locked answer %d %v %s", rec.Code, rec.Header(), rec.Body)
	}

	// After the backoff the right client gets in and clears the address.
	now = now.Add(time.Second)
	if _, err := good.ListStreams(ctx, &kinesis.ListStreamsInput{}); err != nil {
		t.Fatal(err)
	}
	if st := lim.Stats(); st.Failures["aws"] != 3 || st.Lockouts != 1 || st.Addresses != 0 {
		t.Fatalf("stats %+v", st)
	}
	// A missing signature is no guess: it does not count.
	for range 5 {
		resp, err := http.Post(srv.URL, ContentTypeJSON, strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("unsigned: %d", resp.StatusCode)
		}
	}
	if _, err := good.ListStreams(ctx, &kinesis.ListStreamsInput{}); err != nil {
		t.Fatalf("after unsigned requests: %v", err)
	}
}
