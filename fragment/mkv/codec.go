package mkv

import (
	"encoding/binary"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
)

// NAL unit types used to validate parameter sets (ISO/IEC 14496-10 table
// 7-1, ISO/IEC 23008-2 table 7-1).
const (
	avcNALSPS  = 7
	avcNALPPS  = 8
	hevcNALVPS = 32
	hevcNALSPS = 33
	hevcNALPPS = 34
)

// AVCConfig builds the CodecPrivate of an H.264 track: an
// AVCDecoderConfigurationRecord (ISO/IEC 14496-15 section 5.3.3.1) with one
// SPS, one PPS and 4-byte NAL unit lengths. sps and pps are NAL units
// without start code or length prefix.
func AVCConfig(sps, pps []byte) ([]byte, error) {
	if len(sps) < 4 || sps[0]&0x1F != avcNALSPS {
		return nil, fmt.Errorf("%w: h264 sps", ErrInvalidParameterSet)
	}
	if len(pps) < 1 || pps[0]&0x1F != avcNALPPS {
		return nil, fmt.Errorf("%w: h264 pps", ErrInvalidParameterSet)
	}
	if len(sps) > 0xFFFF || len(pps) > 0xFFFF {
		return nil, fmt.Errorf("%w: parameter set too long", ErrInvalidParameterSet)
	}
	b := make([]byte, 0, 11+len(sps)+len(pps)+4)
	b = append(b,
		1,      // configurationVersion
		sps[1], // AVCProfileIndication
		sps[2], // profile_compatibility
		sps[3], // AVCLevelIndication
		0xFC|3, // reserved, lengthSizeMinusOne
		0xE0|1, // reserved, numOfSequenceParameterSets
	)
	b = binary.BigEndian.AppendUint16(b, uint16(len(sps)))
	b = append(b, sps...)
	b = append(b, 1) // numOfPictureParameterSets
	b = binary.BigEndian.AppendUint16(b, uint16(len(pps)))
	b = append(b, pps...)
	switch sps[1] {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135, 144:
		// Profiles whose SPS carries chroma_format_idc (ISO/IEC 14496-10
		// section 7.3.2.1.1) get the chroma format and bit depth fields,
		// as ffmpeg writes them.
		var s h264.SPS
		if err := s.Unmarshal(sps); err != nil {
			return nil, fmt.Errorf("%w: h264 sps: %w", ErrInvalidParameterSet, err)
		}
		b = append(b,
			0xFC|byte(s.ChromaFormatIdc&3),
			0xF8|byte(s.BitDepthLumaMinus8&7),
			0xF8|byte(s.BitDepthChromaMinus8&7),
			0, // numOfSequenceParameterSetExt
		)
	}
	return b, nil
}

// HEVCConfig builds the CodecPrivate of an H.265 track: an
// HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 section 8.3.3.1) with one
// VPS, SPS and PPS and 4-byte NAL unit lengths. The general
// profile_tier_level, chroma format, bit depths and temporal layering are
// taken from the SPS. Parameter sets are NAL units without start code or
// length prefix.
func HEVCConfig(vps, sps, pps []byte) ([]byte, error) {
	nalType := func(n []byte) byte {
		if len(n) < 2 {
			return 0xFF
		}
		return (n[0] >> 1) & 0x3F
	}
	if nalType(vps) != hevcNALVPS {
		return nil, fmt.Errorf("%w: h265 vps", ErrInvalidParameterSet)
	}
	if nalType(sps) != hevcNALSPS {
		return nil, fmt.Errorf("%w: h265 sps", ErrInvalidParameterSet)
	}
	if nalType(pps) != hevcNALPPS {
		return nil, fmt.Errorf("%w: h265 pps", ErrInvalidParameterSet)
	}
	if len(vps) > 0xFFFF || len(sps) > 0xFFFF || len(pps) > 0xFFFF {
		return nil, fmt.Errorf("%w: parameter set too long", ErrInvalidParameterSet)
	}
	var s h265.SPS
	if err := s.Unmarshal(sps); err != nil {
		return nil, fmt.Errorf("%w: h265 sps: %w", ErrInvalidParameterSet, err)
	}
	// The 12 bytes of general_profile_space .. general_level_idc follow the
	// first RBSP byte (sps_video_parameter_set_id, max_sub_layers_minus1,
	// temporal_id_nesting_flag); copying them keeps every constraint flag.
	rbsp := h264.EmulationPreventionRemove(sps[2:])
	if len(rbsp) < 13 {
		return nil, fmt.Errorf("%w: h265 sps too short", ErrInvalidParameterSet)
	}
	b := make([]byte, 0, 23+3*5+len(vps)+len(sps)+len(pps))
	b = append(b, 1) // configurationVersion
	b = append(b, rbsp[1:13]...)
	nesting := byte(0)
	if s.TemporalIDNestingFlag {
		nesting = 1
	}
	b = append(b,
		0xF0, 0x00, // reserved, min_spatial_segmentation_idc = 0
		0xFC,                           // reserved, parallelismType = 0 (unknown)
		0xFC|byte(s.ChromaFormatIdc&3), // reserved, chromaFormat
		0xF8|byte(s.BitDepthLumaMinus8&7),
		0xF8|byte(s.BitDepthChromaMinus8&7),
		0, 0, // avgFrameRate = 0 (unspecified)
		// constantFrameRate = 0, numTemporalLayers, temporalIdNested,
		// lengthSizeMinusOne = 3
		((s.MaxSubLayersMinus1+1)&7)<<3|nesting<<2|3,
		3, // numOfArrays
	)
	for _, nal := range [][]byte{vps, sps, pps} {
		b = append(b, 0x80|nalType(nal)) // array_completeness = 1
		b = binary.BigEndian.AppendUint16(b, 1)
		b = binary.BigEndian.AppendUint16(b, uint16(len(nal)))
		b = append(b, nal...)
	}
	return b, nil
}

