package media

import (
	"fmt"
	"time"
)

// Kind is the kind of a track.
type Kind uint8

// Track kinds.
const (
	KindVideo Kind = 1
	KindAudio Kind = 2
)

// String returns "video" or "audio".
func (k Kind) String() string {
	switch k {
	case KindVideo:
		return "video"
	case KindAudio:
		return "audio"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Codec names a codec. The values are stable: they are stored in fragment
// metadata and shown by the APIs.
type Codec string

// Codecs the model carries.
const (
	CodecH264 Codec = "H264"
	CodecH265 Codec = "H265"
	CodecAAC  Codec = "AAC"
	CodecOpus Codec = "OPUS"
	// CodecPCMU and CodecPCMA are G.711 µ-law and A-law (ITU-T G.711):
	// one byte a sample, channels interleaved. Most IP cameras' default
	// audio.
	CodecPCMU Codec = "PCMU"
	CodecPCMA Codec = "PCMA"
	// CodecLPCM is big-endian signed linear PCM (RTP L16/L24), channels
	// interleaved; Track.BitDepth is the sample size.
	CodecLPCM Codec = "LPCM"
	// CodecVP8 is VP8 video (RFC 6386): a frame a keyframe or not; no
	// parameter sets.
	CodecVP8 Codec = "VP8"
	// CodecMJPEG is Motion JPEG: every frame a JPEG image, and a
	// keyframe.
	CodecMJPEG Codec = "MJPEG"
	// CodecVP9 is VP9 video: one frame (or superframe) a Frame; a
	// keyframe is a frame whose uncompressed header says frame_type
	// KEY_FRAME (0); intra-only frames are not keyframes. No parameter
	// sets; every profile (2 and 3: 10/12 bits) stores alike. Package
	// bitstream reads the header.
	CodecVP9 Codec = "VP9"
	// CodecAV1 is AV1 video: one temporal unit a Frame, as OBUs in the
	// low-overhead bitstream format (each with obu_has_size_field set;
	// temporal delimiters dropped). A keyframe carries a sequence header
	// OBU and a shown key frame. Track.Config is the
	// AV1CodecConfigurationRecord (av1C) when known; the fragmenter learns
	// it from keyframes otherwise, and cuts no fragment before it has it.
	// Package bitstream builds both forms and reads keyframes.
	CodecAV1 Codec = "AV1"
)

// Kind returns the track kind of the codec, or 0 for an unknown codec.
func (c Codec) Kind() Kind {
	switch c {
	case CodecH264, CodecH265, CodecVP8, CodecVP9, CodecAV1, CodecMJPEG:
		return KindVideo
	case CodecAAC, CodecOpus, CodecPCMU, CodecPCMA, CodecLPCM:
		return KindAudio
	}
	return 0
}

// Track describes one elementary stream of a session.
type Track struct {
	// Codec of the track.
	Codec Codec
	// ClockRate of the original timestamps (90000 for video, the sample rate
	// for most audio). Informational: frame times are time.Durations.
	ClockRate int

	// Video: parameter sets, as NAL units without start codes. VPS is H.265
	// only. They may be empty at the start of a session when the producer only
	// sends them in-band; the fragmenter then learns them from keyframes.
	VPS, SPS, PPS []byte
	// Width and Height in pixels, 0 when unknown.
	Width, Height int

	// Audio: SampleRate in Hz and Channels; BitDepth is the bits of a
	// sample of LPCM (0 for the other codecs).
	SampleRate, Channels, BitDepth int
	// Config is the codec configuration: the AAC AudioSpecificConfig, the
	// AV1 av1C record. Empty for Opus (the Matroska writer builds the
	// OpusHead).
	Config []byte
}

// Kind returns the track kind.
func (t *Track) Kind() Kind { return t.Codec.Kind() }

// Clone returns a deep copy.
func (t *Track) Clone() *Track {
	c := *t
	c.VPS = clone(t.VPS)
	c.SPS = clone(t.SPS)
	c.PPS = clone(t.PPS)
	c.Config = clone(t.Config)
	return &c
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// Frame is one access unit.
type Frame struct {
	// Track is the index of the frame's track in the session's track list.
	Track int
	// PTS and DTS on the session's media timeline. DTS is PTS for audio and
	// for video without B-frames.
	PTS, DTS time.Duration
	// Key is true for a frame that starts a decodable sequence (an IDR/IRAP
	// access unit for video; every audio frame).
	Key bool
	// Wall is the producer's wall-clock time of the frame, zero if unknown.
	Wall time.Time
	// Data is the access unit. H.264/H.265: NAL units, each prefixed by a
	// 4-byte big-endian length (AVCC); keyframes carry their parameter sets
	// in-band. AAC: one raw access unit. Opus: one packet. G.711, LPCM: the
	// samples of one RTP packet. VP8, VP9: one frame. AV1: one temporal unit
	// (see CodecAV1). MJPEG: one JPEG image.
	Data []byte
}

// Writer consumes the frames of one publishing session. Implementations
// never block the caller for long: a publisher must not be stalled by
// storage. WriteFrame takes ownership of f.
type Writer interface {
	WriteFrame(f *Frame)
	// Discontinuity marks a break in the timeline (see Discontinuity).
	Discontinuity(reason string)
	// Close ends the session; the open fragment is finished.
	Close()
}
