package replay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"

	"github.com/kinedge/kinedge/fragment/mkv"
)

// Errors of MP4 export.
var (
	// ErrUnsupportedMP4 is returned for a track whose codec has no MP4
	// mapping here (H.264, H.265, VP8, VP9, AV1, AAC, Opus, G.711 and
	// big-endian PCM do; Motion JPEG does not, see newMP4Track).
	ErrUnsupportedMP4 = errors.New("replay: codec not supported in mp4")
	// ErrCodecConfig is returned for codec private data that cannot be
	// read (an AVC or HEVC decoder configuration record, an AAC
	// AudioSpecificConfig, an OpusHead).
	ErrCodecConfig = errors.New("replay: unreadable codec configuration")
	// ErrBadFragment is returned for a decrypted fragment whose Matroska
	// content cannot be read.
	ErrBadFragment = errors.New("replay: unreadable fragment")
	// ErrNoTrack is returned for an MP4Options.Track the fragment does
	// not have.
	ErrNoTrack = errors.New("replay: no such track")
)

// MP4 export
//
// WriteMP4 writes fragmented MP4 (ISO/IEC 14496-12 section 8.8; the
// layout of CMAF, HLS fMP4 and MSE): an ftyp+moov initialisation segment
// made from the first fragment's tracks, then one moof+mdat per stored
// fragment, written as soon as the next fragment is read (never the whole
// range in memory). Video tracks have a 90 kHz timescale, audio tracks
// their sample rate.
//
// Timing. A fragment starts on the output timeline at its server time
// minus the first fragment's, as in WriteMKV, so gaps stay gaps (a fragment
// that would overlap its predecessor is moved after it). Matroska keeps
// presentation times only; decode times are derived (see videoClock) with
// a decoding delay, and every track is shifted by the first fragment's
// decoding delay (and by any audio kept from before its first keyframe),
// so that decode times start at 0 and composition offsets are never
// negative. Audio frames are timed sample-exactly (see audioClock). A
// fragment's last frame lasts until the next fragment's first one when
// the next follows within maxJoin (a hole in the recording shows the last
// picture), otherwise as long as its predecessor.

// maxJoin is the longest gap between fragments that a fragment's last
// frame is stretched over. Longer gaps stay gaps in the decode timeline.
const maxJoin = 10 * time.Second

// contiguous is how far a fragment may start after the end of the one
// before it and still continue its decode timeline; a later start is a
// hole, and decode times restart after it (see videoClock.next).
const contiguous = time.Millisecond

// defaultFrameTicks is the video frame step (90 kHz) assumed for a lone
// frame: 25 fps.
const defaultFrameTicks = 3600

// mp4Muxer turns fragments into fMP4 parts. One fragment is held back:
// its last frames' durations need the next fragment's first decode times.
type mp4Muxer struct {
	tracks   []*mp4Track
	first    []mkv.Track // the first fragment's tracks
	origin   time.Time
	lead     time.Duration // shift of every track (see "MP4 export")
	prevEnd  time.Duration // output time where the last fragment ended, before lead
	video    []videoClock
	audio    []audioClock
	seq      uint32
	pending  *mp4Pending
	buf      seekablebuffer.Buffer // the init segment
	hdr      []byte                // moof and mdat header
	out      *bufio.Writer         // over w, counting into st
	flusher  http.Flusher
	w        io.Writer
	st       *Stats
	lastDurs []uint32 // last sample duration written per track
	inBand   bool     // MP4Options.InBandParameters
	skip     func(codecID string) bool
	track    int // MP4Options.Track
}

// statsWriter writes to w and counts what w took.
type statsWriter struct {
	w  io.Writer
	st *Stats
}

func (s statsWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	s.st.Bytes += int64(n)
	if err != nil {
		return n, fmt.Errorf("replay: write: %w", err)
	}
	return n, nil
}