// opusMapping returns the Vorbis channel order of RFC 7845 section 5.1.1.2
// (mapping family 1) for 3 to 8 channels: stream count, coupled stream
// count, channel mapping.
func opusMapping(channels int) (streams, coupled byte, mapping string) {
	switch channels {
	case 3:
		return 2, 1, "\x00\x02\x01"
	case 4:
		return 2, 2, "\x00\x01\x02\x03"
	case 5:
		return 3, 2, "\x00\x04\x01\x02\x03"
	case 6:
		return 4, 2, "\x00\x04\x01\x02\x03\x05"
	case 7:
		return 4, 3, "\x00\x04\x01\x02\x03\x05\x06"
	}
	return 5, 3, "\x00\x06\x01\x02\x03\x04\x05\x07"
}

// OpusHead builds the CodecPrivate of an Opus track: the identification
// header of RFC 7845 section 5.1, with pre-skip 0 and output gain 0. Mono
// and stereo use channel mapping family 0; 3 to 8 channels use family 1
// with the Vorbis channel order. channels is clamped to [1, 8]; sampleRate
// is the informational input sample rate (0 means 48000).
func OpusHead(channels, sampleRate int) []byte {
	channels = min(max(channels, 1), 8)
	if sampleRate <= 0 {
		sampleRate = 48000
	}
	b := make([]byte, 0, 19+2+8)
	b = append(b, "OpusHead"...)
	b = append(b, 1, byte(channels)) // version, channel count
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(sampleRate))
	b = binary.LittleEndian.AppendUint16(b, 0) // output gain
	if channels <= 2 {
		return append(b, 0) // mapping family 0
	}
	streams, coupled, mapping := opusMapping(channels)
	b = append(b, 1, streams, coupled)
	return append(b, mapping...)
}

// VideoSize returns the picture size, after cropping, that an H.264
// (CodecH264) or H.265 (CodecH265) SPS declares, for Track.Width and
// Track.Height. sps is a NAL unit without start code.
func VideoSize(codecID string, sps []byte) (width, height int, err error) {
	switch codecID {
	case CodecH264:
		var s h264.SPS
		if err := s.Unmarshal(sps); err != nil {
			return 0, 0, fmt.Errorf("%w: h264 sps: %w", ErrInvalidParameterSet, err)
		}
		width, height = s.Width(), s.Height()
	case CodecH265:
		var s h265.SPS
		if err := s.Unmarshal(sps); err != nil {
			return 0, 0, fmt.Errorf("%w: h265 sps: %w", ErrInvalidParameterSet, err)
		}
		width, height = s.Width(), s.Height()
	default:
		return 0, 0, fmt.Errorf("%w: %q", ErrUnsupportedCodec, codecID)
	}
	if width <= 0 || height <= 0 || width > 1<<16 || height > 1<<16 {
		return 0, 0, fmt.Errorf("%w: picture size %dx%d", ErrInvalidParameterSet, width, height)
	}
	return width, height, nil
}
