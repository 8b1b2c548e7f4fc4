package replay

import (
	"bytes"
	"errors"
	"iter"
	"slices"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
)

func fragSeq(frags []Fragment, err error) iter.Seq2[Fragment, error] {
	return func(yield func(Fragment, error) bool) {
		for _, f := range frags {
			if !yield(f, nil) {
				return
			}
		}
		if err != nil {
			yield(Fragment{}, err)
		}
	}
}

func TestSurveyRange(t *testing.T) {
	t0 := time.Unix(1.7e9, 0)
	f := func(n int, at time.Duration, w, h int, codecs ...string) Fragment {
		return Fragment{Number: uint64(n), ServerTime: t0.Add(at), Duration: 2 * time.Second, Codecs: codecs, Width: w, Height: h}
	}
	cases := []struct {
		name     string
		frags    []Fragment
		n        int
		duration time.Duration
		resized  bool
		cut      uint64 // 0: none
	}{
		{"empty", nil, 0, 0, false, 0},
		{"one", []Fragment{f(1, 0, 640, 360, "H264")}, 1, 2 * time.Second, false, 0},
		{"gap", []Fragment{f(1, 0, 640, 360, "H264"), f(2, 10*time.Second, 640, 360, "H264")}, 2, 12 * time.Second, false, 0},
		{"resized after a gap", []Fragment{f(1, 0, 640, 360, "H264"), f(2, 2*time.Second, 640, 360, "H264"), f(3, 9*time.Second, 320, 240, "H264")}, 3, 11 * time.Second, true, 0},
		{"unknown sizes are not compared", []Fragment{f(1, 0, 640, 360, "H264"), f(2, 2*time.Second, 0, 0, "H264"), f(3, 4*time.Second, 640, 360, "H264")}, 3, 6 * time.Second, false, 0},
		{"codec change", []Fragment{f(1, 0, 640, 360, "H264", "AAC"), f(2, 2*time.Second, 320, 240, "H264", "AAC"), f(3, 9*time.Second, 480, 270, "H265", "AAC"), f(4, 11*time.Second, 480, 270, "H265", "AAC")}, 2, 4 * time.Second, true, 3},
		{"size change only after the cut", []Fragment{f(1, 0, 640, 360, "H264"), f(2, 2*time.Second, 320, 240, "H265")}, 1, 2 * time.Second, false, 2},
		{"audio dropped", []Fragment{f(1, 0, 640, 360, "H264", "AAC"), f(2, 2*time.Second, 640, 360, "H264")}, 1, 2 * time.Second, false, 2},
		{"unknown codecs are not compared", []Fragment{f(1, 0, 640, 360, "H264"), f(2, 2*time.Second, 640, 360), f(3, 4*time.Second, 640, 360, "H264")}, 3, 6 * time.Second, false, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := SurveyRange(fragSeq(c.frags, nil))
			if err != nil {
				t.Fatal(err)
			}
			if s.Fragments != c.n || s.Duration != c.duration || s.Resized != c.resized {
				t.Fatalf("survey %+v, want %d fragments, %v, resized %v", s, c.n, c.duration, c.resized)
			}
			var cut uint64
			if s.Cut != nil {
				cut = s.Cut.Number
			}
			if cut != c.cut {
				t.Fatalf("cut at %d, want %d", cut, c.cut)
			}
			var kept []uint64
			for f, err := range Before(fragSeq(c.frags, nil), s.Cut) {
				if err != nil {
					t.Fatal(err)
				}
				kept = append(kept, f.Number)
			}
			if len(kept) != c.n {
				t.Fatalf("Before kept %v, want the first %d", kept, c.n)
			}
		})
	}
	boom := errors.New("boom")
	if _, err := SurveyRange(fragSeq([]Fragment{f(1, 0, 1, 1, "H264")}, boom)); !errors.Is(err, boom) {
		t.Fatalf("walk error: %v", err)
	}
	// Before passes errors through.
	var errs int
	for _, err := range Before(fragSeq([]Fragment{f(1, 0, 1, 1, "H264")}, boom), &Fragment{Number: 9}) {
		if errors.Is(err, boom) {
			errs++
		}
	}
	if errs != 1 {
		t.Fatalf("Before passed %d errors", errs)
	}
}

