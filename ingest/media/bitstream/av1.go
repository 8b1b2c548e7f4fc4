package bitstream

import (
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
)

// ErrInvalid is wrapped by every error of the package: the bytes are not
// the bitstream they claim to be.
var ErrInvalid = errors.New("bitstream: invalid")

// OBU types (AV1 specification section 6.2.2).
const (
	obuSequenceHeader    = 1
	obuTemporalDelimiter = 2
	obuFrameHeader       = 3
	obuFrame             = 6
	obuPadding           = 15
)

// MaxTemporalUnit bounds the temporal unit AV1TemporalUnit builds, as
// gortsplib's depacketizer does.
const MaxTemporalUnit = av1.MaxTemporalUnitSize

// AV1TemporalUnit turns the OBUs of one temporal unit as RTP delivers them
// (RTP Payload Format for AV1 section 4.3: each OBU with or without its
// size field) into the form a media.CodecAV1 frame carries: the
// low-overhead bitstream format (AV1 specification section 5.2), every
// OBU with obu_has_size_field set, temporal delimiters and padding
// dropped. It returns an error wrapping ErrInvalid for an OBU whose header
// or size does not read, and for a temporal unit with nothing left.
func AV1TemporalUnit(obus [][]byte) ([]byte, error) {
	size := 0
	for _, o := range obus {
		size += len(o) + 8
	}
	if size > MaxTemporalUnit+8*len(obus) {
		return nil, fmt.Errorf("%w: av1 temporal unit of %d bytes", ErrInvalid, size)
	}
	out := make([]byte, 0, size)
	for i, o := range obus {
		hdr, payload, err := splitOBU(o, false)
		if err != nil {
			return nil, fmt.Errorf("obu %d: %w", i, err)
		}
		switch (hdr[0] >> 3) & 0x0f {
		case obuTemporalDelimiter, obuPadding:
			continue
		}
		out = append(out, hdr[0]|0x02)
		out = append(out, hdr[1:]...)
		out = appendLEB128(out, uint64(len(payload)))
		out = append(out, payload...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: av1 temporal unit without OBUs", ErrInvalid)
	}
	return out, nil
}

// splitOBU splits one OBU into its header (1 or 2 bytes) and payload. An
// OBU without a size field runs to the end of b; sized says the size field
// is required (the low-overhead format).
func splitOBU(b []byte, sized bool) (hdr, payload []byte, err error) {
	hdr, payload, _, err = nextOBU(b, sized)
	return hdr, payload, err
}

// nextOBU reads the OBU at the start of b and returns its header, its
// payload and the bytes after it.
func nextOBU(b []byte, sized bool) (hdr, payload, rest []byte, err error) {
	if len(b) == 0 {
		return nil, nil, nil, fmt.Errorf("%w: empty av1 obu", ErrInvalid)
	}
	if b[0]&0x80 != 0 {
		return nil, nil, nil, fmt.Errorf("%w: av1 obu forbidden bit set", ErrInvalid)
	}
	n := 1
	if b[0]&0x04 != 0 { // obu_extension_flag
		n = 2
	}
	if len(b) < n {
		return nil, nil, nil, fmt.Errorf("%w: av1 obu header truncated", ErrInvalid)
	}
	hdr = b[:n]
	if b[0]&0x02 == 0 { // obu_has_size_field
		if sized {
			return nil, nil, nil, fmt.Errorf("%w: av1 obu without size field", ErrInvalid)
		}
		return hdr, b[n:], nil, nil
	}
	size, k, ok := readLEB128(b[n:])
	if !ok || size > uint64(len(b)-n-k) {
		return nil, nil, nil, fmt.Errorf("%w: av1 obu size", ErrInvalid)
	}
	end := n + k + int(size)
	return hdr, b[n+k : end], b[end:], nil
}

// readLEB128 reads an unsigned LEB128 value (AV1 specification section
// 4.10.5) of at most 8 bytes whose value fits 32 bits.
func readLEB128(b []byte) (v uint64, n int, ok bool) {
	for i := 0; i < 8; i++ {
		if i >= len(b) {
			return 0, 0, false
		}
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1, v <= 0xffffffff
		}
	}
	return 0, 0, false
}

