package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/dataplane/video/whep/wheptest"
	"github.com/kinedge/kinedge/ingest/webrtc/whiptest"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// BenchmarkIngestWHIPvsRTSP (issue 10, "Benchmark"): N cameras publish
// the same H.264 sample (1280x720, 25 fps, about 2 Mbit/s, a keyframe
// every 2 s, no B-frames) for ingestbench.duration of media into one
// `kinedge serve` (a child process, a fresh one per sub-benchmark), over
// WHIP from pion publishers in this process (whiptest: ICE/DTLS/SRTP over
// UDP on loopback) or over RTSP from `kinedge camsim` (another process;
// RTP over ingestbench.rtsp-transport). An op is one round: every camera
// publishes the sample once and ends (DELETE; TEARDOWN), and the round is
// over when every frame sent is in a stored fragment or a minute passed.
// Reported, per op: the server's CPU time per stream-second of media
// (/proc/<pid>/stat), the bytes it allocated per stream-second (the Go
// runtime's TotalAlloc, from its heap profile), its Go heap in use after
// a GC and its RSS at the end, the fragments stored and the frames lost
// (sent but in no stored fragment), and the UDP datagrams the machine
// dropped for full socket buffers meanwhile:
//
//	go test -run '^$' -bench IngestWHIPvsRTSP -benchtime 1x -timeout 20m ./cmd/kinedge/
//
// proto=whip-vp8 is the WHIP camera: the same picture in VP8
// (libvpx, realtime, about 2 Mbit/s, a keyframe every 2 s), WHIP only
// (the RTSP rows stay H.264, what cameras send).
func BenchmarkIngestWHIPvsRTSP(b *testing.B) {
	video, tsClip := ingestBenchSample(b)
	var vp8 []pmedia.Sample // encoded when a whip-vp8 row runs
	for _, proto := range []string{"whip", "whip-vp8", "rtsp"} {
		for _, n := range []int{8, 32} {
			b.Run(fmt.Sprintf("proto=%s/n=%d", proto, n), func(b *testing.B) {
				if proto == "whip-vp8" && vp8 == nil {
					vp8 = ingestBenchVP8Sample(b)
				}
				s, debug := startSoakServer(b)
				var cpu, alloc float64
				var fragments, lost, sent int
				rcvbuf0 := udpRcvbufErrors(b)
				for round := range b.N {
					prefix := fmt.Sprintf("%s%dr%dc", strings.ReplaceAll(proto, "-", ""), n, round)
					cpu0, alloc0 := ingestBenchCPU(b, s), ingestBenchAlloc(b, debug)
					var frames int
					switch proto {
					case "whip":
						frames = ingestBenchWHIP(b, s, prefix, n, webrtc.MimeTypeH264, video)
					case "whip-vp8":
						frames = ingestBenchWHIP(b, s, prefix, n, webrtc.MimeTypeVP8, vp8)
					default:
						frames = ingestBenchRTSP(b, s, prefix, n, tsClip)
					}
					stored, frags, per := ingestBenchStored(b, s, prefix, n, frames)
					if stored < frames {
						b.Logf("round %d: frames stored by stream (sent %d each): %v", round, frames/n, per)
					}
					cpu += ingestBenchCPU(b, s) - cpu0
					alloc += ingestBenchAlloc(b, debug) - alloc0
					fragments += frags
					lost += frames - stored
					sent += frames
				}
				end := soakLook(b, s, debug)
				b.ReportMetric(float64(udpRcvbufErrors(b)-rcvbuf0)/float64(b.N), "udp-rcvbuf-drops/op")
				streamSecs := float64(n*b.N) * ingestBenchDuration.Seconds()
				b.ReportMetric(cpu*1000/streamSecs, "cpu-ms/stream-s")
				b.ReportMetric(alloc/(1<<20)/streamSecs, "alloc-MiB/stream-s")
				b.ReportMetric(float64(end.heap)/(1<<20), "heap-MiB-end")
				b.ReportMetric(float64(end.rss)/(1<<20), "RSS-MiB-end")
				b.ReportMetric(float64(fragments)/float64(b.N), "fragments/op")
				b.ReportMetric(float64(sent)/float64(b.N), "frames-sent/op")
				b.ReportMetric(float64(lost)/float64(b.N), "frames-lost/op")
				if lost != 0 {
					b.Logf("%d of %d frames lost", lost, sent)
				}
			})
		}
	}
}

var (
	ingestBenchDuration  = flag.Duration("ingestbench.duration", 10*time.Second, "media time each camera of BenchmarkIngestWHIPvsRTSP publishes")
	ingestBenchTransport = flag.String("ingestbench.rtsp-transport", "udp", "RTP transport of BenchmarkIngestWHIPvsRTSP's RTSP cameras: udp or tcp")
)

