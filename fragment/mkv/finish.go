package mkv

import (
	"encoding/binary"
	"fmt"
	"io"
)

// A streamed Matroska file (a replay written as it is read) cannot point
// at its Cues before it has written them, and its Segment has an unknown
// size. The writer reserves room for a SeekHead at the start of the
// Segment (AppendSeekHeadVoid), writes the Cues after the last cluster
// (AppendCues), and whoever holds the finished bytes in a seekable file
// calls FinishFile, which writes the SeekHead (Info, Tracks, Cues) into
// the reserved room and the Segment's size: players then show the
// length and seek by the Cues, as in a file mkvmerge wrote.

// seekHeadSize is the size of a SeekHead with three Seek entries.
const seekHeadSize = 4 + 1 + 3*seekEntrySize

// seekHeadVoidSize is the size of the Void AppendSeekHeadVoid writes: the
// SeekHead and the smallest Void after it.
const seekHeadVoidSize = seekHeadSize + 2

// AppendSeekHeadVoid appends the Void that reserves room for the SeekHead
// FinishFile writes. It goes right after AppendSegmentStart.
func AppendSeekHeadVoid(dst []byte) []byte {
	dst = append(dst, byte(idVoid), 0x80|byte(seekHeadVoidSize-2))
	return append(dst, make([]byte, seekHeadVoidSize-2)...)
}

// CuePoint is one entry of the Cues: a cluster's timecode (ms), a track
// it holds a keyframe of, and its position relative to the start of the
// Segment's data.
type CuePoint struct {
	TimeMS, Track, ClusterPosition uint64
}

// AppendCues appends a Cues element with the points, in order.
func AppendCues(dst []byte, points []CuePoint) []byte {
	b, off := beginMaster(dst, idCues)
	for _, p := range points {
		var po, tpo int
		b, po = beginMaster(b, idCuePoint)
		b = appendUintEl(b, idCueTime, p.TimeMS)
		b, tpo = beginMaster(b, idCueTrackPositions)
		b = appendUintEl(b, idCueTrack, p.Track)
		b = appendUintEl(b, idCueClusterPosition, p.ClusterPosition)
		endMaster(b, tpo)
		endMaster(b, po)
	}
	endMaster(b, off)
	return b
}

// FileAccess is what FinishFile reads and writes: an *os.File.
type FileAccess interface {
	io.ReaderAt
	io.WriterAt
}

// FinishFile finishes a Matroska file of size bytes written as a stream
// with AppendSeekHeadVoid and AppendCues: it writes the SeekHead into the
// reserved Void and the Segment's size in place of "unknown". It walks
// the Segment's top-level elements by their headers (reading a few bytes
// of each) and returns an error wrapping ErrNotFinishable, changing
// nothing, when the file is not such a stream (an element of unknown size
// other than the Segment, one past the end, no reserved Void, no Info,
// Tracks or Cues).
func FinishFile(f FileAccess, size int64) error {
	h, err := fileHeader(f, 0, size)
	if err != nil || h.id != idEBML {
		return fmt.Errorf("%w: no EBML header (%v)", ErrNotFinishable, err)
	}
	seg, err := fileHeader(f, h.end, size)
	if err != nil || seg.id != idSegment || seg.dataOff-seg.off != 4+8 {
		return fmt.Errorf("%w: no Segment with an 8-byte size after the EBML header (%v)", ErrNotFinishable, err)
	}
	var voidAt, info, tracks, cues int64 = -1, -1, -1, -1
	for off := seg.dataOff; off < size; {
		e, err := fileHeader(f, off, size)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNotFinishable, err)
		}
		if e.unknown {
			return fmt.Errorf("%w: element %#x at %d has an unknown size", ErrNotFinishable, e.id, off)
		}
		rel := off - seg.dataOff
		switch {
		case e.id == idVoid && voidAt < 0 && e.end-off == seekHeadVoidSize:
			voidAt = off
		case e.id == idInfo && info < 0:
			info = rel
		case e.id == idTracks && tracks < 0:
			tracks = rel
		case e.id == idCues && cues < 0:
			cues = rel
		}
		off = e.end
	}
	if voidAt < 0 || info < 0 || tracks < 0 || cues < 0 {
		return fmt.Errorf("%w: reserved Void at %d, Info at %d, Tracks at %d, Cues at %d", ErrNotFinishable, voidAt, info, tracks, cues)
	}
	b := appendID(make([]byte, 0, seekHeadVoidSize), idSeekHead)
	b = appendVint(b, 3*seekEntrySize)
	for i, pos := range []int64{info, tracks, cues} {
		b = appendSeek(b, [3]uint32{idInfo, idTracks, idCues}[i])
		binary.BigEndian.PutUint64(b[len(b)-8:], uint64(pos))
	}
	b = append(b, byte(idVoid), 0x80)
	if _, err := f.WriteAt(b, voidAt); err != nil {
		return fmt.Errorf("mkv: finish: %w", err)
	}
	var sz [8]byte
	putVint8(sz[:], uint64(size-seg.dataOff))
	if _, err := f.WriteAt(sz[:], seg.off+4); err != nil {
		return fmt.Errorf("mkv: finish: %w", err)
	}
	return nil
}

// fileElem is an element header read by fileHeader.
type fileElem struct {
	id           uint32
	off, dataOff int64 // the element's start and its data's
	end          int64 // the offset after it (dataOff when unknown)
	unknown      bool
}

// fileHeader reads the element header at off of a file of size bytes.
func fileHeader(f io.ReaderAt, off, size int64) (fileElem, error) {
	var buf [12]byte
	n, err := f.ReadAt(buf[:min(int64(len(buf)), max(size-off, 0))], off)
	if n == 0 {
		return fileElem{}, fmt.Errorf("no element at %d: %v", off, err)
	}
	p := buf[:n]
	idw := vintWidth(p[0])
	if idw == 0 || idw > 4 || idw >= len(p) {
		return fileElem{}, fmt.Errorf("invalid element ID at %d", off)
	}
	var id uint32
	for _, c := range p[:idw] {
		id = id<<8 | uint32(c)
	}
	sw := vintWidth(p[idw])
	if sw == 0 || idw+sw > len(p) {
		return fileElem{}, fmt.Errorf("invalid size of element %#x at %d", id, off)
	}
	v := uint64(p[idw]) & (0xFF >> sw)
	all := v == 0xFF>>sw
	for _, c := range p[idw+1 : idw+sw] {
		v = v<<8 | uint64(c)
		all = all && c == 0xFF
	}
	e := fileElem{id: id, off: off, dataOff: off + int64(idw+sw)}
	if all {
		e.unknown, e.end = true, e.dataOff
		return e, nil
	}
	if v > uint64(size-e.dataOff) {
		return fileElem{}, fmt.Errorf("element %#x at %d runs past the end of the file", id, off)
	}
	e.end = e.dataOff + int64(v)
	return e, nil
}
