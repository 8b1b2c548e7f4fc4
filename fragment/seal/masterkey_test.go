package seal

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestParseMasterKey(t *testing.T) {
	key := testMaster()
	tests := []struct {
		name  string
		in    string
		want  MasterKey
		isErr bool
	}{
		{"hex", hex.EncodeToString(key[:]), key, false},
		{"hex upper", strings.ToUpper(hex.EncodeToString(key[:])), key, false},
		{"hex with newline", hex.EncodeToString(key[:]) + "\n", key, false},
		{"base64", base64.StdEncoding.EncodeToString(key[:]), key, false},
		{"base64 raw", base64.RawStdEncoding.EncodeToString(key[:]), key, false},
		{"base64 url", base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb, 0xff}, 16)),
			MasterKey(bytes.Repeat([]byte{0xfb, 0xff}, 16)), false},
		{"base64 spaces", "  " + base64.StdEncoding.EncodeToString(key[:]) + " ", key, false},
		{"empty", "", MasterKey{}, true},
		{"hex too short", hex.EncodeToString(key[:31]), MasterKey{}, true},
		{"hex too long", hex.EncodeToString(append(key[:], 0)), MasterKey{}, true},
		{"base64 16 bytes", base64.StdEncoding.EncodeToString(key[:16]), MasterKey{}, true},
		{"garbage", "not a key, not at all!", MasterKey{}, true},
		{"all zero", strings.Repeat("0", 64), MasterKey{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMasterKey(tt.in)
			if tt.isErr {
				if !errors.Is(err, ErrBadMasterKey) {
					t.Fatalf("error = %v, want ErrBadMasterKey", err)
				}
				if s := strings.TrimSpace(tt.in); len(s) > 4 && strings.Contains(err.Error(), s) {
					t.Fatalf("error %q repeats the secret input", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %x, want %x", got[:], tt.want[:])
			}
		})
	}
}

func TestMasterKeyDoesNotLeak(t *testing.T) {
	m := testMaster()
	secretHex := hex.EncodeToString(m[:])
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "master", m)
	for name, s := range map[string]string{
		"%v":   fmt.Sprintf("%v", m),
		"%s":   fmt.Sprintf("%s", m), //lint:ignore S1025 the verb is what is tested
		"%#v":  fmt.Sprintf("%#v", m),
		"%x":   fmt.Sprintf("%x", m),
		"slog": logged.String(),
	} {
		if strings.Contains(s, secretHex) || strings.Contains(s, fmt.Sprint(m[:])) {
			t.Errorf("%s prints the key: %s", name, s)
		}
		if name != "%x" && !strings.Contains(s, m.CheckValue()) { // %x hex-encodes String()
			t.Errorf("%s does not print the check value: %s", name, s)
		}
	}
	if cv := m.CheckValue(); len(cv) != 16 || cv == NewMasterKey().CheckValue() {
		t.Errorf("CheckValue = %q: want 16 hex digits that differ between keys", cv)
	}
}

func TestLoadOrCreateMasterKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data", MasterKeyFile)

	m1, created, err := LoadOrCreateMasterKey(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if !created || m1.IsZero() {
		t.Fatalf("first start: created = %v, zero = %v; want a new key", created, m1.IsZero())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != MasterKeySize {
		t.Fatalf("key file mode %v size %d, want 0600 and %d bytes", fi.Mode().Perm(), fi.Size(), MasterKeySize)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("data dir holds %d entries after creation, want only %s", len(entries), MasterKeyFile)
	}

	m2, created, err := LoadOrCreateMasterKey(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if created || m2 != m1 {
		t.Fatalf("second start: created = %v, same key = %v; want the stored key", created, m2 == m1)
	}
}

func TestLoadOrCreateMasterKeyConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), MasterKeyFile)
	const n = 8
	keys := make([]MasterKey, n)
	createdCount := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m, created, err := LoadOrCreateMasterKey(path, "")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			keys[i] = m
			if created {
				createdCount++
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i := range keys {
		if keys[i] != keys[0] {
			t.Fatalf("concurrent starts got different master keys")
		}
	}
	if createdCount != 1 {
		t.Fatalf("%d starts report creating the key, want 1", createdCount)
	}
	stored, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, keys[0][:]) {
		t.Fatal("the file holds another key than the one returned")
	}
}

