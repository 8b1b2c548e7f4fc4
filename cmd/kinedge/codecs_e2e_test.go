package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestG711Publisher: a camera sending H.264 with G.711 audio (the default
// of most IP cameras), µ-law and A-law, published by ffmpeg over RTSP, is
// recorded with both tracks; the replay carries them as ffprobe reads
// them (pcm_mulaw / pcm_alaw, 8 kHz) and decodes without an error.
func TestG711Publisher(t *testing.T) {
	ffmpeg := testtool.Need(t, "ffmpeg")
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	const seconds = 4
	for _, c := range []struct{ stream, encoder string }{{"g711u", "pcm_mulaw"}, {"g711a", "pcm_alaw"}} {
		t.Run(c.encoder, func(t *testing.T) {
			u := fmt.Sprintf("rtsp://camera:camsecret@%s/%s", s.rtspAddr, c.stream)
			out, err := testtool.Command(t, 2*time.Minute, ffmpeg, "-hide_banner", "-v", "error",
				"-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
				"-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000",
				"-t", strconv.Itoa(seconds), "-c:v", "libx264", "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p",
				"-c:a", c.encoder, "-ar", "8000", "-ac", "1",
				"-f", "rtsp", "-rtsp_transport", "tcp", u).CombinedOutput()
			if err != nil {
				t.Fatalf("ffmpeg: %v\n%s", err, out)
			}
			// The open fragment is stored before "rtsp publish ended" is
			// logged.
			waitFor(t, 2*time.Minute, "the publish to end", func() error {
				if grepLines(s.logs(), "rtsp publish ended", c.stream) == "" {
					return errors.New(`no "rtsp publish ended" line yet`)
				}
				return nil
			})
			if strings.Contains(s.logs(), "rtsp track skipped") {
				t.Fatalf("a track was skipped:\n%s", grepLines(s.logs(), "rtsp track skipped"))
			}
			frags := s.fragments(t, c.stream)
			if len(frags) == 0 {
				t.Fatal("no fragments")
			}
			for _, f := range frags {
				if !slices.Contains(f.Codecs, "PCMU") && !slices.Contains(f.Codecs, "PCMA") {
					t.Fatalf("fragment %s codecs %v: no G.711", f.FragmentNumber, f.Codecs)
				}
			}
			file := replayRange(t, s, c.stream, frags[0].ServerTimestamp, frags[len(frags)-1].ServerTimestamp)
			b, err := testtool.Command(t, time.Minute, testtool.Need(t, "ffprobe"), "-v", "error",
				"-show_entries", "stream=codec_name,sample_rate,channels", "-of", "csv=p=0", file).Output()
			if err != nil {
				t.Fatalf("ffprobe: %v", err)
			}
			streams := strings.Fields(string(b))
			if !slices.Contains(streams, "h264") || !slices.Contains(streams, c.encoder+",8000,1") {
				t.Fatalf("replayed streams %q, want h264 and %s,8000,1", streams, c.encoder)
			}
			// The audio lasts as long as the video: every packet's samples
			// are there.
			b, err = testtool.Command(t, time.Minute, testtool.Need(t, "ffprobe"), "-v", "error", "-select_streams", "a:0",
				"-show_entries", "packet=duration_time", "-of", "csv=p=0", file).Output()
			if err != nil {
				t.Fatalf("ffprobe packets: %v", err)
			}
			var audio float64
			for _, f := range strings.Fields(string(b)) {
				d, err := strconv.ParseFloat(f, 64)
				if err != nil {
					t.Fatalf("packet duration %q", f)
				}
				audio += d
			}
			if video := videoSpan(t, file); audio < video-0.5 || audio > video+0.5 {
				t.Fatalf("%.3f s of audio beside %.3f s of video", audio, video)
			}
			decodeClean(t, file)

			// MP4 carries the audio as 16-bit linear PCM (no player reads
			// G.711 from MP4).
			resp, err := s.get("/v1/streams/"+c.stream+"/media", url.Values{"format": {"mp4"},
				"start": {frags[0].ServerTimestamp.Format(time.RFC3339Nano)}, "end": {frags[len(frags)-1].ServerTimestamp.Format(time.RFC3339Nano)}})
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("mp4 export: %v %s %.200s", err, resp.Status, body)
			}
			mp4 := filepath.Join(t.TempDir(), c.stream+".mp4")
			if err := os.WriteFile(mp4, body, 0o600); err != nil {
				t.Fatal(err)
			}
			b, err = testtool.Command(t, time.Minute, testtool.Need(t, "ffprobe"), "-v", "error",
				"-show_entries", "stream=codec_name,sample_rate,channels", "-of", "csv=p=0", mp4).Output()
			if err != nil {
				t.Fatalf("ffprobe mp4: %v", err)
			}
			if streams := strings.Fields(string(b)); !slices.Contains(streams, "h264") || !slices.Contains(streams, "pcm_s16be,8000,1") {
				t.Fatalf("mp4 streams %q, want h264 and pcm_s16be,8000,1", streams)
			}
			decodeClean(t, mp4)
		})
	}
}
