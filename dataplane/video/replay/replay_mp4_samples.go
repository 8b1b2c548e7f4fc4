package replay

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/ingest/media/bitstream"
)

// The leaf steps of MP4 export: stored fragment plaintext to per-track
// samples (mkvToSamples), Matroska codec private data to MP4 sample entries
// (newMP4Track), and the timing that Matroska does not store: decode times
// for reordered video (videoClock) and regular audio frame times
// (audioClock).

// mp4Sample is one frame of a stored fragment on its way to fMP4.
type mp4Sample struct {
	// rel is the presentation time relative to the fragment start, in ms
	// (the Matroska block timecode; cluster timecode 0).
	rel  int64
	key  bool
	data []byte
}

// mkvFragment is a stored fragment's plaintext read for fMP4: its tracks
// and, per track (same index), its frames in decode (storage) order.
type mkvFragment struct {
	tracks  []mkv.Track
	samples [][]mp4Sample
}

// clear wipes the frames: they are plaintext media.
func (m *mkvFragment) clear() {
	for _, ss := range m.samples {
		for _, s := range ss {
			clear(s.data)
		}
	}
}

// mkvToSamples reads a fragment's blob plaintext (see fragment.DecodeBlob:
// a Matroska Tracks element and one Cluster with timecode 0) into samples.
// Blocks of tracks the Tracks element does not list are skipped. The
// input is untrusted: errors wrap ErrBadFragment.
func mkvToSamples(plain []byte) (*mkvFragment, error) {
	blob, err := fragment.DecodeBlob(plain)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadFragment, err)
	}
	r := mkv.NewReader(io.MultiReader(bytes.NewReader(blob.Tracks), bytes.NewReader(blob.Cluster)),
		mkv.ReaderOptions{SegmentBody: true, MaxElementSize: int64(len(plain))})
	m := &mkvFragment{}
	index := map[uint64]int{}
	clusters := 0
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadFragment, err)
		}
		switch e := ev.(type) {
		case mkv.Tracks:
			if m.tracks != nil {
				return nil, fmt.Errorf("%w: two Tracks elements", ErrBadFragment)
			}
			m.tracks = e.Tracks
			m.samples = make([][]mp4Sample, len(e.Tracks))
			for i, t := range e.Tracks {
				if _, dup := index[t.Number]; dup {
					return nil, fmt.Errorf("%w: duplicate track number %d", ErrBadFragment, t.Number)
				}
				index[t.Number] = i
			}
		case mkv.ClusterStart:
			clusters++
			if clusters > 1 {
				return nil, fmt.Errorf("%w: more than one cluster", ErrBadFragment)
			}
		case mkv.Block:
			i, ok := index[e.Track]
			if !ok {
				continue
			}
			m.samples[i] = append(m.samples[i], mp4Sample{rel: e.Timecode, key: e.Key, data: e.Data})
		}
	}
	if m.tracks == nil {
		return nil, fmt.Errorf("%w: no Tracks element", ErrBadFragment)
	}
	return m, nil
}

// mp4Track is how one Matroska track becomes an fMP4 track.
type mp4Track struct {
	codecID   string
	codec     mp4.Codec
	video     bool
	timescale int64
	// reorder is the decoding delay in frames that the video SPS
	// announces (max_num_reorder_frames), 0 when unknown.
	reorder int
	// frameDur is the duration of every audio frame in timescale units;
	// 0 for Opus, whose packets tell their own (RFC 6716 section 3.1).
	frameDur int64
	// block is the bytes of one sample of every channel of a stored PCM
	// track (G.711), whose frames last their length in samples; 0
	// otherwise.
	block int
	// convert, if set, turns a stored frame into the MP4 sample (G.711
	// to linear PCM).
	convert func([]byte) []byte
}

// maxReorder bounds the decoding delay: no H.264/H.265 decoder holds more
// than 16 pictures (ISO/IEC 14496-10 annex A, ISO/IEC 23008-2 annex A).
const maxReorder = 16

