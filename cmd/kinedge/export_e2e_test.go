package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// needEncoders skips (fails under CI=true) unless ffmpeg has the encoders.
func needEncoders(t *testing.T, names ...string) {
	t.Helper()
	out, err := testtool.Command(t, time.Minute, testtool.Need(t, "ffmpeg"), "-hide_banner", "-encoders").Output()
	if err != nil {
		t.Fatalf("ffmpeg -encoders: %v", err)
	}
	for _, n := range names {
		if !strings.Contains(string(out), " "+n+" ") {
			if os.Getenv("CI") == "true" {
				t.Fatalf("ffmpeg has no %s encoder (required under CI=true)", n)
			}
			t.Skipf("ffmpeg has no %s encoder; install an ffmpeg built with it to run this test", n)
		}
	}
}

// publishTestSource publishes seconds of ffmpeg's test picture at size with
// the video encoder and a tone in AAC, and waits for ffmpeg to end.
func publishTestSource(t *testing.T, s *server, stream, size, encoder string, seconds int) {
	t.Helper()
	u := fmt.Sprintf("rtsp://camera:camsecret@%s/%s", s.rtspAddr, stream)
	cmd := testtool.Command(t, 2*time.Minute, testtool.Need(t, "ffmpeg"), "-hide_banner", "-v", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size="+size+":rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", fmt.Sprint(seconds), "-c:v", encoder, "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac",
		"-f", "rtsp", "-rtsp_transport", "tcp", u)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("publishing %s %s: %v\n%s", size, encoder, err, out)
	}
}

// waitRun waits until the stream holds a run of stored fragments after
// the first after ones that lasts at least d (its last fragment, stored
// when the session ends, is there) and returns all the fragments.
func waitRun(t *testing.T, s *server, stream string, after int, d time.Duration) []videoapi.FragmentJSON {
	t.Helper()
	var frags []videoapi.FragmentJSON
	waitFor(t, time.Minute, fmt.Sprintf("a run of %v stored after %d fragments", d, after), func() error {
		frags = s.fragments(t, stream)
		var ms int64
		for _, f := range frags[min(after, len(frags)):] {
			ms += f.FragmentLengthInMilliseconds
		}
		if time.Duration(ms)*time.Millisecond < d {
			return fmt.Errorf("%d ms in %d fragments", ms, len(frags)-after)
		}
		return nil
	})
	return frags
}

