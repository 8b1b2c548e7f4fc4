package fragment

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/ingest/media"
)

type memSink struct {
	mu     sync.Mutex
	next   uint64
	stored []index.Fragment
	blobs  [][]byte
	block  chan struct{} // when set, Store waits on it
}

func (s *memSink) NextFragmentNumber(context.Context) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	return s.next, nil
}

func (s *memSink) PutFragment(_ context.Context, st index.Fragment, sealed []byte) error {
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stored = append(s.stored, st)
	s.blobs = append(s.blobs, sealed)
	return nil
}

// xorSealer stands in for the keyring: the recorder only needs bytes back
// and a key id; sealing itself is tested in package seal.
type xorSealer struct{}

func (xorSealer) Seal(_ context.Context, alias, stream string, n uint64, p []byte) ([]byte, string, error) {
	out := make([]byte, len(p))
	for i := range p {
		out[i] = p[i] ^ 0x5a
	}
	return out, "key-" + alias, nil
}

// fakeClock advances with the frames fed to the recorder.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func TestRecorderStoresFragmentsWithServerTimes(t *testing.T) {
	sink := &memSink{}
	clk := &fakeClock{}
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clk.Set(base)
	var events []index.Fragment
	r := &Recorder{Stream: "cam1", Tracks: tracksAV(), Sink: sink, Sealer: xorSealer{}, Now: clk.Now, Buffers: &BufferPool{},
		OnStored: func(s index.Fragment) { events = append(events, s) }}
	mustStart(t, r)
	frames := session(10*time.Second, 25, 25, true, true)
	for _, f := range frames {
		// The camera's clock runs 1 s ahead of ours by the end: within the
		// tolerance, so no re-anchoring happens.
		clk.Set(base.Add(f.DTS + f.DTS/10))
		r.WriteFrame(f)
	}
	r.Close()
	r.Close() // idempotent

	if len(sink.stored) != 5 || len(events) != 5 {
		t.Fatalf("stored %d fragments (%d events), want 5", len(sink.stored), len(events))
	}
	total := 0
	// The video size comes from the fragment's SPS (cameras do not
	// announce it; replay compares it across a range).
	w, h, err := mkv.VideoSize(mkv.CodecH264, testSPS)
	if err != nil || w == 0 || h == 0 {
		t.Fatalf("test SPS: %dx%d %v", w, h, err)
	}
	for i, s := range sink.stored {
		total += s.Frames
		if s.Tracks[0].Width != w || s.Tracks[0].Height != h {
			t.Fatalf("fragment %d: video %dx%d, want %dx%d from the SPS", i, s.Tracks[0].Width, s.Tracks[0].Height, w, h)
		}
		if s.KeyID != "key-cam1" || s.Stream != "cam1" || len(s.Tracks) != 2 || s.Tracks[0].Codec != "H264" || s.Tracks[0].Kind != "video" ||
			s.Tracks[0].Frames == 0 || s.Tracks[0].Frames+s.Tracks[1].Frames != s.Frames || s.Size != int64(len(sink.blobs[i])) {
			t.Fatalf("fragment %d: %+v", i, s)
		}
		if i > 0 {
			prev := sink.stored[i-1]
			if s.Number <= prev.Number {
				t.Fatalf("fragment numbers not increasing")
			}
			if !s.ServerTime.Equal(prev.ServerTime.Add(prev.Duration)) {
				t.Fatalf("fragment %d at %v, previous ended %v", i, s.ServerTime, prev.ServerTime.Add(prev.Duration))
			}
		}
		if !s.ProducerTime.Equal(s.ServerTime) {
			t.Fatalf("no producer clock: producer time must equal server time")
		}
	}
	if want := len(frames); total != want || r.Stats.FramesDropped.Load() != 0 {
		t.Fatalf("stored %d frames of %d, dropped %d", total, want, r.Stats.FramesDropped.Load())
	}
	// The run is anchored at the first keyframe's arrival.
	if got, want := sink.stored[0].ServerTime, base; !got.Equal(want) {
		t.Fatalf("first server time %v, want %v", got, want)
	}
}

func TestRecorderReanchorsOnDrift(t *testing.T) {
	sink := &memSink{}
	clk := &fakeClock{}
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	r := &Recorder{Stream: "cam1", Tracks: tracksAV()[:1], Sink: sink, Sealer: xorSealer{}, Now: clk.Now}
	mustStart(t, r)
	for _, f := range session(30*time.Second, 25, 25, false, false) {
		skew := time.Duration(0)
		if f.DTS >= 5*time.Second {
			skew = 3 * time.Second // our clock was stepped forward
		}
		clk.Set(base.Add(f.DTS + skew))
		r.WriteFrame(f)
	}
	r.Close()
	last := sink.stored[len(sink.stored)-1]
	if want := base.Add(28*time.Second + 3*time.Second); !last.ServerTime.Equal(want) {
		t.Fatalf("last fragment at %v, want %v after re-anchoring", last.ServerTime, want)
	}
}

