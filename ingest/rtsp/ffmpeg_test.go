package rtsp

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/kinedge/kinedge/dataplane/authlimit"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/testdata/testtool"
)

func run(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	out, err := testtool.Command(t, timeout, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// makeClip encodes a 2 s test clip and returns its path and the frame count
// of each stream (ffprobe -count_frames), video first.
func makeClip(t *testing.T, vcodec, acodec string, arate int) (string, []int) {
	ffmpeg, ffprobe := testtool.Need(t, "ffmpeg"), testtool.Need(t, "ffprobe")
	clip := filepath.Join(t.TempDir(), "clip.mkv")
	args := []string{"-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=" + strconv.Itoa(arate),
		"-t", "2", "-pix_fmt", "yuv420p", "-c:v", vcodec, "-g", "25", "-bf", "2"}
	if vcodec == "libx265" {
		args = append(args, "-x265-params", "log-level=error")
	}
	args = append(args, "-c:a", acodec, "-b:a", "64k", clip)
	run(t, 2*time.Minute, ffmpeg, args...)
	out := run(t, time.Minute, ffprobe, "-v", "error", "-count_frames",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", clip)
	var counts []int
	for _, l := range strings.Fields(out) {
		n, err := strconv.Atoi(strings.Trim(l, ","))
		if err != nil {
			t.Fatalf("ffprobe output %q", out)
		}
		counts = append(counts, n)
	}
	if len(counts) != 2 {
		t.Fatalf("ffprobe counts %v", counts)
	}
	return clip, counts
}

// nalTypes lists the NAL unit types of an AVCC access unit.
func nalTypes(codec media.Codec, au []byte) []int {
	var out []int
	for len(au) >= 4 {
		n := int(au[0])<<24 | int(au[1])<<16 | int(au[2])<<8 | int(au[3])
		au = au[4:]
		if n <= 0 || n > len(au) {
			return append(out, -1)
		}
		if codec == media.CodecH265 {
			out = append(out, int(au[0]>>1)&0x3f)
		} else {
			out = append(out, int(au[0]&0x1f))
		}
		au = au[n:]
	}
	return out
}

func containsAll(have []int, want ...int) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

func TestFFmpegPublish(t *testing.T) {
	if testing.Short() {
		t.Skip("ffmpeg publish takes seconds")
	}
	for _, tc := range []struct {
		name, vcodec, acodec, transport string
		arate                           int
		video, audio                    media.Codec
		extra                           []string
	}{
		{"h264-aac-tcp", "libx264", "aac", "tcp", 44100, media.CodecH264, media.CodecAAC, nil},
		{"h264-aac-udp", "libx264", "aac", "udp", 44100, media.CodecH264, media.CodecAAC, nil},
		{"h265-opus-tcp", "libx265", "libopus", "tcp", 48000, media.CodecH265, media.CodecOpus, nil},
		{"h264-aac-latm-tcp", "libx264", "aac", "tcp", 44100, media.CodecH264, media.CodecAAC, []string{"-rtpflags", "latm"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clip, counts := makeClip(t, tc.vcodec, tc.acodec, tc.arate)
			var opts []serverOpt
			if tc.transport == "udp" {
				opts = append(opts, withUDP(t))
			}
			s, r, addr := startServer(t, opts...)
			args := []string{"-hide_banner", "-loglevel", "error",
				"-re", "-i", clip, "-c", "copy", "-muxdelay", "0"}
			args = append(args, tc.extra...)
			args = append(args, "-f", "rtsp", "-rtsp_transport", tc.transport, "rtsp://user:pass@"+addr+"/cam1")
			run(t, 2*time.Minute, testtool.Need(t, "ffmpeg"), args...)
			waitFor(t, 10*time.Second, "session end", func() bool {
				w := r.session(0)
				if w == nil {
					return false
				}
				_, _, closed := w.snapshot()
				return closed
			})
			w := r.session(0)
			frames, discs, _ := w.snapshot()
			req := w.req
			if req.Transport != tc.transport {
				t.Fatalf("transport %q", req.Transport)
			}
			if len(req.Tracks) != 2 || req.Tracks[0].Codec != tc.video || req.Tracks[1].Codec != tc.audio {
				t.Fatalf("tracks %+v", req.Tracks)
			}
			v := req.Tracks[0]
			if len(v.SPS) == 0 || len(v.PPS) == 0 || (tc.video == media.CodecH265 && len(v.VPS) == 0) {
				t.Fatalf("video track without parameter sets: %+v", v)
			}
			if v.Width != 320 || v.Height != 240 {
				t.Fatalf("video size %dx%d", v.Width, v.Height)
			}
			if a := req.Tracks[1]; a.SampleRate != tc.arate || a.Channels != 1 {
				t.Fatalf("audio track %+v", a)
			}
			if len(discs) != 0 {
				t.Fatalf("discontinuities %q", discs)
			}

			perTrack := make([][]*media.Frame, 2)
			for _, f := range frames {
				perTrack[f.Track] = append(perTrack[f.Track], f)
			}
			st := req.Stats.Snapshot()
			t.Logf("clip frames %v, received video %d audio %d, stats %+v", counts,
				len(perTrack[0]), len(perTrack[1]), st)
			if tc.audio == media.CodecAAC && tc.extra == nil {
				// ffmpeg's mpeg4-generic packetizer (rtpenc_aac.c) holds
				// each access unit until the next one arrives and never
				// flushes the last one: it is not sent. (Its LATM
				// packetizer sends every one.)
				counts[1]--
			}
			for i, want := range counts {
				got := len(perTrack[i])
				if tc.transport == "udp" && got <= want && got >= want*9/10 {
					// ffmpeg's TEARDOWN (TCP) can overtake its last UDP
					// packets, which then arrive after the session ended:
					// seen under -race, where the UDP reader is slow.
					continue
				}
				if got != want {
					t.Errorf("track %d: %d frames, clip has %d", i, got, want)
				}
			}
			if st.DecodeErrors != 0 || st.FramesDropped != 0 {
				t.Errorf("stats %+v", st)
			}

			first := perTrack[0][0]
			types := nalTypes(tc.video, first.Data)
			params := []int{7, 8}
			if tc.video == media.CodecH265 {
				params = []int{32, 33, 34}
			}
			if !first.Key || !containsAll(types, params...) {
				t.Fatalf("first video frame key=%v NAL types %v", first.Key, types)
			}
			keys := 0
			for _, f := range perTrack[0] {
				if f.Key {
					keys++
					if !containsAll(nalTypes(tc.video, f.Data), params...) {
						t.Fatalf("keyframe without parameter sets: %v", nalTypes(tc.video, f.Data))
					}
				}
			}
			if keys < 2 {
				t.Errorf("%d keyframes in 2 s with -g 25", keys)
			}

			reordered := false
			for ti, fs := range perTrack {
				for i, f := range fs {
					if f.DTS > f.PTS {
						t.Fatalf("track %d frame %d DTS %v > PTS %v", ti, i, f.DTS, f.PTS)
					}
					if ti == 1 && f.DTS != f.PTS {
						t.Fatalf("audio frame %d DTS != PTS", i)
					}
					if i > 0 && f.DTS <= fs[i-1].DTS {
						t.Fatalf("track %d frame %d DTS %v after %v", ti, i, f.DTS, fs[i-1].DTS)
					}
					if i > 0 && f.PTS < fs[i-1].PTS {
						reordered = true
					}
				}
			}
			if !reordered {
				t.Errorf("no B-frame reordering seen with -bf 2")
			}

			// Wall comes from ffmpeg's RTCP sender reports: once known, it
			// moves with the media timeline, except that the correction
			// of a producer clock ahead of arrival (rtpclock) only grows
			// and moves it back: ffmpeg -re -c copy sends a P frame before
			// its PTS, which it claims as the capture time.
			for ti, fs := range perTrack {
				var ref *media.Frame
				for _, f := range fs {
					if f.Wall.IsZero() {
						continue
					}
					if ref == nil {
						ref = f
						continue
					}
					if d := f.Wall.Sub(ref.Wall) - (f.PTS - ref.PTS); d > 2*time.Millisecond || d < -st.ClockCorrection-2*time.Millisecond {
						t.Fatalf("track %d: wall and PTS differ by %v (correction %v)", ti, d, st.ClockCorrection)
					}
				}
				if ref == nil {
					t.Errorf("track %d: no Wall time although ffmpeg sends RTCP sender reports", ti)
				}
			}
			if got := s.Sessions(); len(got) != 0 {
				t.Errorf("sessions after teardown: %+v", got)
			}
		})
	}
}

// TestFFmpegRefusals checks what ffmpeg, as a camera, prints for each
// refusal: the status and our reason phrase.
func TestFFmpegRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("ffmpeg takes seconds")
	}
	clip, _ := makeClip(t, "libx264", "aac", 44100)
	_, r, addr := startServer(t)
	r.mu.Lock() // the server's goroutines read it
	r.active = map[string]*recWriter{"busy": {r: r, req: &PublishRequest{Stream: "busy"}}}
	r.mu.Unlock()
	for _, tc := range []struct{ userinfo, stream, want string }{
		{"user:wrong@", "cam1", "401 Unauthorized"},
		{"", "cam1", "401 Unauthorized"},
		{"user:pass@", "busy", "455 Stream busy is already being published"},
		{"user:pass@", "missing", "404 Stream missing not found"},
	} {
		out, err := testtool.Command(t, time.Minute, testtool.Need(t, "ffmpeg"), "-hide_banner", "-loglevel", "error",
			"-i", clip, "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp",
			"rtsp://"+tc.userinfo+addr+"/"+tc.stream).CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s%s: err %v, output:\n%s", tc.userinfo, tc.stream, err, out)
		}
	}
	// a camera with only MPEG-4 Part 2 video and G.722 audio.
	out, err := testtool.Command(t, time.Minute, testtool.Need(t, "ffmpeg"), "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=160x120:rate=5", "-f", "lavfi", "-i", "sine=sample_rate=16000",
		"-t", "0.4", "-c:v", "mpeg4", "-c:a", "g722", "-f", "rtsp", "-rtsp_transport", "tcp",
		"rtsp://user:pass@"+addr+"/cam1").CombinedOutput()
	if want := "415 No Supported Codec (found MPEG-4 Video, G722;"; err == nil || !strings.Contains(string(out), want) {
		t.Errorf("mpeg4+g722: err %v, output:\n%s", err, out)
	}
	if n := r.count(); n != 0 {
		t.Fatalf("%d sessions published", n)
	}
}