// videoFrames decodes the file's video and counts the pictures by size.
func videoFrames(t *testing.T, path string) map[string]int {
	t.Helper()
	out, err := testtool.Command(t, 2*time.Minute, testtool.Need(t, "ffprobe"), "-v", "error", "-select_streams", "v",
		"-show_entries", "frame=width,height", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe -show_frames %s: %v", path, err)
	}
	var p struct {
		Frames []struct{ Width, Height int }
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, f := range p.Frames {
		m[fmt.Sprintf("%dx%d", f.Width, f.Height)]++
	}
	return m
}

// TestExportAcrossChanges records a camera that restarts at another
// resolution after a gap and then again with another codec (H.264
// 640x360, H.264 320x240, H.265 480x270, AAC throughout), and replays the
// whole range as MKV and MP4 with `kinedge replay`: the first file holds
// both H.264 runs and every one of their pictures decodes at its own size;
// the appliance ends it before the H.265 fragment and says where, and the
// CLI writes the H.265 run to a second file.
func TestExportAcrossChanges(t *testing.T) {
	needEncoders(t, "libx264", "libx265", "aac")
	testtool.Need(t, "ffprobe")
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	const stream, seconds, fps = "restarted", 4, 25
	// A run is stored whole when its fragments span its last picture.
	run := time.Duration(seconds*fps-1) * time.Second / fps
	publishTestSource(t, s, stream, "640x360", "libx264", seconds)
	first := waitRun(t, s, stream, 0, run)
	publishTestSource(t, s, stream, "320x240", "libx264", seconds)
	second := waitRun(t, s, stream, len(first), run)
	publishTestSource(t, s, stream, "480x270", "libx265", seconds)
	frags := waitRun(t, s, stream, len(second), run)

	var cut *videoapi.FragmentJSON
	for i, f := range frags {
		if f.Codecs[0] == "H265" {
			cut = &frags[i]
			break
		}
	}
	if cut == nil || frags[0].Codecs[0] != "H264" {
		t.Fatalf("fragments: %+v", frags)
	}
	start, end := frags[0].ServerTimestamp.Add(-time.Second), frags[len(frags)-1].ServerTimestamp.Add(10*time.Second)

	// The API ends the file before the H.265 fragment and names it.
	resp, err := s.get("/v1/streams/"+stream+"/media", url.Values{"start": {start.Format(time.RFC3339Nano)}, "end": {end.Format(time.RFC3339Nano)}, "format": {"mp4"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("media: %s", resp.Status)
	}
	next, err := time.Parse(time.RFC3339Nano, resp.Header.Get(videoapi.HeaderNextStart))
	if err != nil || !next.Equal(cut.ServerTimestamp) || !strings.HasPrefix(resp.Header.Get(videoapi.HeaderTruncated), "codecs-changed; codecs=H265") {
		t.Fatalf("headers %v: want the next start %v (%v)", resp.Header, cut.ServerTimestamp, err)
	}

	for _, format := range []string{"mkv", "mp4"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, stream+"."+format)
			cmd := testtool.Command(t, 2*time.Minute, kinedgeBin, "replay", "--url", "http://"+s.httpAddr, "--user", "admin", "--pass", "adminsecret",
				"--stream", stream, "--start", start.Format(time.RFC3339Nano), "--end", end.Format(time.RFC3339Nano), "-o", out, "-q")
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("kinedge replay: %v\n%s", err, b)
			}
			rest := filepath.Join(dir, stream+".2."+format)
			if !strings.Contains(string(b), "the rest goes to "+rest) {
				t.Fatalf("kinedge replay did not say where the H.265 run went:\n%s", b)
			}
			// Every H.264 picture decodes, at its own size, without an
			// error from ffmpeg.
			decodeClean(t, out)
			got := videoFrames(t, out)
			want := map[string]int{"640x360": seconds * fps, "320x240": seconds * fps}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s: pictures by size %v, want %v", out, got, want)
			}
			p := ffprobe(t, out)
			if c := p.codecs(); fmt.Sprint(c) != "[h264 aac]" {
				t.Fatalf("%s: codecs %v", out, c)
			}
			if format == "mp4" {
				// The resolution changes: the sample entry says the
				// parameter sets come in-band.
				tag, err := testtool.Command(t, time.Minute, testtool.Need(t, "ffprobe"), "-v", "error", "-select_streams", "v",
					"-show_entries", "stream=codec_tag_string", "-of", "csv=p=0", out).Output()
				if err != nil || strings.TrimSpace(string(tag)) != "avc3" {
					t.Fatalf("%s: video sample entry %q (%v), want avc3", out, tag, err)
				}
			}
			// The gap stays a gap: the 320x240 run starts as long after
			// the first run's start as it did on the server's clock.
			if span := videoSpan(t, out); span < (second[len(first)].ServerTimestamp.Sub(frags[0].ServerTimestamp) + run).Seconds() {
				t.Fatalf("%s: video spans %.2f s, the recording with its gap %v", out, span, second[len(first)].ServerTimestamp.Sub(frags[0].ServerTimestamp))
			}
			decodeClean(t, rest)
			if got := videoFrames(t, rest); fmt.Sprint(got) != fmt.Sprint(map[string]int{"480x270": seconds * fps}) {
				t.Fatalf("%s: pictures by size %v", rest, got)
			}
			if c := ffprobe(t, rest).codecs(); fmt.Sprint(c) != "[hevc aac]" {
				t.Fatalf("%s: codecs %v", rest, c)
			}
		})
	}
}
