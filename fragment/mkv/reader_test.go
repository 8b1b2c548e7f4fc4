package mkv

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"runtime"
	"testing"
	"time"
)

// el builds an element with a minimal size vint.
func el(id uint32, body ...[]byte) []byte {
	joined := bytes.Join(body, nil)
	b := appendID(nil, id)
	b = appendVint(b, uint64(len(joined)))
	return append(b, joined...)
}

// elUnknown builds the header of an unknown-size element followed by body.
func elUnknown(id uint32, body ...[]byte) []byte {
	b := appendID(nil, id)
	b = append(b, 0xFF)
	return append(b, bytes.Join(body, nil)...)
}

func u(id uint32, v uint64) []byte   { return appendUintEl(nil, id, v) }
func s(id uint32, v string) []byte   { return appendStringEl(nil, id, v) }
func bin(id uint32, v []byte) []byte { return appendBytesEl(nil, id, v) }
func cat(parts ...[]byte) []byte     { return bytes.Join(parts, nil) }

// sb builds a SimpleBlock body: track 1, rel, flags, then the payload.
func sb(rel int16, flags byte, payload ...byte) []byte {
	return el(idSimpleBlock, []byte{0x81, byte(uint16(rel) >> 8), byte(rel), flags}, payload)
}

var hdr = AppendEBMLHeader(nil)

var wantHdr = Header{DocType: "matroska", DocTypeVersion: 4, DocTypeReadVersion: 2}

func track1(extra ...[]byte) []byte {
	return el(idTracks, el(idTrackEntry, append([][]byte{u(idTrackNumber, 1), u(idTrackType, 1), s(idCodecID, CodecH264)}, extra...)...))
}

var wantTrack1 = Tracks{Tracks: []Track{{Number: 1, Type: TrackVideo, CodecID: CodecH264}}}

type readerCase struct {
	name string
	in   []byte
	want []Event // checked when err is nil, and as the prefix read before err
	err  error
}

