package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// The end-to-end tests run the real binary with real peers: ffmpeg
// publishes over RTSP, ffprobe and ffmpeg check what comes back.

var kinedgeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kinedge-e2e-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kinedgeBin = filepath.Join(dir, "kinedge")
	// Under -race the binary is a race build too: the races that matter
	// are in the server, which the tests only reach through it.
	build := []string{"build", "-o", kinedgeBin}
	if raceEnabled {
		build = append(build, "-race")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	out, err := exec.CommandContext(ctx, "go", append(build, ".")...).CombinedOutput()
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building kinedge (go %s): %v\n%s", strings.Join(build, " "), err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freeUDPAddr returns a free UDP address on loopback.
func freeUDPAddr(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// freeUDPPair returns an even UDP port whose successor is free too (RTP
// and RTCP).
func freeUDPPair(t testing.TB) int {
	t.Helper()
	rtp, _, err := benchUDPPorts()
	if err != nil {
		t.Fatal(err)
	}
	_, port, err := net.SplitHostPort(rtp)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// server is a running `kinedge serve`.
type server struct {
	t        testing.TB
	dataDir  string
	httpAddr string
	rtspAddr string
	udpPort  int
	// webrtcUDP is the ICE address (loopback: loopback candidates).
	webrtcUDP string
	cmd       *exec.Cmd
	cancel    context.CancelFunc // kills cmd
	logMu     sync.Mutex
	log       bytes.Buffer
	done      chan struct{}
	env       []string
	// unhealthyOK lets start accept a 503 from /healthz (a start on a
	// full disk).
	unhealthyOK bool
	// healthGet, when set, replaces GET http://<httpAddr>/healthz (a server
	// with plain HTTP off).
	healthGet func() (*http.Response, error)
}

func startServer(t testing.TB, dataDir string, udpPort int, env ...string) *server {
	t.Helper()
	s := &server{t: t, dataDir: dataDir, udpPort: udpPort, env: env,
		httpAddr:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		rtspAddr:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		webrtcUDP: freeUDPAddr(t),
	}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	t := s.t
	// The server's deadline is the test's: stop kills it 20 s after
	// SIGTERM, and it never outlives go test's -timeout.
	ctx, kill := context.WithCancel(context.Background())
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := dt.Deadline(); ok {
			ctx, kill = context.WithDeadline(context.Background(), d)
		}
	}
	cmd := exec.CommandContext(ctx, kinedgeBin, "serve", "--data-dir", s.dataDir, "--http", s.httpAddr, "--rtsp", s.rtspAddr)
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("KINEDGE_RTSP_UDP_RTP=127.0.0.1:%d", s.udpPort),
		fmt.Sprintf("KINEDGE_RTSP_UDP_RTCP=127.0.0.1:%d", s.udpPort+1),
		"KINEDGE_WEBRTC_UDP="+s.webrtcUDP,
		"KINEDGE_ACCESS_KEY=admin", "KINEDGE_SECRET_KEY=adminsecret",
		"KINEDGE_PUBLISH_USER=camera", "KINEDGE_PUBLISH_PASS=camsecret",
		"KINEDGE_LOG_LEVEL=debug")
	cmd.Env = append(cmd.Env, s.env...)
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		kill()
		t.Fatal(err)
	}
	s.cmd, s.cancel = cmd, kill
	s.done = make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.logMu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.logMu.Unlock()
		}
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		close(s.done)
	}()
	waitFor(t, time.Minute, "server health", func() error {
		get := s.healthGet
		if get == nil {
			get = func() (*http.Response, error) { return http.Get("http://" + s.httpAddr + "/healthz") }
		}
		resp, err := get()
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 && !(s.unhealthyOK && resp.StatusCode == http.StatusServiceUnavailable) {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// stop sends SIGTERM and waits: a clean shutdown finishes open fragments.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.cancel()
		<-s.done
		s.t.Errorf("server did not stop within 20 s after SIGTERM")
	}
	s.cancel()
	if s.cmd.ProcessState != nil && !s.cmd.ProcessState.Success() {
		s.t.Errorf("server exited with %v\n%s", s.cmd.ProcessState, s.logs())
	}
	s.cmd = nil
}

func (s *server) logs() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

func (s *server) get(path string, q url.Values) (*http.Response, error) {
	u := "http://" + s.httpAddr + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.SetBasicAuth("admin", "adminsecret")
	return http.DefaultClient.Do(req)
}

func (s *server) fragments(t *testing.T, stream string) []videoapi.FragmentJSON {
	t.Helper()
	resp, err := s.get("/v1/streams/"+stream+"/fragments", url.Values{"start": {"2000-01-01T00:00:00Z"}, "end": {"2100-01-01T00:00:00Z"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("fragments: %s %s", resp.Status, b)
	}
	var page struct{ Fragments []videoapi.FragmentJSON }
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	return page.Fragments
}

// metric returns a per-stream counter from /metrics.
func (s *server) metric(t *testing.T, name, stream string) int {
	t.Helper()
	resp, err := s.get("/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	prefix := fmt.Sprintf("%s{stream=%q} ", name, stream)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric line %q", line)
			}
			return int(f)
		}
	}
	return 0
}

