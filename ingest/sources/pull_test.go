package sources

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kinedge/kinedge/index/streamname"
)

// camera is a URL nothing answers: the pullers keep retrying with backoff,
// which is all these tests need of them.
const camera = "rtsp://user:s3cret@127.0.0.1:1/stream"

func savedPulls(t *testing.T, dir string) []Pull {
	t.Helper()
	path := filepath.Join(dir, SourcesFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("%s mode %v, want 0600 (it holds camera passwords)", SourcesFile, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []Pull
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func names(m *Manager) []string {
	var out []string
	for name := range m.PullStatus() {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func TestPullAddRemovePersist(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, func(m *Manager) { m.Pulls = []Pull{{Name: "gate", Source: camera}} })
	if err := m.AddPull(Pull{Name: "porch", Source: camera}); err != nil {
		t.Fatal(err)
	}
	if err := m.AddPull(Pull{Name: "porch", Source: camera}); !errors.Is(err, ErrPullExists) {
		t.Fatalf("second AddPull: %v, want ErrPullExists", err)
	}
	if err := m.AddPull(Pull{Name: "gate", Source: camera}); !errors.Is(err, ErrPullExists) {
		t.Fatalf("AddPull of a configured camera: %v, want ErrPullExists", err)
	}
	for _, bad := range []Pull{{Name: "cam 1", Source: camera}, {Name: "a/b", Source: camera}, {Name: "cam1", Source: "http://h/x"}, {Name: "cam1", Source: "rtsp:///x"}} {
		if err := m.AddPull(bad); !errors.Is(err, ErrInvalidPull) {
			t.Errorf("AddPull(%+v): %v, want ErrInvalidPull", bad, err)
		}
	}
	if got := names(m); !slices.Equal(got, []string{"gate", "porch"}) {
		t.Fatalf("pulled %v", got)
	}
	// Only the camera added over the API is saved.
	if got := savedPulls(t, e.dir); !slices.Equal(got, []Pull{{Name: "porch", Source: camera}}) {
		t.Fatalf("saved %v", got)
	}
	if st := m.PullStatus()["porch"]; strings.Contains(st.URL, "s3cret") {
		t.Fatalf("status shows the password: %+v", st)
	}
	m.Close()

	// A restart pulls the saved camera again, next to the configured ones.
	m2 := e.manager(t, func(m *Manager) { m.Pulls = []Pull{{Name: "yard", Source: camera}} })
	if got := names(m2); !slices.Equal(got, []string{"porch", "yard"}) {
		t.Fatalf("after restart pulled %v", got)
	}
	if err := m2.RemovePull("porch"); err != nil {
		t.Fatal(err)
	}
	if err := m2.RemovePull("porch"); !errors.Is(err, ErrNotPulled) {
		t.Fatalf("second RemovePull: %v, want ErrNotPulled", err)
	}
	if got := savedPulls(t, e.dir); len(got) != 0 {
		t.Fatalf("saved after remove %v", got)
	}
	if got := names(m2); !slices.Equal(got, []string{"yard"}) {
		t.Fatalf("pulled after remove %v", got)
	}
}

func TestPullStartRefusesABadSourcesFile(t *testing.T) {
	e := newEnv(t)
	if err := os.WriteFile(filepath.Join(e.dir, SourcesFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &Manager{Index: e.idx, DB: e.db, Sealer: e.sealer, Dir: e.dir}
	defer m.Close()
	if err := m.Start(); err == nil || !strings.Contains(err.Error(), SourcesFile) {
		t.Fatalf("Start: %v, want an error naming %s", err, SourcesFile)
	}
}

func TestPullHTTP(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t)
	mux := http.NewServeMux()
	m.Register(mux)
	do := func(method, path, body string) (int, string) {
		t.Helper()
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		return w.Code, w.Body.String()
	}
	for _, tt := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"POST", "/v1/streams", `{"name": "porch", "source": "` + camera + `"}`, 201, `"source":"rtsp://user:***@127.0.0.1:1/stream"`},
		{"POST", "/v1/streams", `{"name": "porch", "source": "` + camera + `"}`, 409, "already pulled"},
		{"POST", "/v1/streams", `{"name": "cam 1", "source": "` + camera + `"}`, 400, streamname.Rule},
		{"POST", "/v1/streams", `{"name": "a/b", "source": "` + camera + `"}`, 400, streamname.Rule},
		{"POST", "/v1/streams", `{"name": "cam1", "source": "http://h/x"}`, 400, "rtsp://"},
		{"POST", "/v1/streams", `{"name": "cam1", "url": "x"}`, 400, "body must be JSON"},
		{"DELETE", "/v1/streams/porch/source", "", 204, ""},
		{"DELETE", "/v1/streams/porch/source", "", 404, "not pulled"},
	} {
		code, body := do(tt.method, tt.path, tt.body)
		if code != tt.code || !strings.Contains(body, tt.want) || strings.Contains(body, "s3cret") {
			t.Errorf("%s %s %s: %d %s, want %d with %q", tt.method, tt.path, tt.body, code, body, tt.code, tt.want)
		}
	}
}