func readerCases() []readerCase {
	deep := s(idTagName, "x")
	for range 20 {
		deep = el(idSimpleTag, deep)
	}
	return []readerCase{
		{name: "empty", in: nil, want: nil},
		{
			name: "unknown-size cluster ends at next cluster and at EOF",
			in: cat(hdr, elUnknown(idSegment,
				el(idVoid, []byte{0, 0}),
				el(idSeekHead, el(idSeek)),
				elUnknown(idCluster, u(idTimecode, 10), sb(1, 0x80, 0xAA), el(0x4321, []byte{1})),
				elUnknown(idCluster, u(idTimecode, 20), sb(-1, 0, 0xBB)),
			)),
			want: []Event{wantHdr,
				ClusterStart{10}, Block{Track: 1, Timecode: 11, Key: true, Data: []byte{0xAA}}, ClusterEnd{},
				ClusterStart{20}, Block{Track: 1, Timecode: 19, Data: []byte{0xBB}}, ClusterEnd{}},
		},
		{
			name: "unknown-size cluster in known-size segment, then tags",
			in: cat(hdr, el(idSegment,
				elUnknown(idCluster, u(idTimecode, 5), sb(0, 0x80, 1)),
				el(idTags, el(idTag, el(idSimpleTag, s(idTagName, "A"), s(idTagString, "b"),
					el(idSimpleTag, s(idTagName, "C"), s(idTagString, "d"))))),
			), el(idVoid)),
			want: []Event{wantHdr, ClusterStart{5}, Block{Track: 1, Timecode: 5, Key: true, Data: []byte{1}}, ClusterEnd{},
				Tags{Tags: []Tag{{TargetTypeValue: 50, SimpleTags: []SimpleTag{{"A", "b"}, {"C", "d"}}}}}},
		},
		{
			name: "unknown-size cluster ends at a new EBML header",
			in: cat(hdr, elUnknown(idSegment, elUnknown(idCluster, u(idTimecode, 1), sb(0, 0x80, 7))),
				hdr, elUnknown(idSegment, track1())),
			want: []Event{wantHdr, ClusterStart{1}, Block{Track: 1, Timecode: 1, Key: true, Data: []byte{7}}, ClusterEnd{},
				wantHdr, wantTrack1},
		},
		{
			name: "block groups",
			in: cat(hdr, elUnknown(idSegment, el(idCluster, u(idTimecode, 100),
				el(idBlockGroup, el(idBlock, []byte{0x81, 0, 0, 0}, []byte{1}), u(idBlockDuration, 40)),
				el(idBlockGroup, el(idBlock, []byte{0x81, 0, 40, 0x80}, []byte{2}), el(idReferenceBlock, []byte{0xD8})),
			))),
			want: []Event{wantHdr, ClusterStart{100},
				Block{Track: 1, Timecode: 100, Duration: 40, Key: true, Data: []byte{1}},
				Block{Track: 1, Timecode: 140, Key: false, Data: []byte{2}},
				ClusterEnd{}},
		},
		{
			name: "timecode scale 100 us",
			in: cat(hdr, elUnknown(idSegment, el(idInfo, u(idTimecodeScale, 100000)),
				el(idCluster, u(idTimecode, 1000), sb(-15, 0x80, 1)))),
			want: []Event{wantHdr, SegmentInfo{TimecodeScale: 100000}, ClusterStart{100},
				Block{Track: 1, Timecode: 98, Key: true, Data: []byte{1}}, ClusterEnd{}},
		},
		{
			name: "xiph lacing with default duration",
			in: cat(hdr, elUnknown(idSegment, track1(u(idDefaultDuration, 20e6)),
				el(idCluster, u(idTimecode, 0), sb(0, 0x80|0x02, 2, 1, 2, 0xA, 0xB, 0xB, 0xC)))),
			want: []Event{wantHdr, Tracks{Tracks: []Track{{Number: 1, Type: TrackVideo, CodecID: CodecH264, DefaultDuration: 20 * time.Millisecond}}},
				ClusterStart{0},
				Block{Track: 1, Timecode: 0, Duration: 20, Key: true, Data: []byte{0xA}},
				Block{Track: 1, Timecode: 20, Duration: 20, Key: true, Data: []byte{0xB, 0xB}},
				Block{Track: 1, Timecode: 40, Duration: 20, Key: true, Data: []byte{0xC}},
				ClusterEnd{}},
		},
		{
			name: "xiph lacing with a 255-byte frame",
			in: cat(hdr, elUnknown(idSegment,
				el(idCluster, u(idTimecode, 0), sb(0, 0x02, append([]byte{1, 0xFF, 0}, make([]byte, 256)...)...)))),
			want: []Event{wantHdr, ClusterStart{0},
				Block{Track: 1, Data: make([]byte, 255)}, Block{Track: 1, Data: []byte{0}}, ClusterEnd{}},
		},
		{
			name: "ebml lacing",
			// 3 frames: sizes 2, 2+(-1)=1, rest 3.
			in: cat(hdr, elUnknown(idSegment,
				el(idCluster, u(idTimecode, 0), sb(0, 0x06, 2, 0x82, 0xBE, 1, 1, 2, 3, 3, 3)))),
			want: []Event{wantHdr, ClusterStart{0},
				Block{Track: 1, Data: []byte{1, 1}}, Block{Track: 1, Data: []byte{2}}, Block{Track: 1, Data: []byte{3, 3, 3}},
				ClusterEnd{}},
		},
		{
			name: "fixed lacing",
			in: cat(hdr, elUnknown(idSegment,
				el(idCluster, u(idTimecode, 0), sb(0, 0x04, 1, 1, 1, 2, 2)))),
			want: []Event{wantHdr, ClusterStart{0},
				Block{Track: 1, Data: []byte{1, 1}}, Block{Track: 1, Data: []byte{2, 2}}, ClusterEnd{}},
		},
		{
			name: "cluster without timecode or blocks is silent",
			in:   cat(hdr, elUnknown(idSegment, el(idCluster, el(idVoid)), el(idCluster))),
			want: []Event{wantHdr},
		},

		{name: "not matroska", in: cat(elUnknown(idSegment)), err: ErrNotMatroska},
		{name: "webm ok, avi not", in: cat(el(idEBML, s(idDocType, "webm")), el(idEBML, s(idDocType, "avi"))),
			want: []Event{Header{DocType: "webm", DocTypeVersion: 1, DocTypeReadVersion: 1}}, err: ErrNotMatroska},
		{name: "max id length 8", in: el(idEBML, u(idEBMLMaxIDLength, 8)), err: ErrUnsupported},
		{name: "truncated header", in: hdr[:len(hdr)-1], err: io.ErrUnexpectedEOF},
		{name: "truncated element ID", in: cat(hdr, []byte{0x18, 0x53}), want: []Event{wantHdr}, err: io.ErrUnexpectedEOF},
		{name: "truncated size", in: cat(hdr, []byte{0x18, 0x53, 0x80, 0x67, 0x01, 0}), want: []Event{wantHdr}, err: io.ErrUnexpectedEOF},
		{name: "truncated known-size segment", in: cat(hdr, appendVint(appendID(nil, idSegment), 100), el(idVoid)),
			want: []Event{wantHdr}, err: io.ErrUnexpectedEOF},
		{name: "truncated known-size cluster", in: cat(hdr, elUnknown(idSegment, appendVint(appendID(nil, idCluster), 100), u(idTimecode, 1))),
			want: []Event{wantHdr, ClusterStart{1}}, err: io.ErrUnexpectedEOF},
		{name: "zero size byte", in: cat(hdr, []byte{0x18, 0x53, 0x80, 0x67, 0x00}), want: []Event{wantHdr}, err: ErrInvalidVint},
		{name: "five-byte ID", in: cat(hdr, []byte{0x08, 1, 2, 3, 4, 0x80}), want: []Event{wantHdr}, err: ErrInvalidVint},
		{name: "huge tracks", in: cat(hdr, elUnknown(idSegment, []byte{0x16, 0x54, 0xAE, 0x6B, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE})),
			want: []Event{wantHdr}, err: ErrElementTooLarge},
		{name: "child overflows segment", in: cat(hdr, el(idSegment, appendVint(appendID(nil, idInfo), 10))),
			want: []Event{wantHdr}, err: ErrOverflow},
		{name: "child overflows buffered parent", in: cat(hdr, elUnknown(idSegment, el(idInfo, []byte{0x2A, 0xD7, 0xB1, 0x85, 1}))),
			want: []Event{wantHdr}, err: ErrOverflow},
		{name: "segment-level element in sized cluster", in: cat(hdr, elUnknown(idSegment, el(idCluster, u(idTimecode, 1), el(idTags)))),
			want: []Event{wantHdr, ClusterStart{1}}, err: ErrOverflow},
		{name: "unknown-size info", in: cat(hdr, elUnknown(idSegment, elUnknown(idInfo))), want: []Event{wantHdr}, err: ErrUnknownSize},
		{name: "unknown-size child in buffered master", in: cat(hdr, elUnknown(idSegment, el(idTracks, elUnknown(idTrackEntry)))),
			want: []Event{wantHdr}, err: ErrUnknownSize},
		{name: "deep tags", in: cat(hdr, elUnknown(idSegment, el(idTags, el(idTag, deep)))), want: []Event{wantHdr}, err: ErrTooDeep},
		{name: "block before timecode", in: cat(hdr, elUnknown(idSegment, el(idCluster, sb(0, 0x80, 1)))),
			want: []Event{wantHdr}, err: ErrInvalidBlock},
		{name: "two timecodes", in: cat(hdr, elUnknown(idSegment, el(idCluster, u(idTimecode, 1), u(idTimecode, 2)))),
			want: []Event{wantHdr, ClusterStart{1}}, err: ErrInvalidElement},
		{name: "short block", in: cat(hdr, elUnknown(idSegment, el(idCluster, u(idTimecode, 1), el(idSimpleBlock, []byte{0x81, 0})))),
			want: []Event{wantHdr, ClusterStart{1}}, err: ErrInvalidBlock},
		{name: "block group without block", in: cat(hdr, elUnknown(idSegment, el(idCluster, u(idTimecode, 1), el(idBlockGroup, u(idBlockDuration, 1))))),
			want: []Event{wantHdr, ClusterStart{1}}, err: ErrInvalidBlock},
		{name: "xiph sizes exceed block", in: cat(hdr, elUnknown(idSegment, el(idCluster, u(idTimecode, 1), sb(0, 0x02, 1, 9, 1)))),
			want: []Event{wantHdr, ClusterStart{1}}, err: ErrInvalidLacing},
		{name: "fixed lacing uneven", in: cat(hdr, elUnknown(idSegment, el(idCluster, u(idTimecode, 1), sb(0, 0x04, 1, 1, 2, 3)))),
			want: []Event{wantHdr, ClusterStart{1}}, err: ErrInvalidLacing},
		{name: "ebml lacing negative size", in: cat(hdr, elUnknown(idSegment, el(idCluster, u(idTimecode, 1), sb(0, 0x06, 2, 0x81, 0x80, 1, 1)))),
			want: []Event{wantHdr, ClusterStart{1}}, err: ErrInvalidLacing},
		{name: "content encodings", in: cat(hdr, elUnknown(idSegment, track1(el(idContentEncodings)))),
			want: []Event{wantHdr}, err: ErrUnsupported},
		{name: "zero timecode scale", in: cat(hdr, elUnknown(idSegment, el(idInfo, u(idTimecodeScale, 0)))),
			want: []Event{wantHdr}, err: ErrInvalidElement},
		{name: "nine-byte uint", in: cat(hdr, elUnknown(idSegment, el(idInfo, bin(idTimecodeScale, make([]byte, 9))))),
			want: []Event{wantHdr}, err: ErrInvalidElement},
		{name: "track without number", in: cat(hdr, elUnknown(idSegment, el(idTracks, el(idTrackEntry, s(idCodecID, "x"))))),
			want: []Event{wantHdr}, err: ErrInvalidElement},
		{name: "segment in segment", in: cat(hdr, elUnknown(idSegment, el(idSegment))), want: []Event{wantHdr}, err: ErrInvalidElement},
		{name: "cluster timecode overflows", in: cat(hdr, elUnknown(idSegment, el(idInfo, u(idTimecodeScale, 1e9)),
			el(idCluster, u(idTimecode, 1<<63)))),
			want: []Event{wantHdr, SegmentInfo{TimecodeScale: 1e9}}, err: ErrInvalidElement},
	}
}

