package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"

	"github.com/kinedge/kinedge/ingest/webrtc/whiptest"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// h264AUs encodes seconds of a test pattern with libx264 and the extra
// arguments, and returns its access units (Annex-B) and which are IDR.
func h264AUs(t *testing.T, seconds string, args ...string) (aus [][]byte, idr []bool) {
	t.Helper()
	ffmpeg := testtool.Need(t, "ffmpeg")
	path := filepath.Join(t.TempDir(), "v.h264")
	cmd := append([]string{"-hide_banner", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", seconds,
		"-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-bf", "0"}, args...)
	if b, err := testtool.Command(t, time.Minute, ffmpeg, append(cmd, "-f", "h264", path)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg h264: %v\n%s", err, b)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := h264reader.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var au []byte
	for {
		nal, err := r.NextNAL()
		if errors.Is(err, io.EOF) {
			return aus, idr
		}
		if err != nil {
			t.Fatal(err)
		}
		au = append(au, 0, 0, 0, 1)
		au = append(au, nal.Data...)
		if nal.UnitType == h264reader.NalUnitTypeCodedSliceIdr || nal.UnitType == h264reader.NalUnitTypeCodedSliceNonIdr {
			aus = append(aus, au)
			idr = append(idr, nal.UnitType == h264reader.NalUnitTypeCodedSliceIdr)
			au = nil
		}
	}
}

// TestWHIPPLICutsFragments: a publisher that sends a keyframe only at
// its start and when a PLI asks (as browsers do, rarely on their own)
// publishes 6 s with fragment.target 1 s. The appliance asks once a
// fragment runs past the target, the publisher answers with a keyframe,
// and the fragments are cut near the target instead of growing to
// fragment.max.
func TestWHIPPLICutsFragments(t *testing.T) {
	const seconds = "6"
	// The same pictures twice: one keyframe then only P-frames, and all
	// keyframes. Frame i goes from the second after a PLI.
	deltas, idr := h264AUs(t, seconds, "-g", "1000", "-sc_threshold", "0")
	keys, _ := h264AUs(t, seconds, "-g", "1")
	if len(deltas) != len(keys) || len(deltas) < 150 {
		t.Fatalf("%d and %d frames", len(deltas), len(keys))
	}
	for _, k := range idr[1:] {
		if k {
			t.Fatal("the delta clip has a keyframe after its first")
		}
	}
	s := startServer(t, t.TempDir(), freeUDPPair(t), "KINEDGE_FRAGMENT_TARGET=1s")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := whiptest.Publish(ctx, whiptest.Options{URL: "http://" + s.httpAddr + "/whip/campli", Token: "camsecret", Video: webrtc.MimeTypeH264})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	// The PLI at the session's start is answered by the first frame,
	// a keyframe anyway.
	answered := p.PLIs.Load()
	tick := time.NewTicker(time.Second / 30) // a camera's frame rate
	defer tick.Stop()
	sentKeys := 0
	for i := range deltas {
		if i > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			}
		}
		au := deltas[i]
		if n := p.PLIs.Load(); n > answered && i > 0 {
			answered, au = n, keys[i]
			sentKeys++
		}
		if err := p.Video.WriteSample(pmedia.Sample{Data: au, Duration: time.Second / 30}); err != nil {
			t.Fatal(err)
		}
	}
	if code, err := p.Delete(ctx); err != nil || code != http.StatusOK {
		t.Fatalf("DELETE: %d %v", code, err)
	}
	if sentKeys < 4 {
		t.Fatalf("%d keyframes sent on PLIs in %s s with a 1 s target, want at least 4", sentKeys, seconds)
	}
	var lengths []int64
	waitFor(t, time.Minute, "the session's fragments", func() error {
		frames := 0
		lengths = lengths[:0]
		for _, f := range s.fragments(t, "campli") {
			frames += f.Frames
			lengths = append(lengths, f.FragmentLengthInMilliseconds)
		}
		if frames < len(deltas)-1 {
			return errors.New("not all frames stored yet")
		}
		return nil
	})
	// A fragment per PLI answered (the PLI of the session's start may
	// come after the first keyframe, and its answer then does not cut);
	// each but the last cut within a PLI round trip and a frame of the
	// target. Without PLIs it would be one 6 s fragment.
	if len(lengths) < 5 || len(lengths) > sentKeys+1 {
		t.Errorf("%d fragments %v, want 5 to %d (%d keyframes on PLIs)", len(lengths), lengths, sentKeys+1, sentKeys)
	}
	for i, l := range lengths[:len(lengths)-1] {
		if l < 900 || l > 1600 {
			t.Errorf("fragment %d is %d ms long, want about the 1 s target: %v", i, l, lengths)
		}
	}
	t.Logf("fragments (ms): %v; %d keyframes on PLIs", lengths, sentKeys)
}