// TestRecorderHoldsProducerTimeToServerTime: the ingest keeps a producer
// time at or before each frame's arrival, but the server time is the first
// frame's arrival plus media time; a later keyframe that arrived a jitter
// late carries a producer time after its fragment's server time. Stored,
// the producer time is at most the server time; earlier ones are kept.
func TestRecorderHoldsProducerTimeToServerTime(t *testing.T) {
	sink := &memSink{}
	clk := &fakeClock{}
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	r := &Recorder{Stream: "cam1", Tracks: tracksAV()[:1], Sink: sink, Sealer: xorSealer{}, Now: clk.Now, Target: time.Second}
	mustStart(t, r)
	const jitter = 3 * time.Millisecond
	for _, f := range session(4*time.Second, 25, 25, false, false) {
		arrival := base.Add(f.DTS)
		if f.DTS > 0 {
			arrival = arrival.Add(jitter) // every later frame arrives late
		}
		clk.Set(arrival)
		switch f.DTS / time.Second {
		case 1, 2: // a producer clock ahead, held to arrival by the ingest
			f.Wall = arrival
		case 3: // a producer clock behind: kept as sent
			f.Wall = arrival.Add(-time.Second)
		}
		r.WriteFrame(f)
	}
	r.Close()
	if len(sink.stored) != 4 {
		t.Fatalf("stored %d fragments, want 4", len(sink.stored))
	}
	for i, s := range sink.stored {
		want := s.ServerTime
		if i == 3 {
			want = base.Add(3*time.Second + jitter - time.Second)
		}
		if !s.ProducerTime.Equal(want) {
			t.Errorf("fragment %d: producer time %v, want %v (server time %v)", i, s.ProducerTime, want, s.ServerTime)
		}
	}
}

// TestRecorderKeepsProducerTimesAsSent: PutMedia's producer timestamps are
// the producer's claim, stored as sent even after the server time.
func TestRecorderKeepsProducerTimesAsSent(t *testing.T) {
	sink := &memSink{}
	clk := &fakeClock{}
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	r := &Recorder{Stream: "cam1", Tracks: tracksAV()[:1], Sink: sink, Sealer: xorSealer{}, Now: clk.Now, Target: time.Second,
		ProducerTimesAsSent: true}
	mustStart(t, r)
	for _, f := range session(2*time.Second, 25, 25, false, false) {
		clk.Set(base.Add(f.DTS))
		f.Wall = base.Add(f.DTS + time.Minute)
		r.WriteFrame(f)
	}
	r.Close()
	if len(sink.stored) != 2 {
		t.Fatalf("stored %d fragments, want 2", len(sink.stored))
	}
	for i, s := range sink.stored {
		if want := s.ServerTime.Add(time.Minute); !s.ProducerTime.Equal(want) {
			t.Errorf("fragment %d: producer time %v, want %v as sent", i, s.ProducerTime, want)
		}
	}
}

func TestRecorderDropsWhenStorageStalls(t *testing.T) {
	sink := &memSink{block: make(chan struct{})}
	r := &Recorder{Stream: "cam1", Tracks: tracksAV()[:1], Sink: sink, Sealer: xorSealer{}, QueueBytes: 1 << 20}
	mustStart(t, r)
	frames := session(40*time.Second, 25, 25, false, false)
	for _, f := range frames {
		f.Data = append(f.Data, make([]byte, 10_000)...) // 1000 frames × 10 kB > 1 MiB
		r.WriteFrame(f)                                  // must not block although Store does
	}
	close(sink.block)
	r.Close()
	dropped := r.Stats.FramesDropped.Load()
	if dropped == 0 {
		t.Fatalf("expected drops with a stalled sink")
	}
	stored := 0
	for _, s := range sink.stored {
		stored += s.Frames
	}
	if stored+int(dropped) != len(frames) {
		t.Fatalf("stored %d + dropped %d != %d frames in", stored, dropped, len(frames))
	}
}

