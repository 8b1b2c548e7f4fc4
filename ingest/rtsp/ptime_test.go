package rtsp

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kinedge/kinedge/ingest/camsim"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// maxEncoderLatency bounds how long before its arrival a real publisher's
// frame may be captured: libx264's default lookahead holds frames 1.2 s
// (measured), and a loaded machine adds to that.
const maxEncoderLatency = 5 * time.Second

// checkProducerTimes checks every frame of a finished session of a real
// publisher on this host (same clock): each has a producer time once
// the first sender report came, none lies after its arrival, none more than
// maxEncoderLatency before it, and the ahead-correction stayed within
// maxCorrection (zero for a publisher whose reports are right: they were
// read right, not rescued).
func checkProducerTimes(t *testing.T, w *recWriter, tracks int, maxCorrection time.Duration) {
	t.Helper()
	w.mu.Lock()
	frames, arrivals := w.frames, w.arrivals
	w.mu.Unlock()
	for tr := range tracks {
		var n, walls int
		var lo, hi time.Duration
		for i, f := range frames {
			if f.Track != tr {
				continue
			}
			n++
			if f.Wall.IsZero() {
				if walls > 0 {
					t.Errorf("track %d frame %d (PTS %v) without producer time after one with", tr, n, f.PTS)
				}
				continue
			}
			d := f.Wall.Sub(arrivals[i]) // negative: captured before arrival
			if walls == 0 {
				lo, hi = d, d
			}
			walls++
			lo, hi = min(lo, d), max(hi, d)
		}
		t.Logf("track %d: %d frames, %d with a producer time; producer minus arrival in [%v, %v]", tr, n, walls, lo, hi)
		// When the first report comes is the publisher's (GStreamer's
		// RTCP interval is randomised, and a loaded machine starts the
		// pipeline late): from it on every frame has a producer time
		// (checked above), and there must be one.
		if walls == 0 || hi > 0 || lo < -maxEncoderLatency {
			t.Errorf("track %d: %d of %d frames with a producer time, producer minus arrival in [%v, %v], want within [-%v, 0]",
				tr, walls, n, lo, hi, maxEncoderLatency)
		}
	}
	st := w.req.Stats.Snapshot()
	t.Logf("producer clock: %d corrections, ahead by %v, %d jumps", st.ClockCorrections, st.ClockCorrection, st.ClockJumps)
	if st.ClockCorrection > maxCorrection || (maxCorrection == 0 && st.ClockCorrections != 0) || st.ClockJumps != 0 {
		t.Errorf("producer clock corrected by %v on %d frames (want at most %v), %d jumps", st.ClockCorrection, st.ClockCorrections, maxCorrection, st.ClockJumps)
	}
}

// sessionEnded waits for the first session's writer to close.
func sessionEnded(t *testing.T, r *recRouter) *recWriter {
	t.Helper()
	waitFor(t, 30*time.Second, "session end", func() bool {
		w := r.session(0)
		if w == nil {
			return false
		}
		_, _, closed := w.snapshot()
		return closed
	})
	return r.session(0)
}

// TestFFmpegProducerTime publishes a live-paced camera (ffmpeg -re, lavfi
// testsrc, libx264 with B-frames, AAC) for 12 s: ffmpeg sends a sender
// report per track every 5 s, stamped from its wall clock (ours).
func TestFFmpegProducerTime(t *testing.T) {
	if testing.Short() {
		t.Skip("a live ffmpeg publish takes 12 s")
	}
	ffmpeg := testtool.Need(t, "ffmpeg")
	_, r, addr := startServer(t)
	const secs = 12
	run(t, 2*time.Minute, ffmpeg, "-hide_banner", "-loglevel", "error", "-re",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
		"-t", strconv.Itoa(secs), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-g", "25", "-bf", "2",
		"-c:a", "aac", "-b:a", "64k",
		"-f", "rtsp", "-rtsp_transport", "tcp", "rtsp://user:pass@"+addr+"/cam1")
	// ffmpeg's reports count from when it wrote its output header (after
	// the RTSP handshake and the encoder's start), not from when it began
	// reading: it claims every frame some 30 ms later than it read it
	// (measured). The lookahead hides that until the last frames, flushed
	// at end of input, which the correction takes back. The lag is
	// libx264's start-up, longer on a loaded machine.
	checkProducerTimes(t, sessionEnded(t, r), 2, 500*time.Millisecond)
}

// TestGStreamerProducerTime publishes a live GStreamer pipeline through
// rtspclientsink (its RTP session sends sender reports from the system
// clock) for 8 s, with B-frames.
func TestGStreamerProducerTime(t *testing.T) {
	if testing.Short() {
		t.Skip("a live GStreamer publish takes 8 s")
	}
	gst := testtool.Need(t, "gst-launch-1.0")
	s, r, addr := startServer(t)
	const frames = 200 // 8 s at 25 fps
	cmd := testtool.Command(t, 2*time.Minute, gst, "-q",
		"videotestsrc", "is-live=true", "num-buffers="+strconv.Itoa(frames), "!", "video/x-raw,width=320,height=240,framerate=25/1", "!",
		"x264enc", "key-int-max=25", "bframes=2", "!", "video/x-h264,profile=main", "!", "s.",
		"rtspclientsink", "name=s", "protocols=tcp", "location=rtsp://user:pass@"+addr+"/cam1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// rtspclientsink does not always leave at end of stream: once every
	// frame is in (x264enc's lookahead is flushed at EOS), end it.
	waitFor(t, time.Minute, "every frame received", func() bool {
		w := r.session(0)
		return w != nil && w.req.Stats.Frames.Load() >= frames
	})
	s.Close()
	cmd.Process.Kill()
	<-exited
	// rtpbin stamps its reports with the send time of the last packet
	// (rtcp-sync-send-time): with B-frames a P frame, sent up to 4 frames
	// before its PTS, then maps after its arrival. The correction takes
	// that back.
	checkProducerTimes(t, sessionEnded(t, r), 1, 250*time.Millisecond)
}

// TestCamsimProducerTime publishes camsim's H.264+AAC clip for 6 s: its
// reports (its own, RFC 5905 fractions) come with its first frames and
// claim captures before the sends, so no correction is needed.
func TestCamsimProducerTime(t *testing.T) {
	if testing.Short() {
		t.Skip("a camsim publish takes 6 s")
	}
	clip, err := camsim.ReadClip(filepath.Join("..", "..", "testdata", "h264_aac.ts"))
	if err != nil {
		t.Fatal(err)
	}
	_, r, addr := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := camsim.Run(ctx, camsim.Config{URL: "rtsp://user:pass@" + addr + "/", Source: clip, Duration: 6 * time.Second}); err != nil {
		t.Fatal(err)
	}
	checkProducerTimes(t, sessionEnded(t, r), 2, 0)
}
