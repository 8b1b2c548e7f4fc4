package camsim

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/testdata/testtool"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// shortClip makes a 1-second 160x120 25 fps clip with ffmpeg: GOP 25 (one
// keyframe), 2 B-frames, and 48 kHz stereo audio.
func shortClip(t *testing.T, video, audio string) string {
	t.Helper()
	ffmpeg := testtool.Need(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), "short.ts")
	args := []string{"-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1",
		"-pix_fmt", "yuv420p"}
	switch video {
	case "h264":
		args = append(args, "-c:v", "libx264", "-profile:v", "main", "-bf", "2",
			"-g", "25", "-keyint_min", "25", "-sc_threshold", "0")
	case "h265":
		args = append(args, "-c:v", "libx265", "-x265-params",
			"keyint=25:min-keyint=25:scenecut=0:bframes=2:log-level=error")
	}
	switch audio {
	case "aac":
		args = append(args, "-c:a", "aac", "-ac", "2")
	case "opus":
		args = append(args, "-c:a", "libopus", "-ac", "2")
	}
	args = append(args, "-f", "mpegts", out)
	if b, err := testtool.Command(t, 2*time.Minute, ffmpeg, args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

func TestLoadClip(t *testing.T) {
	tests := []struct {
		file        string
		codecs      []media.Codec
		videoFrames int
		gop         time.Duration
		keyframes   int
		paramSets   []int // NAL unit types every keyframe must carry in-band
	}{
		{"h264_aac.ts", []media.Codec{media.CodecH264, media.CodecAAC}, 250, time.Second, 10, []int{7, 8}},
		{"h265_opus.ts", []media.Codec{media.CodecH265, media.CodecOpus}, 250, 2 * time.Second, 5, []int{32, 33, 34}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c, err := ReadClip(filepath.Join("..", "..", "testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var codecs []media.Codec
			for _, tr := range c.Tracks {
				codecs = append(codecs, tr.Codec)
			}
			if !slices.Equal(codecs, tt.codecs) {
				t.Fatalf("codecs = %v, want %v", codecs, tt.codecs)
			}
			v, a := c.Tracks[0], c.Tracks[1]
			if v.Width != 320 || v.Height != 240 || len(v.SPS) == 0 || len(v.PPS) == 0 {
				t.Errorf("video track = %+v", v)
			}
			if a.SampleRate != 48000 || a.Channels != 2 {
				t.Errorf("audio track = %+v", a)
			}
			if c.Period != 10*time.Second || c.FrameRate != 25 || c.KeyframeInterval != tt.gop {
				t.Errorf("period %v, fps %v, gop %v; want 10s, 25, %v", c.Period, c.FrameRate, c.KeyframeInterval, tt.gop)
			}
			if !c.Frames[0].Key || c.Frames[0].Track != 0 || c.Frames[0].DTS != 0 {
				t.Errorf("first frame = track %d key %v dts %v, want the video keyframe at 0",
					c.Frames[0].Track, c.Frames[0].Key, c.Frames[0].DTS)
			}
			var vpts []time.Duration
			keys := 0
			var lastDTS, audioEnd time.Duration
			audioStart := time.Duration(-1)
			for i, f := range c.Frames {
				if f.DTS < lastDTS {
					t.Fatalf("frame %d: DTS %v < previous %v", i, f.DTS, lastDTS)
				}
				lastDTS = f.DTS
				if f.PTS < f.DTS {
					t.Fatalf("frame %d: PTS %v < DTS %v", i, f.PTS, f.DTS)
				}
				if f.Track == 0 {
					vpts = append(vpts, f.PTS)
					if f.Key {
						keys++
						types := nalTypes(t, f.Data, codecs[0] == media.CodecH265)
						for _, want := range tt.paramSets {
							if !slices.Contains(types, want) {
								t.Errorf("keyframe at %v has NAL types %v, lacks %d", f.DTS, types, want)
							}
						}
					}
					continue
				}
				if audioStart < 0 {
					audioStart = f.PTS
				}
				audioEnd = f.PTS
			}
			if keys != tt.keyframes {
				t.Errorf("%d keyframes, want %d", keys, tt.keyframes)
			}
			if len(vpts) != tt.videoFrames {
				t.Fatalf("%d video frames, want %d", len(vpts), tt.videoFrames)
			}
			slices.Sort(vpts)
			for i := 1; i < len(vpts); i++ {
				if d := vpts[i] - vpts[i-1]; d != 40*time.Millisecond {
					t.Fatalf("video PTS step %v at %d, want 40ms", d, i)
				}
			}
			// Audio must fit in one period so that loops do not overlap.
			if audioEnd-audioStart >= c.Period {
				t.Errorf("audio spans %v..%v, more than the period %v", audioStart, audioEnd, c.Period)
			}
		})
	}
}

// badClips are inputs LoadClip must refuse with ErrClip; they also seed the
// fuzz test.
func badClips(t testing.TB) map[string][]byte {
	h264, err := os.ReadFile(filepath.Join("..", "..", "testdata", "h264_aac.ts"))
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, 188*4)
	for i := range garbage {
		garbage[i] = byte(i * 7)
	}
	return map[string][]byte{
		"empty":           nil,
		"not ts":          []byte("hello, this is not an MPEG-TS stream at all"),
		"garbage packets": garbage,
		"pat only":        h264[:188],
		"header only":     h264[:188*3],
	}
}

func TestLoadClipRejects(t *testing.T) {
	for name, b := range badClips(t) {
		t.Run(name, func(t *testing.T) {
			_, err := LoadClip(bytes.NewReader(b))
			if !errors.Is(err, ErrClip) {
				t.Fatalf("LoadClip = %v, want ErrClip", err)
			}
		})
	}
}

func FuzzLoadClip(f *testing.F) {
	for _, b := range badClips(f) {
		f.Add(b)
	}
	for _, name := range []string{"h264_aac.ts", "h265_opus.ts"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:188*40])
		f.Add(b[:188*400])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := LoadClip(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrClip) {
				t.Fatalf("error %v does not wrap ErrClip", err)
			}
			return
		}
		if len(c.Frames) == 0 || len(c.Frames) != len(c.frames) || c.Period <= 0 {
			t.Fatalf("accepted clip with %d frames, period %v", len(c.Frames), c.Period)
		}
		for i := range c.frames {
			if len(c.frames[i].payloads) == 0 {
				t.Fatalf("frame %d has no RTP payload", i)
			}
		}
	})
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"minimal", Config{URL: "rtsp://127.0.0.1:8554/", Clip: "x.ts"}, true},
		{"udp with creds", Config{URL: "rtsp://u:p@127.0.0.1:8554", Transport: "UDP", Clip: "x.ts", Cameras: 64}, true},
		{"no url", Config{Clip: "x.ts"}, false},
		{"http url", Config{URL: "http://127.0.0.1/", Clip: "x.ts"}, false},
		{"no clip", Config{URL: "rtsp://127.0.0.1/"}, false},
		{"bad transport", Config{URL: "rtsp://127.0.0.1/", Clip: "x.ts", Transport: "sctp"}, false},
		{"negative cameras", Config{URL: "rtsp://127.0.0.1/", Clip: "x.ts", Cameras: -1}, false},
		{"negative duration", Config{URL: "rtsp://127.0.0.1/", Clip: "x.ts", Duration: -time.Second}, false},
		{"queue not a power of two", Config{URL: "rtsp://127.0.0.1/", Clip: "x.ts", WriteQueueSize: 1000}, false},
		{"backoff inverted", Config{URL: "rtsp://127.0.0.1/", Clip: "x.ts", BackoffMin: time.Second, BackoffMax: time.Millisecond}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			err := cfg.validate()
			if tt.ok && err != nil {
				t.Fatalf("validate = %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrConfig) {
				t.Fatalf("validate = %v, want ErrConfig", err)
			}
			if tt.ok && (cfg.Cameras < 1 || cfg.Prefix != "cam" || cfg.Logger == nil || cfg.Now == nil) {
				t.Fatalf("defaults not filled: %+v", cfg)
			}
		})
	}
	// All problems are reported at once.
	cfg := Config{Transport: "sctp", Cameras: -2}
	err := cfg.validate()
	for _, want := range []string{"URL is empty", "Transport", "Cameras", "no clip"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validate error %v does not mention %q", err, want)
		}
	}
}