func TestBlobRoundTrip(t *testing.T) {
	f := NewFragmenter(tracksAV(), 0, 0)
	frags := run(f, session(3*time.Second, 25, 25, true, true))
	p, err := AppendBlob(nil, frags[0])
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeBlob(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Tracks) == 0 || len(b.Cluster) < 22 {
		t.Fatalf("blob parts: %d %d", len(b.Tracks), len(b.Cluster))
	}
	for _, bad := range [][]byte{nil, []byte("KVF1"), []byte("KVF1\xff\xff\xff\xff\x0f"), p[:len(blobMagic)+2], []byte("XXXX")} {
		if _, err := DecodeBlob(bad); err == nil {
			t.Fatalf("DecodeBlob(%x) accepted", bad)
		}
	}
	if _, err := AppendBlob(nil, &Fragment{Tracks: []*media.Track{{Codec: "THEORA"}}}); err == nil {
		t.Fatalf("unsupported codec accepted")
	}
}

func FuzzDecodeBlob(f *testing.F) {
	fr := NewFragmenter(tracksAV(), 0, 0)
	frags := run(fr, session(3*time.Second, 25, 25, true, true))
	p, _ := AppendBlob(nil, frags[0])
	f.Add(p)
	f.Add([]byte("KVF1\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		blob, err := DecodeBlob(b)
		if err == nil && len(blob.Tracks)+len(blob.Cluster)+len(blobMagic) > len(b) {
			t.Fatalf("parts exceed input")
		}
	})
}

func TestRecorderIgnoresTransientStall(t *testing.T) {
	sink := &memSink{}
	clk := &fakeClock{}
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	r := &Recorder{Stream: "cam1", Tracks: tracksAV()[:1], Sink: sink, Sealer: xorSealer{}, Now: clk.Now}
	mustStart(t, r)
	for _, f := range session(10*time.Second, 25, 25, false, false) {
		at := base.Add(f.DTS)
		if f.DTS >= 3*time.Second && f.DTS < 7*time.Second {
			at = base.Add(7 * time.Second) // a 4 s stall, then a burst
		}
		clk.Set(at)
		r.WriteFrame(f)
	}
	r.Close()
	for i, s := range sink.stored {
		if want := base.Add(time.Duration(i) * 2 * time.Second); !s.ServerTime.Equal(want) {
			t.Fatalf("fragment %d at %v, want %v: a stall moved the anchor", i, s.ServerTime, want)
		}
	}
}

func TestRecorderResumedMarksFirstFragment(t *testing.T) {
	for _, resumed := range []bool{false, true} {
		sink := &memSink{}
		r := &Recorder{Stream: "cam1", Tracks: tracksAV()[:1], Sink: sink, Sealer: xorSealer{}, Resumed: resumed}
		mustStart(t, r)
		for _, f := range session(6*time.Second, 25, 25, false, false) {
			r.WriteFrame(f)
		}
		r.Close()
		for i, s := range sink.stored {
			if want := resumed && i == 0; s.Gap != want {
				t.Fatalf("resumed=%v: fragment %d gap=%v", resumed, i, s.Gap)
			}
		}
	}
}

// A camera that reconnects right after its previous session may hand over
// audio from before its first keyframe: none of it may land before the
// previous recording's end.
func TestRecorderPlacesResumedSessionAfterPrevious(t *testing.T) {
	sink := &memSink{}
	clk := &fakeClock{}
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	notBefore := base.Add(30 * time.Millisecond)
	r := &Recorder{Stream: "cam1", Tracks: tracksAV(), Sink: sink, Sealer: xorSealer{}, Now: clk.Now, Resumed: true, NotBefore: notBefore}
	mustStart(t, r)
	for i := 0; i < 4; i++ { // audio at 0..60 ms, ahead of the keyframe
		ts := time.Duration(i) * 20 * time.Millisecond
		clk.Set(base.Add(ts))
		r.WriteFrame(&media.Frame{Track: 1, PTS: ts, DTS: ts, Key: true, Data: []byte{1}})
	}
	for _, f := range session(4*time.Second, 25, 25, false, false) {
		f.PTS += 80 * time.Millisecond
		f.DTS += 80 * time.Millisecond
		clk.Set(base.Add(f.DTS))
		r.WriteFrame(f)
	}
	r.Close()
	first := sink.stored[0]
	if !first.Gap || first.Frames != 54 {
		t.Fatalf("first fragment: gap=%v frames=%d", first.Gap, first.Frames)
	}
	// Its earliest audio (80 ms before the keyframe) must come after
	// notBefore; without the early audio the keyframe would map to base+80ms.
	if earliest := first.ServerTime.Add(-80 * time.Millisecond); !earliest.After(notBefore) {
		t.Fatalf("earliest frame at %v, not after %v", earliest, notBefore)
	}
	if second := sink.stored[1]; !second.ServerTime.Equal(first.ServerTime.Add(first.Duration)) {
		t.Fatalf("second fragment at %v, first ended %v", second.ServerTime, first.ServerTime.Add(first.Duration))
	}
}