// newMP4Track maps a stored track to an fMP4 sample entry: H.264 (avc1),
// H.265 (hvc1), AAC (mp4a), Opus (Opus, ISO BMFF encapsulation of
// Opus), big-endian PCM (ipcm), G.711 (as linear PCM, see g711.go), VP8
// (vp08) and VP9 (vp09) with a vpcC (VP Codec ISO Media File Format
// Binding) read from the track's first keyframe in samples, and AV1
// (av01) with the av1C the track stores (AV1 Codec ISO Media File Format
// Binding). Video uses a 90 kHz timescale, audio its sample rate.
//
// Motion JPEG has no sample entry here: ISO BMFF has none for it but
// QuickTime's 'jpeg' (and Motion JPEG 2000's, another codec), which
// browsers and most MP4 players do not decode; MKV carries it.
func newMP4Track(t mkv.Track, samples []mp4Sample) (*mp4Track, error) {
	mt := &mp4Track{codecID: t.CodecID}
	switch t.CodecID {
	case mkv.CodecVP8, mkv.CodecVP9:
		c, err := vpxSampleEntry(t, samples)
		if err != nil {
			return nil, err
		}
		mt.codec, mt.video, mt.timescale = c, true, 90000
	case mkv.CodecAV1:
		obu, err := bitstream.AV1ConfigOBU(t.CodecPrivate)
		if err != nil {
			return nil, fmt.Errorf("%w: av1C: %w", ErrCodecConfig, err)
		}
		if _, err := bitstream.ParseAV1SequenceHeader(obu); err != nil {
			return nil, fmt.Errorf("%w: av1C: %w", ErrCodecConfig, err)
		}
		mt.codec, mt.video, mt.timescale = &mp4.CodecAV1{SequenceHeader: obu}, true, 90000
	case mkv.CodecH264:
		sps, pps, err := parseAVCConfig(t.CodecPrivate)
		if err != nil {
			return nil, err
		}
		var s h264.SPS
		if err := s.Unmarshal(sps); err != nil {
			return nil, fmt.Errorf("%w: h264 sps: %w", ErrCodecConfig, err)
		}
		if s.VUI != nil && s.VUI.BitstreamRestriction != nil {
			mt.reorder = int(min(s.VUI.BitstreamRestriction.MaxNumReorderFrames, maxReorder))
		}
		mt.codec, mt.video, mt.timescale = &mp4.CodecH264{SPS: sps, PPS: pps}, true, 90000
	case mkv.CodecH265:
		vps, sps, pps, err := parseHEVCConfig(t.CodecPrivate)
		if err != nil {
			return nil, err
		}
		var s h265.SPS
		if err := s.Unmarshal(sps); err != nil {
			return nil, fmt.Errorf("%w: h265 sps: %w", ErrCodecConfig, err)
		}
		if n := len(s.MaxNumReorderPics); n > 0 {
			mt.reorder = int(min(s.MaxNumReorderPics[n-1], maxReorder))
		}
		mt.codec, mt.video, mt.timescale = &mp4.CodecH265{VPS: vps, SPS: sps, PPS: pps}, true, 90000
	case mkv.CodecAAC:
		var c mpeg4audio.AudioSpecificConfig
		if err := c.Unmarshal(t.CodecPrivate); err != nil {
			return nil, fmt.Errorf("%w: aac: %w", ErrCodecConfig, err)
		}
		if c.SampleRate <= 0 || c.SampleRate > 384000 {
			return nil, fmt.Errorf("%w: aac sample rate %d", ErrCodecConfig, c.SampleRate)
		}
		mt.codec, mt.timescale, mt.frameDur = &mp4.CodecMPEG4Audio{Config: c}, int64(c.SampleRate), 1024
		if c.FrameLengthFlag {
			mt.frameDur = 960
		}
	case mkv.CodecOpus:
		// OpusHead: "OpusHead", version, channel count (RFC 7845 section 5.1).
		ch := t.Channels
		if p := t.CodecPrivate; len(p) >= 10 && string(p[:8]) == "OpusHead" {
			ch = int(p[9])
		}
		if ch < 1 || ch > 8 {
			return nil, fmt.Errorf("%w: opus with %d channels", ErrCodecConfig, ch)
		}
		mt.codec, mt.timescale = &mp4.CodecOpus{ChannelCount: ch}, 48000
	case mkv.CodecPCMBig:
		if t.BitDepth != 16 && t.BitDepth != 24 || t.Channels < 1 || t.Channels > 8 || t.SampleRate < 1 || t.SampleRate > 384000 {
			return nil, fmt.Errorf("%w: PCM of %d bits, %d channels at %v Hz", ErrCodecConfig, t.BitDepth, t.Channels, t.SampleRate)
		}
		mt.codec, mt.timescale = &mp4.CodecLPCM{BitDepth: t.BitDepth, SampleRate: int(t.SampleRate), ChannelCount: t.Channels}, int64(t.SampleRate)
		mt.block = t.Channels * t.BitDepth / 8
	case mkv.CodecACM:
		w, err := parseWaveFormat(t.CodecPrivate)
		if err != nil {
			return nil, err
		}
		conv, ok := g711Decoder(w)
		if !ok {
			return nil, fmt.Errorf("%w: %q with format tag 0x%04x", ErrUnsupportedMP4, t.CodecID, w.tag)
		}
		mt.codec, mt.timescale = &mp4.CodecLPCM{BitDepth: 16, SampleRate: w.rate, ChannelCount: w.channels}, int64(w.rate)
		mt.block, mt.convert = w.channels, conv
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedMP4, t.CodecID)
	}
	return mt, nil
}

