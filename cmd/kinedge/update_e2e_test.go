package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kinedge/kinedge/firmware/update"
)

// fakeSystemd stands in for `systemctl restart kinedge`: a restart stops
// the running child (SIGTERM) and starts whatever binary is at path now,
// serving on loopback with a temp data dir, as systemd would.
type fakeSystemd struct {
	t        *testing.T
	path     string
	dataDir  string
	httpAddr string
	env      []string
	logPath  string

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	restarts int
}

func newFakeSystemd(t *testing.T, path string) *fakeSystemd {
	dir := t.TempDir()
	s := &fakeSystemd{t: t, path: path, dataDir: filepath.Join(dir, "data"), logPath: filepath.Join(dir, "service.log"),
		httpAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	udp := freeUDPPair(t)
	s.env = append(os.Environ(),
		fmt.Sprintf("KINEDGE_RTSP=127.0.0.1:%d", freePort(t)),
		fmt.Sprintf("KINEDGE_RTSP_UDP_RTP=127.0.0.1:%d", udp),
		fmt.Sprintf("KINEDGE_RTSP_UDP_RTCP=127.0.0.1:%d", udp+1),
		"KINEDGE_WEBRTC_UDP="+freeUDPAddr(t),
		"KINEDGE_ACCESS_KEY=admin", "KINEDGE_SECRET_KEY=adminsecret",
		"KINEDGE_PUBLISH_USER=camera", "KINEDGE_PUBLISH_PASS=camsecret")
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			b, _ := os.ReadFile(s.logPath)
			t.Logf("service log:\n%s", b)
		}
	})
	return s
}

// stop ends the running child, SIGKILL 20 s after SIGTERM.
func (s *fakeSystemd) stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

func (s *fakeSystemd) restart(ctx context.Context) error {
	s.stop()
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	// The service lives until stop or the test's end, not the restart's ctx.
	cmd := exec.Command(s.path, "serve", "--data-dir", s.dataDir, "--http", s.httpAddr)
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.restarts++
	s.mu.Unlock()
	return nil
}

func (s *fakeSystemd) version(t *testing.T) string {
	t.Helper()
	v, err := healthVersion(t.Context(), &http.Client{Timeout: 5 * time.Second}, "http://"+s.httpAddr)
	if err != nil {
		t.Fatalf("service not healthy: %v", err)
	}
	return v
}

// updateFixture installs the test's kinedge (version dev) at a temp path
// and starts it under the fake systemd.
func updateFixture(t *testing.T) (target string, sd *fakeSystemd, key ed25519.PrivateKey, pub string) {
	target = filepath.Join(t.TempDir(), "kinedge")
	b, err := os.ReadFile(kinedgeBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, b, 0o755); err != nil {
		t.Fatal(err)
	}
	sd = newFakeSystemd(t, target)
	if err := sd.restart(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the installed version healthy", func() error {
		_, err := healthVersion(t.Context(), &http.Client{Timeout: 5 * time.Second}, "http://"+sd.httpAddr)
		return err
	})
	if v := sd.version(t); v != "dev" {
		t.Fatalf("installed version %q, want dev", v)
	}
	privFile, pub, err := update.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	key, err = update.ParsePrivateKey(privFile)
	if err != nil {
		t.Fatal(err)
	}
	return target, sd, key, pub
}

func writeBundle(t *testing.T, key ed25519.PrivateKey, bin []byte, ver string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := update.Write(&buf, bin, update.NewManifest(bin, ver, update.Arch(), time.Now()), key); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "bundle.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}

func TestUpdateBadSignature(t *testing.T) {
	target, sd, _, pub := updateFixture(t)
	_, other, _ := ed25519.GenerateKey(nil)
	bin, _ := os.ReadFile(kinedgeBin)
	in := installer{bundle: writeBundle(t, other, bin, "9.9.9"), target: target, keys: pub,
		url: "http://" + sd.httpAddr, version: "dev", timeout: time.Minute, restart: sd.restart}
	_, err := in.run(t.Context())
	if !errors.Is(err, update.ErrSignature) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("bad signature: %v", err)
	}
	if !sameFile(t, target, kinedgeBin) || sd.restarts != 1 {
		t.Fatalf("refused bundle touched the install (restarts %d)", sd.restarts)
	}
	for _, suffix := range []string{".new", ".previous"} {
		if _, err := os.Stat(target + suffix); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s exists after a refused bundle: %v", suffix, err)
		}
	}
	// Through the command line, with the key from the environment.
	t.Setenv("KINEDGE_UPDATE_PUBLIC_KEY", pub)
	err = run(t.Context(), []string{"update", "--target", target, "--restart", "false", in.bundle}, &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, update.ErrSignature) {
		t.Fatalf("kinedge update with a bad signature: %v", err)
	}
}

