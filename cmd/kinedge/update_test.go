package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLoopbackFor(t *testing.T) {
	for in, want := range map[string]string{
		":8080":          "127.0.0.1:8080",
		"0.0.0.0:8080":   "127.0.0.1:8080",
		"[::]:8080":      "127.0.0.1:8080",
		"10.0.0.5:80":    "10.0.0.5:80",
		"localhost:8080": "localhost:8080",
	} {
		if got := loopbackFor(in); got != want {
			t.Errorf("loopbackFor(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHealthVersion(t *testing.T) {
	code, body := 200, `{"status":"ok","version":"1.2.3"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(code)
		w.Write([]byte(body))
	}))
	defer srv.Close()
	c := &http.Client{Timeout: 5 * time.Second}
	if v, err := healthVersion(t.Context(), c, srv.URL); err != nil || v != "1.2.3" {
		t.Fatalf("healthy: %q %v", v, err)
	}
	code, body = 503, `{"status":"unhealthy","version":"1.2.3"}`
	if _, err := healthVersion(t.Context(), c, srv.URL); err == nil {
		t.Fatal("503 taken as healthy")
	}
	code, body = 200, `not json`
	if _, err := healthVersion(t.Context(), c, srv.URL); err == nil {
		t.Fatal("a body without JSON taken as healthy")
	}
}

func TestUpdateRollbackCommand(t *testing.T) {
	target := filepath.Join(t.TempDir(), "kinedge")
	os.WriteFile(target, []byte("new"), 0o755)
	os.WriteFile(target+".previous", []byte("old"), 0o755)
	var out bytes.Buffer
	if err := run(t.Context(), []string{"update", "rollback", "--target", target, "--restart", "true"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(target); string(b) != "old" {
		t.Fatalf("after rollback %q", b)
	}
	// Nothing to roll back to.
	if err := run(t.Context(), []string{"update", "rollback", "--target", target, "--restart", "true"}, &out, &bytes.Buffer{}); err == nil {
		t.Fatal("rollback without a previous binary succeeded")
	}
}