// ingestBenchSample encodes the sample once: Annex-B access units for the
// WHIP publishers and the same bitstream in MPEG-TS for camsim.
func ingestBenchSample(b *testing.B) ([]pmedia.Sample, string) {
	ffmpeg := testtool.Need(b, "ffmpeg")
	dir := b.TempDir()
	raw, ts := filepath.Join(dir, "sample.h264"), filepath.Join(dir, "sample.ts")
	secs := strconv.FormatFloat(ingestBenchDuration.Seconds(), 'f', -1, 64)
	if out, err := testtool.Command(b, 5*time.Minute, ffmpeg, "-hide_banner", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25",
		"-t", secs, "-c:v", "libx264", "-preset", "veryfast", "-b:v", "2M", "-maxrate", "2M", "-bufsize", "2M", "-g", "50", "-keyint_min", "50",
		"-bf", "0", "-pix_fmt", "yuv420p", "-x264-params", "aud=1", "-f", "h264", "-y", raw).CombinedOutput(); err != nil {
		b.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	if out, err := testtool.Command(b, time.Minute, ffmpeg, "-hide_banner", "-v", "error", "-r", "25", "-i", raw, "-c", "copy", "-f", "mpegts", "-y", ts).CombinedOutput(); err != nil {
		b.Fatalf("ffmpeg remux: %v\n%s", err, out)
	}
	data, err := os.ReadFile(raw)
	if err != nil {
		b.Fatal(err)
	}
	aus, err := wheptest.AccessUnits(data)
	if err != nil {
		b.Fatal(err)
	}
	video := make([]pmedia.Sample, len(aus))
	for i, au := range aus {
		var annexB []byte
		for _, n := range au {
			annexB = append(append(annexB, 0, 0, 0, 1), n...)
		}
		video[i] = pmedia.Sample{Data: annexB, Duration: 40 * time.Millisecond}
	}
	return video, ts
}

// ingestBenchVP8Sample encodes the sample's picture in VP8 and returns
// its frames (read from IVF) as WebRTC samples.
func ingestBenchVP8Sample(b *testing.B) []pmedia.Sample {
	ffmpeg := testtool.Need(b, "ffmpeg")
	path := filepath.Join(b.TempDir(), "sample.ivf")
	secs := strconv.FormatFloat(ingestBenchDuration.Seconds(), 'f', -1, 64)
	if out, err := testtool.Command(b, 5*time.Minute, ffmpeg, "-hide_banner", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25",
		"-t", secs, "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "2M", "-maxrate", "2M", "-bufsize", "2M",
		"-g", "50", "-keyint_min", "50", "-pix_fmt", "yuv420p", "-f", "ivf", "-y", path).CombinedOutput(); err != nil {
		b.Fatalf("ffmpeg vp8: %v\n%s", err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	if len(data) < 32 || string(data[:4]) != "DKIF" {
		b.Fatal("ffmpeg wrote no IVF")
	}
	var video []pmedia.Sample
	for rest := data[32:]; len(rest) >= 12; {
		n := int(binary.LittleEndian.Uint32(rest))
		if 12+n > len(rest) {
			b.Fatal("a truncated IVF frame")
		}
		video = append(video, pmedia.Sample{Data: rest[12 : 12+n], Duration: 40 * time.Millisecond})
		rest = rest[12+n:]
	}
	return video
}

// ingestBenchWHIP publishes video from n pion WHIP publishers at once and
// ends their sessions; it returns the frames sent. The DELETEs go once
// the server counted every publisher's frames but the last (which it
// completes only when the session ends), or after 10 s: sent at once,
// a DELETE races the last packets still in flight, a loss of the
// publisher's making.
func ingestBenchWHIP(b *testing.B, s *server, prefix string, n int, mime string, video []pmedia.Sample) int {
	ctx, cancel := context.WithTimeout(b.Context(), 2*time.Minute+2**ingestBenchDuration)
	defer cancel()
	pubs := make([]*whiptest.Publisher, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := whiptest.Publish(ctx, whiptest.Options{URL: fmt.Sprintf("http://%s/whip/%s%d", s.httpAddr, prefix, i+1), Token: "camsecret", Video: mime})
			if err != nil {
				errs[i] = err
				return
			}
			pubs[i] = p
			if err := p.WaitConnected(ctx); err != nil {
				errs[i] = err
				return
			}
			errs[i] = whiptest.Send(ctx, p.Video, video)
		}()
	}
	wg.Wait()
	defer func() {
		for _, p := range pubs {
			if p != nil {
				p.Close()
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	// Below the server's idle timeout (10 s), which would end a
	// session whose last frames were lost before its DELETE.
	deadline := time.Now().Add(5 * time.Second)
	for {
		received := ingestBenchReceived(b, s)
		var short []string
		for i := 1; i <= n; i++ {
			name := fmt.Sprintf("%s%d", prefix, i)
			if got := received[name]; got < len(video)-1 {
				short = append(short, fmt.Sprintf("%s %d", name, got))
			}
		}
		if len(short) == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Logf("frames received of %d when the DELETEs go: %s", len(video), strings.Join(short, ", "))
			break
		}
		time.Sleep(100 * time.Millisecond) // polling with a deadline
	}
	for i, p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, err := p.Delete(ctx)
			if err == nil && code == http.StatusNotFound {
				b.Logf("publisher %d: DELETE: 404 (its session ended before)", i+1)
			} else if err != nil || code != http.StatusOK {
				errs[i] = fmt.Errorf("DELETE: %d %v", code, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatal(err)
	}
	return n * len(video)
}

// ingestBenchReceived scrapes the frames each stream received
// (kinedge_stream_frames_received_total).
func ingestBenchReceived(b *testing.B, s *server) map[string]int {
	resp, err := s.get("/metrics", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), `kinedge_stream_frames_received_total{stream="`)
		if !ok {
			continue
		}
		name, v, ok := strings.Cut(rest, `"} `)
		if f, err := strconv.ParseFloat(v, 64); ok && err == nil {
			out[name] = int(f)
		}
	}
	return out
}

var camsimSent = regexp.MustCompile(`(\d+) frames sent`)

// ingestBenchRTSP publishes the clip from n camsim cameras and returns
// the frames sent (camsim's summary).
func ingestBenchRTSP(b *testing.B, s *server, prefix string, n int, clip string) int {
	cmd := testtool.Command(b, 2*time.Minute+2**ingestBenchDuration, kinedgeBin, "camsim", "--url", "rtsp://camera:camsecret@"+s.rtspAddr+"/",
		"--cameras", strconv.Itoa(n), "--prefix", prefix, "--clip", clip, "--duration", ingestBenchDuration.String(),
		"--transport", *ingestBenchTransport, "--log-level", "error")
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("camsim: %v\n%s", err, out)
	}
	m := camsimSent.FindSubmatch(out)
	if m == nil || strings.Contains(string(out), "never published") {
		b.Fatalf("camsim's summary:\n%s", out)
	}
	sent, _ := strconv.Atoi(string(m[1]))
	return sent
}

// ingestBenchStored waits until the n streams' stored fragments hold
// the frames sent, or their sources are gone and what is stored stayed
// the same for 2 s (a minute at most), and returns the frames and
// fragments stored, and the frames of each stream.
func ingestBenchStored(b *testing.B, s *server, prefix string, n, sent int) (frames, fragments int, per []int) {
	deadline := time.Now().Add(time.Minute)
	last, since := -1, time.Now()
	for {
		frames, fragments, per = 0, 0, make([]int, n)
		for i := 1; i <= n; i++ {
			fs, err := s.tryFragments(fmt.Sprintf("%s%d", prefix, i))
			if err != nil {
				b.Fatal(err)
			}
			for _, f := range fs {
				per[i-1] += f.Frames
			}
			frames += per[i-1]
			fragments += len(fs)
		}
		if frames != last {
			last, since = frames, time.Now()
		}
		if frames >= sent || time.Now().After(deadline) ||
			(time.Since(since) >= 2*time.Second && !ingestBenchPushing(b, s, prefix, n)) {
			return frames, fragments, per
		}
		time.Sleep(250 * time.Millisecond) // polling with a deadline
	}
}

// ingestBenchPushing reports whether any of the n streams still has its
// publisher.
func ingestBenchPushing(b *testing.B, s *server, prefix string, n int) bool {
	for i := 1; i <= n; i++ {
		resp, err := s.get(fmt.Sprintf("/v1/streams/%s%d", prefix, i), nil)
		if err != nil {
			b.Fatal(err)
		}
		var js videoapi.StreamJSON
		err = json.NewDecoder(resp.Body).Decode(&js)
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		if js.State == videoapi.StatePushing {
			return true
		}
	}
	return false
}

// udpRcvbufErrors is the machine's count of UDP datagrams dropped for a
// full socket receive buffer (/proc/net/snmp, Udp RcvbufErrors): all
// sockets', so only a hint when other work runs beside the benchmark.
func udpRcvbufErrors(b *testing.B) int {
	data, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		b.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, name := range names {
			if name == "RcvbufErrors" && i < len(f) {
				n, _ := strconv.Atoi(f[i])
				return n
			}
		}
	}
	b.Fatal("no Udp RcvbufErrors in /proc/net/snmp")
	return 0
}

// ingestBenchCPU is the server's CPU seconds so far.
func ingestBenchCPU(b *testing.B, s *server) float64 {
	cpu, err := procCPU(s.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	return cpu
}

// ingestBenchAlloc is the bytes the server's Go runtime allocated so far
// (TotalAlloc in its heap profile).
func ingestBenchAlloc(b *testing.B, debug string) float64 {
	resp, err := http.Get("http://" + debug + "/debug/pprof/heap?debug=1")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "# TotalAlloc = "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatal(errors.Join(errors.New("no TotalAlloc in the heap profile"), sc.Err()))
	return 0
}