func TestUpdateCrashingBundleRollsBack(t *testing.T) {
	target, sd, key, pub := updateFixture(t)
	in := installer{bundle: writeBundle(t, key, []byte("#!/bin/sh\necho crashing >&2\nexit 1\n"), "9.9.9-crash"), target: target, keys: pub,
		url: "http://" + sd.httpAddr, version: "dev", timeout: 15 * time.Second, restart: sd.restart}
	_, err := in.run(t.Context())
	if !errors.Is(err, update.ErrRolledBack) || !strings.Contains(err.Error(), "dev serves again") {
		t.Fatalf("crashing bundle: %v", err)
	}
	if !sameFile(t, target, kinedgeBin) {
		t.Fatal("the old binary is not back at the target")
	}
	if v := sd.version(t); v != "dev" || sd.restarts != 3 {
		t.Fatalf("after rollback version %q, %d restarts", v, sd.restarts)
	}
	if b, _ := os.ReadFile(sd.logPath); !bytes.Contains(b, []byte("crashing")) {
		t.Fatal("the crashing binary never ran")
	}
}

func TestUpdateGoodBundle(t *testing.T) {
	const newVersion = "9.9.9-update-test"
	newBin := filepath.Join(t.TempDir(), "kinedge")
	build := []string{"build", "-o", newBin, "-ldflags", "-X main.version=" + newVersion}
	if raceEnabled {
		build = append(build, "-race")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	out, err := exec.CommandContext(ctx, "go", append(build, ".")...).CombinedOutput()
	cancel()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(build, " "), err, out)
	}
	target, sd, key, pub := updateFixture(t)
	// The operator's side through the command line: a key file and a bundle.
	keyFile := filepath.Join(t.TempDir(), "update.key")
	var stdout bytes.Buffer
	if err := run(t.Context(), []string{"update", "keygen", "-o", keyFile}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	if err := run(t.Context(), []string{"update", "keygen", "-o", keyFile}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil {
		t.Fatal("keygen overwrote a key")
	}
	_, pubLine, _ := strings.Cut(stdout.String(), "public_key: ")
	pub2 := strings.Trim(strings.TrimSpace(pubLine), `"`)
	if k, err := base64.StdEncoding.DecodeString(pub2); err != nil || len(k) != ed25519.PublicKeySize {
		t.Fatalf("keygen printed %q", stdout.String())
	}
	bundle := filepath.Join(t.TempDir(), "bundle.tar")
	if err := run(t.Context(), []string{"update", "bundle", "--key", keyFile, "--binary", newBin, "--version", newVersion, "-o", bundle}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	// Re-signed with the fixture's key, as an operator rolling keys over would.
	keyFile2 := filepath.Join(t.TempDir(), "fixture.key")
	os.WriteFile(keyFile2, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600)
	if err := run(t.Context(), []string{"update", "sign", "--key", keyFile2, bundle}, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	in := installer{bundle: bundle, target: target, keys: pub + "," + pub2,
		url: "http://" + sd.httpAddr, version: "dev", timeout: time.Minute, restart: sd.restart}
	v, err := in.run(t.Context())
	if err != nil || v != newVersion {
		t.Fatalf("good bundle: %q %v", v, err)
	}
	if v := sd.version(t); v != newVersion {
		t.Fatalf("serving version %q", v)
	}
	if !sameFile(t, target, newBin) || !sameFile(t, target+".previous", kinedgeBin) {
		t.Fatal("target is not the new binary, or .previous not the old one")
	}
	// Installing it again is refused: it is the running version now.
	in.version = newVersion
	if _, err := in.run(t.Context()); !errors.Is(err, update.ErrSameVersion) {
		t.Fatalf("same version again: %v", err)
	}
}
