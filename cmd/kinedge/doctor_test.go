package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/ingest/sources"
	"github.com/kinedge/kinedge/testdata/s3test"
)

func TestDoctorMasterKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "master.key")
	if r := checkMasterKey(path); r.Level != checkOK || !strings.Contains(r.Msg, "creates it") {
		t.Errorf("missing key: %v", r)
	}
	for _, tc := range []struct {
		mode  os.FileMode
		level string
		want  string
	}{
		{0o600, checkOK, "private"},
		{0o644, checkFail, "mode 0644, readable by every user: anyone who reads it can read the recordings: chmod 600 " + path},
		{0o640, checkFail, "readable by its group"},
	} {
		if err := os.WriteFile(path, []byte("k"), tc.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		if r := checkMasterKey(path); r.Level != tc.level || !strings.Contains(r.Msg, tc.want) {
			t.Errorf("mode %04o: %v, want %s with %q", tc.mode, r, tc.level, tc.want)
		}
	}
	// An interrupted rotation is a warning saying how to finish it.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".new", []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := checkMasterKey(path); r.Level != checkWarn || !strings.Contains(r.Msg, "kinedge keys rotate-master") {
		t.Errorf("pending rotation: %v, want WARN naming kinedge keys rotate-master", r)
	}
}

func TestDoctorDataDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if rs := checkDataDir(dir); len(rs) != 1 || rs[0].Level != checkOK {
		t.Errorf("0700: %v", rs)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if rs := checkDataDir(dir); len(rs) != 1 || rs[0].Level != checkWarn || !strings.Contains(rs[0].Msg, "chmod 700 "+dir) {
		t.Errorf("0755: %v", rs)
	}
	if rs := checkDataDir(filepath.Join(dir, "none")); len(rs) != 1 || rs[0].Level != checkWarn || !strings.Contains(rs[0].Msg, "does not exist") {
		t.Errorf("missing: %v", rs)
	}
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o600)
	if rs := checkDataDir(file); len(rs) != 1 || rs[0].Level != checkFail || !strings.Contains(rs[0].Msg, "not a directory") {
		t.Errorf("file: %v", rs)
	}
	if os.Geteuid() != 0 { // root writes anywhere
		ro := filepath.Join(dir, "ro")
		os.Mkdir(ro, 0o500)
		if rs := checkDataDir(ro); rs[len(rs)-1].Level != checkFail || !strings.Contains(rs[len(rs)-1].Msg, "not writable") {
			t.Errorf("read-only: %v", rs)
		}
	}
}

// fakeCamera listens on loopback and answers each connection with
// answer (nothing when empty), sending what it read to got.
func fakeCamera(t *testing.T, answer string) (addr string, got <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				var req strings.Builder
				for {
					line, err := r.ReadString('\n')
					req.WriteString(line)
					if err != nil || line == "\r\n" {
						break
					}
				}
				ch <- req.String()
				if answer == "" {
					r.ReadByte() // hold until the client hangs up
					return
				}
				c.Write([]byte(answer))
			}()
		}
	}()
	return ln.Addr().String(), ch
}

func TestDoctorCamera(t *testing.T) {
	ctx := t.Context()
	d := &doctor{Timeout: 2 * time.Second}

	// Nothing listens: FAIL naming the camera, without its password.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	r := d.checkCamera(ctx, sources.Pull{Name: "yard", Source: "rtsp://admin:hunter2@" + closed + "/live"})
	if r.Level != checkFail || !strings.Contains(r.Name, "camera yard") || !strings.Contains(r.Msg, "cannot connect to "+closed) ||
		strings.Contains(r.String(), "hunter2") {
		t.Errorf("unreachable: %v", r)
	}

	// An RTSP camera: OK; OPTIONS carries no credentials.
	addr, got := fakeCamera(t, "RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n")
	r = d.checkCamera(ctx, sources.Pull{Name: "gate", Source: "rtsp://admin:hunter2@" + addr + "/live"})
	if r.Level != checkOK || !strings.Contains(r.Msg, "200 OK") {
		t.Errorf("camera: %v", r)
	}
	if req := <-got; !strings.HasPrefix(req, "OPTIONS rtsp://"+addr+"/live RTSP/1.0\r\n") || strings.Contains(req, "hunter2") || strings.Contains(req, "admin") {
		t.Errorf("request %q", req)
	}

	// Asking for credentials is still an RTSP camera.
	addr, _ = fakeCamera(t, "RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\n\r\n")
	if r = d.checkCamera(ctx, sources.Pull{Name: "gate", Source: "rtsp://" + addr + "/live"}); r.Level != checkOK {
		t.Errorf("401: %v", r)
	}
	addr, _ = fakeCamera(t, "RTSP/1.0 404 Not Found\r\nCSeq: 1\r\n\r\n")
	if r = d.checkCamera(ctx, sources.Pull{Name: "gate", Source: "rtsp://" + addr + "/live"}); r.Level != checkWarn || !strings.Contains(r.Msg, "404") {
		t.Errorf("404: %v", r)
	}
	// Not RTSP (an HTTP server on the port): FAIL.
	addr, _ = fakeCamera(t, "HTTP/1.1 400 Bad Request\r\n\r\n")
	if r = d.checkCamera(ctx, sources.Pull{Name: "gate", Source: "rtsp://" + addr + "/live"}); r.Level != checkFail || !strings.Contains(r.Msg, "not an RTSP status line") {
		t.Errorf("http: %v", r)
	}
	// Silent: FAIL at the deadline.
	addr, _ = fakeCamera(t, "")
	d.Timeout = 300 * time.Millisecond
	start := time.Now()
	if r = d.checkCamera(ctx, sources.Pull{Name: "gate", Source: "rtsp://" + addr + "/live"}); r.Level != checkFail || !strings.Contains(r.Msg, "does not answer RTSP OPTIONS") {
		t.Errorf("silent: %v", r)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("silent camera took %s, deadline 300ms", el)
	}
}

