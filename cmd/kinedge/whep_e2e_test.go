package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/kinedge/kinedge/dataplane/video/whep/wheptest"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestLiveWHEP watches a camera live over WHEP while ffmpeg publishes it
// over RTSP (H.264 + AAC): a pion player receives H.264 that ffprobe
// decodes, no audio (AAC cannot go over WebRTC), the recording goes on
// meanwhile, and DELETE ends the session.
func TestLiveWHEP(t *testing.T) {
	testtool.Need(t, "ffmpeg")
	testtool.Need(t, "ffprobe")
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	base := "http://" + s.httpAddr
	auth := func(r *http.Request) { r.SetBasicAuth("admin", "adminsecret") }

	// Before any camera: 503, and 404 for a stream that does not exist.
	for _, tc := range []struct {
		path string
		want int
	}{{"/whep/nosuch", 404}} {
		req, _ := http.NewRequest(http.MethodPost, base+tc.path, strings.NewReader(wheptest.New(t).Offer(t)))
		req.Header.Set("Content-Type", "application/sdp")
		auth(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("POST %s: %s, want %d", tc.path, resp.Status, tc.want)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/whep/live1", strings.NewReader("v=0"))
	req.Header.Set("Content-Type", "application/sdp")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST without credentials: %v %v, want 401", resp.Status, err)
	}

	s.pushCamera(t, "live1")
	before := s.metric(t, "kinedge_stream_fragments_stored_total", "live1")

	p := wheptest.New(t)
	p.Play(t, base+"/whep/live1", auth)
	p.WaitUntil(t, time.Minute, "50 video frames from a keyframe", func() bool { return p.Keyframe && p.Frames >= 50 })
	if v := s.metric(t, "kinedge_live_viewers", "live1"); v != 1 {
		t.Fatalf("kinedge_live_viewers %d, want 1", v)
	}
	waitFor(t, time.Minute, "fragments stored while the viewer plays", func() error {
		if n := s.metric(t, "kinedge_stream_fragments_stored_total", "live1"); n < before+2 {
			return fmt.Errorf("%d fragments stored, %d before the viewer", n, before)
		}
		return nil
	})

	checkWHEPVideo(t, s, p, false)

	del, _ := http.NewRequest(http.MethodDelete, base+p.Location, nil)
	auth(del)
	resp, err := http.DefaultClient.Do(del)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE %s: %s", p.Location, resp.Status)
	}
	p.WaitUntil(t, time.Minute, "the player's connection to end", func() bool {
		return p.State == webrtc.PeerConnectionStateClosed || p.State == webrtc.PeerConnectionStateFailed || p.State == webrtc.PeerConnectionStateDisconnected
	})
	if v := s.metric(t, "kinedge_live_viewers", "live1"); v != 0 {
		t.Fatalf("kinedge_live_viewers %d after DELETE, want 0", v)
	}
}

// checkWHEPVideo checks what a WHEP player received: H.264 that ffprobe
// decodes, and Opus audio when wantAudio (none when the camera's audio is
// AAC, which the server must have logged).
func checkWHEPVideo(t *testing.T, s *server, p *wheptest.Player, wantAudio bool) {
	t.Helper()
	ffprobe := testtool.Need(t, "ffprobe")
	p.Lock()
	stream := append([]byte(nil), p.AnnexB.Bytes()...)
	opus := p.Opus
	p.Unlock()
	if !wantAudio && opus != 0 {
		t.Fatalf("%d audio packets: the camera's audio is AAC, which WebRTC cannot carry", opus)
	}
	if !wantAudio && !strings.Contains(s.logs(), "AAC audio: WebRTC has no AAC") {
		t.Fatal("the server did not log that the AAC track was left out")
	}
	cmd := testtool.Command(t, time.Minute, ffprobe, "-v", "error", "-f", "h264", "-count_frames",
		"-show_entries", "stream=codec_name,width,nb_read_frames", "-of", "default=nw=1", "-")
	cmd.Stdin = bytes.NewReader(stream)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s%s", err, out, stderr.Bytes())
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	if n, _ := strconv.Atoi(got["nb_read_frames"]); got["codec_name"] != "h264" || n < 40 {
		t.Fatalf("ffprobe of the live H.264: %q, want h264 with at least 40 frames decoded\n%s", out, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Errorf("ffprobe complained about the live H.264:\n%s", stderr.Bytes())
	}

}

// TestLiveWHEPPulled watches a pulled camera over WHEP: pulled sources
// feed live view as pushed ones do.
func TestLiveWHEPPulled(t *testing.T) {
	testtool.Need(t, "ffmpeg")
	camAddr := startFedCamera(t)
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	s.pullCamera(t, "porch", "rtsp://"+camAddr+"/live")
	p := wheptest.New(t)
	p.Play(t, "http://"+s.httpAddr+"/whep/porch", func(r *http.Request) { r.SetBasicAuth("admin", "adminsecret") })
	p.WaitUntil(t, time.Minute, "50 video frames from a keyframe", func() bool { return p.Keyframe && p.Frames >= 50 })
	checkWHEPVideo(t, s, p, false)
}
