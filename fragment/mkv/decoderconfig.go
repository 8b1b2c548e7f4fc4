package mkv

import (
	"encoding/binary"
	"fmt"
)

// DecoderConfig is what a reader of H.264 or H.265 frames needs of an
// AVCDecoderConfigurationRecord or HEVCDecoderConfigurationRecord (the
// CodecPrivate of V_MPEG4/ISO/AVC and V_MPEGH/ISO/HEVC tracks).
type DecoderConfig struct {
	// LengthSize is the size in bytes (1, 2 or 4) of the length before
	// each NAL unit in the track's frames.
	LengthSize int
	// ParamSets are the record's NAL units (SPS, PPS, VPS, SEI …) in
	// record order. They alias the record's bytes.
	ParamSets [][]byte
}

// First returns the first parameter set whose NAL unit type is typ: for
// H.264 (hevc false) the low five bits of its first byte, for H.265 bits
// 1–6. It returns nil when there is none.
func (c DecoderConfig) First(typ byte, hevc bool) []byte {
	for _, n := range c.ParamSets {
		if len(n) == 0 {
			continue
		}
		if t := n[0] & 0x1f; !hevc && t == typ || hevc && (n[0]>>1)&0x3f == typ {
			return n
		}
	}
	return nil
}

// ParseAVCConfig reads an AVCDecoderConfigurationRecord (ISO/IEC 14496-15
// section 5.3.3.1). Errors wrap ErrInvalidCodecPrivate.
func ParseAVCConfig(p []byte) (DecoderConfig, error) {
	var c DecoderConfig
	if len(p) < 6 || p[0] != 1 {
		return c, fmt.Errorf("%w: avcC too short or not version 1", ErrInvalidCodecPrivate)
	}
	if c.LengthSize = int(p[4]&3) + 1; c.LengthSize == 3 {
		return c, fmt.Errorf("%w: avcC with 3-byte NAL unit lengths", ErrInvalidCodecPrivate)
	}
	off := 5
	for set := range 2 { // the SPS array, then the PPS array
		if off >= len(p) {
			return c, fmt.Errorf("%w: avcC cut short", ErrInvalidCodecPrivate)
		}
		n := int(p[off])
		if set == 0 {
			n &= 0x1f
		}
		var err error
		if c.ParamSets, off, err = readParamSets(c.ParamSets, p, off+1, n); err != nil {
			return c, fmt.Errorf("%w: avcC %s", ErrInvalidCodecPrivate, err)
		}
	}
	return c, nil
}

// ParseHEVCConfig reads an HEVCDecoderConfigurationRecord (ISO/IEC
// 14496-15 section 8.3.3.1). Errors wrap ErrInvalidCodecPrivate.
func ParseHEVCConfig(p []byte) (DecoderConfig, error) {
	var c DecoderConfig
	const fixed = 23 // bytes before the first array
	if len(p) < fixed || p[0] != 1 {
		return c, fmt.Errorf("%w: hvcC too short or not version 1", ErrInvalidCodecPrivate)
	}
	if c.LengthSize = int(p[21]&3) + 1; c.LengthSize == 3 {
		return c, fmt.Errorf("%w: hvcC with 3-byte NAL unit lengths", ErrInvalidCodecPrivate)
	}
	off := fixed
	for range int(p[22]) {
		if off+3 > len(p) {
			return c, fmt.Errorf("%w: hvcC cut short", ErrInvalidCodecPrivate)
		}
		var err error
		if c.ParamSets, off, err = readParamSets(c.ParamSets, p, off+3, int(binary.BigEndian.Uint16(p[off+1:]))); err != nil {
			return c, fmt.Errorf("%w: hvcC %s", ErrInvalidCodecPrivate, err)
		}
	}
	return c, nil
}

// readParamSets appends n NAL units with 16-bit lengths read from p at off
// to dst, and returns the offset after them.
func readParamSets(dst [][]byte, p []byte, off, n int) ([][]byte, int, error) {
	for range n {
		if off+2 > len(p) {
			return dst, off, fmt.Errorf("cut short")
		}
		l := int(binary.BigEndian.Uint16(p[off:]))
		off += 2
		if off+l > len(p) {
			return dst, off, fmt.Errorf("cut short")
		}
		dst = append(dst, p[off:off+l:off+l])
		off += l
	}
	return dst, off, nil
}
