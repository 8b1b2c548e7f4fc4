package update

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// fakeService is the service Installer drives: a restart "runs" whatever
// is at path, and a binary whose content is "crash" never comes up.
type fakeService struct {
	path     string
	mu       sync.Mutex
	running  string // the version up, "" when down
	restarts int
}

func (s *fakeService) restart(context.Context) error {
	b, err := os.ReadFile(s.path)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restarts++
	s.running = string(b)
	if s.running == "crash" {
		s.running = ""
	}
	return nil
}

func (s *fakeService) version(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running == "" {
		return "", errors.New("connection refused")
	}
	return s.running, nil
}

func installFixture(t *testing.T) (*fakeService, *Installer) {
	path := filepath.Join(t.TempDir(), "kinedge")
	if err := os.WriteFile(path, []byte("1.0"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &fakeService{path: path, running: "1.0"}
	return s, &Installer{Path: path, Restart: s.restart, Version: s.version, Timeout: 500 * time.Millisecond, Poll: 10 * time.Millisecond}
}

func TestApplyHealthy(t *testing.T) {
	s, in := installFixture(t)
	b := &Bundle{Manifest: Manifest{Version: "2.0"}, Binary: []byte("2.0")}
	if err := in.Apply(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(in.Path); string(got) != "2.0" {
		t.Fatalf("installed %q", got)
	}
	if got, _ := os.ReadFile(in.Path + ".previous"); string(got) != "1.0" {
		t.Fatalf("previous %q", got)
	}
	if st, err := os.Stat(in.Path); err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("mode: %v %v", st.Mode(), err)
	}
	if _, err := os.Stat(in.Path + ".new"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf(".new left: %v", err)
	}
	if v, _ := s.version(t.Context()); v != "2.0" || s.restarts != 1 {
		t.Fatalf("running %q after %d restarts", v, s.restarts)
	}
}

func TestApplyRollsBack(t *testing.T) {
	for _, bin := range []string{"crash", "1.5"} { // down, or up with the wrong version
		t.Run(bin, func(t *testing.T) {
			s, in := installFixture(t)
			err := in.Apply(t.Context(), &Bundle{Manifest: Manifest{Version: "2.0"}, Binary: []byte(bin)})
			if !errors.Is(err, ErrRolledBack) || !bytes.Contains([]byte(err.Error()), []byte("1.0 serves again")) {
				t.Fatalf("Apply = %v", err)
			}
			if got, _ := os.ReadFile(in.Path); string(got) != "1.0" {
				t.Fatalf("after rollback %q", got)
			}
			if v, _ := s.version(t.Context()); v != "1.0" || s.restarts != 2 {
				t.Fatalf("running %q after %d restarts", v, s.restarts)
			}
		})
	}
}

func TestSwapMissingTarget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kinedge")
	if err := Swap(path, []byte("x")); err == nil {
		t.Fatal("swap of a missing binary succeeded")
	}
	if _, err := os.Stat(path + ".new"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf(".new left: %v", err)
	}
}