// unwrap turns 32-bit RTP timestamps into int64 relative to the first one
// (RFC 3550 §5.1: they wrap).
func unwrap(ts []uint32) []int64 {
	out := make([]int64, len(ts))
	var acc int64
	for i := range ts {
		if i > 0 {
			acc += int64(int32(ts[i] - ts[i-1]))
		}
		out[i] = acc
	}
	return out
}

// expectedFrames counts the frames of clip whose due time falls within the
// first d of a camera's timeline, computed independently of the pacer.
func expectedFrames(c *Clip, d time.Duration) (video, audio int64) {
	for loop := time.Duration(0); loop*c.Period < d; loop++ {
		for _, f := range c.Frames {
			if loop*c.Period+f.DTS >= d {
				continue
			}
			if c.Tracks[f.Track].Kind() == media.KindVideo {
				video++
			} else {
				audio++
			}
		}
	}
	return video, audio
}

func TestPublishLoopsWithContinuousTimestamps(t *testing.T) {
	tests := []struct {
		name, video, audio string
		transport          string
		codecs             []string
		auth               bool
		pacing             Pacing
	}{
		{"h264 aac tcp auth shared", "h264", "aac", TransportTCP, []string{"H264", "MPEG-4 Audio"}, true, PacingShared},
		{"h265 opus udp per-camera", "h265", "opus", TransportUDP, []string{"H265", "Opus"}, false, PacingPerCamera},
	}
	const cameras = 3
	const duration = 3 * time.Second
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clip, err := ReadClip(shortClip(t, tt.video, tt.audio))
			if err != nil {
				t.Fatal(err)
			}
			if clip.Period != time.Second {
				t.Fatalf("short clip period = %v, want 1s", clip.Period)
			}
			o := recServerOpts{udp: tt.transport == TransportUDP}
			if tt.auth {
				o.user, o.pass = "cam", "s3cret"
			}
			srv := startRecServer(t, o)
			defer srv.close()

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			st, err := Run(ctx, Config{
				URL: srv.url(), Cameras: cameras, Transport: tt.transport,
				Source: clip, Duration: duration, Pacing: tt.pacing,
			})
			if err != nil {
				t.Fatal(err)
			}
			if ctx.Err() != nil {
				t.Fatal("Run did not end on its own after Duration")
			}
			wantVideo, wantAudio := expectedFrames(clip, duration)
			if wantVideo != 75 {
				t.Fatalf("expectedFrames video = %d, want 3 s × 25 fps = 75", wantVideo)
			}
			if len(st.Cameras) != cameras {
				t.Fatalf("%d camera stats", len(st.Cameras))
			}
			for i, cs := range st.Cameras {
				path := "cam" + strconv.Itoa(i+1)
				if cs.Path != path || cs.Connects != 1 || cs.Dropped != 0 {
					t.Errorf("%s: stats %+v, want 1 connect and no drops", path, cs)
				}
				// Frames sent against media time published, not wall time.
				if cs.VideoFrames != wantVideo || cs.AudioFrames != wantAudio {
					t.Errorf("%s: sent %d video / %d audio frames, want %d / %d",
						path, cs.VideoFrames, cs.AudioFrames, wantVideo, wantAudio)
				}
				if cs.MediaTime < duration || cs.Loops < 2 {
					t.Errorf("%s: media time %v, %d loops", path, cs.MediaTime, cs.Loops)
				}

				// The server may still be handling the last packets when Run
				// returns: poll until it has them all (TCP) or a deadline.
				var rp *recPath
				complete := func() bool {
					rp = srv.snapshot(path)
					return rp != nil && len(rp.medias) == 2 &&
						int64(len(rp.medias[0].aus)) >= cs.VideoFrames &&
						int64(len(rp.medias[1].aus)) >= cs.AudioFrames
				}
				deadline := time.Now().Add(5 * time.Second)
				for !complete() && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if rp == nil {
					t.Fatalf("%s: server received nothing", path)
				}
				if !slices.Equal(rp.codecs, tt.codecs) || rp.sessions != 1 {
					t.Fatalf("%s: codecs %v sessions %d, want %v and 1", path, rp.codecs, rp.sessions, tt.codecs)
				}
				v, a := rp.medias[0], rp.medias[1]
				if tt.transport == TransportTCP {
					if v.seqGaps != 0 || a.seqGaps != 0 {
						t.Errorf("%s: sequence gaps video %d audio %d", path, v.seqGaps, a.seqGaps)
					}
					if int64(len(v.aus)) != cs.VideoFrames || int64(len(a.aus)) != cs.AudioFrames {
						t.Errorf("%s: server got %d video / %d audio frames, camera sent %d / %d",
							path, len(v.aus), len(a.aus), cs.VideoFrames, cs.AudioFrames)
					}
				} else if int64(len(v.aus)) < cs.VideoFrames*9/10 {
					t.Errorf("%s: server got %d of %d video frames over UDP", path, len(v.aus), cs.VideoFrames)
				}
				checkVideoTimeline(t, path, v.aus, clip)
				checkAudioTimeline(t, path, a.aus, a.clockRate, clip)
			}
		})
	}
}

