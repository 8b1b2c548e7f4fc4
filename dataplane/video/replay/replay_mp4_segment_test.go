package replay

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// TestWriteMP4Segments checks that the HLS pieces are the MP4 export cut
// apart: the init segment is the export's ftyp+moov byte for byte, and
// each fragment's segment is the export's moof+mdat of it with the
// session's sequence number and a decode time placed by Origin
// (segmentLead after it, minus the 2 reordered frames of the recording's
// SPS).
func TestWriteMP4Segments(t *testing.T) {
	store, kr, start := record(t)
	src := Source{Store: store, Opener: kr}
	ctx := context.Background()
	var whole bytes.Buffer
	if _, err := src.WriteMP4(ctx, &whole, "cam1", store.seq(0)); err != nil {
		t.Fatal(err)
	}
	_, wantParts := parts(t, whole.Bytes())

	var initBuf bytes.Buffer
	var first Fragment
	for f := range store.seq(0) {
		first = f
		break
	}
	tracks, err := src.WriteMP4Init(ctx, &initBuf, "cam1", MP4Options{}, first)
	if err != nil {
		t.Fatal(err)
	}
	if len(tracks) != 1 || tracks[0].SampleEntry != "avc1" || !bytes.HasPrefix(whole.Bytes(), initBuf.Bytes()) {
		t.Fatalf("init segment is not the export's: %+v, %d bytes", tracks, initBuf.Len())
	}
	i := 0
	for f, err := range store.seq(0) {
		if err != nil {
			t.Fatal(err)
		}
		var seg bytes.Buffer
		st, err := src.WriteMP4Segment(ctx, &seg, "cam1", SegmentOptions{Origin: start, Sequence: uint32(100 + i)}, f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Bytes != int64(seg.Len()) || st.Fragments != 1 {
			t.Fatalf("stats %+v for %d bytes", st, seg.Len())
		}
		_, ps := parts(t, append(clone(initBuf.Bytes()), seg.Bytes()...))
		if len(ps) != 1 || ps[0].SequenceNumber != uint32(100+i) {
			t.Fatalf("segment %d: %d parts, sequence %d", i, len(ps), ps[0].SequenceNumber)
		}
		got, want := ps[0].Tracks[0], wantParts[i].Tracks[0]
		wantBase := uint64((segmentLead+f.ServerTime.Sub(start))/time.Millisecond)*90 - 7200
		if got.BaseTime != wantBase {
			t.Errorf("segment %d: tfdt %d, want %d", i, got.BaseTime, wantBase)
		}
		if len(got.Samples) != len(want.Samples) {
			t.Fatalf("segment %d: %d samples, export has %d", i, len(got.Samples), len(want.Samples))
		}
		for j, s := range got.Samples {
			w := want.Samples[j]
			if s.Duration != w.Duration || s.PTSOffset != w.PTSOffset || s.IsNonSyncSample != w.IsNonSyncSample || !bytes.Equal(s.Payload, w.Payload) {
				t.Fatalf("segment %d sample %d: %+v, export %+v", i, j, s, w)
			}
		}
		i++
	}
	if i != len(wantParts) {
		t.Fatalf("%d segments, export has %d parts", i, len(wantParts))
	}

	// A fragment the store lost is the store's error, nothing written.
	var seg bytes.Buffer
	if _, err := src.WriteMP4Segment(ctx, &seg, "cam1", SegmentOptions{Origin: start}, Fragment{Number: 99, ServerTime: start}); err == nil || seg.Len() != 0 {
		t.Fatalf("missing fragment: %v, %d bytes", err, seg.Len())
	}
	if _, err := src.WriteMP4Init(ctx, &seg, "cam1", MP4Options{}, Fragment{Number: 99}); err == nil || errors.Is(err, ErrUnsupportedMP4) || seg.Len() != 0 {
		t.Fatalf("missing fragment init: %v", err)
	}
}

// TestWriteMP4SegmentTrack: MP4Options.Track keeps one track (a DASH
// representation's); a track the fragment lacks is ErrNoTrack, nothing
// written. (Picking the audio of a two-track fragment is tested by the
// kvs package's DASH tests.)
func TestWriteMP4SegmentTrack(t *testing.T) {
	store, kr, start := record(t)
	src := Source{Store: store, Opener: kr}
	var first Fragment
	for f := range store.seq(0) {
		first = f
		break
	}
	var all, one bytes.Buffer
	if _, err := src.WriteMP4Init(t.Context(), &all, "cam1", MP4Options{}, first); err != nil {
		t.Fatal(err)
	}
	tracks, err := src.WriteMP4Init(t.Context(), &one, "cam1", MP4Options{Track: 1}, first)
	if err != nil || len(tracks) != 1 || !bytes.Equal(all.Bytes(), one.Bytes()) {
		t.Fatalf("track 1 of a one-track fragment: %v, %+v", err, tracks)
	}
	var seg bytes.Buffer
	if _, err := src.WriteMP4Init(t.Context(), &seg, "cam1", MP4Options{Track: 2}, first); !errors.Is(err, ErrNoTrack) || seg.Len() != 0 {
		t.Fatalf("init of track 2: %v, %d bytes", err, seg.Len())
	}
	if _, err := src.WriteMP4Segment(t.Context(), &seg, "cam1", SegmentOptions{MP4Options: MP4Options{Track: 2}, Origin: start}, first); !errors.Is(err, ErrNoTrack) || seg.Len() != 0 {
		t.Fatalf("segment of track 2: %v, %d bytes", err, seg.Len())
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