// waitFor polls fn until it returns nil or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = fn(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within %v: %v", what, d, err)
}

func repoFile(name string) string { return filepath.Join("..", "..", "testdata", name) }

// probe is the part of ffprobe's JSON the tests read.
type probe struct {
	Streams []struct {
		CodecName    string `json:"codec_name"`
		CodecType    string `json:"codec_type"`
		NbReadPacket string `json:"nb_read_packets"`
		Width        int    `json:"width"`
	} `json:"streams"`
	Format struct {
		Duration  string            `json:"duration"`
		StartTime string            `json:"start_time"`
		Tags      map[string]string `json:"tags"`
	} `json:"format"`
}

func ffprobe(t *testing.T, path string) probe {
	t.Helper()
	out, err := testtool.Command(t, time.Minute, testtool.Need(t, "ffprobe"), "-v", "error", "-count_packets", "-show_streams", "-show_format", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// packets returns the packet count per codec type.
func (p probe) packets(t *testing.T) map[string]int {
	m := map[string]int{}
	for _, s := range p.Streams {
		n, err := strconv.Atoi(s.NbReadPacket)
		if err != nil {
			t.Fatalf("nb_read_packets %q", s.NbReadPacket)
		}
		m[s.CodecType] += n
	}
	return m
}

func (p probe) codecs() []string {
	var c []string
	for _, s := range p.Streams {
		c = append(c, s.CodecName)
	}
	return c
}

func publish(t *testing.T, s *server, clip, stream, transport, user string) *exec.Cmd {
	t.Helper()
	u := fmt.Sprintf("rtsp://%s@%s/%s", user, s.rtspAddr, stream)
	// -max_delay 1ms: one AAC access unit per RTP packet (see clipFrames).
	return testtool.Command(t, 2*time.Minute, testtool.Need(t, "ffmpeg"), "-hide_banner", "-v", "error", "-re", "-i", remuxed(t, clip),
		"-c", "copy", "-max_delay", "1000", "-f", "rtsp", "-rtsp_transport", transport, u)
}

var remuxOnce sync.Map

// remuxed returns the clip remuxed (not re-encoded) to Matroska: ffmpeg's
// RTSP muxer needs the AAC config up front, which MPEG-TS (ADTS) lacks.
func remuxed(t *testing.T, clip string) string {
	t.Helper()
	out := filepath.Join(filepath.Dir(kinedgeBin), strings.TrimSuffix(clip, ".ts")+".mkv")
	once, _ := remuxOnce.LoadOrStore(out, &sync.Once{})
	once.(*sync.Once).Do(func() {
		b, err := testtool.Command(t, time.Minute, testtool.Need(t, "ffmpeg"), "-v", "error", "-y", "-i", repoFile(clip), "-c", "copy", out).CombinedOutput()
		if err != nil {
			t.Fatalf("remuxing %s: %v\n%s", clip, err, b)
		}
	})
	return out
}

// clipFrames returns the frames ffmpeg sends when publishing clip: all of
// them, except that ffmpeg's RTP AAC packetizer sends an access unit only
// when the next one arrives, so the clip's last AAC frame never leaves it.
func clipFrames(t *testing.T, clip string) map[string]int {
	n := ffprobe(t, repoFile(clip)).packets(t)
	if strings.Contains(clip, "aac") {
		n["audio"]--
	}
	return n
}

func TestEndToEndPublishReplayRestart(t *testing.T) {
	testtool.Need(t, "ffmpeg")
	testtool.Need(t, "ffprobe")
	dataDir := t.TempDir()
	s := startServer(t, dataDir, freeUDPPair(t))

	cases := []struct {
		clip, stream, transport string
		codecs                  []string
	}{
		{"h264_aac.ts", "cam-h264", "tcp", []string{"h264", "aac"}},
		{"h265_opus.ts", "cam-h265", "udp", []string{"hevc", "opus"}},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(cases))
	outs := make([][]byte, len(cases))
	for i, c := range cases {
		cmd := publish(t, s, c.clip, c.stream, c.transport, "camera:camsecret")
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = cmd.CombinedOutput()
		}()
	}
	// A publisher without credentials is refused while the others record.
	bad := publish(t, s, "h264_aac.ts", "intruder", "tcp", "camera:wrong")
	badOut, badErr := bad.CombinedOutput()
	if badErr == nil || !strings.Contains(string(badOut), "401") {
		t.Errorf("publish with a wrong password: err %v, output %s", badErr, badOut)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("ffmpeg publish %s: %v\n%s\nserver log:\n%s", cases[i].stream, err, outs[i], s.logs())
		}
	}
	if !strings.Contains(s.logs(), "intruder") {
		t.Errorf("no log line about the refused publisher")
	}

	for _, c := range cases {
		t.Run(c.stream, func(t *testing.T) {
			in := clipFrames(t, c.clip)
			sent := in["video"] + in["audio"]
			// The open fragment is stored before "rtsp publish ended"
			// is logged: wait for that event (the deadline only bounds a
			// hang), then every received frame must be stored.
			waitFor(t, 2*time.Minute, "the publish to end", func() error {
				if grepLines(s.logs(), "rtsp publish ended", c.stream) == "" {
					return errors.New(`no "rtsp publish ended" line yet`)
				}
				return nil
			})
			frags := s.fragments(t, c.stream)
			stored := 0
			for _, f := range frags {
				stored += f.Frames
			}
			received := s.metric(t, "kinedge_stream_frames_received_total", c.stream)
			if stored != received || received == 0 {
				t.Fatalf("fragments hold %d frames, the appliance received %d; ingest said: %s",
					stored, received, grepLines(s.logs(), "publish ended", c.stream))
			}
			// Over TCP every frame ffmpeg sent arrives. Over UDP the last
			// packets can still sit in the socket when the TEARDOWN (over
			// TCP) ends the session; a few tail frames may miss it.
			if c.transport == "tcp" && received != sent || received > sent || sent-received > 10 {
				t.Fatalf("received %d frames over %s, ffmpeg sent %d", received, c.transport, sent)
			}
			checkFragments(t, frags)
			checkSubRange(t, s, c.stream, frags, c.codecs)
		})
	}

	// Restart on the same data dir: everything replays.
	before := map[string][]videoapi.FragmentJSON{}
	for _, c := range cases {
		before[c.stream] = s.fragments(t, c.stream)
	}
	s.stop()
	s.start()
	for _, c := range cases {
		after := s.fragments(t, c.stream)
		if len(after) != len(before[c.stream]) {
			t.Fatalf("%s: %d fragments after restart, %d before", c.stream, len(after), len(before[c.stream]))
		}
		out := replayRange(t, s, c.stream, after[0].ServerTimestamp, after[len(after)-1].ServerTimestamp)
		p := ffprobe(t, out)
		got := p.packets(t)
		stored := 0
		for _, f := range before[c.stream] {
			stored += f.Frames
		}
		if got["video"]+got["audio"] != stored {
			t.Fatalf("%s after restart: replayed %v packets, %d frames were stored", c.stream, got, stored)
		}
		decodeClean(t, out)
	}

	// Sealing: nothing of the clips' bitstreams is in the data dir.
	s.stop()
	checkNoPlaintext(t, dataDir)
}

