package hls

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
)

// CodecString returns the RFC 6381 codec string of a track written with
// the sample entry entry ("avc1", "hev1", "vp09" ...) and codec
// parameters c, as an HLS CODECS attribute names it (RFC 8216 section
// 4.3.4.2), and the picture size of a video track (0 when unknown). The
// strings follow ISO/IEC 14496-15 annex E (avc1.PPCCLL,
// hev1.<space><profile>.<compatibility>.<tier><level>.<constraints>),
// the VP Codec ISO Media File Format Binding (vp09.PP.LL.DD, level
// unknown here so 10), the AV1 Codec ISO Media File Format Binding
// (av01.P.LLT.DD) and RFC 6381 for mp4a.40.<object type>. ok is false
// for a codec HLS players do not take (linear PCM) or parameters that
// cannot be read.
func CodecString(entry string, c mp4.Codec) (codec string, width, height int, ok bool) {
	switch c := c.(type) {
	case *mp4.CodecH264:
		if len(c.SPS) < 4 {
			return "", 0, 0, false
		}
		var s h264.SPS
		if err := s.Unmarshal(c.SPS); err == nil {
			width, height = s.Width(), s.Height()
		}
		return fmt.Sprintf("%s.%02x%02x%02x", entry, c.SPS[1], c.SPS[2], c.SPS[3]), width, height, true
	case *mp4.CodecH265:
		return hevcString(entry, c.SPS)
	case *mp4.CodecVP9:
		if entry == "vp08" {
			return "vp08.00.10.08", c.Width, c.Height, true
		}
		return fmt.Sprintf("vp09.%02d.10.%02d", c.Profile, c.BitDepth), c.Width, c.Height, true
	case *mp4.CodecAV1:
		var h av1.SequenceHeader
		if err := h.Unmarshal(c.SequenceHeader); err != nil || len(h.SeqLevelIdx) == 0 {
			return "", 0, 0, false
		}
		tier := "M"
		if len(h.SeqTier) > 0 && h.SeqTier[0] {
			tier = "H"
		}
		depth := h.ColorConfig.BitDepth
		if depth == 0 {
			depth = 8
		}
		return fmt.Sprintf("av01.%d.%02d%s.%02d", h.SeqProfile, h.SeqLevelIdx[0], tier, depth), h.Width(), h.Height(), true
	case *mp4.CodecMPEG4Audio:
		return fmt.Sprintf("mp4a.40.%d", c.Config.Type), 0, 0, true
	case *mp4.CodecOpus:
		return "opus", 0, 0, true
	}
	return "", 0, 0, false
}

// hevcString returns the hev1/hvc1 codec string of an H.265 SPS.
func hevcString(entry string, sps []byte) (string, int, int, bool) {
	var s h265.SPS
	if err := s.Unmarshal(sps); err != nil {
		return "", 0, 0, false
	}
	// The 48 constraint bits follow the NAL header (2 bytes), the
	// sub-layer byte and 5 bytes of profile: bytes 8 to 13 without
	// emulation prevention.
	raw := h264.EmulationPreventionRemove(sps)
	if len(raw) < 15 {
		return "", 0, 0, false
	}
	p := s.ProfileTierLevel
	var compat uint32
	for j, f := range p.GeneralProfileCompatibilityFlag {
		if f {
			compat |= 1 << (31 - j)
		}
	}
	var b strings.Builder
	b.WriteString(entry + ".")
	if p.GeneralProfileSpace > 0 {
		b.WriteByte("ABC"[p.GeneralProfileSpace-1])
	}
	tier := "L"
	if p.GeneralTierFlag == 1 {
		tier = "H"
	}
	fmt.Fprintf(&b, "%d.%X.%s%d", p.GeneralProfileIdc, bits.Reverse32(compat), tier, p.GeneralLevelIdc)
	cons := raw[8:14]
	n := len(cons)
	for n > 0 && cons[n-1] == 0 {
		n--
	}
	for _, c := range cons[:n] {
		fmt.Fprintf(&b, ".%X", c)
	}
	return b.String(), s.Width(), s.Height(), true
}
