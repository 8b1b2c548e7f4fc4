package whep

import (
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// H.265 NAL unit types (ITU-T H.265 Table 7-1) used here.
const (
	hevcVPS = 32
	hevcSPS = 33
	hevcPPS = 34
	hevcAUD = 35
)

// hevcParamSets remembers the last VPS, SPS and PPS of a stream.
type hevcParamSets struct{ vps, sps, pps []byte }

func (ps *hevcParamSets) complete() bool {
	return len(ps.vps) > 0 && len(ps.sps) > 0 && len(ps.pps) > 0
}

// hevcAnnexB converts a stored H.265 access unit (4-byte lengths) to
// Annex-B for pion's payloader (RFC 7798). Access unit delimiters are
// left out. A keyframe that lacks any of its VPS, SPS, PPS gets the
// three from ps (which the caller fills from the track and from earlier
// keyframes): a player that joins at this keyframe needs them, and the
// payloader sends them in one aggregation packet before the first
// slice. ps learns the ones the access unit carries.
func hevcAnnexB(au []byte, key bool, ps *hevcParamSets) ([]byte, error) {
	var nalus [][]byte
	has := map[byte]bool{}
	for rest := au; len(rest) > 0; {
		if len(rest) < 4 {
			return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadHEVCAccessUnit, len(rest))
		}
		n := binary.BigEndian.Uint32(rest)
		if n < 2 || uint64(n) > uint64(len(rest)-4) {
			return nil, fmt.Errorf("%w: NAL unit length %d with %d bytes left", ErrBadHEVCAccessUnit, n, len(rest)-4)
		}
		nalu := rest[4 : 4+n]
		rest = rest[4+n:]
		typ := nalu[0] >> 1 & 0x3f
		switch typ {
		case hevcAUD:
			continue
		case hevcVPS:
			ps.vps = nalu
		case hevcSPS:
			ps.sps = nalu
		case hevcPPS:
			ps.pps = nalu
		}
		has[typ] = true
		nalus = append(nalus, nalu)
	}
	if len(nalus) == 0 {
		return nil, fmt.Errorf("%w: no NAL unit", ErrBadHEVCAccessUnit)
	}
	size := 0
	for _, n := range nalus {
		size += 4 + len(n)
	}
	out := make([]byte, 0, size+12+len(ps.vps)+len(ps.sps)+len(ps.pps))
	prepended := key && !(has[hevcVPS] && has[hevcSPS] && has[hevcPPS]) && ps.complete()
	if prepended {
		for _, p := range [][]byte{ps.vps, ps.sps, ps.pps} {
			out = append(out, 0, 0, 0, 1)
			out = append(out, p...)
		}
	}
	for _, n := range nalus {
		if t := n[0] >> 1 & 0x3f; prepended && (t == hevcVPS || t == hevcSPS || t == hevcPPS) {
			continue // the set above replaces a partial one
		}
		out = append(out, 0, 0, 0, 1)
		out = append(out, n...)
	}
	return out, nil
}

// hevcFormat is what the WebRTC H.265 format parameters
// (draft-ietf-avtcore-hevc-webrtc section 2.1; RFC 7798 section 7.1)
// say of a stream.
type hevcFormat struct {
	profileID, tierFlag, levelID int
}

// defaultHEVCFormat is Main profile, Main tier, level 3.1: what a
// stream whose SPS is unknown is offered as.
var defaultHEVCFormat = hevcFormat{profileID: 1, tierFlag: 0, levelID: 93}

// hevcFormatOf reads an SPS's general profile, tier and level; a missing
// or unreadable SPS gives defaultHEVCFormat.
func hevcFormatOf(sps []byte) hevcFormat {
	if len(sps) == 0 {
		return defaultHEVCFormat
	}
	var s h265.SPS
	if err := s.Unmarshal(sps); err != nil || s.ProfileTierLevel.GeneralProfileIdc == 0 {
		return defaultHEVCFormat
	}
	ptl := s.ProfileTierLevel
	return hevcFormat{profileID: int(ptl.GeneralProfileIdc), tierFlag: int(ptl.GeneralTierFlag), levelID: int(ptl.GeneralLevelIdc)}
}

// fmtp is the format's a=fmtp value.
func (f hevcFormat) fmtp() string {
	return "level-id=" + strconv.Itoa(f.levelID) + ";profile-id=" + strconv.Itoa(f.profileID) +
		";tier-flag=" + strconv.Itoa(f.tierFlag) + ";tx-mode=SRST"
}

// name is the profile's name for messages.
func (f hevcFormat) name() string {
	switch f.profileID {
	case 1:
		return "Main"
	case 2:
		return "Main 10"
	case 3:
		return "Main Still Picture"
	case 4:
		return "Range Extensions"
	}
	return "profile " + strconv.Itoa(f.profileID)
}