// testInit returns an initialisation segment with an H.264 and an AAC
// track, as WriteMP4 writes it.
func testInit(t testing.TB) []byte {
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{
		{ID: 1, TimeScale: 90000, Codec: &mp4.CodecH264{SPS: sps, PPS: pps}},
		{ID: 2, TimeScale: 48000, Codec: &mp4.CodecMPEG4Audio{Config: mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelCount: 2}}},
	}}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDeclareInBand(t *testing.T) {
	b := testInit(t)
	before := slices.Clone(b)
	if err := declareInBand(b); err != nil {
		t.Fatal(err)
	}
	if len(b) != len(before) {
		t.Fatalf("size changed: %d -> %d", len(before), len(b))
	}
	if bytes.Contains(b, []byte("avc1")) || !bytes.Contains(b, []byte("avc3")) {
		t.Fatal("the H.264 sample entry is not avc3")
	}
	if !bytes.Contains(b, []byte("mp4a")) {
		t.Fatal("the AAC sample entry changed")
	}
	// Only the fourcc and the video track header's size differ.
	top, _ := children(b)
	var diffs int
	for i := range b {
		if b[i] != before[i] {
			diffs++
		}
	}
	moov := top[1]
	traks, _ := children(moov[8:])
	var video, audio []byte
	for _, tr := range traks {
		if string(tr[4:8]) != "trak" {
			continue
		}
		if video == nil {
			video = tr
		} else {
			audio = tr
		}
	}
	vt, at := child(video, "tkhd"), child(audio, "tkhd")
	if !bytes.Equal(vt[len(vt)-8:], make([]byte, 8)) {
		t.Fatalf("video tkhd size %x, want 0", vt[len(vt)-8:])
	}
	beforeTop, _ := children(before)
	beforeTraks, _ := children(beforeTop[1][8:])
	bvt := child(beforeTraks[1], "tkhd")
	if bytes.Equal(bvt[len(bvt)-8:], make([]byte, 8)) {
		t.Fatal("the test's video tkhd had no size to clear")
	}
	if !bytes.Equal(at, child(beforeTraks[2], "tkhd")) {
		t.Fatal("the audio tkhd changed")
	}
	// "avc1" -> "avc3" is one byte; the width and height (640 and 360
	// here, 16.16) were a few non-zero bytes.
	if diffs < 2 || diffs > 1+8 {
		t.Fatalf("%d bytes changed", diffs)
	}
}

func FuzzDeclareInBand(f *testing.F) {
	f.Add(testInit(f))
	f.Add([]byte{0, 0, 0, 8, 'm', 'o', 'o', 'v'})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := len(b)
		_ = declareInBand(b)
		if len(b) != n {
			t.Fatal("size changed")
		}
	})
}

