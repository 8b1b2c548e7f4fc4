package fragment

import (
	"testing"
	"time"

	"github.com/kinedge/kinedge/ingest/media"
)

var (
	// SPS and PPS of a 320x240 libx264 stream.
	testSPS = []byte{0x67, 0xf4, 0x00, 0x0d, 0x91, 0x9b, 0x28, 0x28, 0x3f, 0x60, 0x22, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x64, 0x1e, 0x28, 0x53, 0x2c}
	testPPS = []byte{0x68, 0xeb, 0xe3, 0xc4, 0x48, 0x44}
)

func avcc(nalus ...[]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = append(b, byte(len(n)>>24), byte(len(n)>>16), byte(len(n)>>8), byte(len(n)))
		b = append(b, n...)
	}
	return b
}

// session generates frames: video at fps with a keyframe every gop frames
// (with B-frame reordering when bframes), and audio every 20 ms.
func session(dur time.Duration, fps, gop int, bframes, audio bool) []*media.Frame {
	var out []*media.Frame
	frameDur := time.Second / time.Duration(fps)
	n := int(dur / frameDur)
	nextAudio := time.Duration(0)
	for i := 0; i < n; i++ {
		dts := time.Duration(i) * frameDur
		pts := dts
		if bframes {
			// Decode order I P B B P B B …: shift PTS by two frames.
			pts = dts + 2*frameDur
		}
		key := i%gop == 0
		data := avcc([]byte{0x41, byte(i)})
		if key {
			data = avcc(testSPS, testPPS, []byte{0x65, byte(i)})
		}
		out = append(out, &media.Frame{Track: 0, PTS: pts, DTS: dts, Key: key, Data: data})
		for audio && nextAudio <= dts {
			out = append(out, &media.Frame{Track: 1, PTS: nextAudio, DTS: nextAudio, Key: true, Data: []byte{1}})
			nextAudio += 20 * time.Millisecond
		}
	}
	return out
}

func tracksAV() []*media.Track {
	return []*media.Track{
		{Codec: media.CodecH264, ClockRate: 90000},
		{Codec: media.CodecAAC, ClockRate: 48000, SampleRate: 48000, Channels: 2, Config: []byte{0x11, 0x90}},
	}
}

func run(f *Fragmenter, frames []*media.Frame) []*Fragment {
	var out []*Fragment
	for _, fr := range frames {
		if d := f.Push(fr); d != nil {
			out = append(out, d)
		}
	}
	if d := f.Flush(); d != nil {
		out = append(out, d)
	}
	return out
}

func TestFragmenterCuts(t *testing.T) {
	cases := []struct {
		name        string
		dur         time.Duration
		gop         int
		bframes     bool
		target, max time.Duration
		wantFrags   int
		wantDur     time.Duration // of every fragment but the last
		wantCapDrop bool
	}{
		{"gop1s-target2s", 10 * time.Second, 25, false, 2 * time.Second, 10 * time.Second, 5, 2 * time.Second, false},
		{"gop1s-bframes", 10 * time.Second, 25, true, 2 * time.Second, 10 * time.Second, 5, 2 * time.Second, false},
		{"gop3s-next-key-after-target", 12 * time.Second, 75, false, 2 * time.Second, 10 * time.Second, 4, 3 * time.Second, false},
		{"gop12s-over-cap", 24 * time.Second, 300, false, 2 * time.Second, 10 * time.Second, 2, 10 * time.Second, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			frames := session(c.dur, 25, c.gop, c.bframes, true)
			f := NewFragmenter(tracksAV(), c.target, c.max)
			frags := run(f, frames)
			if len(frags) != c.wantFrags {
				t.Fatalf("got %d fragments, want %d", len(frags), c.wantFrags)
			}
			total := 0
			for i, fr := range frags {
				first := fr.Frames[0]
				if first.Track != 0 || !first.Key {
					t.Fatalf("fragment %d starts with track %d key=%v", i, first.Track, first.Key)
				}
				if string(fr.Tracks[0].SPS) != string(testSPS) || string(fr.Tracks[0].PPS) != string(testPPS) {
					t.Fatalf("fragment %d lacks parameter sets", i)
				}
				if i < len(frags)-1 && fr.Duration != c.wantDur {
					t.Fatalf("fragment %d duration %v, want %v", i, fr.Duration, c.wantDur)
				}
				if i > 0 && fr.Start != frags[i-1].Start+frags[i-1].Duration && !c.wantCapDrop {
					t.Fatalf("fragment %d starts at %v, previous ended at %v", i, fr.Start, frags[i-1].Start+frags[i-1].Duration)
				}
				total += len(fr.Frames)
			}
			st := f.Stats()
			if c.wantCapDrop {
				if st.OverCapEvents == 0 || st.DroppedOverCap == 0 {
					t.Fatalf("expected cap drops, stats %+v", st)
				}
			} else if st.DroppedOverCap != 0 {
				t.Fatalf("unexpected cap drops: %+v", st)
			}
			if uint64(total) != st.Frames || total+int(st.DroppedOverCap+st.DroppedNoKey) != len(frames) {
				t.Fatalf("frames: in %d, out %d, stats %+v", len(frames), total, st)
			}
		})
	}
}

