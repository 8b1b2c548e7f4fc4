package fragment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/media/bitstream"
)

// ivfFrames returns the frames of one of the bitstream package's IVF
// samples (made by ffmpeg).
func ivfFrames(t *testing.T, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile("../ingest/media/bitstream/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for p := b[32:]; len(p) >= 12; {
		n := int(binary.LittleEndian.Uint32(p))
		out = append(out, p[12:12+n])
		p = p[12+n:]
	}
	return out
}

// TestFragmenterLearnsAV1Config: an AV1 track without av1C (as RTSP and
// WHIP announce it) gets it from the first keyframe's sequence header,
// with the size; frames before that keyframe start nothing, even one
// marked key; the blob carries V_AV1 with the av1C as CodecPrivate.
func TestFragmenterLearnsAV1Config(t *testing.T) {
	var tus [][]byte
	for _, u := range ivfFrames(t, "av1_192x108.ivf") {
		tu, err := bitstream.AV1FromLowOverhead(u)
		if err != nil {
			t.Fatal(err)
		}
		tus = append(tus, tu)
	}
	f := NewFragmenter([]*media.Track{{Codec: media.CodecAV1, ClockRate: 90000}}, 0, 0)
	step := 100 * time.Millisecond
	// A unit marked key by a careless ingest, without a sequence header.
	if done := f.Push(&media.Frame{PTS: 0, DTS: 0, Key: true, Data: tus[1]}); done != nil {
		t.Fatal("a fragment closed")
	}
	for i, tu := range tus {
		pts := step * time.Duration(i+1)
		f.Push(&media.Frame{PTS: pts, DTS: pts, Key: i == 0, Data: tu})
	}
	frag := f.Flush()
	if frag == nil || len(frag.Frames) != len(tus) || f.Stats().DroppedNoKey != 1 {
		t.Fatalf("fragment %+v, stats %+v", frag, f.Stats())
	}
	a, _ := bitstream.ReadAV1(tus[0])
	want, err := bitstream.ParseAV1SequenceHeader(a.SequenceHeader)
	if err != nil {
		t.Fatal(err)
	}
	tr := frag.Tracks[0]
	if !bytes.Equal(tr.Config, want.Record) || tr.Width != 192 || tr.Height != 108 {
		t.Fatalf("track %+v", tr)
	}
	mt, err := MkvTracks(frag.Tracks)
	if err != nil {
		t.Fatal(err)
	}
	if mt[0].CodecID != mkv.CodecAV1 || !bytes.Equal(mt[0].CodecPrivate, want.Record) || mt[0].Width != 192 || mt[0].Height != 108 {
		t.Fatalf("mkv track %+v", mt[0])
	}
	if _, err := AppendBlob(nil, frag); err != nil {
		t.Fatal(err)
	}
	// Without a sequence header the track is not stored as V_AV1.
	if _, err := MkvTracks([]*media.Track{{Codec: media.CodecAV1}}); !errors.Is(err, mkv.ErrInvalidParameterSet) {
		t.Fatalf("AV1 without av1C: %v", err)
	}
}

// TestFragmenterVP9Size: a VP9 track learns its size from keyframes (the
// SDP has none), also at a resolution change, and is stored as V_VP9;
// profile 2 (10 bits) stores like profile 0.
func TestFragmenterVP9Size(t *testing.T) {
	f := NewFragmenter([]*media.Track{{Codec: media.CodecVP9, ClockRate: 90000}}, time.Second, 0)
	var pts time.Duration
	for _, c := range []struct {
		file string
		w, h int
	}{{"vp9_160x120.ivf", 160, 120}, {"vp9p2_176x144.ivf", 176, 144}} {
		var frag *Fragment
		for i, fr := range ivfFrames(t, c.file) {
			if done := f.Push(&media.Frame{PTS: pts, DTS: pts, Key: i == 0, Data: fr}); done != nil {
				frag = done
			}
			pts += 500 * time.Millisecond
		}
		if frag == nil {
			frag = f.Flush()
		}
		if frag == nil {
			t.Fatal("no fragment")
		}
		if tr := f.Tracks()[0]; tr.Width != c.w || tr.Height != c.h {
			t.Fatalf("%s: track %dx%d", c.file, tr.Width, tr.Height)
		}
		mt, err := MkvTracks(f.Tracks())
		if err != nil || mt[0].CodecID != mkv.CodecVP9 || mt[0].Width != c.w {
			t.Fatalf("%s: %+v %v", c.file, mt, err)
		}
	}
}
