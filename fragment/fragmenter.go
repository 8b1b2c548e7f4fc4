package fragment

import (
	"time"

	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/media/bitstream"
)

// Cut parameters. See the package doc.
const (
	// DefaultTarget is the default fragment duration.
	DefaultTarget = 2 * time.Second
	// DefaultMax is the default cap on a fragment's duration (the KVS limit).
	DefaultMax = 10 * time.Second
	// MaxMax is the largest cap the Matroska cluster layout allows.
	MaxMax = 30 * time.Second
)

// Fragment is a cut, not yet encoded or sealed, piece of a session.
type Fragment struct {
	// Tracks are the session's tracks with the parameter sets in force at
	// the fragment's first keyframe.
	Tracks []*media.Track
	// Frames in arrival (decode) order.
	Frames []*media.Frame
	// Start is the presentation time of the fragment's first frame on the
	// session timeline (the keyframe's PTS when there is video).
	Start time.Duration
	// Duration is the time from Start to the start of the next fragment, or
	// to the end of the last frame for the final fragment of a run.
	Duration time.Duration
	// Gap is true for the first fragment after a discontinuity.
	Gap bool
	// Wall is the producer's wall-clock time of the first frame, if known.
	Wall time.Time
}

// FragmenterStats counts what the fragmenter did.
type FragmenterStats struct {
	Fragments        uint64
	Frames           uint64
	DroppedNoKey     uint64 // frames before the first keyframe of a run
	DroppedOverCap   uint64 // frames dropped after a fragment hit Max
	OverCapEvents    uint64
	DroppedBackwards uint64 // frames whose DTS did not advance by MinAdvance within a run
}

// MinAdvance is how far each frame's DTS must move past the previous frame
// of its track. Fragments store times in Matroska's milliseconds: two
// frames of a track closer than that would share a timestamp, which no
// player accepts (a camera's packetizer repeating an audio timestamp does
// this). Real tracks advance by 2.5 ms (the shortest Opus frame) or more.
const MinAdvance = time.Millisecond

// Fragmenter cuts frames into fragments. It is a synchronous state machine
// owned by one goroutine.
type Fragmenter struct {
	// Target duration. It defaults to DefaultTarget.
	Target time.Duration
	// Max duration. It defaults to DefaultMax.
	Max time.Duration

	tracks     []*media.Track
	videoTrack int // -1 when audio only

	cur       *Fragment
	curDTS    time.Duration // DTS of the fragment's first frame
	lastDTS   []time.Duration
	haveDTS   []bool
	needKey   bool // waiting for a keyframe (start of run or after cap)
	overCap   bool
	gapNext   bool
	lastEnd   time.Duration // end of the last frame of the open fragment
	frameDurs []time.Duration
	// early holds audio frames that arrived before the first keyframe of a
	// run; those within PreRoll of the keyframe join its fragment.
	early []*media.Frame

	stats FragmenterStats
}

// NewFragmenter returns a fragmenter for a session with the given tracks.
func NewFragmenter(tracks []*media.Track, target, max time.Duration) *Fragmenter {
	if target <= 0 {
		target = DefaultTarget
	}
	if max <= 0 {
		max = DefaultMax
	}
	if max > MaxMax {
		max = MaxMax
	}
	if max < target {
		max = target
	}
	f := &Fragmenter{
		Target:     target,
		Max:        max,
		videoTrack: -1,
		needKey:    true,
		lastDTS:    make([]time.Duration, len(tracks)),
		haveDTS:    make([]bool, len(tracks)),
		frameDurs:  make([]time.Duration, len(tracks)),
	}
	for i, t := range tracks {
		f.tracks = append(f.tracks, t.Clone())
		if t.Kind() == media.KindVideo && f.videoTrack < 0 {
			f.videoTrack = i
		}
	}
	return f
}

// Stats returns the counters.
func (f *Fragmenter) Stats() FragmenterStats { return f.stats }