func grepLines(text string, words ...string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		all := true
		for _, w := range words {
			all = all && strings.Contains(l, w)
		}
		if all {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// checkFragments checks the fragment list's invariants.
func checkFragments(t *testing.T, frags []videoapi.FragmentJSON) {
	t.Helper()
	if len(frags) < 4 {
		t.Fatalf("only %d fragments from a 10 s clip", len(frags))
	}
	for i, f := range frags {
		if f.FragmentLengthInMilliseconds <= 0 || f.FragmentLengthInMilliseconds > 10_000 {
			t.Errorf("fragment %d: duration %d ms", i, f.FragmentLengthInMilliseconds)
		}
		if f.KeyID == "" || f.FragmentSizeInBytes <= 0 {
			t.Errorf("fragment %d: %+v", i, f)
		}
		if i > 0 {
			prev := frags[i-1]
			if n, p := mustUint(t, f.FragmentNumber), mustUint(t, prev.FragmentNumber); n <= p {
				t.Errorf("fragment numbers not increasing: %d after %d", n, p)
			}
			if f.ServerTimestamp.Before(prev.ServerTimestamp) {
				t.Errorf("server timestamps go back at fragment %d", i)
			}
		}
	}
}

func mustUint(t *testing.T, s string) uint64 {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("fragment number %q: %v", s, err)
	}
	return n
}

func replayRange(t *testing.T, s *server, stream string, start, end time.Time) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), stream+".mkv")
	cmd := testtool.Command(t, 2*time.Minute, kinedgeBin, "replay", "--url", "http://"+s.httpAddr, "--user", "admin", "--pass", "adminsecret",
		"--stream", stream, "--start", start.Format(time.RFC3339Nano), "--end", end.Format(time.RFC3339Nano), "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinedge replay: %v\n%s", err, b)
	}
	return out
}

