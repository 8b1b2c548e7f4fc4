package mkv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// memFile is an in-memory FileAccess.
type memFile struct{ b []byte }

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		return 0, errors.New("write past the end")
	}
	return copy(m.b[off:], p), nil
}

// streamWithCues writes what a replay streams: header, unknown-size
// Segment, the reserved Void, Info, Tracks, three clusters, Cues. It
// returns the bytes, the clusters' positions in the Segment and the
// length of the stream before the Cues.
func streamWithCues(t testing.TB) ([]byte, []uint64, int) {
	tracksEl, err := AppendTracks(nil, testTracks(t))
	if err != nil {
		t.Fatal(err)
	}
	b := AppendEBMLHeader(nil)
	b = AppendSegmentStart(b)
	data := len(b)
	b = AppendSeekHeadVoid(b)
	b = AppendInfo(b, Info{Title: "cam1", Duration: 6000 * TimecodeScale})
	b = append(b, tracksEl...)
	var cues []CuePoint
	var pos []uint64
	for i := range 3 {
		c := AppendClusterStart(nil, uint64(i*2000))
		if c, err = AppendSimpleBlock(c, 1, 0, true, []byte{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		if err := FinishCluster(c); err != nil {
			t.Fatal(err)
		}
		pos = append(pos, uint64(len(b)-data))
		cues = append(cues, CuePoint{TimeMS: uint64(i * 2000), Track: 1, ClusterPosition: uint64(len(b) - data)})
		b = append(b, c...)
	}
	return AppendCues(b, cues), pos, len(b)
}

// TestFinishFile finishes a streamed file: the SeekHead points at Info,
// Tracks and Cues, the Cues at the clusters, the Segment has its size,
// and the Reader still reads every block.
func TestFinishFile(t *testing.T) {
	stream, clusters, noCues := streamWithCues(t)
	m := &memFile{b: bytes.Clone(stream)}
	if err := FinishFile(m, int64(len(m.b))); err != nil {
		t.Fatal(err)
	}
	seg, err := fileHeader(m, int64(len(AppendEBMLHeader(nil))), int64(len(m.b)))
	if err != nil || seg.id != idSegment || seg.unknown || seg.end != int64(len(m.b)) {
		t.Fatalf("segment %+v, %v: want a known size up to the end (%d)", seg, err, len(m.b))
	}
	sh, err := fileHeader(m, seg.dataOff, int64(len(m.b)))
	if err != nil || sh.id != idSeekHead {
		t.Fatalf("first element %+v, %v: want the SeekHead", sh, err)
	}
	// Each Seek names an element and its position: the element is there.
	for i, want := range []uint32{idInfo, idTracks, idCues} {
		e := m.b[sh.dataOff+int64(i*seekEntrySize):]
		id := binary.BigEndian.Uint32(e[6:])
		at := int64(binary.BigEndian.Uint64(e[seekEntrySize-8:]))
		got, err := fileHeader(m, seg.dataOff+at, int64(len(m.b)))
		if id != want || err != nil || got.id != want {
			t.Fatalf("seek %d: names %#x at %d, found %#x (%v); want %#x", i, id, at, got.id, err, want)
		}
	}
	// The Cues point at clusters.
	for _, p := range clusters {
		if c, err := fileHeader(m, seg.dataOff+int64(p), int64(len(m.b))); err != nil || c.id != idCluster {
			t.Fatalf("cue position %d: %+v, %v", p, c, err)
		}
	}
	r := NewReader(bytes.NewReader(m.b), ReaderOptions{})
	blocks := 0
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := ev.(Block); ok {
			blocks++
		}
	}
	if blocks != 3 {
		t.Fatalf("read %d blocks, want 3", blocks)
	}

	// What it refuses, unchanged: truncated, no Cues, no reserved Void,
	// garbage.
	for name, b := range map[string][]byte{
		"truncated": stream[:len(stream)-5],
		"no cues":   stream[:noCues],
		"garbage":   []byte("not a matroska file at all"),
		"empty":     nil,
	} {
		m := &memFile{b: bytes.Clone(b)}
		if err := FinishFile(m, int64(len(b))); !errors.Is(err, ErrNotFinishable) || !bytes.Equal(m.b, b) {
			t.Fatalf("%s: %v, changed %v", name, err, !bytes.Equal(m.b, b))
		}
	}
}

// FuzzFinishFile finishes arbitrary bytes: it never panics, and what it
// finishes has a SeekHead first in a Segment that ends at the end.
func FuzzFinishFile(f *testing.F) {
	stream, _, _ := streamWithCues(f)
	f.Add(stream)
	f.Add(stream[:len(stream)/2])
	f.Add([]byte{0x1A, 0x45, 0xDF, 0xA3, 0x80, 0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := &memFile{b: bytes.Clone(b)}
		if err := FinishFile(m, int64(len(b))); err != nil {
			if !bytes.Equal(m.b, b) {
				t.Fatal("a refused file was changed")
			}
			return
		}
		h, err := fileHeader(m, 0, int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		seg, err := fileHeader(m, h.end, int64(len(b)))
		if err != nil || seg.unknown || seg.end != int64(len(b)) {
			t.Fatalf("segment %+v, %v", seg, err)
		}
		if sh, err := fileHeader(m, seg.dataOff, int64(len(b))); err != nil || sh.id != idSeekHead {
			t.Fatalf("first element %+v, %v", sh, err)
		}
	})
}