// vpxSampleEntry describes a VP8 or VP9 track for mediacommon's vp09
// writer (a VP8 entry is renamed vp08 once written, see renameVP8): the
// size, profile, bit depth, chroma subsampling and range of the first
// keyframe among samples, else the track's size with profile 0, 8 bits,
// 4:2:0.
func vpxSampleEntry(t mkv.Track, samples []mp4Sample) (*mp4.CodecVP9, error) {
	c := &mp4.CodecVP9{Width: t.Width, Height: t.Height, BitDepth: 8, ChromaSubsampling: 1}
	for _, s := range samples {
		if !s.key {
			continue
		}
		if t.CodecID == mkv.CodecVP8 {
			if v, err := bitstream.ReadVP8(s.data); err == nil && v.Key {
				c.Width, c.Height = v.Width, v.Height
			}
		} else if v, err := bitstream.ReadVP9(s.data); err == nil && v.Key {
			c.Width, c.Height = v.Width, v.Height
			c.Profile, c.BitDepth = uint8(v.Profile), uint8(v.BitDepth)
			c.ChromaSubsampling, c.ColorRange = uint8(v.ChromaSubsampling), v.FullRange
		}
		break
	}
	if c.Width <= 0 || c.Height <= 0 || c.Width > 0xffff || c.Height > 0xffff {
		return nil, fmt.Errorf("%w: %s without a picture size", ErrCodecConfig, t.CodecID)
	}
	return c, nil
}

// sameTracks tells whether a later fragment's tracks can continue an fMP4
// started with first's: same numbers, codecs and audio timescales.
// Parameter sets may differ (they travel in-band at keyframes).
func sameTracks(first []*mp4Track, firstMKV, later []mkv.Track) bool {
	if len(later) != len(firstMKV) {
		return false
	}
	for i, t := range later {
		if t.Number != firstMKV[i].Number || t.CodecID != first[i].codecID {
			return false
		}
		if (t.CodecID == mkv.CodecAAC || t.CodecID == mkv.CodecACM) && !bytes.Equal(t.CodecPrivate, firstMKV[i].CodecPrivate) ||
			t.CodecID == mkv.CodecPCMBig && (t.BitDepth != firstMKV[i].BitDepth || t.SampleRate != firstMKV[i].SampleRate || t.Channels != firstMKV[i].Channels) {
			return false
		}
	}
	return true
}