// fetchMKV gets the stream's [start, end] as MKV from the HTTP API
// (/v1/streams/{stream}/media?format=mkv), fails the test unless it is a
// 200, and returns the path of the file it wrote.
func fetchMKV(t *testing.T, s *server, stream string, start, end time.Time) string {
	t.Helper()
	resp, err := s.get("/v1/streams/"+stream+"/media", url.Values{"start": {start.Format(time.RFC3339Nano)},
		"end": {end.Format(time.RFC3339Nano)}, "format": {"mkv"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("replay %s: %s %s", stream, resp.Status, body)
	}
	path := filepath.Join(t.TempDir(), stream+".mkv")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkSubRange replays a 4 s range from 3 s into the recording, through
// the HTTP API and through `kinedge replay`, and checks what comes back.
func checkSubRange(t *testing.T, s *server, stream string, frags []videoapi.FragmentJSON, codecs []string) {
	t.Helper()
	start := frags[0].ServerTimestamp.Add(3100 * time.Millisecond)
	end := start.Add(4 * time.Second)
	// The fragments that overlap [start, end], which the output must hold.
	var want []videoapi.FragmentJSON
	wantFrames := 0
	for _, f := range frags {
		fEnd := f.ServerTimestamp.Add(time.Duration(f.FragmentLengthInMilliseconds) * time.Millisecond)
		if fEnd.After(start) && !f.ServerTimestamp.After(end) {
			want = append(want, f)
			wantFrames += f.Frames
		}
	}
	out := replayRange(t, s, stream, start, end)
	p := ffprobe(t, out)
	if got := strings.Join(p.codecs(), ","); got != strings.Join(codecs, ",") {
		t.Fatalf("replayed codecs %s, want %s", got, strings.Join(codecs, ","))
	}
	got := p.packets(t)
	if got["video"]+got["audio"] != wantFrames {
		t.Fatalf("replayed %v packets, the %d overlapping fragments hold %d frames", got, len(want), wantFrames)
	}
	// The file starts with the fragment that contains start: within one
	// fragment of the asked time.
	first := want[0]
	if first.ServerTimestamp.After(start) || start.Sub(first.ServerTimestamp) > time.Duration(first.FragmentLengthInMilliseconds)*time.Millisecond {
		t.Fatalf("output starts at %v, asked %v (first fragment %d ms)", first.ServerTimestamp, start, first.FragmentLengthInMilliseconds)
	}
	created, err := time.Parse(time.RFC3339Nano, p.Format.Tags["creation_time"])
	if err != nil || created.Sub(first.ServerTimestamp).Abs() > time.Millisecond {
		t.Fatalf("creation_time %q, want the first fragment's server time %v (%v)", p.Format.Tags["creation_time"], first.ServerTimestamp, err)
	}
	dur := videoSpan(t, out)
	asked := end.Sub(start).Seconds()
	maxFrag := 0.0
	for _, f := range want {
		maxFrag = max(maxFrag, float64(f.FragmentLengthInMilliseconds)/1000)
	}
	if dur < asked-maxFrag || dur > asked+2*maxFrag {
		t.Fatalf("duration %.3f s for a %.1f s range (fragments up to %.1f s)", dur, asked, maxFrag)
	}
	decodeClean(t, out)

	// The same range as MP4 holds the same frames.
	mp4 := strings.TrimSuffix(out, ".mkv") + ".mp4"
	cmd := testtool.Command(t, 2*time.Minute, kinedgeBin, "replay", "--url", "http://"+s.httpAddr, "--user", "admin", "--pass", "adminsecret",
		"--stream", stream, "--start", start.Format(time.RFC3339Nano), "--end", end.Format(time.RFC3339Nano), "-o", mp4)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinedge replay -o .mp4: %v\n%s", err, b)
	}
	pm := ffprobe(t, mp4)
	if got, want := pm.packets(t), p.packets(t); got["video"] != want["video"] || got["audio"] != want["audio"] ||
		strings.Join(pm.codecs(), ",") != strings.Join(codecs, ",") {
		t.Fatalf("mp4: %v packets of %v, mkv: %v of %v", got, pm.codecs(), want, codecs)
	}
	decodeClean(t, mp4)

	// The HTTP API gives the same bytes as the CLI, which then points the
	// SeekHead at the Cues the stream ended with.
	resp, err := s.get("/v1/streams/"+stream+"/media", url.Values{"start": {start.Format(time.RFC3339Nano)}, "end": {end.Format(time.RFC3339Nano)}, "format": {"mkv"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fileBytes, _ := os.ReadFile(out)
	finished := filepath.Join(t.TempDir(), "http.mkv")
	if err := os.WriteFile(finished, body, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(finished, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	ferr := mkv.FinishFile(f, int64(len(body)))
	f.Close()
	httpBytes, _ := os.ReadFile(finished)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/x-matroska" || ferr != nil || !bytes.Equal(httpBytes, fileBytes) {
		t.Fatalf("HTTP media: %s %s, %d bytes (CLI %d), finished: %v", resp.Status, resp.Header.Get("Content-Type"), len(body), len(fileBytes), ferr)
	}
}

// videoSpan returns the time from the first video frame's presentation to
// the end of the last one.
func videoSpan(t *testing.T, path string) float64 {
	t.Helper()
	sp := packetSpan(t, path, "v:0")
	return sp.end - sp.start
}

// span is where a stream's packets lie in a file (seconds) and their
// bytes.
type span struct {
	start, end float64
	bytes      int
}

// packetSpan reads the packets of stream sel ("v:0", "a:0") of path with
// ffprobe.
func packetSpan(t *testing.T, path, sel string) span {
	t.Helper()
	out, err := testtool.Command(t, time.Minute, testtool.Need(t, "ffprobe"), "-v", "error", "-select_streams", sel, "-show_entries", "packet=pts_time,duration_time,size", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe packets: %v", err)
	}
	sp := span{start: 1e18, end: -1e18}
	for _, line := range strings.Fields(string(out)) {
		f := strings.Split(line, ",")
		if len(f) != 3 {
			t.Fatalf("packet line %q", line)
		}
		pts, err1 := strconv.ParseFloat(f[0], 64)
		d, err2 := strconv.ParseFloat(f[1], 64)
		if f[1] == "N/A" {
			d, err2 = 0, nil // a codec whose packets carry no duration (VP8 in Matroska)
		}
		n, err3 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("packet line %q", line)
		}
		sp.start, sp.end = min(sp.start, pts), max(sp.end, pts+d)
		sp.bytes += n
	}
	if sp.end < sp.start {
		t.Fatalf("no %s packets in %s", sel, path)
	}
	return sp
}

// decodeClean decodes every frame with ffmpeg and fails on any error.
func decodeClean(t *testing.T, path string) {
	t.Helper()
	out, err := testtool.Command(t, 2*time.Minute, testtool.Need(t, "ffmpeg"), "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("ffmpeg decode of %s: %v\n%s", path, err, out)
	}
}

// checkNoPlaintext scans every file under dir for the clips' parameter
// sets and for long runs of their slice payloads.
func checkNoPlaintext(t *testing.T, dir string) {
	t.Helper()
	var markers [][]byte
	for _, clip := range []struct{ name, codec string }{{"h264_aac.ts", "h264"}, {"h265_opus.ts", "hevc"}} {
		markers = append(markers, bitstreamMarkers(t, clip.name, clip.codec)...)
	}
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, m := range markers {
			if bytes.Contains(b, m) {
				t.Errorf("plaintext marker %x found in %s", m[:8], path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Fatalf("only %d files in the data dir", files)
	}
}

// bitstreamMarkers extracts from a clip its parameter sets and 48-byte runs
// taken from the middle of its first slices.
func bitstreamMarkers(t *testing.T, clip, codec string) [][]byte {
	t.Helper()
	raw := filepath.Join(t.TempDir(), "raw."+codec)
	bsf := map[string]string{"h264": "h264_mp4toannexb", "hevc": "hevc_mp4toannexb"}[codec]
	if out, err := testtool.Command(t, time.Minute, testtool.Need(t, "ffmpeg"), "-v", "error", "-i", repoFile(clip), "-map", "0:v", "-c", "copy", "-bsf:v", bsf, "-f", codec, raw).CombinedOutput(); err != nil {
		t.Fatalf("extracting %s: %v\n%s", clip, err, out)
	}
	b, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	var markers [][]byte
	slices := 0
	for _, nalu := range bytes.Split(b, []byte{0, 0, 1}) {
		nalu = bytes.TrimRight(nalu, "\x00")
		if len(nalu) < 2 {
			continue
		}
		var typ int
		var isParam bool
		if codec == "h264" {
			typ = int(nalu[0] & 0x1f)
			isParam = typ == 7 || typ == 8
		} else {
			typ = int(nalu[0]>>1) & 0x3f
			isParam = typ >= 32 && typ <= 34
		}
		switch {
		case isParam && len(nalu) >= 8:
			markers = append(markers, nalu)
		case !isParam && len(nalu) > 200 && slices < 5:
			slices++
			markers = append(markers, nalu[len(nalu)/2:len(nalu)/2+48])
		}
	}
	if slices == 0 || len(markers) < 3 {
		t.Fatalf("%s: found %d markers, %d slices", clip, len(markers), slices)
	}
	return markers
}

// TestShutdownStoresOpenFragment stops the appliance while a camera is
// publishing: SIGTERM must store the open fragment, so after a restart the
// recording holds every frame the appliance had received. A second
// publisher to the busy stream is refused meanwhile.
func TestShutdownStoresOpenFragment(t *testing.T) {
	testtool.Need(t, "ffmpeg")
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	cam := publish(t, s, "h264_aac.ts", "door", "tcp", "camera:camsecret")
	var camOut bytes.Buffer
	cam.Stdout, cam.Stderr = &camOut, &camOut
	if err := cam.Start(); err != nil {
		t.Fatal(err)
	}
	defer cam.Process.Kill()
	waitFor(t, time.Minute, "first fragment", func() error {
		resp, err := s.get("/v1/streams/door/fragments", nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var page struct{ Fragments []videoapi.FragmentJSON }
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || len(page.Fragments) == 0 {
			return fmt.Errorf("%s: no fragment yet (%v)", resp.Status, err)
		}
		return nil
	})
	busy, err := publish(t, s, "h264_aac.ts", "door", "tcp", "camera:camsecret").CombinedOutput()
	if err == nil || !strings.Contains(string(busy), "455") {
		t.Errorf("second publisher: %v\n%s", err, busy)
	}
	time.Sleep(time.Second) // let the open fragment grow past its first keyframe
	s.stop()
	cam.Wait()
	line := grepLines(s.logs(), "rtsp publish ended", "door")
	_, after, ok := strings.Cut(line, " frames=")
	if !ok {
		t.Fatalf("no publish-ended line with a frame count:\n%s", s.logs())
	}
	received, err := strconv.Atoi(strings.Fields(after)[0])
	if err != nil {
		t.Fatal(err)
	}
	s.start()
	frags := s.fragments(t, "door")
	stored := 0
	for _, f := range frags {
		stored += f.Frames
	}
	if stored != received || len(frags) < 2 {
		t.Fatalf("after shutdown: %d fragments hold %d frames, the appliance had received %d", len(frags), stored, received)
	}
}

// TestTakeover configures takeover: a second camera publishing to a busy
// stream replaces the first, and its first fragment is marked as the
// first after a gap.
func TestTakeover(t *testing.T) {
	testtool.Need(t, "ffmpeg")
	s := startServer(t, t.TempDir(), freeUDPPair(t), "KINEDGE_VIDEO_TAKEOVER=true")
	// The first camera loops its clip: it must still be publishing when
	// the second arrives, however long a loaded machine takes to store
	// its first fragments (a 10 s clip could end before, and its session
	// with it, failing the test by the clock).
	first := testtool.Command(t, 3*time.Minute, testtool.Need(t, "ffmpeg"), "-hide_banner", "-v", "error", "-re", "-stream_loop", "-1",
		"-i", remuxed(t, "h264_aac.ts"), "-c", "copy", "-max_delay", "1000", "-f", "rtsp", "-rtsp_transport", "tcp",
		fmt.Sprintf("rtsp://camera:camsecret@%s/gate", s.rtspAddr))
	var firstOut bytes.Buffer
	first.Stdout, first.Stderr = &firstOut, &firstOut
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Process.Kill()
	waitFor(t, time.Minute, "first camera's fragments", func() error {
		resp, err := s.get("/v1/streams/gate/fragments", nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var page struct{ Fragments []videoapi.FragmentJSON }
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || len(page.Fragments) < 2 {
			return fmt.Errorf("%s: %d fragments (%v)", resp.Status, len(page.Fragments), err)
		}
		return nil
	})
	second, err := publish(t, s, "h264_aac.ts", "gate", "tcp", "camera:camsecret").CombinedOutput()
	if err != nil {
		t.Fatalf("second camera refused despite takeover: %v\n%s", err, second)
	}
	if err := first.Wait(); err == nil {
		t.Errorf("the first camera's session survived the takeover")
	}
	if !strings.Contains(s.logs(), "source takeover") {
		t.Errorf("no takeover log line")
	}
	frags := s.fragments(t, "gate")
	gaps := 0
	for _, f := range frags {
		if f.Gap {
			gaps++
		}
	}
	if gaps != 1 {
		t.Fatalf("%d gap fragments among %d, want exactly the second camera's first", gaps, len(frags))
	}
}

// TestSystemdNotify runs serve as systemd would with Type=notify and a
// watchdog: READY=1 once serving, WATCHDOG=1 pings, STOPPING=1 on SIGTERM.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	msgs := make(chan string, 64)
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := ln.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	s := startServer(t, t.TempDir(), freeUDPPair(t), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=400000")
	next := func(want string) {
		t.Helper()
		for {
			select {
			case m := <-msgs:
				if m == want {
					return
				}
			case <-time.After(time.Minute):
				t.Fatalf("no %q from serve", want)
			}
		}
	}
	next("READY=1")
	next("WATCHDOG=1")
	next("WATCHDOG=1")
	s.stop()
	next("STOPPING=1")
}

// TestGStreamerPublisher uses GStreamer's rtspclientsink, a second RTSP
// implementation next to ffmpeg's, as the camera, with the codec pairs IP
// cameras send, over TCP: H.264 with B-frames and Opus; H.264 and G.711
// µ-law (most cameras' default audio); H.265 with B-frames and G.711
// A-law (Hikvision-style); Motion JPEG and linear PCM (L16). Every frame
// received is stored or counted as dropped, every video frame sent is
// replayed, and the replay decodes cleanly with the codecs sent.
func TestGStreamerPublisher(t *testing.T) {
	gst := testtool.Need(t, "gst-launch-1.0")
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	const videoFrames = 150 // 6 s at 25 fps
	// (I420: rtpjpegpay refuses jpegenc's pictures of other formats with
	// "Invalid component".)
	video := func(enc ...string) []string {
		return append([]string{"videotestsrc", fmt.Sprintf("num-buffers=%d", videoFrames), "is-live=true", "!",
			"video/x-raw,width=320,height=240,framerate=25/1,format=I420", "!"}, enc...)
	}
	// audio: 6 s in 20-ms buffers at rate (sample format caps, then the
	// encoder).
	audio := func(rate int, caps string, enc ...string) []string {
		return append([]string{"audiotestsrc", "num-buffers=300", fmt.Sprintf("samplesperbuffer=%d", rate/50), "is-live=true", "!",
			fmt.Sprintf("audio/x-raw,rate=%d,channels=1%s", rate, caps), "!"}, enc...)
	}
	for _, c := range []struct {
		stream       string
		video, audio []string
		codecs       []string // the index's
		probe        []string // ffprobe's codec names
		pcm          []string // for checkAudioSpan: codec, rate, channels
	}{
		{"gst", video("x264enc", "key-int-max=25", "bframes=2", "!", "h264parse"), audio(48000, "", "audioconvert", "!", "opusenc"),
			[]string{"H264", "OPUS"}, []string{"h264", "opus"}, nil},
		{"gst-pcmu", video("x264enc", "key-int-max=25", "!", "h264parse"), audio(8000, "", "audioconvert", "!", "mulawenc"),
			[]string{"H264", "PCMU"}, []string{"h264", "pcm_mulaw"}, []string{"pcm_mulaw", "8000", "1"}},
		{"gst-h265", video("x265enc", "key-int-max=25", "option-string=bframes=2", "!", "h265parse"), audio(8000, "", "audioconvert", "!", "alawenc"),
			[]string{"H265", "PCMA"}, []string{"hevc", "pcm_alaw"}, []string{"pcm_alaw", "8000", "1"}},
		{"gst-mjpeg", video("jpegenc", "quality=60"), audio(16000, ",format=S16BE", "audioconvert"),
			[]string{"MJPEG", "LPCM"}, []string{"mjpeg", "pcm_s16be"}, []string{"pcm_s16be", "16000", "1"}},
	} {
		t.Run(c.stream, func(t *testing.T) {
			args := []string{"-q"}
			args = append(append(args, c.audio...), "!", "queue", "!", "s.sink_0")
			args = append(append(args, c.video...), "!", "queue", "!", "s.sink_1")
			args = append(args, "rtspclientsink", "name=s", "protocols=tcp", "location=rtsp://camera:camsecret@"+s.rtspAddr+"/"+c.stream)
			early := gstPublish(t, s, gst, c.stream, videoFrames, args)
			frags := s.fragments(t, c.stream)
			for _, f := range frags {
				if !slices.Equal(f.Codecs, c.codecs) {
					t.Fatalf("fragment %s codecs %v, want %v", f.FragmentNumber, f.Codecs, c.codecs)
				}
			}
			out := replayRange(t, s, c.stream, frags[0].ServerTimestamp, frags[len(frags)-1].ServerTimestamp)
			p := ffprobe(t, out)
			if got := p.codecs(); !slices.Equal(got, c.probe) {
				t.Fatalf("codecs %v, want %v", got, c.probe)
			}
			if n := p.packets(t)["video"]; n != videoFrames {
				t.Fatalf("replayed %d video frames, GStreamer sent %d", n, videoFrames)
			}
			if c.pcm != nil {
				checkAudioSpan(t, out, c.pcm, early > 0)
			}
			decodeClean(t, out)
		})
	}
}

// gstPublish runs a gst-launch-1.0 pipeline publishing videoFrames video
// frames (and audio) to stream, and returns once the session has ended
// and every frame received is stored or counted as dropped. It returns
// how many frames the fragmenter dropped for arriving before the first
// keyframe.
func gstPublish(t *testing.T, s *server, gst, stream string, videoFrames int, args []string) (early float64) {
	t.Helper()
	cmd := testtool.Command(t, 2*time.Minute, gst, args...)
	var gstOut bytes.Buffer // read after Wait
	cmd.Stdout, cmd.Stderr = &gstOut, &gstOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// What is under test is what the server records of GStreamer's frames,
	// not how gst-launch ends: rtspclientsink sometimes never leaves after
	// its last frame (no EOS reaches it; it idles for minutes), and
	// sometimes fails its own close ("Could not send message. (Received
	// end-of-file)") after the server saw it hang up. So: wait until gst
	// exits or its video frames (and some audio) have arrived; then give
	// it time to leave on its own, and past that hang up for it, as a
	// camera that loses power would. (Audio payloaders pack a varying
	// number of buffers a packet, so only video is counted exactly.)
	var gstErr error
	ended := false
	enough := videoFrames + 50
	waitFor(t, 2*time.Minute, "GStreamer's frames to arrive", func() error {
		select {
		case gstErr = <-exited:
			ended = true
			return nil
		default:
		}
		if n := s.metric(t, "kinedge_stream_frames_received_total", stream); n < enough {
			return fmt.Errorf("%d frames received", n)
		}
		return nil
	})
	if !ended {
		select {
		case gstErr = <-exited:
		case <-time.After(30 * time.Second):
			t.Log("gst-launch-1.0 did not leave within 30 s of its last frame (rtspclientsink's hang at the end): killing it")
			cmd.Process.Kill()
			gstErr = <-exited
		}
	}
	if gstErr != nil {
		if s.metric(t, "kinedge_stream_frames_received_total", stream) < enough {
			t.Fatalf("gst-launch-1.0: %v before sending every frame\n%s\nserver log:\n%s", gstErr, gstOut.String(), s.logs())
		}
		t.Logf("gst-launch-1.0 ended with %v after sending every frame: %s", gstErr, strings.TrimSpace(gstOut.String()))
	}
	// The session ends at rtspclientsink's TEARDOWN or hang-up; the open
	// fragment is stored before "rtsp publish ended" is logged. Wait for
	// that event (the deadline only bounds a hang), then every frame must
	// be stored.
	waitFor(t, 2*time.Minute, "the publish to end", func() error {
		if grepLines(s.logs(), "rtsp publish ended", stream) == "" {
			return errors.New(`no "rtsp publish ended" line yet`)
		}
		return nil
	})
	if l := grepLines(s.logs(), "rtsp track skipped", stream); l != "" {
		t.Fatalf("a track was skipped:\n%s", l)
	}
	frags := s.fragments(t, stream)
	stored := 0
	for _, f := range frags {
		stored += f.Frames
	}
	// Every frame received is stored or counted as dropped: the
	// fragmenter drops audio that arrives too long before the first
	// keyframe (under the race detector's load GStreamer's Opus can), and
	// the recorder's queue drops when storage falls behind. Every video
	// frame must be stored (the caller's replay counts them).
	m := s.scrape(t)
	dropped := m[`kinedge_stream_frames_dropped_total{stream="`+stream+`"}`]
	for _, reason := range []string{"no_keyframe", "over_max", "backwards"} {
		dropped += m[`kinedge_stream_fragmenter_frames_dropped_total{reason="`+reason+`",stream="`+stream+`"}`]
	}
	if received := s.metric(t, "kinedge_stream_frames_received_total", stream); float64(stored)+dropped != float64(received) || stored == 0 {
		t.Fatalf("stored %d frames and dropped %v, received %d", stored, dropped, received)
	} else if dropped > 0 {
		t.Logf("%v of %d frames dropped (counted), %d stored", dropped, received, stored)
	}
	return m[`kinedge_stream_fragmenter_frames_dropped_total{reason="no_keyframe",stream="`+stream+`"}`]
}