// warnCounter counts the Warn records whose message contains substr.
type warnCounter struct {
	substr string
	mu     sync.Mutex
	n      int
}

func (h *warnCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *warnCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && strings.Contains(r.Message, h.substr) {
		h.mu.Lock()
		h.n++
		h.mu.Unlock()
	}
	return nil
}
func (h *warnCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *warnCounter) WithGroup(string) slog.Handler      { return h }
func (h *warnCounter) count() int                         { h.mu.Lock(); defer h.mu.Unlock(); return h.n }

// TestRecorderCountsFragmenterDrops: the frames the fragmenter drops
// (before the first keyframe, past Max, repeated timestamps) reach
// RecorderStats, summed over the recorders that share it, and fragments cut
// at Max are logged at most once per interval.
func TestRecorderCountsFragmenterDrops(t *testing.T) {
	// A keyframe every 12 s with Max 5 s: two fragments are cut at Max.
	frames := session(40*time.Second, 25, 300, false, false)[3:] // starts mid-GOP
	var in []*media.Frame
	for i, fr := range frames {
		in = append(in, fr)
		if i == 400 || i == 800 {
			dup := *fr
			in = append(in, &dup) // the same timestamp again
		}
	}
	ref := NewFragmenter(tracksAV()[:1], 2*time.Second, 5*time.Second)
	run(ref, in)
	want := ref.Stats()
	if want.DroppedNoKey == 0 || want.DroppedOverCap == 0 || want.DroppedBackwards != 2 || want.OverCapEvents != 2 {
		t.Fatalf("the session does not exercise every drop: %+v", want)
	}

	stats := &RecorderStats{}
	logs := &warnCounter{substr: "fragment.max"}
	clk := &fakeClock{}
	clk.Set(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)) // it stands still: one log line per recorder
	for range 2 {
		r := &Recorder{Stream: "cam1", Tracks: tracksAV()[:1], Target: 2 * time.Second, Max: 5 * time.Second,
			Sink: &memSink{}, Sealer: xorSealer{}, Now: clk.Now, Stats: stats, Logger: slog.New(logs)}
		mustStart(t, r)
		for _, f := range in {
			r.WriteFrame(f)
		}
		r.Close()
	}
	got := stats.Snapshot()
	if got.FramesDropped != 0 {
		t.Fatalf("queue drops %d: the test needs every frame to reach the fragmenter", got.FramesDropped)
	}
	if got.FramesNoKeyframe != 2*want.DroppedNoKey || got.FramesOverMax != 2*want.DroppedOverCap ||
		got.FramesBackwards != 2*want.DroppedBackwards || got.FragmentsOverMax != 2*want.OverCapEvents {
		t.Fatalf("recorder stats %+v, want twice the fragmenter's %+v", got, want)
	}
	if got.FramesIn != uint64(2*len(in)) {
		t.Fatalf("frames in %d, want %d", got.FramesIn, 2*len(in))
	}
	if n := logs.count(); n != 2 {
		t.Fatalf("%d log lines about fragment.max, want 1 per recorder (rate-limited)", n)
	}
}

func mustStart(t *testing.T, r *Recorder) {
	t.Helper()
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
}

// TestRecorderStartRefusesMissingFields: Start names what is missing
// instead of starting a recorder that fails on its first fragment.
func TestRecorderStartRefusesMissingFields(t *testing.T) {
	ok := func() *Recorder {
		return &Recorder{Stream: "cam1", Tracks: tracksAV(), Sink: &memSink{}, Sealer: xorSealer{}}
	}
	for _, tc := range []struct {
		name  string
		spoil func(*Recorder)
		want  string
	}{
		{"no stream", func(r *Recorder) { r.Stream = "" }, "no stream name"},
		{"no tracks", func(r *Recorder) { r.Tracks = nil }, "no tracks"},
		{"nil track", func(r *Recorder) { r.Tracks = append(r.Tracks, nil) }, "track 2 is nil"},
		{"no sink", func(r *Recorder) { r.Sink = nil }, "no sink"},
		{"no sealer", func(r *Recorder) { r.Sealer = nil }, "no sealer"},
	} {
		r := ok()
		tc.spoil(r)
		err := r.Start()
		if !errors.Is(err, ErrInvalidRecorder) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Start() = %v, want ErrInvalidRecorder saying %q", tc.name, err, tc.want)
		}
	}
	r := ok()
	mustStart(t, r)
	r.Close()
}

