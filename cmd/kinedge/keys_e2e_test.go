package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
)

// keysFixture is a stopped appliance's data dir with sealed blobs of three
// data keys (three aliases), the blobs kept by the test.
type keysFixture struct {
	dataDir string
	blobs   map[string][]byte // stream → sealed blob of fragment 1
	master  seal.MasterKey    // the original master key
}

const keysFixtureKeys = 3

func newKeysFixture(t *testing.T) *keysFixture {
	t.Helper()
	f := &keysFixture{dataDir: t.TempDir(), blobs: make(map[string][]byte)}
	cfg := defaultConfig()
	cfg.DataDir = f.dataDir
	masters, created, err := loadMasterKeys(&cfg, slog.New(slog.DiscardHandler))
	if err != nil || !created {
		t.Fatalf("first master key: created=%v err=%v", created, err)
	}
	f.master = masters.Active
	withFixtureIndex(t, f.dataDir, func(idx *index.Index) {
		k := &seal.Keyring{Store: idx.Keys(), Master: masters.Active}
		for i := range keysFixtureKeys {
			stream := fmt.Sprintf("cam%d", i)
			blob, _, err := k.Seal(context.Background(), "", stream, 1, plainOf(stream))
			if err != nil {
				t.Fatal(err)
			}
			f.blobs[stream] = blob
		}
	})
	return f
}

func plainOf(stream string) []byte {
	return bytes.Repeat([]byte("media of "+stream+" "), 20)
}

