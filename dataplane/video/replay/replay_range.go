package replay

import (
	"iter"
	"slices"
	"time"
)

// Ranges across gaps and parameter changes
//
// What a player sees (docs/replay-across-changes.md has the measurements):
//
//   - A gap (recording stopped and restarted) stays a gap in time: the
//     fragment after it starts at its server time minus the range's first,
//     in MKV and in MP4 alike, so a player's clock jumps over it. MKV
//     players hold the last picture through the gap. In MP4 the last
//     frame before a gap of up to maxJoin (10 s) lasts until the next
//     frame, so the timeline has no hole and MSE players play through; a
//     longer gap is a hole in the decode timeline (players that do not
//     jump gaps stall there).
//   - A change of resolution or of parameter sets within one codec (a
//     camera restarted with other settings) plays on: every stored
//     H.264/H.265 keyframe carries its parameter sets in-band, and
//     decoders reconfigure there. The file's header (Matroska Tracks, MP4
//     sample entry) describes the first fragment's. When the index shows
//     the video size changing within the range, MP4 declares it (see
//     MP4Options.InBandParameters).
//   - A change of codec (H.264, then H.265; an audio track added or
//     dropped) cannot continue one file: Survey finds the first fragment
//     with other codecs, and the HTTP API ends the file before it and
//     names it (X-Kinedge-Next-Start), so a client fetches the rest as a
//     second file. WriteMKV and WriteMP4 still stop with ErrTracksChanged
//     at a change the metadata did not show.

// Survey is what the metadata of a range's fragments (no media read)
// tells about the file that replays them.
type Survey struct {
	// Fragments counts the fragments up to Cut (all when Cut is nil).
	Fragments int
	// Duration is the time from the first fragment's start to the latest
	// end before Cut: the length of the file.
	Duration time.Duration
	// Resized is set when the video size differs between fragments
	// before Cut (fragments of unknown size, 0x0, are not compared).
	Resized bool
	// Cut is the first fragment whose codecs differ from the first
	// fragment's, nil when none do. Fragments with unknown codecs (none
	// listed) are not compared.
	Cut *Fragment
}

// SurveyRange walks the fragments' metadata and returns their Survey.
// It returns the walk's error, if any.
func SurveyRange(frags iter.Seq2[Fragment, error]) (Survey, error) {
	var s Survey
	var first Fragment
	var start, end time.Time
	var w, h int
	for f, err := range frags {
		if err != nil {
			return s, err
		}
		if s.Fragments == 0 {
			first, start = f, f.ServerTime
		} else if len(f.Codecs) > 0 && len(first.Codecs) > 0 && !slices.Equal(f.Codecs, first.Codecs) {
			cut := f
			s.Cut = &cut
			break
		}
		s.Fragments++
		if e := f.ServerTime.Add(f.Duration); e.After(end) {
			end = e
		}
		if f.Width > 0 && f.Height > 0 {
			if w > 0 && (w != f.Width || h != f.Height) {
				s.Resized = true
			}
			w, h = f.Width, f.Height
		}
	}
	if s.Fragments > 0 {
		s.Duration = end.Sub(start)
	}
	return s, nil
}

// Before returns the fragments of frags that come before the one
// numbered cut (all of them when cut is nil).
func Before(frags iter.Seq2[Fragment, error], cut *Fragment) iter.Seq2[Fragment, error] {
	if cut == nil {
		return frags
	}
	return func(yield func(Fragment, error) bool) {
		for f, err := range frags {
			if err == nil && f.Number == cut.Number && f.ServerTime.Equal(cut.ServerTime) {
				return
			}
			if !yield(f, err) {
				return
			}
		}
	}
}