func TestLoadMasterKeyRejects(t *testing.T) {
	good := testMaster()
	tests := []struct {
		name    string
		content []byte
		perm    os.FileMode
		want    string
	}{
		{"group readable", good[:], 0o640, "chmod 600"},
		{"world readable", good[:], 0o604, "mode 0604"},
		{"short", good[:31], 0o600, "31 bytes"},
		{"long", append(good[:], '\n'), 0o600, "longer than 32"},
		{"empty", nil, 0o600, "0 bytes"},
		{"all zero", make([]byte, MasterKeySize), 0o600, "all zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), MasterKeyFile)
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.perm); err != nil {
				t.Fatal(err)
			}
			_, _, err := LoadOrCreateMasterKey(path, "")
			if !errors.Is(err, ErrBadMasterKey) {
				t.Fatalf("error = %v, want ErrBadMasterKey", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file and %q", err, tt.want)
			}
			after, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(after, tt.content) {
				t.Fatal("a rejected key file was modified")
			}
		})
	}
	t.Run("fifo", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), MasterKeyFile)
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		if _, _, err := LoadOrCreateMasterKey(path, ""); !errors.Is(err, ErrBadMasterKey) {
			t.Fatalf("error = %v, want ErrBadMasterKey", err)
		}
	})
	t.Run("symlink to a good file", func(t *testing.T) {
		dir := t.TempDir()
		target := filepath.Join(dir, "secret")
		if err := os.WriteFile(target, good[:], 0o600); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, MasterKeyFile)
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
		m, created, err := LoadOrCreateMasterKey(path, "")
		if err != nil || created || m != good {
			t.Fatalf("got %v, created %v, %v; want the target's key", m, created, err)
		}
	})
	t.Run("directory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), MasterKeyFile)
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadOrCreateMasterKey(path, ""); !errors.Is(err, ErrBadMasterKey) {
			t.Fatalf("error = %v, want ErrBadMasterKey", err)
		}
	})
}

func TestMasterKeyEnv(t *testing.T) {
	key := testMaster()
	tests := []struct {
		name string
		env  string
	}{
		{"hex", hex.EncodeToString(key[:])},
		{"base64", base64.StdEncoding.EncodeToString(key[:])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), MasterKeyFile)
			m, created, err := LoadOrCreateMasterKey(path, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if m != key || created {
				t.Fatalf("got key %v created %v, want %v from the environment", m, created, key)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the key file was touched although %s is set: %v", MasterKeyEnv, err)
			}
		})
	}
	t.Run("env wins over file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), MasterKeyFile)
		fileKey, _, err := LoadOrCreateMasterKey(path, "")
		if err != nil {
			t.Fatal(err)
		}
		m, _, err := LoadOrCreateMasterKey(path, hex.EncodeToString(key[:]))
		if err != nil || m != key || m == fileKey {
			t.Fatalf("got %v, %v; want the environment's key", m, err)
		}
	})
	t.Run("bad env", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), MasterKeyFile)
		_, _, err := LoadOrCreateMasterKey(path, "abcd")
		if !errors.Is(err, ErrBadMasterKey) || !strings.Contains(err.Error(), MasterKeyEnv) {
			t.Fatalf("error = %v, want ErrBadMasterKey naming %s", err, MasterKeyEnv)
		}
	})
}

// FuzzParseMasterKey: the environment value is untrusted text. It must never
// panic, and an accepted value is a non-zero key whose hex form parses back.
func FuzzParseMasterKey(f *testing.F) {
	key := testMaster()
	for _, s := range []string{
		hex.EncodeToString(key[:]), base64.StdEncoding.EncodeToString(key[:]),
		base64.RawURLEncoding.EncodeToString(key[:]), "", "abcd", strings.Repeat("0", 64),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMasterKey(s)
		if err != nil {
			if !m.IsZero() {
				t.Fatal("key returned with an error")
			}
			return
		}
		if m.IsZero() {
			t.Fatal("accepted a zero key")
		}
		again, err := ParseMasterKey(hex.EncodeToString(m[:]))
		if err != nil || again != m {
			t.Fatalf("hex round trip: %v", err)
		}
	})
}
