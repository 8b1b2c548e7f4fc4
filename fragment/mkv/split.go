package mkv

import "fmt"

// SplitFile returns the Tracks element and the first Cluster element of a
// Matroska file (an EBML header, then a Segment), each whole with its ID
// and size, as slices of p: what a file written by AppendFragment holds
// of one fragment. The archive's plaintext objects are such files;
// tiered replay turns them back into a fragment with them. p is
// untrusted: a malformed file is an error wrapping ErrNotMatroska,
// ErrInvalidVint or ErrOverflow, never a panic.
func SplitFile(p []byte) (tracks, cluster []byte, err error) {
	off := 0
	// elem reads the element header at off within [off, end): its ID, the
	// offset of its body and its end (end for an unknown size).
	elem := func(end int) (id uint32, body, elemEnd int, err error) {
		id, n := parseID(p[off:end])
		if n == 0 {
			return 0, 0, 0, fmt.Errorf("%w: element ID at %d", ErrInvalidVint, off)
		}
		size, m, unknown := parseVint(p[off+n : end])
		if m == 0 {
			return 0, 0, 0, fmt.Errorf("%w: element size at %d", ErrInvalidVint, off+n)
		}
		body = off + n + m
		if unknown {
			return id, body, end, nil
		}
		if size > uint64(end-body) {
			return 0, 0, 0, fmt.Errorf("%w: element %#x at %d: %d bytes, %d left", ErrOverflow, id, off, size, end-body)
		}
		return id, body, body + int(size), nil
	}
	id, _, next, err := elem(len(p))
	if err != nil {
		return nil, nil, err
	}
	if id != idEBML {
		return nil, nil, fmt.Errorf("%w: starts with element %#x, not an EBML header", ErrNotMatroska, id)
	}
	off = next
	for off < len(p) {
		id, body, end, err := elem(len(p))
		if err != nil {
			return nil, nil, err
		}
		if id != idSegment {
			off = end
			continue
		}
		for off = body; off < end; {
			cid, _, cend, err := elem(end)
			if err != nil {
				return nil, nil, err
			}
			switch {
			case cid == idTracks && tracks == nil:
				tracks = p[off:cend]
			case cid == idCluster && cluster == nil:
				cluster = p[off:cend]
			}
			if tracks != nil && cluster != nil {
				return tracks, cluster, nil
			}
			off = cend
		}
		break
	}
	return nil, nil, fmt.Errorf("%w: no Segment with Tracks and a Cluster", ErrNotMatroska)
}