// TestWriteMP4AudioAcrossBoundaries checks the timeline of a recording
// whose audio runs ahead of its video (a camera with B-frames: audio up to
// the next keyframe's arrival is stored in the fragment before it), with a
// gap of 4 s before the third fragment: video and audio each continue
// without a hole at the boundary (the second fragment starts 2 s after the
// first, not after the first's last audio), and across the gap the last
// picture and the last audio frame both last until the first ones after
// it (one buffered range for MSE).
func TestWriteMP4AudioAcrossBoundaries(t *testing.T) {
	// frag holds 2 s of 25 fps video and the audio frames from..to-1 of
	// the run (1024 samples at 48 kHz each), timed from base (ms).
	frag := func(from, to, base int) []byte {
		var frames [][3]int
		for k := range 50 {
			frames = append(frames, [3]int{0, k * 40, boolInt(k == 0)})
		}
		for k := from; k < to; k++ {
			frames = append(frames, [3]int{1, (k*1024*1000+24000)/48000 - base, 0})
		}
		return testBlob(t, frames...)
	}
	// The first fragment's audio runs 48 ms into the second's time.
	ps := plainSource{frag(0, 97, 0), frag(97, 190, 2000), frag(0, 94, 0)}
	t0 := time.Unix(1.7e9, 0)
	at := []time.Duration{0, 2 * time.Second, 8 * time.Second}
	seq := func(yield func(Fragment, error) bool) {
		for i, d := range at {
			f := Fragment{Number: uint64(i + 1), ServerTime: t0.Add(d), ProducerTime: t0.Add(d), Duration: 2 * time.Second, Codecs: []string{"H264", "AAC"}}
			if !yield(f, nil) {
				return
			}
		}
	}
	var out bytes.Buffer
	if _, err := (Source{Store: ps, Opener: ps}).WriteMP4(t.Context(), &out, "cam1", seq); err != nil {
		t.Fatal(err)
	}
	_, parts := parts(t, out.Bytes())
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
	end := func(pt *fmp4.PartTrack) uint64 {
		e := pt.BaseTime
		for _, s := range pt.Samples {
			e += uint64(s.Duration)
		}
		return e
	}
	video := func(i int) *fmp4.PartTrack { return parts[i].Tracks[0] }
	audio := func(i int) *fmp4.PartTrack { return parts[i].Tracks[1] }
	for i := 1; i < 3; i++ {
		if got, want := video(i).BaseTime-video(0).BaseTime, uint64(at[i]/time.Millisecond)*90; got != want {
			t.Errorf("part %d: video starts %d ticks after the first, want %d (the server times)", i, got, want)
		}
		if end(video(i-1)) != video(i).BaseTime {
			t.Errorf("part %d: video ends at %d, the next starts at %d", i-1, end(video(i-1)), video(i).BaseTime)
		}
		if end(audio(i-1)) != audio(i).BaseTime {
			t.Errorf("part %d: audio ends at %d, the next starts at %d", i-1, end(audio(i-1)), audio(i).BaseTime)
		}
	}
	// Within a run the audio frames are sample-exact: the boundary
	// between the first two fragments is not a stretched frame.
	if d := audio(0).Samples[len(audio(0).Samples)-1].Duration; d != 1024 {
		t.Errorf("the first fragment's last audio frame lasts %d samples, want 1024", d)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestWriteMP4InBandH265 checks InBandParameters on a recorded H.265
// clip: the sample entry stays hev1 (in-band already) and the video
// track header loses its size.
func TestWriteMP4InBandH265(t *testing.T) {
	store, kr := recordClip(t, "h265_opus.ts")
	var plain, inBand bytes.Buffer
	src := Source{Store: store, Opener: kr}
	if _, err := src.WriteMP4(t.Context(), &plain, "cam1", store.seq(0)); err != nil {
		t.Fatal(err)
	}
	if _, err := src.WriteMP4With(t.Context(), &inBand, "cam1", MP4Options{InBandParameters: true}, store.seq(0)); err != nil {
		t.Fatal(err)
	}
	tkhd := func(b []byte) []byte {
		top, ok := children(b)
		if !ok || len(top) < 2 {
			t.Fatal("unreadable output")
		}
		return child(child(top[1], "trak"), "tkhd")
	}
	p, ib := tkhd(plain.Bytes()), tkhd(inBand.Bytes())
	if bytes.Equal(p[len(p)-8:], make([]byte, 8)) || !bytes.Equal(ib[len(ib)-8:], make([]byte, 8)) {
		t.Fatalf("tkhd size: plain %x, in-band %x", p[len(p)-8:], ib[len(ib)-8:])
	}
	if !bytes.Contains(inBand.Bytes(), []byte("hev1")) || plain.Len() != inBand.Len() {
		t.Fatalf("in-band: hev1 %v, %d bytes against %d", bytes.Contains(inBand.Bytes(), []byte("hev1")), inBand.Len(), plain.Len())
	}
}