// TestPlaceAfterPreviousLoneFrame: a fragment holding a single audio
// frame ends that frame's length after it starts, so a fragment placed
// right after it (the anchor moved back) does not start its audio on top
// of it. Replayed, that was audio going 2 ms backwards.
func TestPlaceAfterPreviousLoneFrame(t *testing.T) {
	tracks := tracksAV()
	const aac = 21333 * time.Microsecond // 1024 samples at 48 kHz
	r := &Recorder{Stream: "cam1", Tracks: tracks, Logger: slog.New(slog.DiscardHandler)}
	r.frag = NewFragmenter(tracks, 0, 0)
	r.frag.frameDurs[1] = aac // as measured from the audio before
	r.lastByTrack = make([]time.Time, len(tracks))
	base := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	f1 := &Fragment{Start: 0, Frames: []*media.Frame{
		{Track: 0, PTS: 0, Key: true},
		{Track: 1, PTS: 1980 * time.Millisecond, Key: true},
	}}
	t1 := r.placeAfterPrevious(f1, base)
	// The next fragment's mapping would put its first audio frame where
	// the lone one starts.
	f2 := &Fragment{Start: 2 * time.Second, Frames: []*media.Frame{
		{Track: 0, PTS: 2 * time.Second, Key: true},
		{Track: 1, PTS: 2 * time.Second, Key: true},
	}}
	t2 := r.placeAfterPrevious(f2, t1.Add(1980*time.Millisecond))
	if end := t1.Add(1980*time.Millisecond + aac); t2.Before(end) {
		t.Fatalf("second fragment's audio placed at %v, inside the lone frame that ends at %v", t2.Sub(base), end.Sub(base))
	}
}

// stepClock is a Clock whose offset and sync the test sets.
type stepClock struct {
	mu sync.Mutex
	t  time.Time // the boot timeline's time
	st ClockState
}

func (c *stepClock) Read() (time.Time, ClockState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t.Add(c.st.Offset), c.st
}

// TestRecorderMarksUnsyncedFragments: fragments stored while the Clock
// is unsynchronised carry the mark and its offset; when it is set, the
// recorder continues on the corrected time, contiguous with what it
// stored before once that is moved by the same offset.
func TestRecorderMarksUnsyncedFragments(t *testing.T) {
	sink := &memSink{}
	floor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := &stepClock{t: floor}
	r := &Recorder{Stream: "cam1", Tracks: tracksAV()[:1], Sink: sink, Sealer: xorSealer{}, Clock: clk}
	mustStart(t, r)
	offset := 336 * 24 * time.Hour
	for _, f := range session(20*time.Second, 25, 25, false, false) {
		if f.DTS == 9*time.Second {
			// The fragments before are stored, then the clock is set.
			deadline := time.Now().Add(10 * time.Second)
			for {
				sink.mu.Lock()
				n := len(sink.stored)
				sink.mu.Unlock()
				if n == 4 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d fragments stored before the sync, want 4", n)
				}
				time.Sleep(time.Millisecond) // polling with a deadline
			}
			clk.mu.Lock()
			clk.st = ClockState{Synced: true, Offset: offset}
			clk.mu.Unlock()
		}
		clk.mu.Lock()
		clk.t = floor.Add(f.DTS)
		clk.mu.Unlock()
		r.WriteFrame(f)
	}
	r.Close()
	if len(sink.stored) < 8 {
		t.Fatalf("stored %d fragments", len(sink.stored))
	}
	var marked, synced int
	for i, s := range sink.stored {
		corrected := s.ServerTime
		if s.ClockUnsynced {
			marked++
			if s.ClockOffset != 0 {
				t.Fatalf("fragment %d: offset %v", i, s.ClockOffset)
			}
			corrected = corrected.Add(offset)
		} else {
			synced++
		}
		if i > 0 && synced > 0 && sink.stored[i-1].ClockUnsynced == s.ClockUnsynced && s.ClockUnsynced {
			t.Fatalf("fragment %d marked after the sync", i)
		}
		want := floor.Add(offset + time.Duration(i)*2*time.Second)
		if !corrected.Equal(want) {
			t.Errorf("fragment %d (unsynced %v) at %v, corrected %v, want %v", i, s.ClockUnsynced, s.ServerTime, corrected, want)
		}
	}
	if marked == 0 || synced == 0 {
		t.Fatalf("%d marked and %d synced fragments, want both", marked, synced)
	}
}
