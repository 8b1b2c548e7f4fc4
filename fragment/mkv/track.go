package mkv

import (
	"fmt"
	"time"
)

// TrackType is a Matroska TrackType (RFC 9559 section 5.1.4.1.3).
type TrackType uint8

// Track types this package writes. The Reader passes other values through.
const (
	TrackVideo TrackType = 1
	TrackAudio TrackType = 2
)

// Codec IDs (Matroska codec mappings, RFC 9559 section 5.1.4.1.21 and the
// Matroska codec specifications).
const (
	// CodecH264 carries AVC access units in length-prefixed (4-byte) form;
	// CodecPrivate is an AVCDecoderConfigurationRecord (see AVCConfig).
	CodecH264 = "V_MPEG4/ISO/AVC"
	// CodecH265 carries HEVC access units in length-prefixed (4-byte) form;
	// CodecPrivate is an HEVCDecoderConfigurationRecord (see HEVCConfig).
	CodecH265 = "V_MPEGH/ISO/HEVC"
	// CodecAAC carries raw AAC access units; CodecPrivate is the
	// AudioSpecificConfig (ISO 14496-3) as is.
	CodecAAC = "A_AAC"
	// CodecOpus carries Opus packets; CodecPrivate is an OpusHead (see
	// OpusHead) and CodecDelay/SeekPreRoll should be set.
	CodecOpus = "A_OPUS"
	// CodecACM carries audio in a Windows ACM format; CodecPrivate is a
	// WAVEFORMATEX (see WaveFormatEx). G.711 is stored this way, as
	// ffmpeg and VLC read it (Matroska has no codec ID of its own for
	// G.711).
	CodecACM = "A_MS/ACM"
	// CodecPCMBig carries big-endian signed linear PCM (RTP's L16/L24),
	// channels interleaved; the track's BitDepth says the sample size.
	CodecPCMBig = "A_PCM/INT/BIG"
	// CodecVP8 carries VP8 frames (RFC 6386), no CodecPrivate.
	CodecVP8 = "V_VP8"
	// CodecMJPEG carries one JPEG image a frame, no CodecPrivate.
	CodecMJPEG = "V_MJPEG"
	// CodecVP9 carries VP9 frames (superframes whole), no CodecPrivate
	// (the optional VP9 codec feature metadata is left out: decoders read
	// profile and bit depth from the keyframes).
	CodecVP9 = "V_VP9"
	// CodecAV1 carries AV1 temporal units in the low-overhead bitstream
	// format without temporal delimiters; CodecPrivate is the
	// AV1CodecConfigurationRecord (av1C: 4 bytes, then the sequence header
	// OBU), per the Matroska AV1 codec mapping.
	CodecAV1 = "V_AV1"
)

// WAVEFORMATEX format tags (RFC 2361 appendix A) of the codecs stored
// under CodecACM.
const (
	WaveFormatALaw  = 0x0006
	WaveFormatMULaw = 0x0007
)

// WaveFormatEx returns a WAVEFORMATEX (18 bytes, little-endian, cbSize 0)
// for a constant-rate format of bitsPerSample bits a sample.
func WaveFormatEx(tag uint16, channels, sampleRate, bitsPerSample int) []byte {
	b := make([]byte, 18)
	le16 := func(o int, v int) { b[o], b[o+1] = byte(v), byte(v>>8) }
	le32 := func(o int, v int) { le16(o, v&0xffff); le16(o+2, v>>16) }
	block := channels * bitsPerSample / 8
	le16(0, int(tag))
	le16(2, channels)
	le32(4, sampleRate)
	le32(8, sampleRate*block) // nAvgBytesPerSec
	le16(12, block)           // nBlockAlign
	le16(14, bitsPerSample)
	return b // cbSize (bytes 16-17) is 0
}

// OpusSeekPreRoll is the SeekPreRoll the Matroska Opus mapping recommends
// (80 ms).
const OpusSeekPreRoll = 80 * time.Millisecond

