package upstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/kinedge/kinedge/fragment/mkv"
)

// span is a cluster's blocks per track, in ms relative to the cluster's
// timecode: the first block's (in the cluster's order) and the latest.
type span struct{ first, last int64 }

// blockSpans reads a cluster as stored (timecode 0) and returns each
// track's span. The cluster comes from the local store; it is read with
// the fuzzed streaming reader all the same.
func blockSpans(cluster []byte) (map[uint64]span, error) {
	r := mkv.NewReader(bytes.NewReader(cluster), mkv.ReaderOptions{SegmentBody: true})
	var base int64
	spans := map[uint64]span{}
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return spans, nil
		}
		if err != nil {
			return nil, err
		}
		switch ev := ev.(type) {
		case mkv.ClusterStart:
			base = int64(ev.Timecode)
		case mkv.Block:
			rel := ev.Timecode - base
			s, ok := spans[ev.Track]
			if !ok {
				s = span{first: rel, last: rel}
			}
			s.last = max(s.last, rel)
			spans[ev.Track] = s
		}
	}
}

// place sets each cluster's timecode (placed) on one media timeline: the
// producer time in ms, moved later where needed so that the timecodes
// never decrease and every track's first block of a cluster comes at
// least 1 ms after its latest block of the previous cluster. Two stored
// fragments' producer times can be a few ms closer than the media the
// first one holds (each fragment's producer time is its first frame's
// arrival-mapped time, its frames' times are the media's); a receiver's
// per-track order (a kinedge upstream drops a frame whose DTS is not 1 ms
// past its track's previous one) would lose frames at the boundary. A
// cluster moved so never drifts further: the next one starts again from
// its own producer time.
func place(clusters []Cluster) error {
	prevEnd := map[uint64]int64{} // track → absolute ms of its latest block so far
	var prevTC uint64
	for i := range clusters {
		c := &clusters[i]
		spans, err := blockSpans(c.Cluster)
		if err != nil {
			return fmt.Errorf("upstream: fragment %d: %w", c.Number, err)
		}
		tc := uint64(max(c.ProducerTime.UnixMilli(), 0))
		if i > 0 {
			tc = max(tc, prevTC)
		}
		for tr, s := range spans {
			if end, ok := prevEnd[tr]; ok && int64(tc)+s.first <= end {
				tc = uint64(max(end+1-s.first, 0))
			}
		}
		c.placed, c.isPlaced = tc, true
		for tr, s := range spans {
			prevEnd[tr] = max(prevEnd[tr], int64(tc)+s.last)
		}
		prevTC = tc
	}
	return nil
}