func TestReader(t *testing.T) {
	for _, c := range readerCases() {
		t.Run(c.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(c.in), ReaderOptions{})
			var got []Event
			var err error
			for {
				var ev Event
				ev, err = r.Next()
				if err != nil {
					break
				}
				got = append(got, ev)
			}
			wantErr := c.err
			if wantErr == nil {
				wantErr = io.EOF
			}
			if !errors.Is(err, wantErr) {
				t.Fatalf("err = %v, want %v (events %#v)", err, wantErr, got)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("events:\n got %#v\nwant %#v", got, c.want)
			}
			if _, err2 := r.Next(); err2 != err {
				t.Errorf("error not sticky: %v then %v", err, err2)
			}
		})
	}
}

// TestReaderHugeSizeDoesNotAllocate checks that a size field alone does not
// make the reader allocate: a 60 MiB Tags element followed by 10 bytes.
func TestReaderHugeSizeDoesNotAllocate(t *testing.T) {
	in := cat(hdr, elUnknown(idSegment, appendVint(appendID(nil, idTags), 60<<20), make([]byte, 10)))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := NewReader(bytes.NewReader(in), ReaderOptions{})
	var err error
	for err == nil {
		_, err = r.Next()
	}
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("allocated %d bytes for a 60 MiB size field", n)
	}
}

