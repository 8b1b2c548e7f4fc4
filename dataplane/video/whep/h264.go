package whep

import (
	"encoding/binary"
	"fmt"
)

// H.264 NAL unit types (ITU-T H.264 Table 7-1) used here.
const (
	nalIDR = 5
	nalSPS = 7
	nalPPS = 8
	nalAUD = 9
)

// paramSets remembers the last SPS and PPS of a stream.
type paramSets struct{ sps, pps []byte }

// annexB converts an AVCC access unit (4-byte lengths) to Annex-B (start
// codes) for the payloader. Access unit delimiters are left out. A
// keyframe without an SPS or PPS gets them from ps (which the caller
// fills from the track and from earlier keyframes); ps learns the ones
// the access unit carries.
func annexB(au []byte, key bool, ps *paramSets) ([]byte, error) {
	var nalus [][]byte
	hasSPS, hasPPS := false, false
	for rest := au; len(rest) > 0; {
		if len(rest) < 4 {
			return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadAccessUnit, len(rest))
		}
		n := binary.BigEndian.Uint32(rest)
		if n == 0 || uint64(n) > uint64(len(rest)-4) {
			return nil, fmt.Errorf("%w: NAL unit length %d with %d bytes left", ErrBadAccessUnit, n, len(rest)-4)
		}
		nalu := rest[4 : 4+n]
		rest = rest[4+n:]
		switch nalu[0] & 0x1f {
		case nalAUD:
			continue
		case nalSPS:
			hasSPS = true
			ps.sps = nalu
		case nalPPS:
			hasPPS = true
			ps.pps = nalu
		}
		nalus = append(nalus, nalu)
	}
	size := 0
	for _, n := range nalus {
		size += 4 + len(n)
	}
	out := make([]byte, 0, size+8+len(ps.sps)+len(ps.pps))
	prepended := key && !(hasSPS && hasPPS) && len(ps.sps) > 0 && len(ps.pps) > 0
	if prepended {
		out = append(out, 0, 0, 0, 1)
		out = append(out, ps.sps...)
		out = append(out, 0, 0, 0, 1)
		out = append(out, ps.pps...)
	}
	for _, n := range nalus {
		if prepended && (n[0]&0x1f == nalSPS || n[0]&0x1f == nalPPS) {
			continue // the pair above replaces a lone one
		}
		out = append(out, 0, 0, 0, 1)
		out = append(out, n...)
	}
	return out, nil
}

// profileLevelID returns the profile-level-id fmtp value (RFC 6184
// §8.1) of an SPS, "" when it is too short.
func profileLevelID(sps []byte) string {
	if len(sps) < 4 {
		return ""
	}
	return fmt.Sprintf("%02x%02x%02x", sps[1], sps[2], sps[3])
}
