package api

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kinedge/kinedge/index"
)

func TestParseTime(t *testing.T) {
	cases := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"2026-11-25T20:00:00Z", time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC), true},
		{"2026-11-25T20:00:00.250+01:00", time.Date(2026, 11, 25, 19, 0, 0, 250e6, time.UTC), true},
		{"1700000000.5", time.UnixMilli(1700000000500), true},
		{"yesterday", time.Time{}, false},
		{"-5", time.Time{}, false},
		{"1e300", time.Time{}, false},
		{"2026-13-01T00:00:00Z", time.Time{}, false},
	}
	for _, c := range cases {
		got, err := ParseTime(c.in)
		if (err == nil) != c.ok || (c.ok && !got.Equal(c.want)) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"", "2026-11-25T20:00:00Z", "1700000000.5", "NaN", "-0", "9999-12-31T23:59:59.999999999-23:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if tm, err := ParseTime(s); err == nil && s != "" && tm.IsZero() {
			t.Fatalf("ParseTime(%q) accepted a zero time", s)
		}
	})
}

// TestBadRequests checks the API's answers to malformed queries, on an
// in-memory index.
func TestBadRequests(t *testing.T) {
	idx, err := index.Open(index.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	if _, err := idx.CreateStream(t.Context(), index.Stream{Name: "cam1"}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	(&Handler{Index: idx}).Register(mux)
	cases := []struct {
		path   string
		status int
	}{
		{"/v1/streams", 200},
		{"/v1/streams/cam1", 200},
		{"/v1/streams/nope", 404},
		{"/v1/streams/nope/fragments", 404},
		{"/v1/streams/cam1/fragments", 200},
		{"/v1/streams/cam1/fragments?start=bad", 400},
		{"/v1/streams/cam1/fragments?start=2026-11-25T20:00:00Z&end=2026-11-25T19:00:00Z", 400},
		{"/v1/streams/cam1/fragments?limit=0", 400},
		{"/v1/streams/cam1/fragments?next=garbage", 400},
		{"/v1/streams/cam1/fragments?by=sideways", 400},
		{"/v1/streams/cam1/media?start=2026-11-25T20:00:00Z", 400},
		{"/v1/streams/cam1/media?start=2026-11-25T20:00:00Z&end=2026-12-25T20:00:00Z", 400},
		{"/v1/streams/cam1/media?start=2026-11-25T20:00:00Z&end=2026-11-25T20:01:00Z&format=avi", 400},
		{"/v1/streams/cam1/media?start=2026-11-25T20:00:00Z&end=2026-11-25T20:01:00Z", 404},
		{"/v1/streams/nope/media?start=2026-11-25T20:00:00Z&end=2026-11-25T20:01:00Z", 404},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
		if rec.Code != c.status {
			t.Errorf("GET %s: %d %s, want %d", c.path, rec.Code, rec.Body, c.status)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: content type %q", c.path, ct)
		}
	}
}

// staticPulls is a fixed set of pull states.
type staticPulls map[string]PullJSON

func (p staticPulls) PullStates() map[string]PullJSON { return maps.Clone(p) }

// TestPullStateInStreams: a pulled stream shows its pull state; one not
// yet in the index is listed as NOT_CREATED with its last error.
func TestPullStateInStreams(t *testing.T) {
	idx, err := index.Open(index.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	for _, name := range []string{"cam1", "pushed"} {
		if _, err := idx.CreateStream(t.Context(), index.Stream{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	since := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	pulls := staticPulls{
		"cam1": {Source: "rtsp://u:***@cam1/live", State: PullStatePulling, Since: since, Transport: "tcp", Attempts: 2, Connects: 1,
			LastError: "rtsp: connection lost"},
		"cam9": {Source: "rtsp://cam9/live", State: PullStateRetrying, Since: since, Attempts: 3, LastError: "dial tcp: connection refused"},
	}
	mux := http.NewServeMux()
	(&Handler{Index: idx, Pulls: pulls}).Register(mux)
	get := func(path string, v any) {
		t.Helper()
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}

	var list struct{ Streams []StreamJSON }
	get("/v1/streams", &list)
	byName := map[string]StreamJSON{}
	for _, s := range list.Streams {
		byName[s.Name] = s
	}
	if len(list.Streams) != 3 {
		t.Fatalf("streams %+v, want cam1, pushed and the pending cam9", list.Streams)
	}
	if s := byName["cam1"]; s.Status != "ACTIVE" || s.Pull == nil || *s.Pull != pulls["cam1"] {
		t.Fatalf("cam1 %+v", s)
	}
	if s := byName["pushed"]; s.Pull != nil {
		t.Fatalf("a pushed stream has a pull state: %+v", s.Pull)
	}
	if s := byName["cam9"]; s.Status != StatusNotCreated || s.Pull == nil || s.Pull.LastError != "dial tcp: connection refused" || !s.Created.IsZero() {
		t.Fatalf("cam9 %+v", s)
	}

	var one StreamJSON
	get("/v1/streams/cam9", &one)
	if one.Status != StatusNotCreated || one.Pull == nil || one.Pull.State != PullStateRetrying || one.Pull.Attempts != 3 {
		t.Fatalf("cam9 %+v", one)
	}
	one = StreamJSON{}
	get("/v1/streams/cam1", &one)
	if one.Pull == nil || one.Pull.State != PullStatePulling {
		t.Fatalf("cam1 %+v", one)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/streams/nope", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("GET /v1/streams/nope: %d", rec.Code)
	}
}