func withFixtureIndex(t *testing.T, dataDir string, fn func(*index.Index)) {
	t.Helper()
	db, err := store.Open(store.Options{Dir: filepath.Join(dataDir, "db"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	idx, err := index.Open(index.Options{DB: db, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	fn(idx)
}

// openAll opens every blob the way serve does at start (master keys from
// the files, a keyring accepting the pending and retired ones) and returns
// the active master key's check value.
func (f *keysFixture) openAll(t *testing.T) seal.MasterKeys {
	t.Helper()
	cfg := defaultConfig()
	cfg.DataDir = f.dataDir
	masters, _, err := loadMasterKeys(&cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("master keys after the kill: %v", err)
	}
	withFixtureIndex(t, f.dataDir, func(idx *index.Index) {
		k := &seal.Keyring{Store: idx.Keys(), Master: masters.Active, Retired: masters.Others()}
		if err := k.Initialize(context.Background()); err != nil {
			t.Fatalf("keyring after the kill: %v", err)
		}
		for stream, blob := range f.blobs {
			got, err := k.Open(context.Background(), stream, 1, blob)
			if err != nil {
				t.Fatalf("open %s after the kill: %v", stream, err)
			}
			if !bytes.Equal(got, plainOf(stream)) {
				t.Fatalf("open %s: wrong plaintext", stream)
			}
		}
	})
	return masters
}

func runKeysCmd(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kinedgeBin, append([]string{"keys"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestKeysRotateMasterKill9 kills rotate-master with SIGKILL after each of
// its durable steps (the pending key written, each data key re-wrapped,
// the old key retired, the switch), then checks that every blob opens
// with the keys the files hold, that a second rotate-master finishes the
// rotation, and that afterwards the new master key alone opens everything.
func TestKeysRotateMasterKill9(t *testing.T) {
	steps := 1 + keysFixtureKeys + 1 + 1
	for n := 1; n <= steps; n++ {
		t.Run(fmt.Sprintf("after-step-%d", n), func(t *testing.T) {
			f := newKeysFixture(t)
			out, err := runKeysCmd(t, []string{rotateCrashEnv + "=" + fmt.Sprint(n)}, "rotate-master", "--data-dir", f.dataDir)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("rotate-master with a kill after step %d: err = %v, want death by SIGKILL\n%s", n, err, out)
			}
			mid := f.openAll(t)
			if n < steps && mid.Pending.IsZero() {
				t.Fatalf("after step %d: no pending master key file", n)
			}
			// A list in a child process while the rotation is unfinished.
			out, err = runKeysCmd(t, nil, "list", "--data-dir", f.dataDir)
			if err != nil {
				t.Fatalf("keys list: %v\n%s", err, out)
			}
			if n < steps && !strings.Contains(out, "pending") {
				t.Fatalf("keys list does not show the unfinished rotation:\n%s", out)
			}
			if n < steps {
				out, err = runKeysCmd(t, nil, "rotate-master", "--data-dir", f.dataDir)
				if err != nil {
					t.Fatalf("resumed rotate-master: %v\n%s", err, out)
				}
			}
			after := f.openAll(t)
			if after.Active.CheckValue() == f.master.CheckValue() || !after.Pending.IsZero() {
				t.Fatalf("after the rotation: active %s (old %s), pending %v", after.Active.CheckValue(), f.master.CheckValue(), !after.Pending.IsZero())
			}
			if n < steps && mid.Pending.CheckValue() != after.Active.CheckValue() {
				t.Fatalf("the resumed rotation switched to %s, not to the pending key %s it started with", after.Active.CheckValue(), mid.Pending.CheckValue())
			}
			// Every data key re-wrapped: the new key alone opens all.
			withFixtureIndex(t, f.dataDir, func(idx *index.Index) {
				recs, err := idx.Keys().ListKeys(context.Background())
				if err != nil || len(recs) != keysFixtureKeys {
					t.Fatalf("ListKeys: %d records, %v", len(recs), err)
				}
				for _, r := range recs {
					if r.MasterCheck != after.Active.CheckValue() {
						t.Fatalf("data key %s still wrapped by %s", r.ID, r.MasterCheck)
					}
				}
				k := &seal.Keyring{Store: idx.Keys(), Master: after.Active}
				for stream, blob := range f.blobs {
					if _, err := k.Open(context.Background(), stream, 1, blob); err != nil {
						t.Fatalf("open %s with the new master key only: %v", stream, err)
					}
				}
			})
			// Retire the old key: its file goes, and the list shows no key material.
			old := f.master.CheckValue()
			if out, err := runKeysCmd(t, nil, "retire-master", old, "--data-dir", f.dataDir); err != nil {
				t.Fatalf("retire-master: %v\n%s", err, out)
			}
			if _, err := os.Stat(seal.RetiredMasterPath(filepath.Join(f.dataDir, "master.key"), old)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("retired key file after retire-master: %v", err)
			}
			out, err = runKeysCmd(t, nil, "list", "--data-dir", f.dataDir)
			if err != nil {
				t.Fatal(err)
			}
			key, err := os.ReadFile(filepath.Join(f.dataDir, "master.key"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out, fmt.Sprintf("%x", key)) || strings.Contains(out, old) {
				t.Fatalf("keys list shows key material or the retired key:\n%s", out)
			}
		})
	}
}

// TestKeysRetireMasterInUse: a retired key still wrapping data keys (an
// unfinished rotation's) is not deleted.
func TestKeysRetireMasterInUse(t *testing.T) {
	f := newKeysFixture(t)
	// Kill after the first re-wrap: two keys are still wrapped by the old master.
	out, err := runKeysCmd(t, []string{rotateCrashEnv + "=2"}, "rotate-master", "--data-dir", f.dataDir)
	if err == nil {
		t.Fatalf("rotate-master was not killed:\n%s", out)
	}
	// Make the old key a retired file, as step 3 would, and try to delete it.
	path := filepath.Join(f.dataDir, "master.key")
	if err := os.WriteFile(seal.RetiredMasterPath(path, f.master.CheckValue()), f.master[:], 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runKeysCmd(t, nil, "retire-master", f.master.CheckValue(), "--data-dir", f.dataDir)
	if err == nil || !strings.Contains(out, "still wrapped by master key "+f.master.CheckValue()) {
		t.Fatalf("retire-master of a key in use: err = %v\n%s", err, out)
	}
}

// TestKeysRefusedWhileServing: the database is locked by a running
// appliance, and the error says to stop it.
func TestKeysRefusedWhileServing(t *testing.T) {
	f := newKeysFixture(t)
	withFixtureIndex(t, f.dataDir, func(*index.Index) {
		out, err := runKeysCmd(t, nil, "rotate-master", "--data-dir", f.dataDir)
		if err == nil || !strings.Contains(out, "stop kinedge serve first") {
			t.Fatalf("rotate-master on a locked database: err = %v\n%s", err, out)
		}
	})
}

// TestMasterKeySources: a key readable by others is refused with the chmod
// to run, a master key set twice is refused naming both, a missing
// master_key_file is not replaced by a new key, and the default still
// creates <data_dir>/master.key 0600.
func TestMasterKeySources(t *testing.T) {
	discard := slog.New(slog.DiscardHandler)
	hexKey := fmt.Sprintf("%x", bytes.Repeat([]byte{7}, 32))

	t.Run("default", func(t *testing.T) {
		cfg := defaultConfig()
		cfg.DataDir = t.TempDir()
		if _, created, err := loadMasterKeys(&cfg, discard); err != nil || !created {
			t.Fatalf("created=%v err=%v", created, err)
		}
		fi, err := os.Stat(filepath.Join(cfg.DataDir, "master.key"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("master.key: %v %v", fi, err)
		}
	})
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		t.Run(fmt.Sprintf("mode-%04o", mode), func(t *testing.T) {
			for _, viaFile := range []bool{false, true} {
				cfg := defaultConfig()
				cfg.DataDir = t.TempDir()
				path := filepath.Join(cfg.DataDir, "master.key")
				if viaFile {
					path = filepath.Join(t.TempDir(), "usb.key")
					cfg.MasterKeyFile = path
				}
				if err := os.WriteFile(path, bytes.Repeat([]byte{9}, 32), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, mode); err != nil {
					t.Fatal(err)
				}
				_, _, err := loadMasterKeys(&cfg, discard)
				if !errors.Is(err, seal.ErrBadMasterKey) || !strings.Contains(err.Error(), "chmod 600 "+path) {
					t.Fatalf("key file mode %04o: err = %v, want a refusal naming chmod 600 %s", mode, err, path)
				}
			}
		})
	}
	t.Run("missing-file", func(t *testing.T) {
		cfg := defaultConfig()
		cfg.DataDir = t.TempDir()
		cfg.MasterKeyFile = filepath.Join(t.TempDir(), "not-mounted", "master.key")
		if _, _, err := loadMasterKeys(&cfg, discard); err == nil || !strings.Contains(err.Error(), "mounted") {
			t.Fatalf("missing master_key_file: err = %v", err)
		}
		if _, err := os.Stat(cfg.MasterKeyFile); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a missing master_key_file was created: %v", err)
		}
	})
	keyFile := filepath.Join(t.TempDir(), "usb.key")
	if err := os.WriteFile(keyFile, bytes.Repeat([]byte{9}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		yaml string
		env  map[string]string
		want []string // in the error
	}{
		{"config-and-env", "master_key: " + hexKey + "\n", map[string]string{"KINEDGE_MASTER_KEY": hexKey}, []string{"master_key", "KINEDGE_MASTER_KEY"}},
		{"env-and-file", "master_key_file: " + keyFile + "\n", map[string]string{"KINEDGE_MASTER_KEY": hexKey}, []string{"KINEDGE_MASTER_KEY", "master_key_file " + keyFile}},
		{"config-and-file", "master_key: " + hexKey + "\nmaster_key_file: " + keyFile + "\n", nil, []string{"master_key", "master_key_file " + keyFile}},
		{"env-and-env-file", "", map[string]string{"KINEDGE_MASTER_KEY": hexKey, "KINEDGE_MASTER_KEY_FILE": keyFile}, []string{"KINEDGE_MASTER_KEY", "master_key_file " + keyFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KINEDGE_MASTER_KEY", "")
			t.Setenv("KINEDGE_MASTER_KEY_FILE", "")
			t.Setenv("KINEDGE_CONFIG", "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := []string{"--data-dir", t.TempDir()}
			if tc.yaml != "" {
				cf := filepath.Join(t.TempDir(), "kinedge.yaml")
				if err := os.WriteFile(cf, []byte(tc.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", cf)
			}
			_, _, err := loadConfig(args, io.Discard)
			if err == nil {
				t.Fatal("a master key set twice was accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not name %q", err, w)
				}
			}
			if strings.Contains(err.Error(), hexKey) {
				t.Fatalf("the error shows the key: %v", err)
			}
		})
	}
}