func TestParseRTSPStatus(t *testing.T) {
	for _, tc := range []struct {
		line   string
		code   int
		reason string
		bad    bool
	}{
		{line: "RTSP/1.0 200 OK\r\n", code: 200, reason: "OK"},
		{line: "RTSP/2.0 401 Unauthorized\n", code: 401, reason: "Unauthorized"},
		{line: "RTSP/1.0 454\r\n", code: 454},
		{line: "HTTP/1.1 200 OK\r\n", bad: true},
		{line: "RTSP/1.0 20 OK\r\n", bad: true},
		{line: "RTSP/1.0 abc OK\r\n", bad: true},
		{line: "", bad: true},
	} {
		code, reason, err := parseRTSPStatus(tc.line)
		if (err != nil) != tc.bad || code != tc.code || reason != tc.reason {
			t.Errorf("%q: %d %q %v", tc.line, code, reason, err)
		}
	}
	long := "RTSP/1.0 200 " + strings.Repeat("x", 1000) + "\r\n"
	if _, _, err := readRTSPStatus(bufio.NewReaderSize(strings.NewReader(long), 512)); err == nil {
		t.Error("an over-long status line was read")
	}
}

func FuzzParseRTSPStatus(f *testing.F) {
	for _, s := range []string{"RTSP/1.0 200 OK\r\n", "RTSP/1.0 401 Unauthorized\r\n", "HTTP/1.1 200 OK\r\n", "RTSP/1.0  \r\n", "RTSP/ 999 \xff\r\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		code, reason, err := parseRTSPStatus(line)
		if err != nil {
			return
		}
		if code < 100 || code > 999 || len(reason) > 80+len("…") {
			t.Errorf("%q: %d %q", line, code, reason)
		}
	})
}

