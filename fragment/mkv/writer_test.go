package mkv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"
)

// readAll reads every event of data, failing the test on any error but
// io.EOF.
func readAll(t testing.TB, data []byte) []Event {
	t.Helper()
	r := NewReader(bytes.NewReader(data), ReaderOptions{})
	var evs []Event
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return evs
		}
		if err != nil {
			t.Fatalf("after %d events: %v", len(evs), err)
		}
		evs = append(evs, ev)
	}
}

func testTracks(t testing.TB) []Track {
	t.Helper()
	avc, err := AVCConfig(testH264SPS, testH264PPS)
	if err != nil {
		t.Fatal(err)
	}
	hevc, err := HEVCConfig(testH265VPS, testH265SPS, testH265PPS)
	if err != nil {
		t.Fatal(err)
	}
	return []Track{
		{Number: 1, UID: 11, Type: TrackVideo, CodecID: CodecH264, CodecPrivate: avc, Width: 352, Height: 288},
		{Number: 2, UID: 12, Type: TrackVideo, CodecID: CodecH265, CodecPrivate: hevc, Width: 1920, Height: 1080,
			DefaultDuration: 40 * time.Millisecond},
		{Number: 3, UID: 13, Type: TrackAudio, CodecID: CodecAAC, CodecPrivate: []byte{0x12, 0x10}, SampleRate: 44100, Channels: 2},
		{Number: 4, UID: 14, Type: TrackAudio, CodecID: CodecOpus, CodecPrivate: OpusHead(2, 48000), SampleRate: 48000,
			Channels: 2, CodecDelay: 6500 * time.Microsecond, SeekPreRoll: OpusSeekPreRoll},
	}
}

type testBlock struct {
	track uint64
	rel   int64
	key   bool
	data  []byte
}

func buildCluster(t testing.TB, tc uint64, blocks []testBlock) []byte {
	t.Helper()
	c := AppendClusterStart(nil, tc)
	for _, b := range blocks {
		var err error
		if c, err = AppendSimpleBlock(c, b.track, b.rel, b.key, b.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := FinishCluster(c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRoundTrip(t *testing.T) {
	tracks := testTracks(t)
	tracksEl, err := AppendTracks(nil, tracks)
	if err != nil {
		t.Fatal(err)
	}
	blocks := []testBlock{
		{1, 0, true, []byte{0, 0, 0, 1, 0x65}},
		{2, 0, true, []byte{0, 0, 0, 1, 0x26}},
		{3, 0, true, []byte{0x21, 0x1a}},
		{4, 3, true, []byte{0xfc, 0xff}},
		{1, 40, false, bytes.Repeat([]byte{0x41}, 300)}, // two-byte size vint
		{1, -5, false, nil},
		{1, 32767, false, []byte{1}},
		{1, -32768, false, []byte{2}},
	}
	date := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	info := Info{Title: "cam1", WritingApp: "kinedge test", DateUTC: date, Duration: 2 * time.Second}

	// A live stream: header, unknown-size segment, two clusters (the second
	// patched), tags.
	stream := AppendEBMLHeader(nil)
	stream = AppendSegmentStart(stream)
	stream = AppendInfo(stream, info)
	stream = append(stream, tracksEl...)
	c1 := buildCluster(t, 0, blocks)
	if err := PatchClusterTimecode(c1, 100000); err != nil {
		t.Fatal(err)
	}
	stream = append(stream, c1...)
	c2 := buildCluster(t, 0, blocks[:1])
	stream = append(stream, c2...)
	tags := []SimpleTag{{TagFragmentNumber, "91343852333181432392682062607743920146264596385"},
		{TagServerTimestamp, FormatTagTime(date)}, {TagProducerTimestamp, "1700000000.123"}}
	stream = AppendTags(stream, tags)

	want := []Event{
		Header{DocType: "matroska", DocTypeVersion: 4, DocTypeReadVersion: 2},
		SegmentInfo{Info: info, MuxingApp: MuxingApp, TimecodeScale: TimecodeScale},
		Tracks{Tracks: tracks},
		ClusterStart{Timecode: 100000},
	}
	for _, b := range blocks {
		want = append(want, Block{Track: b.track, Timecode: 100000 + b.rel, Key: b.key, Data: b.data})
	}
	want = append(want, ClusterEnd{}, ClusterStart{Timecode: 0},
		Block{Track: 1, Timecode: 0, Key: true, Data: blocks[0].data}, ClusterEnd{},
		Tags{Tags: []Tag{{TargetTypeValue: 50, SimpleTags: tags}}})

	got := readAll(t, stream)
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d:\n%#v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if b, ok := g.(Block); ok && len(b.Data) == 0 {
			b.Data = nil
			g = b
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("event %d:\n got %#v\nwant %#v", i, g, w)
		}
	}
	if v, ok := got[len(got)-1].(Tags).Get(TagProducerTimestamp); !ok || v != "1700000000.123" {
		t.Errorf("Tags.Get = %q, %v", v, ok)
	}

	// The same content as self-contained fragments, known and unknown size.
	for _, unknown := range []bool{false, true} {
		file, err := AppendFragment(nil, &Fragment{Info: info, Tracks: tracksEl, Cluster: c1, Tags: tags, UnknownSize: unknown})
		if err != nil {
			t.Fatal(err)
		}
		evs := readAll(t, file)
		if len(evs) != len(blocks)+6 {
			t.Fatalf("fragment (unknown size %v): %d events: %#v", unknown, len(evs), evs)
		}
		if _, ok := evs[len(evs)-1].(Tags); !ok {
			t.Errorf("fragment: last event %#v", evs[len(evs)-1])
		}
		// Two fragments back to back read as two segments.
		evs2 := readAll(t, append(file, file...))
		if len(evs2) != 2*len(evs) {
			t.Errorf("two fragments (unknown size %v): %d events, want %d", unknown, len(evs2), 2*len(evs))
		}
	}
}

func TestPatchClusterTimecode(t *testing.T) {
	c := buildCluster(t, 7, []testBlock{{1, 0, true, []byte{1}}})
	cases := []struct {
		name    string
		cluster []byte
		ms      uint64
		err     error
	}{
		{"ok", c, 1<<64 - 1, nil},
		{"ok small", c, 42, nil},
		{"short", c[:ClusterHeaderSize-1], 1, ErrNotCluster},
		{"not a cluster", AppendTags(nil, nil), 1, ErrNotCluster},
		{"foreign layout", append([]byte{0x1F, 0x43, 0xB6, 0x75, 0x85, 0xE7, 0x81, 0x00}, c[8:]...), 1, ErrNotCluster},
	}
	for _, cs := range cases {
		err := PatchClusterTimecode(cs.cluster, cs.ms)
		if !errors.Is(err, cs.err) {
			t.Errorf("%s: err = %v, want %v", cs.name, err, cs.err)
			continue
		}
		if err != nil {
			continue
		}
		if err := checkCluster(cs.cluster); err != nil {
			t.Errorf("%s: patched cluster: %v", cs.name, err)
		} else if got := binary.BigEndian.Uint64(cs.cluster[ClusterTimecodeOffset:]); got != cs.ms {
			t.Errorf("%s: timecode %d after the patch", cs.name, got)
		}
	}
	if err := FinishCluster([]byte{1, 2, 3}); !errors.Is(err, ErrNotCluster) {
		t.Errorf("FinishCluster(junk) = %v", err)
	}
}

func TestAppendSimpleBlockErrors(t *testing.T) {
	cases := []struct {
		name  string
		track uint64
		rel   int64
		err   error
	}{
		{"too late", 1, 32768, ErrTimecodeRange},
		{"too early", 1, -32769, ErrTimecodeRange},
		{"track 0", 0, 0, ErrInvalidTrack},
		{"ok", 1, 32767, nil},
		{"big track number", 300, 0, nil},
	}
	for _, c := range cases {
		dst := []byte{9}
		got, err := AppendSimpleBlock(dst, c.track, c.rel, false, []byte{1})
		if !errors.Is(err, c.err) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.err)
		}
		if err != nil && !bytes.Equal(got, dst) {
			t.Errorf("%s: dst changed on error", c.name)
		}
	}
}

