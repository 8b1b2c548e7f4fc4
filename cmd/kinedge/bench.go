package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kinedge/kinedge/ingest/camsim"
	"github.com/kinedge/kinedge/testdata"
)

// runBenchIngest measures the appliance's ingest path: it starts `kinedge
// serve` as a child process on a fresh data dir, publishes simulated
// cameras to it from this process, and prints the server's CPU time per
// stream-second of video, its peak RSS, and the frames lost between what
// the cameras sent and what was stored. Linux only (/proc).
func runBenchIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench-ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cameras := fs.Int("cameras", 16, "number of simulated cameras")
	duration := fs.Duration("duration", 60*time.Second, "media time each camera publishes")
	clip := fs.String("clip", "", "MPEG-TS `file` to publish (default: the embedded 320x240 clip; make a 1080p one with testdata/gen.sh --bench FILE)")
	transport := fs.String("transport", "tcp", "RTSP transport: tcp or udp")
	keep := fs.Bool("keep", false, "keep the data dir")
	if err := fs.Parse(args); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kinedge-bench-*")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	httpAddr, err := freeAddr()
	if err != nil {
		return err
	}
	rtspAddr, err := freeAddr()
	if err != nil {
		return err
	}
	srv := exec.Command(exe, "serve", "--data-dir", filepath.Join(dir, "data"), "--http", httpAddr, "--rtsp", rtspAddr)
	srv.Env = append(os.Environ(), "KINEDGE_ACCESS_KEY=bench", "KINEDGE_SECRET_KEY=benchsecret",
		"KINEDGE_PUBLISH_USER=cam", "KINEDGE_PUBLISH_PASS=campass", "KINEDGE_RTSP_UDP_RTP=", "KINEDGE_RTSP_UDP_RTCP=")
	if *transport == "udp" {
		srv.Env = append(srv.Env, "KINEDGE_RTSP_UDP_RTP=127.0.0.1:18000", "KINEDGE_RTSP_UDP_RTCP=127.0.0.1:18001")
	}
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
	api := &apiClient{base: "http://" + httpAddr, user: "bench", pass: "benchsecret", hc: &http.Client{}}
	if err := waitHealthy(ctx, api, exited); err != nil {
		return err
	}
	cpu0, err := procCPU(srv.Process.Pid)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "publishing %d cameras for %v (%s)…\n", *cameras, *duration, *transport)
	// Sample the server's anonymous RSS (heap, stacks: what the Go runtime
	// owns) while it works; file-backed pages (the memory-mapped value
	// log) are in VmHWM but the kernel reclaims them under pressure.
	peakAnon := make(chan int64, 1)
	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go func() {
		var peak int64
		for {
			if v, err := procStatus(srv.Process.Pid, "RssAnon:"); err == nil && v > peak {
				peak = v
			}
			select {
			case <-sampleCtx.Done():
				peakAnon <- peak
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	cfg := camsim.Config{URL: "rtsp://cam:campass@" + rtspAddr + "/", Cameras: *cameras, Transport: *transport, Duration: *duration}
	if *clip == "" {
		cfg.ClipData, _ = testdata.Clip(testdata.NameH264AAC)
	} else {
		cfg.Clip = *clip
	}
	st, err := camsim.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("camsim: %w", err)
	}
	// Sessions are over: each recorder stores its last fragment. Wait
	// until every camera's stored frames stop changing.
	stored, err := waitStored(ctx, api, st)
	if err != nil {
		return err
	}
	cpu1, err := procCPU(srv.Process.Pid)
	if err != nil {
		return err
	}
	rss, err := procStatus(srv.Process.Pid, "VmHWM:")
	if err != nil {
		return err
	}
	stopSampling()
	anon := <-peakAnon
	tot := st.Total()
	var lost, storedTotal int64
	for i, c := range st.Cameras {
		lost += c.Frames - stored[i]
		storedTotal += stored[i]
	}
	streamSeconds := 0.0
	for _, c := range st.Cameras {
		streamSeconds += c.MediaTime.Seconds()
	}
	cpu := cpu1 - cpu0
	fmt.Fprintf(stdout, "cameras              %d (%s, clip %s)\n", *cameras, *transport, clipName(*clip))
	fmt.Fprintf(stdout, "media published      %.0f stream-seconds in %v wall\n", streamSeconds, st.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(stdout, "video bitrate in     %.2f Mbit/s total\n", float64(tot.Bytes)*8/st.Elapsed.Seconds()/1e6)
	fmt.Fprintf(stdout, "server CPU           %.2f s (%.4f CPU-s per stream-second, %.1f%% of one core)\n",
		cpu, cpu/streamSeconds, 100*cpu/st.Elapsed.Seconds())
	fmt.Fprintf(stdout, "server peak RSS      %.1f MB (anonymous %.1f MB; the rest is the memory-mapped value log)\n", float64(rss)/1e6, float64(anon)/1e6)
	fmt.Fprintf(stdout, "frames sent          %d (camera-side drops %d)\n", tot.Frames, tot.Dropped)
	fmt.Fprintf(stdout, "frames stored        %d\n", storedTotal)
	fmt.Fprintf(stdout, "frames lost          %d\n", lost)
	if lost != 0 {
		return fmt.Errorf("bench-ingest: %d frames lost", lost)
	}
	return nil
}

func clipName(p string) string {
	if p == "" {
		return "embedded h264_aac.ts"
	}
	return filepath.Base(p)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitHealthy(ctx context.Context, api *apiClient, exited <-chan error) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("serve exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := api.get(ctx, "/healthz", nil); err == nil {
			resp.Body.Close()
			return nil
		}
	}
	return errors.New("serve did not become healthy within 30 s")
}

// waitStored polls each camera's stored frame count until two polls a
// second apart agree.
func waitStored(ctx context.Context, api *apiClient, st camsim.Stats) ([]int64, error) {
	var prev []int64
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		cur := make([]int64, len(st.Cameras))
		for i, c := range st.Cameras {
			frags, err := api.fragments(ctx, c.Path, time.Unix(0, 0), time.Now().Add(time.Hour))
			if err != nil && !strings.Contains(err.Error(), "404") {
				return nil, err
			}
			for _, f := range frags {
				cur[i] += int64(f.Frames)
			}
		}
		if prev != nil && equalInt64(prev, cur) {
			return cur, nil
		}
		prev = cur
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return nil, errors.New("stored frame counts did not settle within 2 min")
}

func equalInt64(a, b []int64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// procCPU returns the user+system CPU seconds of a process.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may contain spaces).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	const clkTck = 100 // USER_HZ on Linux
	return (utime + stime) / clkTck, nil
}

// procStatus returns a kB field of /proc/<pid>/status in bytes.
func procStatus(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
