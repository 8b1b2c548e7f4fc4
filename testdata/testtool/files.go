package testtool

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// DirHolds reports whether a file under dir holds needle (a secret or a
// media marker that must not be stored in clear).
func DirHolds(t testing.TB, dir string, needle []byte) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		found = bytes.Contains(b, needle)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
