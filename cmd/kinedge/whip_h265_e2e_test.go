package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h265reader"

	"github.com/kinedge/kinedge/ingest/webrtc/whiptest"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// h265Samples encodes seconds of a test pattern with ffmpeg's libx265 (no
// B-frames: WebRTC has none, a keyframe a second) and returns its access
// units as WebRTC samples, Annex-B, parameter sets before each keyframe.
func h265Samples(t *testing.T, seconds string) []pmedia.Sample {
	t.Helper()
	ffmpeg := testtool.Need(t, "ffmpeg")
	path := filepath.Join(t.TempDir(), "v.h265")
	if b, err := testtool.Command(t, time.Minute, ffmpeg, "-hide_banner", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30",
		"-t", seconds, "-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-x265-params", "keyint=30:min-keyint=30:bframes=0:log-level=error",
		"-f", "hevc", path).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg hevc: %v\n%s", err, b)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := h265reader.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var video []pmedia.Sample
	var au []byte
	for {
		nal, err := r.NextNAL()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		au = append(au, 0, 0, 0, 1)
		au = append(au, nal.Data...)
		if nal.NalUnitType < 32 { // a slice: x265 writes one per picture
			video = append(video, pmedia.Sample{Data: au, Duration: time.Second / 30})
			au = nil
		}
	}
	return video
}

// TestWHIPPublishH265 publishes 3 s of H.265 from a pion peer over WHIP:
// the answer keeps H265, the replay holds every frame sent and ffprobe
// decodes it as hevc.
func TestWHIPPublishH265(t *testing.T) {
	testtool.Need(t, "ffprobe")
	video := h265Samples(t, "3")
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := whiptest.Publish(ctx, whiptest.Options{URL: "http://" + s.httpAddr + "/whip/camh265", Token: "camsecret", Video: webrtc.MimeTypeH265})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Answer, "H265/90000") {
		t.Fatalf("the answer has no H265:\n%s", p.Answer)
	}
	if err := p.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := whiptest.Send(ctx, p.Video, video); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Delete(ctx); err != nil || code != http.StatusOK {
		t.Fatalf("DELETE: %d %v", code, err)
	}
	waitFor(t, time.Minute, "the session's fragments", func() error {
		frames := 0
		for _, f := range s.fragments(t, "camh265") {
			frames += f.Frames
		}
		if frames < len(video)-1 {
			return errors.New("not all frames stored yet")
		}
		return nil
	})
	mkvPath := fetchMKV(t, s, "camh265", start.Add(-time.Minute), time.Now().Add(time.Minute))
	pr := ffprobe(t, mkvPath)
	n := pr.packets(t)
	// The last frame may be lost to the DELETE.
	if strings.Join(pr.codecs(), ",") != "hevc" || n["video"] > len(video) || n["video"] < len(video)-1 {
		t.Fatalf("replay: %v, packets %v; sent %d frames", pr.codecs(), n, len(video))
	}
	decodeClean(t, mkvPath)
}
