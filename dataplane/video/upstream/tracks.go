package upstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/kinedge/kinedge/fragment/mkv"
)

// sessionTracks returns the Tracks element a fragment is sent under:
// tracks as stored when the cluster holds a block of each of them, else
// a Tracks of only the tracks it holds (in their order, each entry as
// stored). AWS KVS refuses a cluster without frames of one of the
// session's tracks (4011 FRAMES_MISSING_FOR_TRACK: every fragment must
// hold at least one frame of every track the session declares), so a
// fragment of a camera whose audio was silent goes in its own session
// declaring the video alone. A cluster with no block at all keeps tracks.
func sessionTracks(tracks []byte, spans map[uint64]span) ([]byte, error) {
	if len(spans) == 0 {
		return tracks, nil
	}
	declared, err := parseTracks(tracks)
	if err != nil {
		return nil, err
	}
	kept := declared[:0:0]
	for _, t := range declared {
		if _, ok := spans[t.Number]; ok {
			kept = append(kept, t)
		}
	}
	if len(kept) == len(declared) || len(kept) == 0 {
		return tracks, nil
	}
	out, err := mkv.AppendTracks(nil, kept)
	if err != nil {
		return nil, fmt.Errorf("upstream: tracks: %w", err)
	}
	return out, nil
}

// parseTracks reads a stored Tracks element with the fuzzed streaming
// reader.
func parseTracks(tracks []byte) ([]mkv.Track, error) {
	r := mkv.NewReader(bytes.NewReader(tracks), mkv.ReaderOptions{SegmentBody: true})
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("upstream: stored fragment without Tracks")
		}
		if err != nil {
			return nil, fmt.Errorf("upstream: tracks: %w", err)
		}
		if t, ok := ev.(mkv.Tracks); ok {
			return t.Tracks, nil
		}
	}
}
