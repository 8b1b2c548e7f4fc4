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

// TestRTSPCodecs: cameras that send the codecs IP cameras use besides
// H.264/AAC, published by ffmpeg over RTSP, are recorded with every
// track; the replay carries them as ffprobe reads them and decodes
// without an error; MP4 export carries what fMP4 can (G.711 decoded to
// linear PCM, big-endian PCM as it is) and refuses the rest with 415,
// naming the codec.
//   - G.711 µ-law and A-law (most IP cameras' default audio), with H.264;
//   - big-endian PCM (L16, L24), with VP8 and with H.264;
//   - Motion JPEG (cheap cameras), with G.711.
func TestRTSPCodecs(t *testing.T) {
	ffmpeg := testtool.Need(t, "ffmpeg")
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	h264 := []string{"-c:v", "libx264", "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p"}
	for _, c := range []struct {
		stream     string
		video      []string
		audio      []string // encoder, rate, channels
		codecs     []string // the index's
		probe      []string // ffprobe's codec_name[,sample_rate,channels] of the MKV
		mp4        []string // of the MP4; nil: 415
		mp4Refusal string
	}{
		// (RTP's JPEG, RFC 2435, carries only the standard Huffman tables.)
		{"g711u", h264, []string{"pcm_mulaw", "8000", "1"}, []string{"H264", "PCMU"}, []string{"h264", "pcm_mulaw,8000,1"}, []string{"h264", "pcm_s16be,8000,1"}, ""},
		{"g711a", h264, []string{"pcm_alaw", "8000", "1"}, []string{"H264", "PCMA"}, []string{"h264", "pcm_alaw,8000,1"}, []string{"h264", "pcm_s16be,8000,1"}, ""},
		{"l24", h264, []string{"pcm_s24be", "48000", "2"}, []string{"H264", "LPCM"}, []string{"h264", "pcm_s24be,48000,2"}, []string{"h264", "pcm_s24be,48000,2"}, ""},
		{"vp8", []string{"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-g", "25", "-b:v", "500k"},
			[]string{"pcm_s16be", "16000", "1"}, []string{"VP8", "LPCM"}, []string{"vp8", "pcm_s16be,16000,1"}, nil, "V_VP8"},
		{"mjpeg", []string{"-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-q:v", "8", "-huffman", "default"},
			[]string{"pcm_alaw", "8000", "1"}, []string{"MJPEG", "PCMA"}, []string{"mjpeg", "pcm_alaw,8000,1"}, nil, "V_MJPEG"},
	} {
		t.Run(c.stream, func(t *testing.T) {
			const seconds = 4
			u := fmt.Sprintf("rtsp://camera:camsecret@%s/%s", s.rtspAddr, c.stream)
			args := []string{"-hide_banner", "-v", "error",
				"-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
				"-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=" + c.audio[1],
				"-t", strconv.Itoa(seconds)}
			args = append(args, c.video...)
			args = append(args, "-c:a", c.audio[0], "-ar", c.audio[1], "-ac", c.audio[2], "-f", "rtsp", "-rtsp_transport", "tcp", u)
			if out, err := testtool.Command(t, 2*time.Minute, ffmpeg, args...).CombinedOutput(); err != nil {
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
			if l := grepLines(s.logs(), "rtsp track skipped", c.stream); l != "" {
				t.Fatalf("a track was skipped:\n%s", l)
			}
			frags := s.fragments(t, c.stream)
			if len(frags) == 0 {
				t.Fatalf("no fragments\n%s", grepLines(s.logs(), c.stream))
			}
			for _, f := range frags {
				if !slices.Equal(f.Codecs, c.codecs) {
					t.Fatalf("fragment %s codecs %v, want %v", f.FragmentNumber, f.Codecs, c.codecs)
				}
			}
			start, end := frags[0].ServerTimestamp, frags[len(frags)-1].ServerTimestamp
			file := replayRange(t, s, c.stream, start, end)
			if got := probeStreams(t, file); !slices.Equal(got, c.probe) {
				t.Fatalf("replayed streams %q, want %q", got, c.probe)
			}
			// The audio lasts as long as the video: every packet's samples
			// are there (PCM: the bytes of a sample of every channel).
			b, err := testtool.Command(t, time.Minute, testtool.Need(t, "ffprobe"), "-v", "error", "-select_streams", "a:0",
				"-show_entries", "packet=size", "-of", "csv=p=0", file).Output()
			if err != nil {
				t.Fatalf("ffprobe packets: %v", err)
			}
			rate, _ := strconv.Atoi(c.audio[1])
			channels, _ := strconv.Atoi(c.audio[2])
			block := channels * map[string]int{"pcm_mulaw": 1, "pcm_alaw": 1, "pcm_s16be": 2, "pcm_s24be": 3}[c.audio[0]]
			var bytes int
			for _, f := range strings.Fields(string(b)) {
				n, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("packet size %q", f)
				}
				bytes += n
			}
			audio := float64(bytes) / float64(block*rate)
			if video := videoSpan(t, file); audio < video-0.5 || audio > video+0.5 {
				t.Fatalf("%.3f s of audio beside %.3f s of video", audio, video)
			}
			decodeClean(t, file)

			// The picture of a moment (ffmpeg decodes the keyframe).
			resp, err := s.get("/v1/streams/"+c.stream+"/image", url.Values{"at": {end.Format(time.RFC3339Nano)}, "width": {"160"}})
			if err != nil {
				t.Fatal(err)
			}
			img, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" || len(img) < 100 {
				t.Fatalf("image: %s %s, %d bytes %.200s", resp.Status, resp.Header.Get("Content-Type"), len(img), img)
			}

			resp, err = s.get("/v1/streams/"+c.stream+"/media", url.Values{"format": {"mp4"},
				"start": {start.Format(time.RFC3339Nano)}, "end": {end.Format(time.RFC3339Nano)}})
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if c.mp4 == nil {
				if resp.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(string(body), c.mp4Refusal) {
					t.Fatalf("mp4 export: %s %.300s; want 415 naming %s", resp.Status, body, c.mp4Refusal)
				}
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("mp4 export: %s %.300s", resp.Status, body)
			}
			mp4 := filepath.Join(t.TempDir(), c.stream+".mp4")
			if err := os.WriteFile(mp4, body, 0o600); err != nil {
				t.Fatal(err)
			}
			if got := probeStreams(t, mp4); !slices.Equal(got, c.mp4) {
				t.Fatalf("mp4 streams %q, want %q", got, c.mp4)
			}
			decodeClean(t, mp4)
		})
	}
}

// probeStreams returns ffprobe's codec_name of each stream of file, with
// ",sample_rate,channels" for audio.
func probeStreams(t *testing.T, file string) []string {
	t.Helper()
	b, err := testtool.Command(t, time.Minute, testtool.Need(t, "ffprobe"), "-v", "error",
		"-show_entries", "stream=codec_type,codec_name,sample_rate,channels", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	var out []string
	for _, l := range strings.Fields(string(b)) {
		f := strings.Split(l, ",")
		if len(f) >= 4 && f[1] == "audio" {
			out = append(out, f[0]+","+f[2]+","+f[3])
		} else {
			out = append(out, f[0])
		}
	}
	return out
}