// TestFFmpegLockout: ffmpeg publishing with a wrong password is refused
// with 401 until its address is locked out, then with 503 (ffmpeg gives
// up, reporting it) even with the right password; a gortsplib camera on
// another loopback address (127.0.0.2) still publishes.
func TestFFmpegLockout(t *testing.T) {
	if testing.Short() {
		t.Skip("ffmpeg takes seconds")
	}
	clip, _ := makeClip(t, "libx264", "aac", 44100)
	lim := &authlimit.Limiter{MaxFailures: 3}
	_, r, addr := startServer(t, func(s *Server) { s.Limiter = lim })
	ffmpeg := func(userinfo string) (string, error) {
		out, err := testtool.Command(t, time.Minute, testtool.Need(t, "ffmpeg"), "-hide_banner", "-loglevel", "error",
			"-i", clip, "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp",
			"rtsp://"+userinfo+"@"+addr+"/cam1").CombinedOutput()
		return string(out), err
	}
	for i := range 3 {
		if out, err := ffmpeg("user:wrong"); err == nil || !strings.Contains(out, "401 Unauthorized") {
			t.Fatalf("attempt %d: err %v, output:\n%s", i, err, out)
		}
	}
	if out, err := ffmpeg("user:pass"); err == nil || !strings.Contains(out, "503 Service Unavailable") {
		t.Fatalf("locked out: err %v, output:\n%s", err, out)
	}
	if s := lim.Stats(); s.Failures["rtsp"] != 3 || s.Lockouts != 1 || s.Refused != 1 {
		t.Fatalf("limiter stats %+v", s)
	}
	// another address is not locked out
	c := &gortsplib.Client{Transport: tcpTransport(), DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}
	desc := &description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{h264Format()}}}}
	if err := c.StartRecording("rtsp://user:pass@"+addr+"/cam1", desc); err != nil {
		t.Fatalf("camera at 127.0.0.2: %v", err)
	}
	c.Close()
	if n := r.count(); n != 1 {
		t.Fatalf("%d sessions published, want 1 (the camera at 127.0.0.2)", n)
	}
}