func TestAppendTracksErrors(t *testing.T) {
	cases := []struct {
		name   string
		tracks []Track
	}{
		{"no number", []Track{{Type: TrackVideo, CodecID: CodecH264}}},
		{"no type", []Track{{Number: 1, CodecID: CodecH264}}},
		{"no codec", []Track{{Number: 1, Type: TrackAudio}}},
		{"duplicate", []Track{{Number: 1, Type: TrackAudio, CodecID: CodecAAC}, {Number: 1, Type: TrackAudio, CodecID: CodecOpus}}},
	}
	for _, c := range cases {
		if _, err := AppendTracks(nil, c.tracks); !errors.Is(err, ErrInvalidTrack) {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
	// UID defaults to Number.
	b, err := AppendTracks(nil, []Track{{Number: 5, Type: TrackAudio, CodecID: CodecAAC}})
	if err != nil {
		t.Fatal(err)
	}
	r := &Reader{opts: ReaderOptions{MaxDepth: DefaultMaxDepth}}
	ev, err := r.parseTracks(b[12:], 12)
	if err != nil {
		t.Fatal(err)
	}
	if tr := ev.(Tracks).Tracks; len(tr) != 1 || tr[0].UID != 5 {
		t.Errorf("tracks = %#v", tr)
	}
}

func TestAppendFragmentErrors(t *testing.T) {
	tracksEl, _ := AppendTracks(nil, testTracks(t))
	c := buildCluster(t, 0, nil)
	if _, err := AppendFragment(nil, &Fragment{Tracks: c, Cluster: c}); !errors.Is(err, ErrInvalidTrack) {
		t.Errorf("cluster as tracks: %v", err)
	}
	if _, err := AppendFragment(nil, &Fragment{Tracks: tracksEl, Cluster: tracksEl}); !errors.Is(err, ErrNotCluster) {
		t.Errorf("tracks as cluster: %v", err)
	}
}

func TestFormatTagTime(t *testing.T) {
	cases := []struct {
		t    time.Time
		want string
	}{
		{time.UnixMilli(1700000000123), "1700000000.123"},
		{time.UnixMilli(1700000000005), "1700000000.005"},
		{time.Unix(1700000000, 999999999), "1700000000.999"},
		{time.Unix(0, 0), "0.000"},
		{time.UnixMilli(-1500), "-1.500"},
	}
	for _, c := range cases {
		if got := FormatTagTime(c.t); got != c.want {
			t.Errorf("FormatTagTime(%v) = %q, want %q", c.t, got, c.want)
		}
	}
}
