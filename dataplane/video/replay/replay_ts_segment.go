package replay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"

	"github.com/kinedge/kinedge/fragment/mkv"
)

// MPEG-TS segments (HLS TS, KVS ContainerFormat MPEG_TS)
//
// WriteTSSegment writes one stored fragment as one MPEG-TS segment
// (PAT, PMT and PES packets). It runs the fMP4 segment's steps up to the
// container: the same load (decrypt in memory, mkvToSamples), the same
// tracks (newMP4Track) and the same timing (mp4Muxer.time: videoClock
// decode times, audioClock sample-exact audio, placed by
// SegmentOptions.Origin and segmentLead), so a TS session's segments line
// up as its fMP4 segments do; only the last step differs: samples go to
// mediacommon's mpegts.Writer instead of a moof+mdat, at 90 kHz.
//
// MPEG-TS carries what KVS's TS sessions carry: H.264 and H.265 video
// (converted from the stored length-prefixed NAL units to Annex B, with
// the track's parameter sets put before each keyframe that does not hold
// them, as TS has no sample entry to keep them) and AAC audio (ADTS).
// Any other track is ErrUnsupportedTS (Opus in TS is an ETSI mapping
// hls.js and Safari do not play; callers leave such tracks out with
// MP4Options.Skip).

// ErrUnsupportedTS is returned for a track that MPEG-TS segments do not
// carry here (all but H.264, H.265 and AAC).
var ErrUnsupportedTS = errors.New("replay: codec not supported in MPEG-TS")

// tsClock is the MPEG-TS timescale (PTS and DTS).
const tsClock = 90000

// tsTrack is how one fMP4-mapped track becomes an MPEG-TS track.
type tsTrack struct {
	mt     *mp4Track
	ts     *mpegts.Track
	length int // NAL unit length size of video samples
}

// WriteTSSegment writes fragment f as one MPEG-TS segment placed by o
// (see "MPEG-TS segments" above; o.Sequence and o.InBandParameters do
// not apply) and returns what it wrote. Errors are ErrUnsupportedTS,
// WriteMP4Segment's (ErrUnsupportedMP4, ErrCodecConfig, ErrBadFragment),
// or the store's.
func (s Source) WriteTSSegment(ctx context.Context, w io.Writer, stream string, o SegmentOptions, f Fragment) (Stats, error) {
	var st Stats
	mx := &mp4Muxer{w: io.Discard, st: &Stats{}, skip: o.Skip}
	m, err := mx.load(ctx, s, stream, f)
	if err != nil {
		return st, err
	}
	defer m.clear()
	if err := mx.start(f, m); err != nil {
		return st, fmt.Errorf("replay: fragment %d: %w", f.Number, err)
	}
	tracks, err := newTSTracks(mx.tracks, m.tracks)
	if err != nil {
		return st, fmt.Errorf("replay: fragment %d: %w", f.Number, err)
	}
	mx.origin, mx.lead = o.Origin.Add(-segmentLead), 0
	p := mx.time(f, m)
	out := bufio.NewWriterSize(statsWriter{w, &st}, 64<<10)
	tw := &mpegts.Writer{W: out}
	for _, t := range tracks {
		tw.Tracks = append(tw.Tracks, t.ts)
	}
	if err := tw.Initialize(); err != nil {
		return st, fmt.Errorf("replay: mpeg-ts: %w", err)
	}
	// Interleave the tracks by decode time, as a demuxer reads them.
	next := make([]int, len(tracks))
	for {
		best, bestDTS := -1, int64(0)
		for i, t := range tracks {
			if next[i] == len(p.dts[i]) {
				continue
			}
			if d := toTS(p.dts[i][next[i]], t.mt.timescale); best < 0 || d < bestDTS {
				best, bestDTS = i, d
			}
		}
		if best < 0 {
			break
		}
		i, j := best, next[best]
		next[best]++
		if err := writeTSSample(tw, tracks[i], m.samples[i][j], bestDTS, p, i, j); err != nil {
			return st, fmt.Errorf("replay: fragment %d: %w", f.Number, err)
		}
	}
	if err := out.Flush(); err != nil {
		return st, err
	}
	st.Fragments, st.First, st.Last = 1, f, f
	return st, nil
}