func TestReaderMaxElementSize(t *testing.T) {
	in := cat(hdr, elUnknown(idSegment, el(idCluster, u(idTimecode, 0), sb(0, 0x80, make([]byte, 100)...))))
	r := NewReader(bytes.NewReader(in), ReaderOptions{MaxElementSize: 50})
	var err error
	for err == nil {
		_, err = r.Next()
	}
	if !errors.Is(err, ErrElementTooLarge) {
		t.Errorf("err = %v, want ErrElementTooLarge", err)
	}
	if r.off == 0 {
		t.Error("the offset did not advance")
	}
}

// errReader fails after its data.
type errReader struct {
	data []byte
	err  error
}

func (e *errReader) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, e.err
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

func TestReaderPassesReadErrors(t *testing.T) {
	boom := errors.New("boom")
	for _, n := range []int{0, 2, len(hdr) - 1, len(hdr) + 3} {
		in := cat(hdr, elUnknown(idSegment))[:n]
		r := NewReader(&errReader{data: in, err: boom}, ReaderOptions{})
		var err error
		for err == nil {
			_, err = r.Next()
		}
		if !errors.Is(err, boom) {
			t.Errorf("cut at %d: err = %v, want boom", n, err)
		}
	}
}

func TestReaderSegmentBody(t *testing.T) {
	tracksEl, err := AppendTracks(nil, testTracks(t))
	if err != nil {
		t.Fatal(err)
	}
	c := buildCluster(t, 0, []testBlock{{1, 5, true, []byte{1}}})
	if err := PatchClusterTimecode(c, 2000); err != nil {
		t.Fatal(err)
	}
	in := cat(tracksEl, c, AppendTags(nil, []SimpleTag{{TagFragmentNumber, "7"}}))
	r := NewReader(bytes.NewReader(in), ReaderOptions{SegmentBody: true})
	var got []Event
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ev)
	}
	want := []Event{Tracks{Tracks: testTracks(t)}, ClusterStart{2000},
		Block{Track: 1, Timecode: 2005, Key: true, Data: []byte{1}}, ClusterEnd{},
		Tags{Tags: []Tag{{TargetTypeValue: 50, SimpleTags: []SimpleTag{{TagFragmentNumber, "7"}}}}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events:\n got %#v\nwant %#v", got, want)
	}
}