// parseAVCConfig returns the first SPS and PPS of an
// AVCDecoderConfigurationRecord.
func parseAVCConfig(b []byte) (sps, pps []byte, err error) {
	c, err := mkv.ParseAVCConfig(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrCodecConfig, err)
	}
	if sps, pps = c.First(7, false), c.First(8, false); len(sps) == 0 || len(pps) == 0 {
		return nil, nil, fmt.Errorf("%w: avcC without sps and pps", ErrCodecConfig)
	}
	return sps, pps, nil
}

// parseHEVCConfig returns the first VPS, SPS and PPS of an
// HEVCDecoderConfigurationRecord.
func parseHEVCConfig(b []byte) (vps, sps, pps []byte, err error) {
	c, err := mkv.ParseHEVCConfig(b)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: %w", ErrCodecConfig, err)
	}
	vps, sps, pps = c.First(32, true), c.First(33, true), c.First(34, true)
	if len(vps) == 0 || len(sps) == 0 || len(pps) == 0 {
		return nil, nil, nil, fmt.Errorf("%w: hvcC without vps, sps and pps", ErrCodecConfig)
	}
	return vps, sps, pps, nil
}

// durationTicks converts a duration to ticks of timescale, rounding down,
// without overflow for any duration.
func durationTicks(d time.Duration, timescale int64) int64 {
	sec, rem := int64(d/time.Second), int64(d%time.Second)
	t := sec*timescale + rem*timescale/int64(time.Second)
	if rem < 0 && rem*timescale%int64(time.Second) != 0 {
		t--
	}
	return t
}

// msTicks converts milliseconds to ticks of timescale, to the nearest tick.
func msTicks(ms, timescale int64) int64 {
	v := ms*timescale + 500
	q := v / 1000
	if v%1000 < 0 {
		q--
	}
	return q
}

// reorderDepth returns the decoding delay in frames that a decode-order
// sequence of presentation times needs: the largest number of positions a
// frame appears earlier in decode order than in presentation order (ties
// keep decode order). Without B-frames it is 0.
func reorderDepth(pts []int64) int {
	idx := make([]int, len(pts))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmpInt64(pts[a], pts[b]) })
	depth := 0
	for rank, i := range idx {
		depth = max(depth, i-rank)
	}
	return depth
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// frameStep estimates the frame interval of sorted presentation times, in
// ticks: the mean interval, at least 1 and at most maxStep; def for a
// single frame.
func frameStep(sorted []int64, def, maxStep int64) int64 {
	if len(sorted) < 2 {
		return def
	}
	step := (sorted[len(sorted)-1] - sorted[0]) / int64(len(sorted)-1)
	return min(max(step, 1), maxStep)
}

// videoLead is how far (in ticks) decode times start before the first
// presentation time of a first fragment: delay frames of step each, where
// delay is the larger of the SPS hint and what the fragment shows.
func videoLead(pts []int64, hint int, def, maxStep int64) int64 {
	if len(pts) == 0 {
		return 0
	}
	delay := min(max(hint, reorderDepth(pts)), maxReorder)
	return int64(delay) * frameStep(sortedCopy(pts), def, maxStep)
}

func sortedCopy(v []int64) []int64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s
}

