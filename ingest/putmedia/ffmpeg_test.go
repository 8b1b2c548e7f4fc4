package putmedia

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// ffmpegClip makes an H.264 (with B-frames) + AAC Matroska stream as a
// producer's muxer does: one cluster a second, each starting at a
// keyframe.
func ffmpegClip(t *testing.T, seconds int, audio bool) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "clip.mkv")
	args := []string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25"}
	if audio {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000")
	}
	args = append(args, "-t", strconv.Itoa(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "25", "-keyint_min", "25",
		"-pix_fmt", "yuv420p")
	if audio {
		args = append(args, "-c:a", "aac", "-b:a", "64k")
	}
	args = append(args, "-f", "matroska", "-cluster_time_limit", "1000", "-live", "1", "-y", out)
	cmd := testtool.Command(t, time.Minute, "ffmpeg", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// packets counts a clip's packets per stream type with ffprobe.
func packets(t *testing.T, clip []byte) map[string]int {
	t.Helper()
	f := filepath.Join(t.TempDir(), "probe.mkv")
	if err := os.WriteFile(f, clip, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := testtool.Command(t, time.Minute, "ffprobe", "-v", "error", "-show_entries", "packet=codec_type", "-of", "csv=p=0", f)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	n := map[string]int{}
	for _, l := range strings.Fields(string(out)) {
		n[strings.TrimSuffix(l, ",")]++
	}
	return n
}

func TestFFmpegProducer(t *testing.T) {
	clip := ffmpegClip(t, 4, true)
	want := packets(t, clip)
	pub := &fakePublisher{}
	_, ts := newTestServer(t, pub)
	resp := post(t, ts.URL, relHeaders, bytes.NewReader(clip))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	acks := readAcks(t, resp.Body)
	clusters := map[uint64]string{}
	for _, a := range acks {
		if a.FragmentTimecode == nil {
			t.Fatalf("ack without timecode: %+v", a)
		}
		clusters[*a.FragmentTimecode] += a.EventType + " "
	}
	if len(clusters) < 4 {
		t.Fatalf("%d clusters acknowledged, want at least 4: %s", len(clusters), perCluster(acks))
	}
	for tc, s := range clusters {
		if s != "BUFFERING RECEIVED PERSISTED " {
			t.Errorf("cluster %d: %s", tc, s)
		}
	}
	if len(pub.req.Tracks) != 2 || pub.req.Tracks[0].Codec != media.CodecH264 || pub.req.Tracks[1].Codec != media.CodecAAC {
		t.Fatalf("tracks %+v", pub.req.Tracks)
	}
	v := pub.req.Tracks[0]
	if len(v.SPS) == 0 || len(v.PPS) == 0 || v.Width != 160 || len(pub.req.Tracks[1].Config) == 0 {
		t.Fatalf("track parameters: video %+v audio %+v", v, pub.req.Tracks[1])
	}
	got := map[string]int{}
	var lastDTS time.Duration = -1
	keys := 0
	for _, f := range pub.frames {
		kind := pub.req.Tracks[f.Track].Kind().String()
		got[kind]++
		if kind != "video" {
			continue
		}
		if f.DTS > f.PTS || f.DTS <= lastDTS {
			t.Fatalf("video frame pts %v dts %v after dts %v", f.PTS, f.DTS, lastDTS)
		}
		lastDTS = f.DTS
		if f.Key {
			keys++
			// Keyframes carry the SPS in-band, 4-byte lengths.
			if n := binary.BigEndian.Uint32(f.Data); int(n) != len(v.SPS) || !bytes.Equal(f.Data[4:4+n], v.SPS) {
				t.Fatalf("keyframe does not start with the SPS")
			}
		}
	}
	if got["video"] != want["video"] || got["audio"] != want["audio"] {
		t.Fatalf("frames recorded %v, ffprobe counts %v", got, want)
	}
	if keys != 4 {
		t.Fatalf("%d keyframes, want 4", keys)
	}
}