// Tracks returns the session tracks with the latest parameter sets.
func (f *Fragmenter) Tracks() []*media.Track { return f.tracks }

// Push adds a frame. It returns the fragment that the frame closed, if any.
// Frames of tracks other than the first video track and audio tracks are
// accepted as they come; frames with an unknown track index are ignored.
func (f *Fragmenter) Push(fr *media.Frame) *Fragment {
	if fr.Track < 0 || fr.Track >= len(f.tracks) {
		return nil
	}
	if f.haveDTS[fr.Track] && fr.DTS < f.lastDTS[fr.Track]+MinAdvance {
		f.stats.DroppedBackwards++
		return nil
	}
	if f.haveDTS[fr.Track] {
		if d := fr.DTS - f.lastDTS[fr.Track]; d > 0 {
			f.frameDurs[fr.Track] = d
		}
	}
	f.lastDTS[fr.Track] = fr.DTS
	f.haveDTS[fr.Track] = true

	isCutPoint := fr.Key && (f.videoTrack < 0 || fr.Track == f.videoTrack)
	if isCutPoint && fr.Track == f.videoTrack {
		f.learnParams(fr)
		// An AV1 track is stored with its av1C (the Matroska mapping
		// requires it): until a keyframe has brought a sequence header,
		// nothing can start a fragment.
		if t := f.tracks[fr.Track]; t.Codec == media.CodecAV1 && len(t.Config) == 0 {
			isCutPoint = false
		}
	}

	var done *Fragment
	if f.needKey {
		if !isCutPoint {
			switch {
			case f.overCap:
				f.stats.DroppedOverCap++
			case fr.Track != f.videoTrack && f.videoTrack >= 0:
				f.holdEarly(fr)
			default:
				f.stats.DroppedNoKey++
			}
			return nil
		}
		f.needKey = false
		f.overCap = false
		f.open(fr)
		f.takeEarly(fr.PTS)
	} else {
		elapsed := fr.DTS - f.curDTS
		if fr.Track != f.videoTrack && f.videoTrack >= 0 {
			// Audio never cuts; its clock is checked against the cap only
			// through the video track.
			elapsed = 0
		}
		switch {
		// Keyframes are compared by presentation time: a DTS extractor
		// may start a stream with DTS = PTS and shift later DTS by the
		// reorder delay, which would make the first fragment one GOP long.
		case isCutPoint && fr.PTS-f.cur.Start >= f.Target:
			done = f.close(fr.PTS)
			f.open(fr)
		case elapsed >= f.Max:
			done = f.close(fr.PTS)
			f.stats.OverCapEvents++
			f.stats.DroppedOverCap++
			f.needKey = true
			f.overCap = true
			return done
		default:
			f.cur.Frames = append(f.cur.Frames, fr)
		}
	}
	f.stats.Frames++
	if end := fr.PTS + f.frameDurs[fr.Track]; end > f.lastEnd {
		f.lastEnd = end
	}
	return done
}

// PreRoll is how far before a run's first keyframe audio is kept: audio
// that a camera sends (or a network delivers) ahead of the first keyframe
// joins the first fragment, with block times before its start.
const PreRoll = time.Second

// maxEarly bounds the audio held while waiting for a run's first keyframe.
const maxEarly = 256

func (f *Fragmenter) holdEarly(fr *media.Frame) {
	if len(f.early) == maxEarly {
		f.early = f.early[1:]
		f.stats.DroppedNoKey++
	}
	f.early = append(f.early, fr)
}

// takeEarly moves the held audio that lies within PreRoll of the keyframe
// into the new fragment and counts the rest as dropped.
func (f *Fragmenter) takeEarly(keyPTS time.Duration) {
	for _, e := range f.early {
		if e.PTS >= keyPTS-PreRoll {
			f.cur.Frames = append(f.cur.Frames, e)
			f.stats.Frames++
		} else {
			f.stats.DroppedNoKey++
		}
	}
	clear(f.early)
	f.early = f.early[:0]
}

