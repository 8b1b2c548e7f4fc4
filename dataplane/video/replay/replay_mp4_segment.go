package replay

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/kinedge/kinedge/fragment/mkv"
)

// Segments (HLS fMP4, CMAF)
//
// WriteMP4Init and WriteMP4Segment cut the MP4 export into the pieces an
// HLS session serves one request at a time: the initialisation segment
// (ftyp+moov) of a fragment's tracks, and one stored fragment as one
// moof+mdat. They run the same muxer as WriteMP4 (mp4Muxer: the same
// sample entries, sample timing and boxes); what differs is that a
// segment is made alone, without the fragments before and after it:
//
//   - its place on the timeline is fixed by SegmentOptions.Origin, not by
//     the first fragment of a range: the track fragment decode time
//     (tfdt) is the fragment's server time minus Origin (plus the
//     decoding delay its video reorders), in the track's timescale, so
//     any segment of a session can be made from its fragment alone and
//     lines up with its neighbours;
//   - its mfhd sequence number is SegmentOptions.Sequence (HLS's media
//     sequence number, the fragment's place in the session);
//   - its last frame lasts as long as the frame before it (the range
//     export stretches it to the next fragment's first).

// segmentLead is how far a segment's timeline is shifted after Origin so
// that decode times derived from a fragment alone (the frames its video
// reorders, audio stored before its first keyframe) are never negative.
// It is more than any decoding delay (16 frames at 2 fps is 8 s).
const segmentLead = 10 * time.Second

// SegmentLead is where a session's timeline starts after
// SegmentOptions.Origin: a segment's decode time (tfdt) is its
// fragment's server time less Origin, plus SegmentLead (plus the
// decoding delay its video reorders). A DASH manifest states it as the
// presentationTimeOffset of its segments.
const SegmentLead = segmentLead

// SegmentOptions place one fragment in a session's fMP4 timeline.
type SegmentOptions struct {
	MP4Options
	// Origin is the zero of the session's timeline. Fragments stored
	// before it are placed at it.
	Origin time.Time
	// Sequence is the segment's mfhd sequence number (1-based).
	Sequence uint32
}

// MP4Track describes a track of an initialisation segment: enough for an
// HLS master playlist's CODECS and RESOLUTION.
type MP4Track struct {
	// SampleEntry is the four-character code of the track's sample entry
	// ("avc1", "avc3", "hev1", "vp08", "vp09", "av01", "mp4a", "Opus",
	// "ipcm").
	SampleEntry string
	// Codec holds the codec parameters (for VP8, in a CodecVP9).
	Codec mp4.Codec
}

// WriteMP4Init writes the fMP4 initialisation segment (ftyp+moov) of
// fragment f's tracks, as WriteMP4 writes it for a range beginning with
// f, and returns the tracks. Errors are WriteMP4's: ErrUnsupportedMP4,
// ErrCodecConfig, ErrBadFragment, or the store's.
func (s Source) WriteMP4Init(ctx context.Context, w io.Writer, stream string, o MP4Options, f Fragment) ([]MP4Track, error) {
	var st Stats
	mx := &mp4Muxer{w: w, st: &st, inBand: o.InBandParameters, skip: o.Skip, track: o.Track}
	m, err := mx.load(ctx, s, stream, f)
	if err != nil {
		return nil, err
	}
	defer m.clear()
	if err := mx.start(f, m); err != nil {
		return nil, fmt.Errorf("replay: fragment %d: %w", f.Number, err)
	}
	tracks := make([]MP4Track, len(mx.tracks))
	for i, t := range mx.tracks {
		tracks[i] = MP4Track{SampleEntry: t.sampleEntry(mx.inBand), Codec: t.codec}
	}
	return tracks, nil
}

// WriteMP4Segment writes fragment f as one moof+mdat placed by o (see
// "Segments" above), and returns what it wrote.
func (s Source) WriteMP4Segment(ctx context.Context, w io.Writer, stream string, o SegmentOptions, f Fragment) (Stats, error) {
	var st Stats
	mx := &mp4Muxer{w: io.Discard, st: &Stats{}, inBand: o.InBandParameters, skip: o.Skip, track: o.Track, seq: max(o.Sequence, 1) - 1}
	mx.out = bufio.NewWriterSize(statsWriter{w, &st}, 64<<10)
	m, err := mx.load(ctx, s, stream, f)
	if err != nil {
		return st, err
	}
	if err := mx.start(f, m); err != nil {
		m.clear()
		return st, fmt.Errorf("replay: fragment %d: %w", f.Number, err)
	}
	// The session's timeline, not the fragment's own: start placed the
	// fragment at 0 with its own lead.
	mx.origin, mx.lead = o.Origin.Add(-segmentLead), 0
	mx.pending = mx.time(f, m)
	if err := mx.flush(nil); err != nil {
		return st, err
	}
	st.Fragments, st.First, st.Last = 1, f, f
	return st, nil
}

// load fetches, decrypts and parses fragment f into samples.
func (mx *mp4Muxer) load(ctx context.Context, s Source, stream string, f Fragment) (*mkvFragment, error) {
	plain, _, err := s.open(ctx, stream, f)
	if err != nil {
		return nil, err
	}
	m, err := mkvToSamples(plain)
	clear(plain)
	if err != nil {
		return nil, fmt.Errorf("replay: fragment %d: %w", f.Number, err)
	}
	if mx.skip != nil {
		m.drop(mx.skip)
	}
	if mx.track > 0 {
		if mx.track > len(m.tracks) {
			n := len(m.tracks)
			m.clear()
			return nil, fmt.Errorf("%w: track %d of fragment %d, which has %d", ErrNoTrack, mx.track, f.Number, n)
		}
		i := mx.track - 1
		m.drop(func(string) bool { i--; return i != -1 })
	}
	return m, nil
}

// drop leaves out the tracks whose codec ID skip reports.
func (m *mkvFragment) drop(skip func(codecID string) bool) {
	tracks, samples := m.tracks[:0:0], m.samples[:0:0]
	for i, t := range m.tracks {
		if skip(t.CodecID) {
			for _, s := range m.samples[i] {
				clear(s.data)
			}
			continue
		}
		tracks, samples = append(tracks, t), append(samples, m.samples[i])
	}
	m.tracks, m.samples = tracks, samples
}

// sampleEntry returns the four-character code of the sample entry the
// track is written with (see newMP4Track, renameVP8, declareInBand).
func (t *mp4Track) sampleEntry(inBand bool) string {
	switch c := t.codec.(type) {
	case *mp4.CodecH264:
		if inBand {
			return "avc3"
		}
		return "avc1"
	case *mp4.CodecH265:
		return "hev1"
	case *mp4.CodecVP9:
		if t.codecID == mkv.CodecVP8 {
			return "vp08"
		}
		return "vp09"
	case *mp4.CodecAV1:
		return "av01"
	case *mp4.CodecMPEG4Audio:
		return "mp4a"
	case *mp4.CodecOpus:
		return "Opus"
	case *mp4.CodecLPCM:
		return "ipcm"
	default:
		return fmt.Sprintf("%T", c)
	}
}