func appendLEB128(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// AV1Frame is what a temporal unit says about itself.
type AV1Frame struct {
	// Key is true for a temporal unit a decoder can start at: it carries
	// a sequence header and its first frame is a shown key frame
	// (frame_type KEY_FRAME, section 6.8.2).
	Key bool
	// SequenceHeader is the sequence header OBU (with its size field),
	// aliasing the temporal unit; nil when the unit has none.
	SequenceHeader []byte
}

// ReadAV1 reads a temporal unit in the low-overhead format (every OBU with
// its size field, as media.CodecAV1 frames carry them).
func ReadAV1(tu []byte) (AV1Frame, error) {
	var f AV1Frame
	var seq *av1.SequenceHeader
	sawFrame := false
	for rest := tu; len(rest) > 0; {
		start := rest
		hdr, payload, next, err := nextOBU(rest, true)
		if err != nil {
			return AV1Frame{}, err
		}
		rest = next
		switch (hdr[0] >> 3) & 0x0f {
		case obuSequenceHeader:
			if f.SequenceHeader != nil {
				continue
			}
			f.SequenceHeader = start[:len(start)-len(rest)]
			var s av1.SequenceHeader
			if s.Unmarshal(f.SequenceHeader) == nil {
				seq = &s
			}
		case obuFrameHeader, obuFrame:
			if sawFrame {
				continue
			}
			sawFrame = true
			f.Key = seq != nil && av1KeyFrame(seq, payload)
		}
	}
	return f, nil
}

// av1KeyFrame reads the start of an uncompressed header (section 5.9.2):
// a shown KEY_FRAME, or any frame of a reduced still picture header.
func av1KeyFrame(seq *av1.SequenceHeader, payload []byte) bool {
	if seq.ReducedStillPictureHeader {
		return true
	}
	if len(payload) == 0 {
		return false
	}
	b := payload[0]
	showExisting := b&0x80 != 0
	frameType := (b >> 5) & 0x03
	showFrame := b&0x10 != 0
	return !showExisting && frameType == 0 && showFrame
}

// AV1Config is an AV1 sequence header read for storage: the
// AV1CodecConfigurationRecord and the picture size.
type AV1Config struct {
	// Record is the av1C box payload (AV1-ISOBMFF section 2.3.3): 4 bytes
	// of profile, level, tier and colour fields, then the sequence header
	// OBU as configOBUs. It is the CodecPrivate of a V_AV1 Matroska track.
	Record []byte
	// Width and Height are the maximum frame size the sequence allows
	// (max_frame_width_minus_1 + 1, max_frame_height_minus_1 + 1).
	Width, Height int
	// BitDepth is 8, 10 or 12.
	BitDepth int
}

// ParseAV1SequenceHeader reads a sequence header OBU (with or without its
// size field) and builds the av1C record of it.
func ParseAV1SequenceHeader(obu []byte) (AV1Config, error) {
	hdr, payload, err := splitOBU(obu, false)
	if err != nil {
		return AV1Config{}, err
	}
	if (hdr[0]>>3)&0x0f != obuSequenceHeader || len(hdr) != 1 {
		return AV1Config{}, fmt.Errorf("%w: not an av1 sequence header obu", ErrInvalid)
	}
	// The canonical form: with its size field and nothing after it.
	canon := make([]byte, 0, 1+8+len(payload))
	canon = append(canon, hdr[0]|0x02)
	canon = appendLEB128(canon, uint64(len(payload)))
	canon = append(canon, payload...)
	var s av1.SequenceHeader
	if err := s.Unmarshal(canon); err != nil {
		return AV1Config{}, fmt.Errorf("%w: av1 sequence header: %w", ErrInvalid, err)
	}
	if len(s.SeqLevelIdx) == 0 || len(s.SeqTier) == 0 {
		return AV1Config{}, fmt.Errorf("%w: av1 sequence header without operating point", ErrInvalid)
	}
	c := s.ColorConfig
	bit := func(v bool, shift uint) byte {
		if v {
			return 1 << shift
		}
		return 0
	}
	rec := make([]byte, 0, 4+len(canon))
	rec = append(rec,
		0x81, // marker 1, version 1
		s.SeqProfile<<5|s.SeqLevelIdx[0]&0x1f,
		bit(s.SeqTier[0], 7)|bit(c.HighBitDepth, 6)|bit(c.TwelveBit, 5)|bit(c.MonoChrome, 4)|
			bit(c.SubsamplingX, 3)|bit(c.SubsamplingY, 2)|byte(c.ChromaSamplePosition)&0x03,
		0, // reserved, initial_presentation_delay_present 0
	)
	rec = append(rec, canon...)
	depth := 8
	switch {
	case c.TwelveBit:
		depth = 12
	case c.HighBitDepth:
		depth = 10
	}
	return AV1Config{Record: rec, Width: s.Width(), Height: s.Height(), BitDepth: depth}, nil
}

// AV1ConfigOBU returns the sequence header OBU of an av1C record, as
// ParseAV1SequenceHeader stored it; it reads the record's first OBU.
func AV1ConfigOBU(record []byte) ([]byte, error) {
	if len(record) < 5 || record[0] != 0x81 {
		return nil, fmt.Errorf("%w: av1C record", ErrInvalid)
	}
	rest := record[4:]
	hdr, _, next, err := nextOBU(rest, true)
	if err != nil {
		return nil, fmt.Errorf("av1C: %w", err)
	}
	if (hdr[0]>>3)&0x0f != obuSequenceHeader {
		return nil, fmt.Errorf("%w: av1C without a sequence header", ErrInvalid)
	}
	return rest[:len(rest)-len(next)], nil
}

// AV1FromLowOverhead puts a temporal unit in the low-overhead bitstream
// format as an encoder or a file writes it (ffmpeg's IVF and OBU output,
// with temporal delimiters) into the form a media.CodecAV1 frame carries.
func AV1FromLowOverhead(tu []byte) ([]byte, error) {
	var obus [][]byte
	for rest := tu; len(rest) > 0; {
		start := rest
		_, _, next, err := nextOBU(rest, true)
		if err != nil {
			return nil, err
		}
		obus = append(obus, start[:len(start)-len(next)])
		rest = next
	}
	return AV1TemporalUnit(obus)
}