// newTSTracks maps the fragment's tracks to MPEG-TS tracks.
func newTSTracks(mts []*mp4Track, tracks []mkv.Track) ([]*tsTrack, error) {
	out := make([]*tsTrack, len(mts))
	for i, mt := range mts {
		t := &tsTrack{mt: mt}
		switch c := mt.codec.(type) {
		case *mp4.CodecH264:
			t.ts = &mpegts.Track{Codec: &mpegts.CodecH264{}}
		case *mp4.CodecH265:
			t.ts = &mpegts.Track{Codec: &mpegts.CodecH265{}}
		case *mp4.CodecMPEG4Audio:
			t.ts = &mpegts.Track{Codec: &mpegts.CodecMPEG4Audio{Config: c.Config}}
		default:
			return nil, fmt.Errorf("track %d: %w: %q", tracks[i].Number, ErrUnsupportedTS, tracks[i].CodecID)
		}
		if mt.video {
			cfg, err := mkv.ParseAVCConfig(tracks[i].CodecPrivate)
			if mt.codecID == mkv.CodecH265 {
				cfg, err = mkv.ParseHEVCConfig(tracks[i].CodecPrivate)
			}
			if err != nil {
				return nil, fmt.Errorf("track %d: %w: %w", tracks[i].Number, ErrCodecConfig, err)
			}
			t.length = cfg.LengthSize
		}
		out[i] = t
	}
	return out, nil
}

// toTS converts ticks of timescale to the 90 kHz MPEG-TS clock.
func toTS(ticks, timescale int64) int64 {
	if timescale == tsClock {
		return ticks
	}
	return ticks/timescale*tsClock + ticks%timescale*tsClock/timescale
}

// writeTSSample writes sample j of track i, timed by p, decode time dts
// (90 kHz).
func writeTSSample(tw *mpegts.Writer, t *tsTrack, s mp4Sample, dts int64, p *mp4Pending, i, j int) error {
	switch c := t.mt.codec.(type) {
	case *mp4.CodecH264:
		au, err := splitNALUs(s.data, t.length)
		if err != nil {
			return err
		}
		if s.key && !hasNALU(au, func(n []byte) bool { return h264.NALUType(n[0]&0x1f) == h264.NALUTypeSPS }) {
			au = append([][]byte{c.SPS, c.PPS}, au...)
		}
		pts := dts + toTS(int64(p.offs[i][j]), t.mt.timescale)
		return tw.WriteH264(t.ts, pts, dts, au)
	case *mp4.CodecH265:
		au, err := splitNALUs(s.data, t.length)
		if err != nil {
			return err
		}
		if s.key && !hasNALU(au, func(n []byte) bool { return h265.NALUType((n[0]>>1)&0x3f) == h265.NALUType_SPS_NUT }) {
			au = append([][]byte{c.VPS, c.SPS, c.PPS}, au...)
		}
		pts := dts + toTS(int64(p.offs[i][j]), t.mt.timescale)
		return tw.WriteH265(t.ts, pts, dts, au)
	default:
		if len(s.data) == 0 {
			return nil
		}
		return tw.WriteMPEG4Audio(t.ts, dts, [][]byte{s.data})
	}
}

// splitNALUs splits a stored sample of NAL units, each after a big-endian
// length of size bytes (1, 2 or 4). The bytes come from the store's
// plaintext: a length past the end is ErrBadFragment.
func splitNALUs(b []byte, size int) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < size {
			return nil, fmt.Errorf("%w: truncated NAL unit length", ErrBadFragment)
		}
		n := 0
		for _, c := range b[:size] {
			n = n<<8 | int(c)
		}
		b = b[size:]
		if n > len(b) {
			return nil, fmt.Errorf("%w: NAL unit of %d bytes in %d", ErrBadFragment, n, len(b))
		}
		if n > 0 {
			out = append(out, b[:n])
		}
		b = b[n:]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: video sample without NAL units", ErrBadFragment)
	}
	return out, nil
}

// hasNALU reports whether any NAL unit of au satisfies is.
func hasNALU(au [][]byte, is func([]byte) bool) bool {
	for _, n := range au {
		if len(n) > 0 && is(n) {
			return true
		}
	}
	return false
}
