package mkv

import (
	"errors"
	"io"
)

// resyncable are the errors Resync recovers from: malformed content, not
// a failed or cut transfer.
var resyncable = []error{ErrInvalidVint, ErrElementTooLarge, ErrTooDeep, ErrOverflow, ErrUnknownSize,
	ErrInvalidElement, ErrInvalidBlock, ErrInvalidLacing, ErrUnsupported}

// ErrNoResync is returned by Resync for an error it cannot recover from: a
// read failure, truncation, a stream that is not Matroska, or an error
// before the first Segment.
var ErrNoResync = errors.New("mkv: cannot resynchronise")

// Resync recovers from malformed data inside a segment, as a live
// receiver (KVS PutMedia) must: after Next returned such an error, it
// discards bytes up to the next Cluster element ID (0x1F43B675) and
// clears the error, so that Next goes on with that cluster (in the
// segment's timecode scale and tracks). It never goes back: a cluster ID
// found where the failed parse started is skipped, so repeated Resyncs
// always make progress. It returns the bytes skipped; io.EOF when the
// stream ends before another cluster (Next then returns io.EOF too);
// ErrNoResync, wrapping the error, when Next's error is not one it can
// recover from. Without a pending error it does nothing. Bytes a cluster
// ID can hide in (frame data) may start a false cluster, which fails in
// turn and is skipped by the next Resync.
func (r *Reader) Resync() (int64, error) {
	if r.err == nil {
		return 0, nil
	}
	ok := r.inSegment && r.sawHeader
	if ok {
		ok = false
		for _, e := range resyncable {
			if errors.Is(r.err, e) {
				ok = true
				break
			}
		}
	}
	if !ok {
		return 0, errors.Join(ErrNoResync, r.err)
	}
	r.inCluster, r.haveTC, r.hasPending = false, false, false
	r.laceSizes, r.laceIdx, r.laceData = r.laceSizes[:0], 0, nil
	if r.hasResyncAt {
		// A cluster whose size was wrong ran into the next segment-level
		// element: go on with it.
		r.hasResyncAt = false
		r.pending, r.hasPending = r.resyncAt, true
		r.err = nil
		return 0, nil
	}
	start := r.off
	id := [4]byte{0x1F, 0x43, 0xB6, 0x75} // idCluster
	for {
		p, err := r.br.Peek(4)
		if len(p) == 4 && p[0] == id[0] && p[1] == id[1] && p[2] == id[2] && p[3] == id[3] && r.off > r.lastResync {
			r.lastResync = r.off
			r.err = nil
			return r.off - start, nil
		}
		if err != nil && len(p) < 4 {
			// Fewer than 4 bytes left: the stream ends without another
			// cluster.
			n, _ := r.br.Discard(len(p))
			r.off += int64(n)
			if err == io.EOF {
				r.err = io.EOF
				return r.off - start, io.EOF
			}
			return r.off - start, errors.Join(ErrNoResync, err)
		}
		if _, err := r.br.Discard(1); err != nil {
			return r.off - start, errors.Join(ErrNoResync, err)
		}
		r.off++
	}
}
