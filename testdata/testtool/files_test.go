package testtool

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDirHolds(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "b", "f"), []byte("xx secret yy"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "g"), []byte("nothing"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !DirHolds(t, dir, []byte("secret")) {
		t.Error("the secret in a/b/f not found")
	}
	if DirHolds(t, dir, []byte("absent")) {
		t.Error("found what no file holds")
	}
}
