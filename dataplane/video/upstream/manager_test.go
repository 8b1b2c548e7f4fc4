package upstream

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestManagerAPI: an upstream set through the API forwards, survives a
// restart (a new Manager on the same space), is changed without resending
// its credentials and deleted; one the config file sets is read-only;
// credentials are never returned; bad targets are 400.
func TestManagerAPI(t *testing.T) {
	b := openBox(t)
	rec, up := newUpstream(t)
	start := func(fixed map[string]Target) (*Manager, *httptest.Server) {
		m := &Manager{Index: b.idx, Space: b.sp, Opener: b.kr, Sealer: b.kr,
			Tune: func(f *Forwarder) {
				f.MinBackoff, f.MaxBackoff, f.Rescan = 5*time.Millisecond, 20*time.Millisecond, 50*time.Millisecond
			}}
		if err := m.Start(fixed); err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		m.Register(mux)
		ts := httptest.NewServer(mux)
		t.Cleanup(func() { ts.Close(); m.Close() })
		return m, ts
	}
	do := func(ts *httptest.Server, method, path, body string, want int) string {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, ts.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, out, want)
		}
		if bytes.Contains(out, []byte(testSecret)) || bytes.Contains(out, []byte(testKey)) {
			t.Fatalf("%s %s returned the credentials: %s", method, path, out)
		}
		return string(out)
	}
	fixed := Target{Endpoint: up.URL, Region: "us-east-1", AccessKey: testKey, SecretKey: testSecret, Stream: "edge-f"}
	m, ts := start(map[string]Target{"camF": fixed})

	if got := do(ts, "GET", "/v1/streams/camF/upstream", "", 200); !strings.Contains(got, `"config_file":true`) || !strings.Contains(got, `"stream":"edge-f"`) {
		t.Fatalf("GET camF: %s", got)
	}
	do(ts, "PUT", "/v1/streams/camF/upstream", fmt.Sprintf(`{"endpoint":%q,"region":"us-east-1"}`, up.URL), 409)
	do(ts, "DELETE", "/v1/streams/camF/upstream", "", 409)
	do(ts, "GET", "/v1/streams/cam1/upstream", "", 404)
	do(ts, "PUT", "/v1/streams/cam1/upstream", `{"endpoint":"ftp://x","region":"r","access_key":"a","secret_key":"s"}`, 400)
	do(ts, "PUT", "/v1/streams/cam1/upstream", fmt.Sprintf(`{"endpoint":%q,"region":"r","access_key":"a","secret_key":"s","window":"25:00-01:00"}`, up.URL), 400)
	do(ts, "PUT", "/v1/streams/cam1/upstream", `{"nope":1}`, 400)
	do(ts, "PUT", "/v1/streams/cam1/upstream", fmt.Sprintf(`{"endpoint":%q,"region":"us-east-1"}`, up.URL), 400) // no credentials to keep

	body := fmt.Sprintf(`{"endpoint":%q,"region":"us-east-1","access_key":%q,"secret_key":%q,"stream":"edge1","bandwidth_limit":10000000}`, up.URL, testKey, testSecret)
	if got := do(ts, "PUT", "/v1/streams/cam1/upstream", body, 200); !strings.Contains(got, `"credentials":"<redacted>"`) || !strings.Contains(got, `"config_file":false`) {
		t.Fatalf("PUT cam1: %s", got)
	}
	stored := b.record(t, "cam1", time.Now().Add(-time.Hour).Truncate(time.Second))
	m.Notify(stored[0])
	forwarded := func(m *Manager, n int) {
		t.Helper()
		eventually(t, "cam1 forwarded", func() error {
			for _, f := range m.Forwarders() {
				if f.Stream == "cam1" {
					if st := f.Stats(); st.Fragments != uint64(n) || st.Backlog != 0 {
						return fmt.Errorf("stats %+v", st)
					}
					return nil
				}
			}
			return fmt.Errorf("no forwarder of cam1")
		})
	}
	forwarded(m, len(stored))
	frames := 0
	for _, fr := range stored {
		frames += fr.Frames
	}
	if n := len(rec.walls()); n != frames {
		t.Fatalf("upstream recorded %d frames, %d stored", n, frames)
	}

	// A restart: the API's target is back, its cursor with it (nothing is
	// sent again).
	m.Close()
	ts.Close()
	m, ts = start(map[string]Target{"camF": fixed})
	if got := do(ts, "GET", "/v1/streams/cam1/upstream", "", 200); !strings.Contains(got, `"stream":"edge1"`) || !strings.Contains(got, `"bandwidth_limit":10000000`) {
		t.Fatalf("GET cam1 after a restart: %s", got)
	}
	more := b.record(t, "cam1", time.Now().Add(-30*time.Minute).Truncate(time.Second))
	m.Notify(more[0])
	forwarded(m, len(more))
	for _, fr := range more {
		frames += fr.Frames
	}
	if n := len(rec.walls()); n != frames {
		t.Fatalf("upstream recorded %d frames after the restart, %d stored", n, frames)
	}

	// A change without credentials keeps them.
	if got := do(ts, "PUT", "/v1/streams/cam1/upstream", fmt.Sprintf(`{"endpoint":%q,"region":"us-east-1","stream":"edge1","window":"22:00-06:00,12:00-13:00"}`, up.URL), 200); !strings.Contains(got, `"window":"22:00-06:00,12:00-13:00"`) {
		t.Fatalf("PUT cam1 without credentials: %s", got)
	}
	if tg, _, err := m.Get("cam1"); err != nil || tg.SecretKey != testSecret {
		t.Fatalf("credentials not kept: %v", err)
	}
	do(ts, "DELETE", "/v1/streams/cam1/upstream", "", 204)
	do(ts, "GET", "/v1/streams/cam1/upstream", "", 404)
	m.Close()
	ts.Close()
	_, ts = start(nil)
	do(ts, "GET", "/v1/streams/cam1/upstream", "", 404)
	do(ts, "GET", "/v1/streams/camF/upstream", "", 404)
}