// checkVideoTimeline checks the RTP timestamps (PTS, 90 kHz) of the video
// access units one camera sent, in decode order, across loop boundaries:
// every PTS is unique, together they tile the timeline with one frame
// duration steps (a loop neither skips nor repeats a frame), reordering is
// bounded by the B-frame depth, and the count of frames matches the media
// time they span.
func checkVideoTimeline(t *testing.T, path string, ts []uint32, clip *Clip) {
	t.Helper()
	const step = 3600 // 25 fps
	pts := unwrap(ts)
	if len(pts) < 50 {
		t.Fatalf("%s: only %d video frames", path, len(pts))
	}
	maxSeen := pts[0]
	for i, p := range pts {
		if p < maxSeen-3*step {
			t.Fatalf("%s: video frame %d goes back %d ticks (more than the B-frame depth)", path, i, maxSeen-p)
		}
		maxSeen = max(maxSeen, p)
	}
	sorted := slices.Clone(pts)
	slices.Sort(sorted)
	// The last frames in decode order may miss their successors in
	// presentation order (the run ends mid-GOP): check all but the tail.
	for i := 1; i < len(sorted)-3; i++ {
		if d := sorted[i] - sorted[i-1]; d != step {
			t.Fatalf("%s: video PTS step %d at frame %d (of %d), want %d", path, d, i, len(sorted), step)
		}
	}
	span := sorted[len(sorted)-1] - sorted[0]
	if got, want := int64(len(sorted)), span/step+1; got < want-3 || got > want {
		t.Errorf("%s: %d frames over a media span of %d ticks, want %d", path, got, span, want)
	}
	if period := int64(clip.Period / time.Second * 90000); span < 2*period {
		t.Errorf("%s: video span %d ticks does not cross two loop boundaries (period %d)", path, span, period)
	}
}