// Track is one TrackEntry (RFC 9559 section 5.1.4.1).
type Track struct {
	// Number is the TrackNumber used by blocks; it must not be 0.
	Number uint64
	// UID is the TrackUID. The writer uses Number when it is 0.
	UID uint64
	// Type is TrackVideo or TrackAudio.
	Type TrackType
	// CodecID is one of the Codec constants.
	CodecID string
	// CodecPrivate is the codec initialisation data.
	CodecPrivate []byte

	// Width and Height are the video PixelWidth and PixelHeight.
	Width, Height int

	// SampleRate is the audio SamplingFrequency in Hz.
	SampleRate float64
	// Channels is the audio channel count.
	Channels int
	// BitDepth is the audio BitDepth, bits a sample (PCM), 0 when not
	// written.
	BitDepth int

	// CodecDelay is the decoder delay (Opus pre-skip) and SeekPreRoll the
	// data to decode before a seek target (Opus: OpusSeekPreRoll).
	CodecDelay, SeekPreRoll time.Duration
	// DefaultDuration is the duration of one frame, 0 when not constant or
	// unknown. The Reader uses it to time the frames of a laced block.
	DefaultDuration time.Duration
}

// AppendTracks appends a Tracks element holding tracks to dst. The element
// is self-contained, so callers can store it and pass it to AppendFragment
// for every fragment of a session. It returns ErrInvalidTrack for a track
// without Number, Type or CodecID, or with a duplicate Number.
func AppendTracks(dst []byte, tracks []Track) ([]byte, error) {
	for i := range tracks {
		t := &tracks[i]
		if t.Number == 0 || t.Number > maxVintValue || t.Type == 0 || t.CodecID == "" {
			return dst, fmt.Errorf("%w: track %d (number %d, type %d, codec %q)",
				ErrInvalidTrack, i, t.Number, t.Type, t.CodecID)
		}
		for j := range i {
			if tracks[j].Number == t.Number {
				return dst, fmt.Errorf("%w: duplicate track number %d", ErrInvalidTrack, t.Number)
			}
		}
	}
	b, tracksOff := beginMaster(dst, idTracks)
	for i := range tracks {
		t := &tracks[i]
		var off int
		b, off = beginMaster(b, idTrackEntry)
		b = appendUintEl(b, idTrackNumber, t.Number)
		uid := t.UID
		if uid == 0 {
			uid = t.Number
		}
		b = appendUintEl(b, idTrackUID, uid)
		b = appendUintEl(b, idTrackType, uint64(t.Type))
		b = appendUintEl(b, idFlagLacing, 0)
		b = appendStringEl(b, idCodecID, t.CodecID)
		if len(t.CodecPrivate) > 0 {
			b = appendBytesEl(b, idCodecPrivate, t.CodecPrivate)
		}
		if t.CodecDelay > 0 {
			b = appendUintEl(b, idCodecDelay, uint64(t.CodecDelay))
		}
		if t.SeekPreRoll > 0 {
			b = appendUintEl(b, idSeekPreRoll, uint64(t.SeekPreRoll))
		}
		if t.DefaultDuration > 0 {
			b = appendUintEl(b, idDefaultDuration, uint64(t.DefaultDuration))
		}
		switch t.Type {
		case TrackVideo:
			var v int
			b, v = beginMaster(b, idVideo)
			if t.Width > 0 && t.Height > 0 {
				b = appendUintEl(b, idPixelWidth, uint64(t.Width))
				b = appendUintEl(b, idPixelHeight, uint64(t.Height))
			}
			endMaster(b, v)
		case TrackAudio:
			var a int
			b, a = beginMaster(b, idAudio)
			if t.SampleRate > 0 {
				b = appendFloatEl(b, idSamplingFrequency, t.SampleRate)
			}
			if t.Channels > 0 {
				b = appendUintEl(b, idChannels, uint64(t.Channels))
			}
			if t.BitDepth > 0 {
				b = appendUintEl(b, idBitDepth, uint64(t.BitDepth))
			}
			endMaster(b, a)
		}
		endMaster(b, off)
	}
	endMaster(b, tracksOff)
	return b, nil
}
