package awsproto

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// failReader fails the test if the body is read.
type failReader struct{ t *testing.T }

func (f failReader) Read([]byte) (int, error) {
	f.t.Error("the body of an unknown operation was read")
	return 0, io.EOF
}

func TestJSONAPI(t *testing.T) {
	type in struct{ Name string }
	var ready error
	api := &JSONAPI{
		Name:         "test",
		TargetPrefix: "Test_20260101.",
		MaxBody:      1 << 10,
		Ops: map[string]Op{
			"Echo": Operation(func(v *in) error {
				if v.Name == "" {
					return Errorf(ValidationException, "Name is required.")
				}
				return nil
			}, func(_ context.Context, _ *http.Request, v *in) (any, error) {
				if v.Name == "boom" {
					return nil, errors.New("backend failed")
				}
				return map[string]string{"Name": v.Name}, nil
			}),
		},
		Streams: map[string]StreamOp{"Stream": func(w http.ResponseWriter, _ *http.Request, _ Codec, id string, body []byte) {
			w.Header().Set("x-amzn-RequestId", id)
			io.WriteString(w, "stream:"+string(body))
		}},
		Ready: func() error { return ready },
	}
	do := func(method, op string, body io.Reader) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/", body)
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("X-Amz-Target", "Test_20260101."+op)
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		return w
	}
	for _, tc := range []struct {
		name, method, op string
		body             io.Reader
		status           int
		want             string
	}{
		{"ok", "POST", "Echo", strings.NewReader(`{"Name":"a"}`), 200, `"Name":"a"`},
		{"invalid", "POST", "Echo", strings.NewReader(`{}`), 400, "ValidationException"},
		{"not JSON", "POST", "Echo", strings.NewReader(`{`), 400, "SerializationException"},
		{"backend error", "POST", "Echo", strings.NewReader(`{"Name":"boom"}`), 500, "InternalFailure"},
		{"unknown operation", "POST", "Nope", failReader{t}, 400, "UnknownOperationException"},
		{"GET", "GET", "Echo", failReader{t}, 405, "UnknownOperationException"},
		{"too big", "POST", "Echo", strings.NewReader(`{"Name":"` + strings.Repeat("x", 2<<10) + `"}`), 413, ""},
		{"stream", "POST", "Stream", strings.NewReader(`xyz`), 200, "stream:xyz"},
	} {
		w := do(tc.method, tc.op, tc.body)
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, w.Code, w.Body, tc.status, tc.want)
		}
		if w.Header().Get("x-amzn-RequestId") == "" {
			t.Errorf("%s: no request id", tc.name)
		}
	}
	ready = errors.New("no backend")
	if w := do("POST", "Echo", failReader{t}); w.Code != 500 || !strings.Contains(w.Body.String(), "InternalFailure") {
		t.Errorf("not ready: %d %s, want 500 InternalFailure", w.Code, w.Body)
	}
}
