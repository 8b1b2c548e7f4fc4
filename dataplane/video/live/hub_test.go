package live

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kinedge/kinedge/ingest/media"
)

var tracks = []*media.Track{{Codec: media.CodecH264, ClockRate: 90000}, {Codec: media.CodecOpus, ClockRate: 48000}}

func frame(track int, key bool, n int) *media.Frame {
	return &media.Frame{Track: track, Key: key, PTS: time.Duration(n) * time.Millisecond, Data: []byte{byte(n)}}
}

func next(t *testing.T, v *Viewer) Item {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	it, err := v.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return it
}

// pending reports whether the viewer has an item queued, without waiting.
func pending(v *Viewer) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.queue) - v.head
}

func TestSubscribeNeedsSource(t *testing.T) {
	var h Hub
	if _, err := h.Subscribe("cam1"); !errors.Is(err, ErrNoSource) {
		t.Fatalf("Subscribe without a source: %v, want ErrNoSource", err)
	}
	f := h.Attach("cam1", tracks)
	v, err := h.Subscribe("cam1")
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	f.Close()
	if _, err := h.Subscribe("cam1"); !errors.Is(err, ErrNoSource) {
		t.Fatalf("Subscribe after the source ended: %v, want ErrNoSource", err)
	}
	if st := h.Stats()["cam1"]; st.Live || st.Viewers != 1 {
		t.Fatalf("stats %+v, want not live with 1 viewer", st)
	}
}

func TestMaxViewers(t *testing.T) {
	h := Hub{MaxViewers: 2}
	h.Attach("cam1", tracks)
	for range 2 {
		v, err := h.Subscribe("cam1")
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
	}
	if _, err := h.Subscribe("cam1"); !errors.Is(err, ErrTooManyViewers) {
		t.Fatalf("third viewer: %v, want ErrTooManyViewers", err)
	}
}

func TestJoinWaitsForKeyframe(t *testing.T) {
	var h Hub
	f := h.Attach("cam1", tracks)
	v, err := h.Subscribe("cam1")
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	f.WriteFrame(frame(0, false, 1)) // mid-GOP
	f.WriteFrame(frame(1, true, 2))  // audio before the first video keyframe
	if n := pending(v); n != 0 {
		t.Fatalf("%d items queued before the first keyframe", n)
	}
	f.WriteFrame(frame(0, true, 3))
	f.WriteFrame(frame(1, true, 4))
	if it := next(t, v); !it.Frame.Key || it.Frame.Data[0] != 3 || it.Track.Codec != media.CodecH264 {
		t.Fatalf("first item %+v, want the keyframe", it.Frame)
	}
	if it := next(t, v); it.Frame.Data[0] != 4 || it.Track.Codec != media.CodecOpus {
		t.Fatalf("second item %+v, want the audio frame", it.Frame)
	}
}

func TestFrameIsCopied(t *testing.T) {
	var h Hub
	f := h.Attach("cam1", tracks)
	v, _ := h.Subscribe("cam1")
	defer v.Close()
	fr := frame(0, true, 7)
	f.WriteFrame(fr)
	fr.Data[0] = 99 // the recorder owns the original
	if it := next(t, v); it.Frame.Data[0] != 7 {
		t.Fatalf("viewer saw the caller's later write: %d", it.Frame.Data[0])
	}
}

// A viewer that reads nothing loses frames, counted, and never holds more
// than its queue; the feed never blocks; once it reads again it resumes at a
// keyframe.
func TestSlowViewerDropsUntilKeyframe(t *testing.T) {
	h := Hub{QueueFrames: 4}
	f := h.Attach("cam1", tracks)
	slow, _ := h.Subscribe("cam1")
	defer slow.Close()
	fast, _ := h.Subscribe("cam1")
	defer fast.Close()
	n := 0
	write := func(key bool) {
		n++
		f.WriteFrame(frame(0, key, n))
		if it := next(t, fast); it.Frame.Data[0] != byte(n) {
			t.Fatalf("fast viewer got %d, want %d", it.Frame.Data[0], n)
		}
	}
	write(true)
	for range 5 {
		write(false)
	}
	if p := pending(slow); p > 4 {
		t.Fatalf("slow viewer holds %d frames, bound 4", p)
	}
	if slow.Dropped() != 5 || h.Stats()["cam1"].Dropped != 5 {
		t.Fatalf("dropped %d (stream %d), want 5: 4 queued + the one that did not fit", slow.Dropped(), h.Stats()["cam1"].Dropped)
	}
	write(false) // still skipping to a keyframe: queued nothing
	if p := pending(slow); p != 0 {
		t.Fatalf("slow viewer queued %d frames while waiting for a keyframe", p)
	}
	write(true)
	if it := next(t, slow); !it.Frame.Key || it.Frame.Data[0] != byte(n) {
		t.Fatalf("slow viewer resumed at %+v, want the keyframe %d", it.Frame, n)
	}
}

func TestQueueBytesBound(t *testing.T) {
	h := Hub{QueueBytes: 10}
	f := h.Attach("cam1", tracks)
	v, _ := h.Subscribe("cam1")
	defer v.Close()
	big := &media.Frame{Track: 0, Key: true, Data: make([]byte, 8)}
	f.WriteFrame(big)
	f.WriteFrame(&media.Frame{Track: 0, Data: make([]byte, 8)})
	if p := pending(v); p != 0 || v.Dropped() != 2 {
		// the keyframe queued, then the P-frame did not fit: both dropped
		t.Fatalf("pending %d dropped %d", p, v.Dropped())
	}
}

func TestNewSourceWaitsForKeyframe(t *testing.T) {
	var h Hub
	f1 := h.Attach("cam1", tracks)
	v, _ := h.Subscribe("cam1")
	defer v.Close()
	f1.WriteFrame(frame(0, true, 1))
	if it := next(t, v); it.Gen != 1 {
		t.Fatalf("gen %d", it.Gen)
	}
	f1.Close()
	f2 := h.Attach("cam1", tracks)
	f1.WriteFrame(frame(0, true, 2)) // the old session's late frame: ignored
	f2.WriteFrame(frame(0, false, 3))
	f2.WriteFrame(frame(0, true, 4))
	if it := next(t, v); it.Gen != 2 || it.Frame.Data[0] != 4 {
		t.Fatalf("after a new source: gen %d frame %d, want gen 2 frame 4", it.Gen, it.Frame.Data[0])
	}
}

func TestCloseEndsNext(t *testing.T) {
	var h Hub
	h.Attach("cam1", tracks)
	v, _ := h.Subscribe("cam1")
	done := make(chan error)
	go func() {
		_, err := v.Next(context.Background())
		done <- err
	}()
	h.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrViewerClosed) {
			t.Fatalf("Next after Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next did not return after Close")
	}
	if _, err := h.Subscribe("cam1"); !errors.Is(err, ErrHubClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	if st := h.Stats()["cam1"]; st.Viewers != 0 {
		t.Fatalf("viewers after Close: %d", st.Viewers)
	}
}