func TestFragmenterDropsUntilFirstKey(t *testing.T) {
	frames := session(4*time.Second, 25, 25, false, true)
	f := NewFragmenter(tracksAV(), 0, 0)
	frags := run(f, frames[3:]) // starts mid-GOP
	if len(frags) == 0 || !frags[0].Frames[0].Key {
		t.Fatalf("first fragment must start with a keyframe")
	}
	if f.Stats().DroppedNoKey == 0 {
		t.Fatalf("expected frames dropped before the first keyframe")
	}
}

func TestFragmenterBreakMarksGap(t *testing.T) {
	frames := session(6*time.Second, 25, 25, false, false)
	f := NewFragmenter(tracksAV()[:1], 2*time.Second, 0)
	var frags []*Fragment
	for i, fr := range frames {
		if i == 75 {
			if d := f.Break(); d != nil {
				frags = append(frags, d)
			}
		}
		if d := f.Push(fr); d != nil {
			frags = append(frags, d)
		}
	}
	frags = append(frags, f.Flush())
	gaps := 0
	for _, fr := range frags {
		if fr.Gap {
			gaps++
			if fr.Start != 3*time.Second {
				t.Fatalf("gap fragment starts at %v", fr.Start)
			}
		}
	}
	if gaps != 1 {
		t.Fatalf("got %d gap fragments, want 1", gaps)
	}
}

func TestFragmenterAudioOnly(t *testing.T) {
	var frames []*media.Frame
	for i := 0; i < 500; i++ { // 10 s of 20 ms frames
		ts := time.Duration(i) * 20 * time.Millisecond
		frames = append(frames, &media.Frame{PTS: ts, DTS: ts, Key: true, Data: []byte{2}})
	}
	f := NewFragmenter([]*media.Track{{Codec: media.CodecOpus, SampleRate: 48000, Channels: 2}}, 2*time.Second, 0)
	frags := run(f, frames)
	if len(frags) != 5 {
		t.Fatalf("got %d fragments, want 5", len(frags))
	}
	for _, fr := range frags[:4] {
		if fr.Duration != 2*time.Second || len(fr.Frames) != 100 {
			t.Fatalf("fragment duration %v frames %d", fr.Duration, len(fr.Frames))
		}
	}
}

func TestParamSetsH265(t *testing.T) {
	vps := []byte{32 << 1, 1, 0xaa}
	sps := []byte{33 << 1, 1, 0xbb}
	pps := []byte{34 << 1, 1, 0xcc}
	v, s, p := ParamSets(media.CodecH265, avcc(vps, sps, pps, []byte{19 << 1, 1, 0}))
	if string(v) != string(vps) || string(s) != string(sps) || string(p) != string(pps) {
		t.Fatalf("got %x %x %x", v, s, p)
	}
	// Truncated input stops without panicking.
	if v, s, p := ParamSets(media.CodecH264, []byte{0, 0, 0, 9, 0x67}); v != nil || s != nil || p != nil {
		t.Fatalf("truncated AU yielded parameter sets")
	}
}

