package main

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/dataplane/video/whep/wheptest"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestLiveWHEPH265 watches a Hikvision-style camera (H.265 + G.711
// A-law, pushed over RTSP by ffmpeg with libx265) live over WHEP: a pion
// player that offers H.265 gets H.265 and PCMA, and what it depacketizes
// (RFC 7798) decodes in ffmpeg frame by frame; a player that offers no
// H.265 gets 400 saying so.
func TestLiveWHEPH265(t *testing.T) {
	ffmpeg := testtool.Need(t, "ffmpeg")
	needEncoders(t, "libx265")
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	base := "http://" + s.httpAddr
	auth := func(r *http.Request) { r.SetBasicAuth("admin", "adminsecret") }

	cam := testtool.Command(t, 3*time.Minute, ffmpeg, "-hide_banner", "-v", "error", "-re",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000",
		"-t", "120", "-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		"-x265-params", "keyint=25:min-keyint=25:bframes=0:log-level=error", "-c:a", "pcm_alaw", "-ar", "8000", "-ac", "1",
		"-f", "rtsp", "-rtsp_transport", "tcp", fmt.Sprintf("rtsp://camera:camsecret@%s/hevccam", s.rtspAddr))
	if err := cam.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cam.Process.Kill(); cam.Wait() })
	waitFor(t, time.Minute, "hevccam pushing", func() error {
		js, err := s.streamJSON(t, "hevccam")
		if err != nil {
			return err
		}
		if js.State != videoapi.StatePushing {
			return fmt.Errorf("state %q", js.State)
		}
		return nil
	})

	// A player without H.265 (VP8 and Opus, as a browser without an
	// H.265 decoder): 400 naming the codec.
	me := &webrtc.MediaEngine{}
	me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}, webrtc.RTPCodecTypeVideo)
	me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: 8000, Channels: 1}, PayloadType: 8}, webrtc.RTPCodecTypeAudio)
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/whep/hevccam", strings.NewReader(offer.SDP))
	req.Header.Set("Content-Type", "application/sdp")
	auth(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var msg bytes.Buffer
	msg.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg.String(), "cannot receive H.265") {
		t.Fatalf("a player without H.265: %s %s, want 400 naming H.265", resp.Status, msg.Bytes())
	}

	p := wheptest.New(t)
	p.Play(t, base+"/whep/hevccam", auth)
	p.WaitUntil(t, time.Minute, "50 H.265 frames from a keyframe and A-law audio", func() bool {
		return p.Keyframe && p.Frames >= 50 && len(p.AudioPackets) >= 25
	})
	p.Lock()
	video, audio, stream := p.VideoMime, p.AudioMime, bytes.Clone(p.AnnexB.Bytes())
	p.Unlock()
	if !strings.EqualFold(video, webrtc.MimeTypeH265) || !strings.EqualFold(audio, webrtc.MimeTypePCMA) {
		t.Fatalf("the player got %s and %s, want H.265 and PCMA", video, audio)
	}
	cmd := testtool.Command(t, time.Minute, ffmpeg, "-hide_banner", "-v", "error", "-xerror", "-f", "hevc", "-i", "-",
		"-map", "0:v", "-f", "framemd5", "-")
	cmd.Stdin = bytes.NewReader(stream)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg -f hevc of the live H.265: %v\n%s", err, stderr.Bytes())
	}
	decoded := 0
	for _, line := range strings.Split(string(out), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			decoded++
		}
	}
	if decoded < 45 {
		t.Fatalf("ffmpeg decoded %d frames of the live H.265, want at least 45", decoded)
	}
}