// checkAudioTimeline checks that audio RTP timestamps strictly increase,
// including across loop boundaries, by one frame except where a loop starts
// (a gap shorter than one frame).
func checkAudioTimeline(t *testing.T, path string, ts []uint32, clockRate int, clip *Clip) {
	t.Helper()
	at := unwrap(ts)
	if len(at) < 2 {
		t.Fatalf("%s: %d audio frames", path, len(at))
	}
	frame := at[1] - at[0]
	for i := 1; i < len(at); i++ {
		d := at[i] - at[i-1]
		switch {
		case d <= 0:
			t.Fatalf("%s: audio timestamp %d after %d", path, at[i], at[i-1])
		case d == frame:
		case d < 2*frame: // a loop boundary
		default:
			t.Fatalf("%s: audio gap of %d ticks at %d (frame %d)", path, d, i, frame)
		}
	}
	if total := at[len(at)-1] - at[0]; total < 2*int64(clockRate) {
		t.Errorf("%s: audio spans %d ticks at %d Hz, want more than 2 s", path, total, clockRate)
	}
}

// h264FirstNALType is the type of the first NAL unit in an RTP payload
// (RFC 6184 §5.6–5.8: single NAL unit, STAP-A, FU-A).
func h264FirstNALType(p []byte) byte {
	if len(p) < 2 {
		return 0
	}
	switch p[0] & 0x1f {
	case 24: // STAP-A: 1-byte header, 2-byte size, then the NAL unit
		if len(p) < 4 {
			return 0
		}
		return p[3] & 0x1f
	case 28: // FU-A: indicator, header
		return p[1] & 0x1f
	}
	return p[0] & 0x1f
}