// mp4Pending is a fragment whose samples are timed but not yet written.
type mp4Pending struct {
	frag   Fragment
	m      *mkvFragment
	dts    [][]int64
	offs   [][]int32
	durs   [][]int64 // audio frame durations
	joined bool      // the fragment follows its predecessor within maxJoin
}

// WriteMP4 writes the fragments as one fragmented MP4 (see "MP4 export"
// above). It flushes w after each fragment when w is an http.Flusher.
// Nothing is written when the first fragment cannot be read; a fragment
// whose codecs differ from the first ends the output with
// ErrTracksChanged, after the fragments before it. Supported codecs are
// H.264 and H.265 video with AAC, Opus or G.711 audio; others give
// ErrUnsupportedMP4.
func (s Source) WriteMP4(ctx context.Context, w io.Writer, stream string, frags iter.Seq2[Fragment, error]) (Stats, error) {
	return s.WriteMP4With(ctx, w, stream, MP4Options{}, frags)
}

// MP4Options are the optional parts of a replayed MP4.
type MP4Options struct {
	// InBandParameters declares that the video's parameter sets change
	// within the range (SurveyRange's Resized): the H.264 sample entry is
	// avc3 instead of avc1 (ISO/IEC 14496-15 section 5.4.2.1: parameter
	// sets may then come in-band, and they do at every stored keyframe;
	// H.265 is written as hev1, its in-band entry, always), and the video
	// track header's width and
	// height are 0, so that players size the picture from the stream
	// rather than from the first fragment (Chromium's MSE otherwise keeps
	// the first picture's aspect ratio: 320x240 came out as 427x240).
	InBandParameters bool
	// Skip, if set, leaves out the tracks whose Matroska codec ID it
	// reports (live HLS in a browser leaves out audio MSE cannot play,
	// G.711 and PCM, rather than the picture with it).
	Skip func(codecID string) bool
	// Track, when above 0, keeps only the Track-th of the tracks left
	// after Skip (1-based, in the fragment's order): a DASH
	// representation's init and media segments carry one track each.
	// A fragment with fewer tracks is ErrNoTrack.
	Track int
}

// WriteMP4With is WriteMP4 with options.
func (s Source) WriteMP4With(ctx context.Context, w io.Writer, stream string, o MP4Options, frags iter.Seq2[Fragment, error]) (Stats, error) {
	var st Stats
	mx := &mp4Muxer{w: w, st: &st, inBand: o.InBandParameters, skip: o.Skip, track: o.Track}
	mx.out = bufio.NewWriterSize(statsWriter{w, &st}, 64<<10)
	mx.flusher, _ = w.(http.Flusher)
	err := mx.run(ctx, s, stream, frags)
	switch {
	case mx.pending == nil:
	case ctx.Err() != nil:
		mx.pending.m.clear()
	default:
		// Whatever else ended the range, the fragments read so far are
		// written.
		if ferr := mx.flush(nil); ferr != nil && err == nil {
			err = ferr
		}
	}
	if err == nil && st.Fragments == 0 {
		err = ErrNoFragments
	}
	return st, err
}

func (mx *mp4Muxer) run(ctx context.Context, s Source, stream string, frags iter.Seq2[Fragment, error]) error {
	for f, err := range frags {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		m, err := mx.load(ctx, s, stream, f)
		if err != nil {
			return err
		}
		if mx.tracks == nil {
			if err := mx.start(f, m); err != nil {
				m.clear()
				return fmt.Errorf("replay: fragment %d: %w", f.Number, err)
			}
		} else if !sameTracks(mx.tracks, mx.first, m.tracks) {
			m.clear()
			return fmt.Errorf("%w: fragment %d has %v, the range began with %v", ErrTracksChanged, f.Number, f.Codecs, mx.st.First.Codecs)
		}
		p := mx.time(f, m)
		if mx.pending != nil {
			if err := mx.flush(p); err != nil {
				m.clear()
				return err
			}
		}
		mx.pending = p
	}
	return nil
}

