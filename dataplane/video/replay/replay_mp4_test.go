package replay

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"iter"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"

	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/ingest/camsim"
	"github.com/kinedge/kinedge/ingest/media"
)

// aacConfig is an AudioSpecificConfig: AAC-LC, 48 kHz, stereo.
var aacConfig = []byte{0x11, 0x90}

func TestParseAVCConfig(t *testing.T) {
	good, err := mkv.AVCConfig(sps, pps)
	if err != nil {
		t.Fatal(err)
	}
	// Two SPS and two PPS: the first of each is used.
	two := []byte{1, sps[1], sps[2], sps[3], 0xFF, 0xE2}
	for _, n := range [][]byte{sps, append([]byte{0x67}, 9, 9, 9), {2}, pps, {0x68, 1}} {
		if len(n) == 1 { // the PPS count
			two = append(two, n[0])
			continue
		}
		two = binary.BigEndian.AppendUint16(two, uint16(len(n)))
		two = append(two, n...)
	}
	cases := []struct {
		name     string
		in       []byte
		sps, pps []byte
	}{
		{"one each", good, sps, pps},
		{"two each", two, sps, pps},
		{"empty", nil, nil, nil},
		{"version 0", append([]byte{0}, good[1:]...), nil, nil},
		{"truncated sps", good[:12], nil, nil},
		{"truncated pps", good[:6+2+len(sps)+1+2+len(pps)-1], nil, nil},
		{"no pps count", good[:8+len(sps)], nil, nil},
		{"no sps", []byte{1, 0x64, 0, 0x1e, 0xFF, 0xE0, 1, 0, 2, 0x68, 1}, nil, nil},
		{"pps in place of sps", []byte{1, 0x64, 0, 0x1e, 0xFF, 0xE1, 0, 2, 0x68, 1, 1, 0, 2, 0x68, 1}, nil, nil},
	}
	for _, c := range cases {
		gotSPS, gotPPS, err := parseAVCConfig(c.in)
		if c.sps == nil {
			if !errors.Is(err, ErrCodecConfig) {
				t.Errorf("%s: err %v, want ErrCodecConfig", c.name, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(gotSPS, c.sps) || !bytes.Equal(gotPPS, c.pps) {
			t.Errorf("%s: %x %x %v", c.name, gotSPS, gotPPS, err)
		}
	}
}

func TestParseHEVCConfig(t *testing.T) {
	clip, err := camsim.ReadClip(filepath.Join("..", "..", "..", "testdata", "h265_opus.ts"))
	if err != nil {
		t.Fatal(err)
	}
	v := clip.Tracks[0]
	good, err := mkv.HEVCConfig(v.VPS, v.SPS, v.PPS)
	if err != nil {
		t.Fatal(err)
	}
	// An SEI array first, then the three parameter sets.
	withSEI := slices.Clone(good[:23])
	withSEI[22] = 4
	withSEI = append(withSEI, 0x80|39, 0, 1, 0, 2, 39<<1, 1)
	withSEI = append(withSEI, good[23:]...)
	cases := []struct {
		name          string
		in            []byte
		vps, sps, pps []byte
	}{
		{"three arrays", good, v.VPS, v.SPS, v.PPS},
		{"sei array first", withSEI, v.VPS, v.SPS, v.PPS},
		{"empty", nil, nil, nil, nil},
		{"header only", good[:23], nil, nil, nil},
		{"version 2", append([]byte{2}, good[1:]...), nil, nil, nil},
		{"truncated", good[:len(good)-1], nil, nil, nil},
		{"array header cut", good[:25], nil, nil, nil},
	}
	for _, c := range cases {
		vps, sps, pps, err := parseHEVCConfig(c.in)
		if c.sps == nil {
			if !errors.Is(err, ErrCodecConfig) {
				t.Errorf("%s: err %v, want ErrCodecConfig", c.name, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(vps, c.vps) || !bytes.Equal(sps, c.sps) || !bytes.Equal(pps, c.pps) {
			t.Errorf("%s: %x %x %x %v", c.name, vps, sps, pps, err)
		}
	}
}

func TestTicks(t *testing.T) {
	cases := []struct {
		d      time.Duration
		ms, ts int64
		dur    int64 // durationTicks(d, ts)
		msT    int64 // msTicks(ms, ts)
	}{
		{0, 0, 90000, 0, 0},
		{time.Second, 40, 90000, 90000, 3600},
		{21*time.Millisecond + 333333, 21, 48000, 1023, 1008},
		{-time.Millisecond, -21, 48000, -48, -1008},
		{-1, -1, 44100, -1, -44},
		// A week at 90 kHz overflows nanoseconds times the timescale.
		{7 * 24 * time.Hour, 7 * 24 * 3600 * 1000, 90000, 7 * 24 * 3600 * 90000, 7 * 24 * 3600 * 90000},
	}
	for _, c := range cases {
		if got := durationTicks(c.d, c.ts); got != c.dur {
			t.Errorf("durationTicks(%v, %d) = %d, want %d", c.d, c.ts, got, c.dur)
		}
		if got := msTicks(c.ms, c.ts); got != c.msT {
			t.Errorf("msTicks(%d, %d) = %d, want %d", c.ms, c.ts, got, c.msT)
		}
	}
}

func TestReorderDepth(t *testing.T) {
	cases := []struct {
		pts  []int64
		want int
	}{
		{nil, 0},
		{[]int64{0, 1, 2, 3}, 0},
		{[]int64{0, 3, 1, 2, 6, 4, 5}, 1},              // I P B B
		{[]int64{0, 4, 2, 1, 3, 8, 6, 5, 7}, 2},        // I P Bref b b (pyramid)
		{[]int64{0, 8, 4, 2, 1, 3, 6, 5, 7, 16}, 3},    // deeper pyramid
		{[]int64{5, 5, 5}, 0},                          // ties keep decode order
		{[]int64{3, 2, 1, 0}, 3},                       // reversed
		{[]int64{100, 40, 200, 300, 150, 400, 500}, 2}, // leading pictures
	}
	for _, c := range cases {
		if got := reorderDepth(c.pts); got != c.want {
			t.Errorf("reorderDepth(%v) = %d, want %d", c.pts, got, c.want)
		}
	}
}

func TestVideoClock(t *testing.T) {
	type frag struct {
		pts     []int64
		restart bool
		dts     []int64
		offs    []int32
	}
	cases := []struct {
		name  string
		hint  int
		frags []frag
	}{
		{"no reordering", 0, []frag{
			{pts: []int64{10, 11, 12}, dts: []int64{10, 11, 12}, offs: []int32{0, 0, 0}},
			{pts: []int64{13, 14}, dts: []int64{13, 14}, offs: []int32{0, 0}},
		}},
		{"I P B B across fragments", 0, []frag{
			// delay 1: the first decode time is extrapolated one step
			// (the mean interval, 1) before the first frame.
			{pts: []int64{2, 5, 3, 4, 8, 6, 7}, dts: []int64{1, 2, 3, 4, 5, 6, 7}, offs: []int32{1, 3, 0, 0, 3, 0, 0}},
			// The largest time (8) carries over as the first decode time.
			{pts: []int64{9, 12, 10, 11}, dts: []int64{8, 9, 10, 11}, offs: []int32{1, 3, 0, 0}},
		}},
		{"SPS hint deeper than the data", 2, []frag{
			{pts: []int64{10, 11, 12}, dts: []int64{8, 9, 10}, offs: []int32{2, 2, 2}},
			{pts: []int64{13, 14}, dts: []int64{11, 12}, offs: []int32{2, 2}},
		}},
		{"reordering grows with room to fit", 0, []frag{
			{pts: []int64{0, 1, 2}, dts: []int64{0, 1, 2}, offs: []int32{0, 0, 0}},
			// One more decode time fits between 2 and 10: at 6.
			{pts: []int64{10, 13, 11, 12}, dts: []int64{6, 10, 11, 12}, offs: []int32{4, 3, 0, 0}},
			{pts: []int64{14, 15}, dts: []int64{13, 14}, offs: []int32{1, 1}},
		}},
		{"reordering grows without room: clamped", 0, []frag{
			{pts: []int64{0, 1, 2}, dts: []int64{0, 1, 2}, offs: []int32{0, 0, 0}},
			{pts: []int64{3, 5, 4}, dts: []int64{3, 4, 5}, offs: []int32{0, 1, 0}},
		}},
		{"restart after a gap", 0, []frag{
			{pts: []int64{2, 4, 3}, dts: []int64{1, 2, 3}, offs: []int32{1, 2, 0}},
			{pts: []int64{100, 102, 101}, restart: true, dts: []int64{99, 100, 101}, offs: []int32{1, 2, 0}},
		}},
		{"presentation times going back", 0, []frag{
			{pts: []int64{10, 11}, dts: []int64{10, 11}, offs: []int32{0, 0}},
			{pts: []int64{5, 6}, dts: []int64{12, 13}, offs: []int32{0, 0}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := videoClock{delay: c.hint, def: 1, maxStep: 1000}
			for i, f := range c.frags {
				dts, offs := clk.next(f.pts, f.restart)
				if !slices.Equal(dts, f.dts) || !slices.Equal(offs, f.offs) {
					t.Fatalf("fragment %d: dts %v offsets %v, want %v %v", i, dts, offs, f.dts, f.offs)
				}
			}
		})
	}
}

func TestAudioClock(t *testing.T) {
	// AAC at 48 kHz: 1024 samples, 21.333 ms, stored rounded to the ms.
	aac := func(k ...int) []int64 {
		var out []int64
		for _, i := range k {
			ms := (int64(i)*1024*1000 + 24000) / 48000
			out = append(out, msTicks(ms, 48000))
		}
		return out
	}
	ones := func(n int, d int64) []int64 {
		out := make([]int64, n)
		for i := range out {
			out[i] = d
		}
		return out
	}
	cases := []struct {
		name string
		pts  [][]int64
		want [][]int64
	}{
		{"sample exact across fragments", [][]int64{aac(0, 1, 2, 3), aac(4, 5)},
			[][]int64{{0, 1024, 2048, 3072}, {4096, 5120}}},
		{"lost frame: restart at the stored time", [][]int64{aac(0, 1, 3, 4)},
			[][]int64{{0, 1024, aac(3)[0], aac(3)[0] + 1024}}},
		{"starts late", [][]int64{aac(10, 11)}, [][]int64{{aac(10)[0], aac(10)[0] + 1024}}},
		{"stored time going back: still increasing", [][]int64{{0, 1024}, {-5000}},
			[][]int64{{0, 1024}, {1025}}},
	}
	for _, c := range cases {
		var clk audioClock
		for i, pts := range c.pts {
			got := clk.next(pts, ones(len(pts), 1024), 512)
			if !slices.Equal(got, c.want[i]) {
				t.Errorf("%s: fragment %d: %v, want %v", c.name, i, got, c.want[i])
			}
		}
	}
}

// testBlob builds a fragment's blob plaintext with an H.264 and an AAC
// track: frames (track, pts ms, key) with small payloads.
func testBlob(t testing.TB, frames ...[3]int) []byte {
	t.Helper()
	return testBlobTracks(t, []*media.Track{
		{Codec: media.CodecH264, ClockRate: 90000, SPS: sps, PPS: pps},
		{Codec: media.CodecAAC, ClockRate: 48000, SampleRate: 48000, Channels: 2, Config: aacConfig},
	}, frames...)
}

func testBlobTracks(t testing.TB, tracks []*media.Track, frames ...[3]int) []byte {
	t.Helper()
	f := &fragment.Fragment{Tracks: tracks}
	for i, fr := range frames {
		data := []byte{0x21, byte(i)}
		if fr[0] == 0 {
			data = avcc([]byte{0x41, byte(i)})
			if fr[2] == 1 {
				data = avcc(sps, pps, []byte{0x65, byte(i)})
			}
		}
		f.Frames = append(f.Frames, &media.Frame{Track: fr[0], PTS: time.Duration(fr[1]) * time.Millisecond, Key: fr[2] == 1, Data: data})
	}
	b, err := fragment.AppendBlob(nil, f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMKVToSamples(t *testing.T) {
	good := testBlob(t, [3]int{0, 0, 1}, [3]int{1, -10, 1}, [3]int{0, 80, 0}, [3]int{1, 11, 1}, [3]int{0, 40, 0})
	blob, err := fragment.DecodeBlob(good)
	if err != nil {
		t.Fatal(err)
	}
	// A blob whose tracks part is a cluster and whose cluster part is too.
	noTracks := binary.AppendUvarint([]byte("KVF1"), uint64(len(blob.Cluster)))
	noTracks = append(append(noTracks, blob.Cluster...), blob.Cluster...)
	twoClusters := append(slices.Clone(good), blob.Cluster...)
	cases := []struct {
		name   string
		in     []byte
		counts []int   // samples per track
		rel    []int64 // video presentation times
		keys   []bool  // video keyframes
	}{
		{"video and audio", good, []int{3, 2}, []int64{0, 80, 40}, []bool{true, false, false}},
		{"bad magic", append([]byte("KVF2"), good[4:]...), nil, nil, nil},
		{"truncated", good[:len(good)-3], nil, nil, nil},
		{"no tracks", noTracks, nil, nil, nil},
		{"two clusters", twoClusters, nil, nil, nil},
		{"empty", nil, nil, nil, nil},
	}
	for _, c := range cases {
		m, err := mkvToSamples(c.in)
		if c.counts == nil {
			if !errors.Is(err, ErrBadFragment) {
				t.Errorf("%s: err %v, want ErrBadFragment", c.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var counts []int
		for _, ss := range m.samples {
			counts = append(counts, len(ss))
		}
		var rel []int64
		var keys []bool
		for _, s := range m.samples[0] {
			rel, keys = append(rel, s.rel), append(keys, s.key)
		}
		if !slices.Equal(counts, c.counts) || !slices.Equal(rel, c.rel) || !slices.Equal(keys, c.keys) || m.samples[1][0].rel != -10 {
			t.Errorf("%s: counts %v rel %v keys %v", c.name, counts, rel, keys)
		}
	}
}

// plainSource serves blob plaintexts as they are (an Opener that does not
// decrypt), for tests and fuzzing of what follows decryption.
type plainSource [][]byte

func (p plainSource) Blob(_ context.Context, n uint64) ([]byte, error) {
	if n == 0 || n > uint64(len(p)) {
		return nil, errors.New("not found")
	}
	return slices.Clone(p[n-1]), nil
}

func (plainSource) Open(_ context.Context, _ string, _ uint64, sealed []byte) ([]byte, error) {
	return sealed, nil
}

func (p plainSource) seq(start time.Time, step time.Duration) iter.Seq2[Fragment, error] {
	return func(yield func(Fragment, error) bool) {
		for i := range p {
			t := start.Add(time.Duration(i) * step)
			if !yield(Fragment{Number: uint64(i + 1), ServerTime: t, ProducerTime: t, Duration: step, Codecs: []string{"H264", "AAC"}}, nil) {
				return
			}
		}
	}
}

// parts reads back an fMP4 with mediacommon's reader.
func parts(t *testing.T, b []byte) (fmp4.Init, fmp4.Parts) {
	t.Helper()
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(b)); err != nil {
		t.Fatalf("init: %v", err)
	}
	var ps fmp4.Parts
	if err := ps.Unmarshal(b); err != nil {
		t.Fatalf("parts: %v", err)
	}
	return init, ps
}

// TestWriteMP4Timeline checks the decode timeline of the synthetic
// recording (25 fps, no B-frames, 2 s fragments) in Go: base times follow
// server times, every frame lasts 40 ms, a 2 s hole in the range is
// bridged by the frame before it, keyframes are sync samples. Its SPS
// announces 2 reorder frames (VUI max_num_reorder_frames), so decoding
// starts 2 frames (7200 ticks) ahead of presentation.
func TestWriteMP4Timeline(t *testing.T) {
	store, kr, _ := record(t)
	src := Source{Store: store, Opener: kr}
	withHole := func(yield func(Fragment, error) bool) {
		for f, err := range store.seq(0) {
			if f.Number == 3 {
				continue
			}
			if !yield(f, err) {
				return
			}
		}
	}
	var out bytes.Buffer
	st, err := src.WriteMP4(context.Background(), &out, "cam1", withHole)
	if err != nil {
		t.Fatal(err)
	}
	if st.Fragments != 4 || st.First.Number != 1 || st.Last.Number != 5 || st.Bytes != int64(out.Len()) {
		t.Fatalf("stats %+v", st)
	}
	init, ps := parts(t, out.Bytes())
	if len(init.Tracks) != 1 || init.Tracks[0].TimeScale != 90000 {
		t.Fatalf("init tracks %+v", init.Tracks[0])
	}
	wantBase := []uint64{0, 2 * 90000, 6 * 90000, 8 * 90000}
	if len(ps) != 4 {
		t.Fatalf("%d parts", len(ps))
	}
	for i, p := range ps {
		pt := p.Tracks[0]
		if pt.BaseTime != wantBase[i] || len(pt.Samples) != 50 || p.SequenceNumber != uint32(i+1) {
			t.Fatalf("part %d: base %d, %d samples, sequence %d", i, pt.BaseTime, len(pt.Samples), p.SequenceNumber)
		}
		for j, s := range pt.Samples {
			want := uint32(3600)
			if i == 1 && j == 49 {
				want = 3600 + 2*90000 // up to the fragment after the hole
			}
			if s.Duration != want || s.PTSOffset != 7200 || s.IsNonSyncSample != (j%25 != 0) {
				t.Fatalf("part %d sample %d: %+v", i, j, s)
			}
		}
	}
}

func TestWriteMP4Errors(t *testing.T) {
	store, kr, _ := record(t)
	src := Source{Store: store, Opener: kr}
	empty := func(yield func(Fragment, error) bool) {}
	var out bytes.Buffer
	if _, err := src.WriteMP4(context.Background(), &out, "cam1", empty); !errors.Is(err, ErrNoFragments) || out.Len() != 0 {
		t.Fatalf("empty range: %v, %d bytes", err, out.Len())
	}
	if _, err := src.WriteMP4(context.Background(), &out, "cam2", store.seq(0)); !errors.Is(err, seal.ErrAuthentication) || out.Len() != 0 {
		t.Fatalf("wrong stream: %v, %d bytes", err, out.Len())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.WriteMP4(ctx, &out, "cam1", store.seq(0)); !errors.Is(err, context.Canceled) || out.Len() != 0 {
		t.Fatalf("canceled: %v, %d bytes", err, out.Len())
	}

	// A later fragment that cannot be read: the fragments before it are
	// written, then the error.
	store.frags[2].Blob[len(store.frags[2].Blob)/2] ^= 1
	st, err := src.WriteMP4(context.Background(), &out, "cam1", store.seq(0))
	if !errors.Is(err, seal.ErrAuthentication) || st.Fragments != 2 || st.Bytes != int64(out.Len()) {
		t.Fatalf("altered third blob: %v, %+v", err, st)
	}
	if _, ps := parts(t, out.Bytes()); len(ps) != 2 {
		t.Fatalf("%d parts before the altered blob", len(ps))
	}

	// Codecs change: H.264+AAC, then H.264 alone.
	video := testBlobTracks(t, []*media.Track{{Codec: media.CodecH264, ClockRate: 90000, SPS: sps, PPS: pps}}, [3]int{0, 0, 1}, [3]int{0, 40, 0})
	both := testBlob(t, [3]int{0, 0, 1}, [3]int{1, 5, 1}, [3]int{0, 40, 0})
	ps := plainSource{both, both, video, both}
	out.Reset()
	st, err = Source{Store: ps, Opener: ps}.WriteMP4(context.Background(), &out, "cam1", ps.seq(time.Unix(1e9, 0), 80*time.Millisecond))
	if !errors.Is(err, ErrTracksChanged) || st.Fragments != 2 {
		t.Fatalf("codec change: %v, %+v", err, st)
	}

	// A codec without an MP4 mapping here, and unreadable ones.
	blob := func(codecID string, private []byte) []byte {
		tracks, err := mkv.AppendTracks(nil, []mkv.Track{{Number: 1, Type: mkv.TrackVideo, CodecID: codecID, CodecPrivate: private}})
		if err != nil {
			t.Fatal(err)
		}
		b := binary.AppendUvarint([]byte("KVF1"), uint64(len(tracks)))
		b = append(b, tracks...)
		start := len(b)
		b = mkv.AppendClusterStart(b, 0)
		if b, err = mkv.AppendSimpleBlock(b, 1, 0, true, []byte{1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		if err := mkv.FinishCluster(b[start:]); err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		blob []byte
		want error
	}{
		{blob(mkv.CodecMJPEG, nil), ErrUnsupportedMP4},
		{blob(mkv.CodecH264, []byte{1, 2, 3}), ErrCodecConfig},
		{blob(mkv.CodecH265, nil), ErrCodecConfig},
		{blob(mkv.CodecAAC, nil), ErrCodecConfig},
		{blob(mkv.CodecVP8, nil), ErrCodecConfig}, // no keyframe: no size
		{blob(mkv.CodecVP9, nil), ErrCodecConfig},
		{blob(mkv.CodecAV1, nil), ErrCodecConfig},                               // no av1C
		{blob(mkv.CodecAV1, []byte{0x81, 0, 0, 0, 0x0a, 1, 0}), ErrCodecConfig}, // no sequence header in it
		{[]byte("KVF1\x00"), fragment.ErrCorruptBlob},
	} {
		ps := plainSource{c.blob}
		out.Reset()
		if _, err := (Source{Store: ps, Opener: ps}).WriteMP4(context.Background(), &out, "cam1", ps.seq(time.Unix(1e9, 0), time.Second)); !errors.Is(err, c.want) || out.Len() != 0 {
			t.Errorf("want %v, got %v with %d bytes", c.want, err, out.Len())
		}
	}
}

// fuzzSeeds are blob plaintexts: the table's and variations.
func fuzzSeeds(t testing.TB) [][]byte {
	good := testBlob(t, [3]int{0, 0, 1}, [3]int{1, -10, 1}, [3]int{0, 80, 0}, [3]int{1, 11, 1}, [3]int{0, 40, 0})
	reordered := testBlob(t, [3]int{0, 0, 1}, [3]int{0, 120, 0}, [3]int{0, 40, 0}, [3]int{0, 80, 0}, [3]int{1, 30000, 1})
	return [][]byte{good, reordered, good[:len(good)/2], []byte("KVF1\x00"), nil}
}

// FuzzMKVToSamples feeds arbitrary decrypted fragments to the MP4 path:
// reading samples, codec configurations, timing and muxing two copies of
// the fragment in a row must never panic.
func FuzzMKVToSamples(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := mkvToSamples(b)
		if err != nil {
			if !errors.Is(err, ErrBadFragment) {
				t.Fatalf("error %v does not wrap ErrBadFragment", err)
			}
			return
		}
		for _, tr := range m.tracks {
			_, _ = newMP4Track(tr, nil)
		}
		ps := plainSource{b, b}
		_, _ = Source{Store: ps, Opener: ps}.WriteMP4(context.Background(), io.Discard, "cam1", ps.seq(time.Unix(1e9, 0), time.Second))
	})
}

// BenchmarkWriteMP4 exports the recorded H.264+AAC clip (10 s, decrypting
// every fragment); MB/s counts MP4 bytes written.
func BenchmarkWriteMP4(b *testing.B) {
	store, kr := recordClip(b, "h264_aac.ts")
	src := Source{Store: store, Opener: kr}
	st, err := src.WriteMP4(context.Background(), io.Discard, "cam1", store.seq(0))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Bytes)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := src.WriteMP4(context.Background(), io.Discard, "cam1", store.seq(0)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAppendMoof holds the hand-written moof+mdat equal to mediacommon's
// fmp4.Part.Marshal.
func TestAppendMoof(t *testing.T) {
	sample := func(d uint32, off int32, nonSync bool, n int) *fmp4.Sample {
		return &fmp4.Sample{Duration: d, PTSOffset: off, IsNonSyncSample: nonSync, Payload: bytes.Repeat([]byte{byte(n)}, n)}
	}
	cases := []struct {
		name   string
		tracks []*fmp4.PartTrack
	}{
		{"sync samples only", []*fmp4.PartTrack{{ID: 2, BaseTime: 48000, Samples: []*fmp4.Sample{sample(1024, 0, false, 5), sample(1024, 0, false, 7)}}}},
		{"video with offsets", []*fmp4.PartTrack{{ID: 1, BaseTime: 1 << 40, Samples: []*fmp4.Sample{
			sample(3600, 7200, false, 30), sample(3600, 14400, true, 9), sample(3600, 0, true, 4)}}}},
		{"non-sync without offsets", []*fmp4.PartTrack{{ID: 1, Samples: []*fmp4.Sample{sample(3600, 0, false, 3), sample(3600, 0, true, 2)}}}},
		{"offsets on sync samples", []*fmp4.PartTrack{{ID: 1, Samples: []*fmp4.Sample{sample(3600, 3600, false, 3)}}}},
		{"two tracks", []*fmp4.PartTrack{
			{ID: 1, BaseTime: 90000, Samples: []*fmp4.Sample{sample(3600, 7200, false, 11), sample(3600, 0, true, 12)}},
			{ID: 2, BaseTime: 48000, Samples: []*fmp4.Sample{sample(1024, 0, false, 13), sample(1000, 0, false, 1), sample(960, 0, false, 2)}},
		}},
	}
	for i, c := range cases {
		var want seekablebuffer.Buffer
		if err := (&fmp4.Part{SequenceNumber: uint32(i + 7), Tracks: c.tracks}).Marshal(&want); err != nil {
			t.Fatal(err)
		}
		got, err := appendMoof([]byte("x"), uint32(i+7), c.tracks)
		if err != nil {
			t.Fatal(err)
		}
		for _, pt := range c.tracks {
			for _, s := range pt.Samples {
				got = append(got, s.Payload...)
			}
		}
		if !bytes.Equal(got[1:], want.Bytes()) {
			t.Errorf("%s:\n got %x\nwant %x", c.name, got[1:], want.Bytes())
		}
	}
}