func TestReconnectAfterServerRestart(t *testing.T) {
	clip, err := ReadClip(filepath.Join("..", "..", "testdata", "h264_aac.ts"))
	if err != nil {
		t.Fatal(err)
	}
	const cameras = 2
	srv1 := startRecServer(t, recServerOpts{})
	defer srv1.close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		st  Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := Run(ctx, Config{
			URL: srv1.url(), Cameras: cameras, Source: clip,
			BackoffMin: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		})
		done <- result{st, err}
	}()

	receivedVideo := func(srv *recServer, n int) func() bool {
		return func() bool {
			for i := 1; i <= cameras; i++ {
				rp := srv.snapshot("cam" + strconv.Itoa(i))
				if rp == nil || len(rp.medias) == 0 || len(rp.medias[0].aus) < n {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, "video on the first server", 10*time.Second, receivedVideo(srv1, 10))
	srv1.close()
	last := make([]uint32, cameras)
	for i := range last {
		v := srv1.snapshot("cam" + strconv.Itoa(i+1)).medias[0]
		last[i] = v.aus[len(v.aus)-1]
	}

	// A new server on the same address, as after a restart.
	srv2 := startRecServer(t, recServerOpts{addr: srv1.addr})
	defer srv2.close()
	waitFor(t, "video on the restarted server", 15*time.Second, receivedVideo(srv2, 10))
	cancel()
	var res result
	select {
	case res = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	for i, cs := range res.st.Cameras {
		if cs.Connects < 2 || cs.Reconnects < 1 {
			t.Errorf("%s: %d connects, %d reconnects; want a reconnect", cs.Path, cs.Connects, cs.Reconnects)
		}
		if cs.Dropped == 0 {
			t.Errorf("%s: no frame dropped across a server restart", cs.Path)
		}
		rp := srv2.snapshot(cs.Path)
		v := rp.medias[0]
		if nt := h264FirstNALType(v.first); nt != 7 && nt != 5 {
			t.Errorf("%s: first video NAL after reconnect has type %d, want SPS (7) or IDR (5)", cs.Path, nt)
		}
		// The camera's clock kept running: timestamps continue forward.
		if d := int32(v.aus[0] - last[i]); d <= 0 {
			t.Errorf("%s: first timestamp after reconnect is %d ticks after the last one before", cs.Path, d)
		}
		if rp.sessions != 1 {
			t.Errorf("%s: %d sessions on the new server", cs.Path, rp.sessions)
		}
	}
}

// TestSenderReportsGiveNTPTime checks that the server can map RTP time to
// the camera's wall clock (RFC 3550 §6.4.1 sender reports, which a camera
// sends with its first frame and every 5 s), so the run lasts 6 s.
func TestSenderReportsGiveNTPTime(t *testing.T) {
	if testing.Short() {
		t.Skip("needs 6 s for two RTCP sender reports")
	}
	t.Parallel()
	clip, err := ReadClip(filepath.Join("..", "..", "testdata", "h264_aac.ts"))
	if err != nil {
		t.Fatal(err)
	}
	srv := startRecServer(t, recServerOpts{})
	defer srv.close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := Run(ctx, Config{URL: srv.url(), Source: clip, Duration: 6 * time.Second}); err != nil {
		t.Fatal(err)
	}
	rp := srv.snapshot("cam1")
	if rp == nil {
		t.Fatal("nothing received")
	}
	for _, m := range rp.medias {
		if m.ntpOK == 0 {
			t.Errorf("%s: no packet with a known NTP time", m.codec)
		}
		// The NTP time is the presentation time on the camera's clock:
		// the packet delayed least arrives within the B-frame delay of it
		// (a mapping off by seconds, or an RTP clock at the wrong rate,
		// puts every packet far off).
		if m.ntpSkew > time.Second {
			t.Errorf("%s: NTP time off the wall clock by %v", m.codec, m.ntpSkew)
		}
	}
}

// nalTypes lists the NAL unit types of an AVCC access unit (ITU-T H.264
// §7.3.1, H.265 §7.3.1.2 headers).
func nalTypes(t *testing.T, avcc []byte, h265 bool) []int {
	t.Helper()
	var types []int
	for d := avcc; len(d) > 0; {
		if len(d) < 5 {
			t.Fatalf("truncated AVCC: %x", d)
		}
		n := int(binary.BigEndian.Uint32(d))
		if n < 1 || 4+n > len(d) {
			t.Fatalf("bad AVCC length %d of %d", n, len(d)-4)
		}
		if h265 {
			types = append(types, int(d[4]>>1)&0x3f)
		} else {
			types = append(types, int(d[4])&0x1f)
		}
		d = d[4+n:]
	}
	return types
}