// start sets up the tracks and the timeline from the first fragment and
// writes the initialisation segment.
func (mx *mp4Muxer) start(f Fragment, m *mkvFragment) error {
	if len(m.tracks) == 0 {
		return fmt.Errorf("%w: no tracks", ErrBadFragment)
	}
	init := fmp4.Init{}
	for i, t := range m.tracks {
		mt, err := newMP4Track(t, m.samples[i])
		if err != nil {
			return fmt.Errorf("track %d: %w", t.Number, err)
		}
		mx.tracks = append(mx.tracks, mt)
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: i + 1, TimeScale: uint32(mt.timescale), Codec: mt.codec})
	}
	mx.first, mx.origin = m.tracks, f.ServerTime
	mx.video = make([]videoClock, len(mx.tracks))
	mx.audio = make([]audioClock, len(mx.tracks))
	mx.lastDurs = make([]uint32, len(mx.tracks))
	// The lead: the first fragment's decoding delay, and audio (or
	// leading pictures) stored before its start.
	var lead time.Duration
	for i, t := range mx.tracks {
		ss := m.samples[i]
		if t.video {
			mx.video[i] = videoClock{delay: t.reorder, def: defaultFrameTicks, maxStep: t.timescale}
			pts := make([]int64, len(ss))
			for j, s := range ss {
				pts[j] = s.rel * 90
			}
			ticks := videoLead(pts, t.reorder, defaultFrameTicks, t.timescale)
			if len(pts) > 0 {
				ticks -= min(sortedCopy(pts)[0], 0)
			}
			lead = max(lead, time.Duration((ticks*int64(time.Millisecond)+89)/90))
		}
		for _, s := range ss {
			lead = max(lead, -time.Duration(s.rel)*time.Millisecond)
		}
	}
	mx.lead = lead.Round(time.Millisecond)
	if mx.lead < lead {
		mx.lead += time.Millisecond
	}
	mx.buf.Reset()
	_, _ = mx.buf.Seek(0, io.SeekStart)
	if err := init.Marshal(&mx.buf); err != nil {
		return fmt.Errorf("mp4 init: %w", err)
	}
	if err := renameVP8(mx.buf.Bytes(), mx.tracks); err != nil {
		return fmt.Errorf("mp4 init: %w", err)
	}
	if mx.inBand {
		if err := declareInBand(mx.buf.Bytes()); err != nil {
			return fmt.Errorf("mp4 init: %w", err)
		}
	}
	if err := write(mx.w, mx.buf.Bytes(), mx.st); err != nil {
		return err
	}
	mx.st.First = f
	return nil
}

// time places a fragment on the output timeline and times its samples.
func (mx *mp4Muxer) time(f Fragment, m *mkvFragment) *mp4Pending {
	pos := max(f.ServerTime.Sub(mx.origin), 0)
	joined, gap := mx.pending == nil, false
	if mx.pending != nil {
		if pos < mx.prevEnd {
			pos = mx.prevEnd
		}
		joined = pos-mx.prevEnd <= maxJoin
		gap = pos-mx.prevEnd > contiguous
	}
	// The fragment ends where its video does: audio that arrived before
	// the next keyframe is stored in this fragment though it plays during
	// the next one (as much as the camera's video lags its audio, 65 ms
	// with ffmpeg's x264 and B-frames), and moving the next fragment
	// after it would open a hole in both tracks at every fragment
	// boundary (Chromium's MSE stalls there). Audio-only fragments end
	// with their last frame.
	hasVideo := false
	for i := range m.samples {
		hasVideo = hasVideo || mx.tracks[i].video
	}
	dur := f.Duration
	for i, ss := range m.samples {
		if hasVideo && !mx.tracks[i].video {
			continue
		}
		for _, s := range ss {
			dur = max(dur, time.Duration(s.rel+1)*time.Millisecond)
		}
	}
	mx.prevEnd = pos + dur
	base := pos + mx.lead
	p := &mp4Pending{frag: f, m: m, joined: joined,
		dts: make([][]int64, len(m.samples)), offs: make([][]int32, len(m.samples)), durs: make([][]int64, len(m.samples))}
	for i, ss := range m.samples {
		t := mx.tracks[i]
		b := durationTicks(base, t.timescale)
		pts := make([]int64, len(ss))
		for j, s := range ss {
			pts[j] = b + msTicks(s.rel, t.timescale)
		}
		if t.video {
			p.dts[i], p.offs[i] = mx.video[i].next(pts, gap)
			continue
		}
		durs := make([]int64, len(ss))
		for j, s := range ss {
			durs[j] = t.audioFrameDur(s.data)
		}
		p.durs[i] = durs
		p.dts[i] = mx.audio[i].next(pts, durs, max(t.frameDur, 960)/2)
	}
	return p
}