// videoClock derives decode times for one video track, fragment after
// fragment. Matroska stores only presentation times, in decode order. With
// a decoding delay of k frames, the decode time of the n-th frame of the
// output is the (n-k)-th smallest presentation time (the first k are
// extrapolated one frame step apart before the first frame): decode times
// then increase, never pass their frame's presentation time when at most
// k frames are reordered, and join seamlessly across fragments because the
// k largest presentation times of a fragment carry over to the next.
//
// k starts at the larger of the SPS hint and the first fragment's
// reordering; when a later fragment reorders deeper, k grows by fitting
// extra decode times before the carried ones. What cannot be fitted is
// clamped: decode times still increase, and a frame whose decode time
// would pass its presentation time is presented at its decode time.
type videoClock struct {
	delay   int
	carry   []int64 // presentation times not yet used as decode times, sorted
	last    int64   // last decode time handed out
	started bool
	// def and maxStep bound the frame step used to extrapolate.
	def, maxStep int64
}

// next returns the decode times and composition offsets (presentation
// minus decode time, never negative) of a fragment's frames, given their
// presentation times in decode order. restart begins a new run after a
// gap: the carried times are dropped and the first decode times are
// extrapolated again.
func (c *videoClock) next(pts []int64, restart bool) (dts []int64, offsets []int32) {
	if len(pts) == 0 {
		return nil, nil
	}
	s := sortedCopy(pts)
	need := min(reorderDepth(pts), maxReorder)
	switch {
	case !c.started || restart:
		c.delay = min(max(c.delay, need), maxReorder)
		step := frameStep(s, c.def, c.maxStep)
		c.carry = c.carry[:0]
		for j := range c.delay {
			c.carry = append(c.carry, s[0]-int64(c.delay-j)*step)
		}
	case need > c.delay:
		extra := need - c.delay
		hi := s[0]
		if len(c.carry) > 0 {
			hi = min(hi, c.carry[0])
		}
		if gap := hi - c.last; gap > int64(extra) {
			fit := make([]int64, 0, extra+len(c.carry))
			for j := range extra {
				fit = append(fit, c.last+gap*int64(j+1)/int64(extra+1))
			}
			c.carry = append(fit, c.carry...)
			c.delay = need
		}
	}
	merged := make([]int64, 0, len(c.carry)+len(s))
	merged = append(merged, c.carry...)
	merged = append(merged, s...)
	slices.Sort(merged)
	dts = merged[:len(pts):len(pts)]
	c.carry = append(c.carry[:0], merged[len(pts):]...)
	offsets = make([]int32, len(pts))
	for i := range dts {
		if (c.started || i > 0) && dts[i] <= c.last {
			dts[i] = c.last + 1
		}
		c.last = dts[i]
		c.started = true
		offsets[i] = int32(min(max(pts[i]-dts[i], 0), math.MaxInt32))
	}
	return dts, offsets
}

// audioClock times audio frames: each frame starts where the previous one
// ended (its decode time plus its duration) unless its stored time is more
// than tol away (a lost frame, a new run), where it starts at its stored
// time. Matroska keeps millisecond times; AAC and Opus frames are a fixed
// number of samples, so this restores sample-exact timing. Times strictly
// increase.
type audioClock struct {
	expect  int64
	last    int64
	started bool
}

// next returns the decode (= presentation) times of a fragment's frames
// from their stored times and durations, both in timescale units.
func (c *audioClock) next(pts, durs []int64, tol int64) []int64 {
	out := make([]int64, len(pts))
	for i, p := range pts {
		d := p
		if c.started && p-c.expect <= tol && c.expect-p <= tol {
			d = c.expect
		}
		if c.started && d <= c.last {
			d = c.last + 1
		}
		out[i] = d
		c.last, c.started = d, true
		c.expect = d + max(durs[i], 1)
	}
	return out
}

// audioFrameDur returns a frame's duration in timescale units: the fixed
// AAC frame length, or the Opus packet's own (RFC 6716 section 3.1),
// falling back to 20 ms for an unreadable packet.
func (t *mp4Track) audioFrameDur(data []byte) int64 {
	if t.frameDur > 0 {
		return t.frameDur
	}
	if t.block > 0 {
		return int64(max(len(data)/t.block, 1))
	}
	if d := opus.PacketDuration2(data); d > 0 {
		return d
	}
	return 960
}