func TestLocalURL(t *testing.T) {
	for in, want := range map[string]string{":8080": "http://127.0.0.1:8080", "0.0.0.0:80": "http://127.0.0.1:80",
		"[::]:8080": "http://127.0.0.1:8080", "10.0.0.5:8080": "http://10.0.0.5:8080"} {
		if got := localURL(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// TestDoctorCommand runs kinedge doctor against a running appliance:
// exit 0 with OK lines; exit 1 with a world-readable master.key, and
// with --url where no appliance answers.
func TestDoctorCommand(t *testing.T) {
	dataDir := t.TempDir() // 0777 less the umask; serve does not chmod a directory it did not create
	if err := os.Chmod(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, dataDir, freeUDPPair(t))
	doctor := func(args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, kinedgeBin, append([]string{"doctor", "--data-dir", s.dataDir}, args...)...)
		cmd.Env = append(os.Environ(), "KINEDGE_CONFIG=")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("doctor: %v\n%s", err, out)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}
	url := "http://" + s.httpAddr
	out, code := doctor("--url", url)
	if code != 0 {
		t.Fatalf("doctor on a healthy appliance: exit %d\n%s", code, out)
	}
	for _, want := range []string{"OK   config:", "OK   data dir: " + s.dataDir, "OK   master key:", "OK   disk:"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	// The appliance is ok, or degraded (WARN) where this machine's
	// clock is not NTP-synchronised; never FAIL.
	if !strings.Contains(out, "OK   appliance: "+url+" is healthy") && !strings.Contains(out, "WARN appliance: "+url+" is degraded: ") {
		t.Errorf("appliance line missing in\n%s", out)
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("a FAIL on a healthy appliance:\n%s", out)
	}

	key := filepath.Join(s.dataDir, "master.key")
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = doctor("--url", url)
	if code != 1 || !strings.Contains(out, "FAIL master key: "+key+" has mode 0644, readable by every user") || !strings.Contains(out, "chmod 600 "+key) {
		t.Errorf("world-readable master.key: exit %d\n%s", code, out)
	}
	os.Chmod(key, 0o600)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nobody := "http://" + ln.Addr().String()
	ln.Close()
	out, code = doctor("--url", nobody)
	if code != 1 || !strings.Contains(out, "FAIL appliance: no appliance answers at "+nobody) {
		t.Errorf("no appliance: exit %d\n%s", code, out)
	}

	out, code = doctor("--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if code != 1 || !strings.Contains(out, "FAIL config:") {
		t.Errorf("missing config: exit %d\n%s", code, out)
	}
}

// TestHealthzReasons: an appliance pulling a camera that does not answer
// is "degraded" (200) with the camera in ingest.retrying and a reason in
// words, and kinedge doctor FAILs the camera by name.
func TestHealthzReasons(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	dataDir := t.TempDir()
	os.Chmod(dataDir, 0o700)
	cfgFile := filepath.Join(t.TempDir(), "kinedge.yaml")
	if err := os.WriteFile(cfgFile, []byte("streams:\n  - name: yard\n    source: rtsp://cam:hunter2@"+closed+"/live\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, dataDir, freeUDPPair(t), "KINEDGE_CONFIG="+cfgFile)
	var h struct {
		Status  string   `json:"status"`
		Reasons []string `json:"reasons"`
		Clock   *struct {
			Plausible bool `json:"plausible"`
		} `json:"clock"`
		Ingest struct {
			Cameras  int `json:"cameras"`
			Retrying []struct {
				Stream    string `json:"stream"`
				LastError string `json:"last_error"`
			} `json:"retrying"`
		} `json:"ingest"`
	}
	waitFor(t, 30*time.Second, "the camera retrying in /healthz", func() error {
		resp, err := http.Get("http://" + s.httpAddr + "/healthz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %s", resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			return err
		}
		if len(h.Ingest.Retrying) == 0 {
			return fmt.Errorf("not retrying yet: %+v", h)
		}
		return nil
	})
	if h.Status != "degraded" || h.Ingest.Cameras != 1 || h.Ingest.Retrying[0].Stream != "yard" || h.Ingest.Retrying[0].LastError == "" ||
		h.Clock == nil || !h.Clock.Plausible {
		t.Errorf("healthz %+v", h)
	}
	found := false
	for _, r := range h.Reasons {
		found = found || strings.Contains(r, "camera yard")
		if strings.Contains(r, "hunter2") {
			t.Errorf("a reason shows the camera's password: %q", r)
		}
	}
	if !found {
		t.Errorf("no reason names camera yard: %q", h.Reasons)
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kinedgeBin, "doctor", "--config", cfgFile, "--data-dir", dataDir, "--url", "http://"+s.httpAddr)
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(string(out), "FAIL camera yard (rtsp://cam:xxxxx@"+closed+"/live): cannot connect") ||
		!strings.Contains(string(out), "WARN appliance: http://"+s.httpAddr+" is degraded: ") || strings.Contains(string(out), "hunter2") {
		t.Errorf("doctor: exit %d\n%s", code, out)
	}
}

func TestDoctorBucket(t *testing.T) {
	s3 := s3test.Start(t)
	s3.MakeBucket("footage")
	d := &doctor{Timeout: 2 * time.Second}
	cfg := defaultConfig()
	cfg.S3 = S3Config{Endpoint: s3.Endpoint(), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey}
	cfg.Archive.Bucket = "footage"
	if r := d.checkBucket(t.Context(), &cfg); r.Level != checkOK {
		t.Errorf("bucket: %v", r)
	}
	cfg.Archive.Bucket = "other"
	if r := d.checkBucket(t.Context(), &cfg); r.Level != checkFail || !strings.Contains(r.Msg, `no bucket "other"`) {
		t.Errorf("no bucket: %v", r)
	}
	s3.Stop()
	cfg.Archive.Bucket = "footage"
	if r := d.checkBucket(t.Context(), &cfg); r.Level != checkFail || !strings.Contains(r.Msg, "does not answer HEAD bucket") {
		t.Errorf("server down: %v", r)
	}
}
