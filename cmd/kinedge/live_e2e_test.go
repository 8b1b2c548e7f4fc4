package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestLiveRTSP plays a stream live with ffprobe while ffmpeg publishes
// it: both tracks arrive, with the admin credentials only.
func TestLiveRTSP(t *testing.T) {
	ffmpeg := testtool.Need(t, "ffmpeg")
	ffprobe := testtool.Need(t, "ffprobe")
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	feed := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-v", "error", "-re", "-stream_loop", "-1", "-i", remuxed(t, "h264_aac.ts"),
		"-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", fmt.Sprintf("rtsp://camera:camsecret@%s/live1", s.rtspAddr))
	if err := feed.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { feed.Process.Kill(); feed.Wait() }()
	waitFor(t, 20*time.Second, "live1 pushing", func() error {
		js, err := s.streamJSON(t, "live1")
		if err != nil {
			return err
		}
		if js.State != videoapi.StatePushing {
			return fmt.Errorf("state %q", js.State)
		}
		return nil
	})
	probe := func(user string) ([]byte, error) {
		return testtool.Command(t, time.Minute, ffprobe, "-v", "error", "-rtsp_transport", "tcp", "-read_intervals", "%+3",
			"-count_packets", "-show_entries", "stream=codec_name,nb_read_packets", "-of", "json",
			fmt.Sprintf("rtsp://%s@%s/live1", user, s.rtspAddr)).CombinedOutput()
	}
	out, err := probe("admin:adminsecret")
	if err != nil {
		t.Fatalf("ffprobe live: %v\n%s", err, out)
	}
	var p struct {
		Streams []struct {
			CodecName     string `json:"codec_name"`
			NbReadPackets string `json:"nb_read_packets"`
		}
	}
	if err := json.Unmarshal(out, &p); err != nil || len(p.Streams) != 2 {
		t.Fatalf("ffprobe live: %v\n%s", err, out)
	}
	for i, want := range []string{"h264", "aac"} {
		n, _ := strconv.Atoi(p.Streams[i].NbReadPackets)
		if p.Streams[i].CodecName != want || n == 0 {
			t.Fatalf("live stream %d: %s with %d packets, want %s with some", i, p.Streams[i].CodecName, n, want)
		}
	}
	// The camera's credentials publish; they do not play.
	if out, err := probe("camera:camsecret"); err == nil {
		t.Fatalf("ffprobe played with the publish credentials:\n%s", out)
	}
}
