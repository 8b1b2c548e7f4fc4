package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestBoardSmokeArm64 is the whole path on the board's binary: the arm64
// build under qemu-aarch64 serves on loopback, the same binary's camsim
// publishes a camera over RTSP for a few seconds, the fragments show up
// in the plain HTTP API, and a range replayed as MKV is video ffprobe
// reads frames from. Every wait is on an event (a process ending, an
// answer from the server) with a generous deadline: emulated arm64 on a
// loaded 2-core box is slow.
func TestBoardSmokeArm64(t *testing.T) {
	qemu := testtool.Need(t, "qemu-aarch64-static")
	ffprobe := testtool.Need(t, "ffprobe")
	if testing.Short() {
		t.Skip("-short: the qemu smoke run takes minutes")
	}
	skipUnderRace(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	bin, err := buildBinary(ctx, target{GOOS: "linux", GOARCH: "arm64"}, "smoke-arm64", repoRoot, dir, false)
	cancel()
	if err != nil {
		t.Fatal(err)
	}

	httpAddr, rtspAddr := freeTCP(t), freeTCP(t)
	rtp, rtcp := freeUDPPair(t)
	env := append(os.Environ(),
		"KINEDGE_ACCESS_KEY=admin", "KINEDGE_SECRET_KEY=adminsecret",
		"KINEDGE_PUBLISH_USER=camera", "KINEDGE_PUBLISH_PASS=camsecret",
		"KINEDGE_WEBRTC_UDP="+freeUDP(t),
		"KINEDGE_RTSP_UDP_RTP="+rtp, "KINEDGE_RTSP_UDP_RTCP="+rtcp,
	)
	serve := testtool.Command(t, 10*time.Minute, qemu, bin, "serve",
		"--data-dir", filepath.Join(dir, "data"), "--http", httpAddr, "--rtsp", rtspAddr)
	serve.Env = env
	var logs lockedBuffer
	serve.Stdout, serve.Stderr = &logs, &logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed when the server has exited, with its error in
	// exitErr.
	exited := make(chan struct{})
	var exitErr error
	go func() {
		exitErr = serve.Wait()
		close(exited)
	}()
	defer func() {
		serve.Process.Kill()
		<-exited
	}()

	api := &smokeAPI{base: "http://" + httpAddr}
	poll(t, 5*time.Minute, "the arm64 server's /healthz", exited, &logs, func() error {
		resp, err := api.get("/healthz", nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/healthz: %s", resp.Status)
		}
		return nil
	})
	if v := regexpFind(`"version":"smoke-arm64"|version=smoke-arm64`, logs.String()); v == "" {
		t.Errorf("the server's log does not name the stamped version:\n%s", logs.String())
	}

	// The camera: the same arm64 binary's camsim, 8 s of the embedded
	// H.264+AAC clip in real time.
	camsim := testtool.Command(t, 5*time.Minute, qemu, bin, "camsim",
		"--url", "rtsp://"+rtspAddr+"/", "--duration", "8s")
	camsim.Env = env
	if out, err := camsim.CombinedOutput(); err != nil {
		t.Fatalf("camsim: %v\n%s\nserver log:\n%s", err, out, logs.String())
	}

	// The camera has hung up: its last fragment is stored when the
	// session closes. 8 s at ~2 s per fragment: at least 3.
	var frags []videoapi.FragmentJSON
	poll(t, 2*time.Minute, "fragments of cam1", exited, &logs, func() error {
		var err error
		frags, err = api.fragments("cam1")
		if err == nil && len(frags) < 3 {
			err = fmt.Errorf("%d fragments", len(frags))
		}
		return err
	})
	frames := 0
	for _, f := range frags {
		frames += f.Frames
	}
	first, last := frags[0], frags[len(frags)-1]
	start := first.ServerTimestamp
	end := last.ServerTimestamp.Add(time.Duration(last.FragmentLengthInMilliseconds) * time.Millisecond)

	resp, err := api.get("/v1/streams/cam1/media", url.Values{
		"start": {start.Format(time.RFC3339Nano)}, "end": {end.Format(time.RFC3339Nano)}, "format": {"mkv"}})
	if err != nil {
		t.Fatal(err)
	}
	mkv, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("replay: %s %v: %.300s", resp.Status, err, mkv)
	}
	out := filepath.Join(dir, "replay.mkv")
	if err := os.WriteFile(out, mkv, 0o644); err != nil {
		t.Fatal(err)
	}
	probe := testtool.Command(t, 3*time.Minute, ffprobe, "-v", "error", "-count_frames",
		"-show_entries", "stream=codec_type,codec_name,nb_read_frames", "-of", "json", out)
	pj, err := probe.Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var p struct {
		Streams []struct {
			CodecType    string `json:"codec_type"`
			CodecName    string `json:"codec_name"`
			NbReadFrames string `json:"nb_read_frames"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(pj, &p); err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, pj)
	}
	video := 0
	for _, s := range p.Streams {
		if s.CodecType == "video" {
			if s.CodecName != "h264" {
				t.Errorf("replayed video codec %s, want h264", s.CodecName)
			}
			video, _ = strconv.Atoi(s.NbReadFrames)
		}
	}
	if video == 0 {
		t.Fatalf("ffprobe decoded no video frames from the replay (%d fragments, %d frames stored):\n%s", len(frags), frames, pj)
	}
	t.Logf("arm64 under qemu: %d fragments, %d frames stored; replay %d bytes, %d video frames", len(frags), frames, len(mkv), video)

	// A clean stop: SIGTERM, exit 0.
	serve.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		if exitErr != nil {
			t.Errorf("the arm64 server exited with %v\n%s", exitErr, logs.String())
		}
	case <-time.After(2 * time.Minute):
		t.Errorf("the arm64 server did not stop within 2 min of SIGTERM")
	}
}

// smokeAPI is the plain HTTP API with the admin's Basic credentials.
type smokeAPI struct{ base string }

func (a *smokeAPI) get(path string, q url.Values) (*http.Response, error) {
	u := a.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth("admin", "adminsecret")
	c := &http.Client{Timeout: time.Minute}
	return c.Do(req)
}

func (a *smokeAPI) fragments(stream string) ([]videoapi.FragmentJSON, error) {
	resp, err := a.get("/v1/streams/"+stream+"/fragments", url.Values{"start": {"2000-01-01T00:00:00Z"}, "end": {"2100-01-01T00:00:00Z"}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("fragments: %s %.200s", resp.Status, b)
	}
	var page struct{ Fragments []videoapi.FragmentJSON }
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, err
	}
	return page.Fragments, nil
}

// poll calls fn until it returns nil; it fails the test when d passes or
// the server exits first.
func poll(t *testing.T, d time.Duration, what string, exited <-chan struct{}, logs *lockedBuffer, fn func() error) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := fn()
		if err == nil {
			return
		}
		select {
		case <-deadline.C:
			t.Fatalf("%s: not reached within %v: %v\nserver log:\n%s", what, d, err, logs.String())
		case <-exited:
			t.Fatalf("%s: the server exited\nserver log:\n%s", what, logs.String())
		case <-tick.C:
		}
	}
}

func freeTCP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func freeUDP(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// freeUDPPair returns free loopback UDP addresses for RTP and RTCP: an
// even port and its successor, as RTSP wants.
func freeUDPPair(t *testing.T) (rtp, rtcp string) {
	t.Helper()
	for range 100 {
		a, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := a.LocalAddr().(*net.UDPAddr).Port
		if port%2 != 0 {
			a.Close()
			continue
		}
		b, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port+1))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", port+1)
	}
	t.Fatal("no free even/odd UDP port pair on loopback")
	return "", ""
}

// lockedBuffer collects a process's output for failure messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func regexpFind(expr, s string) string { return regexp.MustCompile(expr).FindString(s) }
