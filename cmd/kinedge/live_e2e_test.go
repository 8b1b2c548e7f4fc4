package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestLiveRTSP plays a stream live with ffprobe while ffmpeg publishes
// it: both tracks arrive, with the admin credentials only.
func TestLiveRTSP(t *testing.T) {
	ffprobe := testtool.Need(t, "ffprobe")
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	s.pushCamera(t, "live1")
	// ffprobe's JSON on stdout; its decoder's complaints about a stream
	// joined mid-GOP go to stderr, shown on failure.
	probe := func(user, stream string) ([]byte, error) {
		cmd := testtool.Command(t, time.Minute, ffprobe, "-v", "error", "-rtsp_transport", "tcp", "-read_intervals", "%+3",
			"-count_packets", "-show_entries", "stream=codec_name,nb_read_packets", "-of", "json",
			fmt.Sprintf("rtsp://%s@%s/%s", user, s.rtspAddr, stream))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return append(out, stderr.Bytes()...), err
		}
		return out, nil
	}
	played := func(stream string) {
		t.Helper()
		out, err := probe("admin:adminsecret", stream)
		if err != nil {
			t.Fatalf("ffprobe live %s: %v\n%s", stream, err, out)
		}
		var p struct {
			Streams []struct {
				CodecName     string `json:"codec_name"`
				NbReadPackets string `json:"nb_read_packets"`
			}
		}
		if err := json.Unmarshal(out, &p); err != nil || len(p.Streams) != 2 {
			t.Fatalf("ffprobe live %s: %v\n%s", stream, err, out)
		}
		for i, want := range []string{"h264", "aac"} {
			n, _ := strconv.Atoi(p.Streams[i].NbReadPackets)
			if p.Streams[i].CodecName != want || n == 0 {
				t.Fatalf("live %s stream %d: %s with %d packets, want %s with some", stream, i, p.Streams[i].CodecName, n, want)
			}
		}
	}
	played("live1")
	// The camera's credentials publish; they do not play.
	if out, err := probe("camera:camsecret", "live1"); err == nil {
		t.Fatalf("ffprobe played with the publish credentials:\n%s", out)
	}

	// A pulled camera plays live too.
	s.pullCamera(t, "pulled1", "rtsp://"+startFedCamera(t)+"/live")
	played("pulled1")
}