func FuzzParamSets(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 0x67, 1})
	f.Add(avcc(testSPS, testPPS))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParamSets(media.CodecH264, b)
		ParamSets(media.CodecH265, b)
	})
}

func TestFragmenterKeepsAudioAheadOfFirstKeyframe(t *testing.T) {
	tr := tracksAV()
	f := NewFragmenter(tr, 0, 0)
	var in []*media.Frame
	// Audio from 0 ms, the keyframe at 80 ms arrives after four audio
	// frames, and one audio frame 2 s before it is too old to keep.
	in = append(in, &media.Frame{Track: 1, PTS: -2 * time.Second, DTS: -2 * time.Second, Key: true, Data: []byte{9}})
	for i := 0; i < 4; i++ {
		ts := time.Duration(i) * 20 * time.Millisecond
		in = append(in, &media.Frame{Track: 1, PTS: ts, DTS: ts, Key: true, Data: []byte{1}})
	}
	in = append(in, &media.Frame{Track: 0, PTS: 80 * time.Millisecond, DTS: 0, Key: true, Data: avcc(testSPS, testPPS, []byte{0x65, 0})})
	frags := run(f, in)
	if len(frags) != 1 || len(frags[0].Frames) != 5 || !frags[0].Frames[0].Key || frags[0].Frames[0].Track != 0 {
		t.Fatalf("got %d fragments, first with %d frames", len(frags), len(frags[0].Frames))
	}
	if st := f.Stats(); st.DroppedNoKey != 1 || st.Frames != 5 {
		t.Fatalf("stats %+v", st)
	}
	// Audio held with no keyframe ever arriving is counted at Flush.
	g := NewFragmenter(tr, 0, 0)
	run(g, in[1:4])
	if st := g.Stats(); st.DroppedNoKey != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// A DTS extractor may give the stream's first frame DTS = PTS and shift
// every later DTS by the reorder delay; fragments must still be cut at the
// target, not one GOP later.
func TestFragmenterCutsByKeyframePTS(t *testing.T) {
	frames := session(10*time.Second, 25, 25, true, false)
	frames[0].DTS = frames[1].DTS - time.Millisecond // started late, still monotonic
	f := NewFragmenter(tracksAV()[:1], 2*time.Second, 0)
	frags := run(f, frames)
	if f.Stats().Frames != uint64(len(frames)) {
		t.Fatalf("stats %+v", f.Stats())
	}
	if len(frags) != 5 || frags[0].Duration != 2*time.Second {
		t.Fatalf("%d fragments, first %v long; want 5 of 2 s", len(frags), frags[0].Duration)
	}
}

// TestFragmenterDropsRepeatedTimestamps: a frame that does not move its
// track's DTS on by MinAdvance (a packetizer repeating an audio timestamp,
// or two frames that would share a Matroska millisecond) is dropped and
// counted, so every stored track's times strictly increase.
func TestFragmenterDropsRepeatedTimestamps(t *testing.T) {
	frames := session(3*time.Second, 25, 25, false, true)
	var in []*media.Frame
	repeats := 0
	for _, fr := range frames {
		in = append(in, fr)
		if fr.Track == 1 && fr.PTS%(500*time.Millisecond) == 0 {
			dup := *fr
			in = append(in, &dup) // the same timestamp again
			near := *fr
			near.PTS += MinAdvance / 2
			near.DTS = near.PTS
			in = append(in, &near) // would round to the same millisecond
			repeats += 2
		}
	}
	f := NewFragmenter(tracksAV(), time.Second, 0)
	frags := run(f, in)
	if got := f.Stats().DroppedBackwards; got != uint64(repeats) {
		t.Fatalf("dropped %d frames, want the %d repeats", got, repeats)
	}
	last := map[int]time.Duration{}
	stored := 0
	for _, fg := range frags {
		for _, fr := range fg.Frames {
			if prev, ok := last[fr.Track]; ok && fr.DTS < prev+MinAdvance {
				t.Fatalf("track %d: DTS %v after %v", fr.Track, fr.DTS, prev)
			}
			last[fr.Track] = fr.DTS
			stored++
		}
	}
	if stored != len(frames) {
		t.Fatalf("stored %d frames, want all %d originals", stored, len(frames))
	}
}
