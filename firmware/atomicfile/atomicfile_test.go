package atomicfile

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestWriteReplaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "creds.json")
	for _, data := range [][]byte{[]byte("first"), []byte("second, longer")} {
		if err := Write(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read %q, %v; want %q", got, err, data)
		}
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", st.Mode(), err)
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v, %v", st.Mode(), err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".tmp-*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// TestCreateOneWinner races creators: exactly one creates the file, the
// rest see it there, and its content is the winner's.
func TestCreateOneWinner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	const n = 8
	var wg sync.WaitGroup
	won := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			won[i], errs[i] = Create(path, []byte{byte(i)}, 0o600)
		}()
	}
	wg.Wait()
	winner := -1
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if won[i] {
			if winner >= 0 {
				t.Fatalf("creators %d and %d both won", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatal("no creator won")
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, []byte{byte(winner)}) {
		t.Fatalf("file holds %v (%v), the winner wrote %d", got, err, winner)
	}
	if created, err := Create(path, []byte("other"), 0o600); created || err != nil {
		t.Fatalf("Create over an existing file: %v %v", created, err)
	}
}

func TestWriteErrorNamesThePath(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := Write(filepath.Join(blocker, "x"), []byte("y"), 0o600) // parent is a file
	if err == nil {
		t.Fatal("write under a regular file succeeded")
	}
}
