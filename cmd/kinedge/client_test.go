package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClient401SaysWhereItLooked: without credentials the CLI's 401
// names the file it tried and the variables it reads; with the data
// dir's file it names that file.
func TestClient401SaysWhereItLooked(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"message":"authentication required"}`))
	}))
	defer srv.Close()
	empty := t.TempDir()
	cf := clientFlags{url: srv.URL, dataDir: empty}
	c, err := cf.client()
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.get(t.Context(), "/v1/streams", nil)
	want := filepath.Join(empty, credentialsFile)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "KINEDGE_ACCESS_KEY") || !strings.Contains(err.Error(), "401") {
		t.Fatalf("401 without credentials: %v", err)
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, credentialsFile), []byte("access_key: AKIAEXAMPLE\nsecret_key: s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cf = clientFlags{url: srv.URL, dataDir: dir}
	if c, err = cf.client(); err != nil {
		t.Fatal(err)
	}
	_, err = c.get(t.Context(), "/v1/streams", nil)
	if err == nil || !strings.Contains(err.Error(), "the admin credentials of "+filepath.Join(dir, credentialsFile)) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("401 with the data dir's credentials: %v", err)
	}
}