// Break closes the open fragment at a discontinuity and marks the next
// fragment as the first after a gap. It returns the closed fragment, if any.
func (f *Fragmenter) Break() *Fragment {
	done := f.Flush()
	f.gapNext = true
	f.needKey = true
	f.overCap = false
	for i := range f.haveDTS {
		f.haveDTS[i] = false
		f.frameDurs[i] = 0
	}
	return done
}

// Flush closes and returns the open fragment (nil if none); the next frame
// must be a keyframe.
func (f *Fragmenter) Flush() *Fragment {
	if f.cur == nil {
		f.stats.DroppedNoKey += uint64(len(f.early))
		clear(f.early)
		f.early = f.early[:0]
		return nil
	}
	done := f.close(f.lastEnd)
	f.needKey = true
	return done
}

func (f *Fragmenter) open(fr *media.Frame) {
	tracks := make([]*media.Track, len(f.tracks))
	for i, t := range f.tracks {
		tracks[i] = t.Clone()
	}
	f.cur = &Fragment{
		Tracks: tracks,
		Frames: []*media.Frame{fr},
		Start:  fr.PTS,
		Gap:    f.gapNext,
		Wall:   fr.Wall,
	}
	f.gapNext = false
	f.curDTS = fr.DTS
	f.lastEnd = fr.PTS
}

func (f *Fragmenter) close(end time.Duration) *Fragment {
	done := f.cur
	f.cur = nil
	if end > done.Start {
		done.Duration = end - done.Start
	}
	f.stats.Fragments++
	return done
}

// learnParams records in-band parameter sets of a video keyframe so that
// each fragment's track description carries them: H.264/H.265 SPS, PPS
// and VPS; the av1C of an AV1 sequence header and the size it allows; the
// size (and so a resolution change) of a VP9 keyframe. A keyframe whose
// header does not read teaches nothing: the last good values stay.
func (f *Fragmenter) learnParams(fr *media.Frame) {
	t := f.tracks[fr.Track]
	switch t.Codec {
	case media.CodecAV1:
		a, err := bitstream.ReadAV1(fr.Data)
		if err != nil || a.SequenceHeader == nil {
			return
		}
		if c, err := bitstream.ParseAV1SequenceHeader(a.SequenceHeader); err == nil {
			t.Config, t.Width, t.Height = c.Record, c.Width, c.Height
		}
		return
	case media.CodecVP9:
		if v, err := bitstream.ReadVP9(fr.Data); err == nil && v.Key {
			t.Width, t.Height = v.Width, v.Height
		}
		return
	}
	vps, sps, pps := ParamSets(t.Codec, fr.Data)
	if vps != nil {
		t.VPS = vps
	}
	if sps != nil {
		t.SPS = sps
	}
	if pps != nil {
		t.PPS = pps
	}
}

// ParamSets returns the parameter sets found in an AVCC access unit of the
// given codec (nil for those absent). The returned slices alias au.
func ParamSets(codec media.Codec, au []byte) (vps, sps, pps []byte) {
	for len(au) >= 4 {
		n := int(au[0])<<24 | int(au[1])<<16 | int(au[2])<<8 | int(au[3])
		au = au[4:]
		if n <= 0 || n > len(au) {
			return
		}
		nalu := au[:n]
		au = au[n:]
		switch codec {
		case media.CodecH264:
			switch nalu[0] & 0x1f {
			case 7:
				sps = nalu
			case 8:
				pps = nalu
			}
		case media.CodecH265:
			if len(nalu) < 2 {
				continue
			}
			switch (nalu[0] >> 1) & 0x3f {
			case 32:
				vps = nalu
			case 33:
				sps = nalu
			case 34:
				pps = nalu
			}
		}
	}
	return
}