// flush writes the pending fragment as one moof+mdat; next, the fragment
// after it (nil at the end), gives its last samples' durations.
func (mx *mp4Muxer) flush(next *mp4Pending) error {
	p := mx.pending
	mx.pending = nil
	defer p.m.clear()
	mx.seq++
	part := fmp4.Part{SequenceNumber: mx.seq}
	for i, ss := range p.m.samples {
		if len(ss) == 0 {
			continue
		}
		t := mx.tracks[i]
		dts := p.dts[i]
		pt := &fmp4.PartTrack{ID: i + 1, BaseTime: uint64(max(dts[0], 0))}
		for j, s := range ss {
			var d int64
			switch {
			case j+1 < len(ss):
				d = dts[j+1] - dts[j]
			case !t.video:
				// An audio frame lasts what it holds, or up to the next
				// fragment's first frame when that follows within maxJoin
				// (a hole in the recording): like the video's last
				// picture, it spans the hole, so MSE's buffered ranges
				// stay one and players play through (Chromium's MSE
				// stalls at a hole in any track; its audio renderer
				// plays silence after the frame's samples).
				d = p.durs[i][j]
				if next != nil && next.joined && len(next.dts[i]) > 0 {
					if gap := next.dts[i][0] - dts[j]; gap > d {
						d = gap
					}
				}
			case next != nil && next.joined && len(next.dts[i]) > 0 && next.dts[i][0] > dts[j]:
				d = next.dts[i][0] - dts[j]
			case j > 0:
				d = dts[j] - dts[j-1]
			case mx.lastDurs[i] > 0:
				d = int64(mx.lastDurs[i])
			default:
				d = defaultFrameTicks
			}
			d = min(max(d, 1), 1<<31)
			sample := &fmp4.Sample{Duration: uint32(d), IsNonSyncSample: !s.key, Payload: s.data}
			if t.convert != nil {
				sample.Payload = t.convert(s.data)
			}
			if t.video {
				sample.PTSOffset = p.offs[i][j]
			}
			pt.Samples = append(pt.Samples, sample)
			mx.lastDurs[i] = uint32(d)
		}
		part.Tracks = append(part.Tracks, pt)
	}
	var err error
	if mx.hdr, err = appendMoof(mx.hdr[:0], mx.seq, part.Tracks); err != nil {
		return fmt.Errorf("replay: fragment %d: %w", p.frag.Number, err)
	}
	if _, err := mx.out.Write(mx.hdr); err != nil {
		return err
	}
	for _, pt := range part.Tracks {
		for _, s := range pt.Samples {
			if _, err := mx.out.Write(s.Payload); err != nil {
				return err
			}
		}
	}
	if err := mx.out.Flush(); err != nil {
		return err
	}
	mx.st.Fragments++
	mx.st.Last = p.frag
	if mx.flusher != nil {
		mx.flusher.Flush()
	}
	return nil
}
