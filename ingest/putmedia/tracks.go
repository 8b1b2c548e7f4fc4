package putmedia

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"

	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/ingest/media"
)

// trackIn turns one Matroska track's blocks into media.Frames: for
// H.264/H.265 it rewrites the NAL unit lengths to 4 bytes, puts the
// parameter sets of CodecPrivate in front of every keyframe (the frame
// model carries them in-band) and finds the DTS of B-frame streams.
type trackIn struct {
	number  uint64
	index   int
	track   *media.Track
	lenSize int // NAL unit length size of H.264/H.265 blocks, 0 otherwise
	params  [][]byte
	h264DTS *h264.DTSExtractor
	h265DTS *h265.DTSExtractor
	nalus   [][]byte // scratch
	lastDTS time.Duration
	haveDTS bool
}

// newTrack maps a Matroska TrackEntry onto the frame model.
func newTrack(t mkv.Track, index int) (*trackIn, error) {
	in := &trackIn{number: t.Number, index: index}
	mt := &media.Track{}
	switch t.CodecID {
	case mkv.CodecH264:
		mt.Codec, mt.ClockRate = media.CodecH264, 90000
		cfg, err := decoderConfig(t.CodecPrivate, mkv.ParseAVCConfig)
		if err != nil {
			return nil, err
		}
		in.lenSize = cfg.LengthSize
		mt.SPS, mt.PPS = clone(cfg.First(7, false)), clone(cfg.First(8, false))
		in.params = cfg.ParamSets
	case mkv.CodecH265:
		mt.Codec, mt.ClockRate = media.CodecH265, 90000
		cfg, err := decoderConfig(t.CodecPrivate, mkv.ParseHEVCConfig)
		if err != nil {
			return nil, err
		}
		in.lenSize = cfg.LengthSize
		mt.VPS, mt.SPS, mt.PPS = clone(cfg.First(32, true)), clone(cfg.First(33, true)), clone(cfg.First(34, true))
		in.params = cfg.ParamSets
	case mkv.CodecVP8:
		mt.Codec, mt.ClockRate = media.CodecVP8, 90000
	case mkv.CodecVP9:
		mt.Codec, mt.ClockRate = media.CodecVP9, 90000
	case mkv.CodecAV1:
		mt.Codec, mt.ClockRate = media.CodecAV1, 90000
		mt.Config = clone(t.CodecPrivate)
	case mkv.CodecMJPEG:
		mt.Codec, mt.ClockRate = media.CodecMJPEG, 90000
	case mkv.CodecAAC:
		mt.Codec = media.CodecAAC
		mt.Config = clone(t.CodecPrivate)
	case mkv.CodecOpus:
		mt.Codec = media.CodecOpus
	case mkv.CodecPCMBig:
		mt.Codec, mt.BitDepth = media.CodecLPCM, t.BitDepth
	case mkv.CodecACM:
		if len(t.CodecPrivate) < 2 {
			return nil, fmt.Errorf("%w: track %d: A_MS/ACM without WAVEFORMATEX", ErrInvalidCodecPrivate, t.Number)
		}
		switch binary.LittleEndian.Uint16(t.CodecPrivate) {
		case mkv.WaveFormatMULaw:
			mt.Codec = media.CodecPCMU
		case mkv.WaveFormatALaw:
			mt.Codec = media.CodecPCMA
		default:
			return nil, fmt.Errorf("%w: track %d: A_MS/ACM format tag %#04x", ErrUnsupportedCodec, t.Number, binary.LittleEndian.Uint16(t.CodecPrivate))
		}
	default:
		return nil, fmt.Errorf("%w: track %d: CodecID %q", ErrUnsupportedCodec, t.Number, t.CodecID)
	}
	if mt.Kind() == media.KindVideo {
		mt.Width, mt.Height = t.Width, t.Height
	} else {
		mt.SampleRate, mt.Channels = int(t.SampleRate), t.Channels
		if mt.Codec == media.CodecOpus && mt.SampleRate == 0 {
			mt.SampleRate = 48000
		}
		mt.ClockRate = mt.SampleRate
	}
	in.track = mt
	return in, nil
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// frame returns the media.Frame of a block at pts, or an error for a
// block whose NAL unit lengths do not add up.
func (in *trackIn) frame(b *mkv.Block, pts time.Duration, wall time.Time) (*media.Frame, error) {
	f := &media.Frame{Track: in.index, PTS: pts, DTS: pts, Key: b.Key, Wall: wall, Data: b.Data}
	if in.track.Kind() == media.KindAudio {
		f.Key = true
	}
	if in.lenSize == 0 {
		return f, nil
	}
	nalus, err := splitLengthPrefixed(in.nalus[:0], b.Data, in.lenSize)
	in.nalus = nalus
	if err != nil {
		return nil, err
	}
	au := nalus
	if b.Key && len(in.params) > 0 && !hasParams(in.track.Codec, nalus) {
		au = append(append([][]byte(nil), in.params...), nalus...)
	}
	size := 0
	for _, n := range au {
		size += 4 + len(n)
	}
	data := make([]byte, 0, size)
	for _, n := range au {
		data = binary.BigEndian.AppendUint32(data, uint32(len(n)))
		data = append(data, n...)
	}
	f.Data = data
	f.DTS = in.dts(au, pts, b.Key)
	return f, nil
}

// dts finds the decode time of a video access unit (B-frames: Matroska
// blocks carry the presentation time only). When the extractor cannot
// tell, DTS is PTS, kept increasing.
func (in *trackIn) dts(au [][]byte, pts time.Duration, key bool) time.Duration {
	ticks := int64(pts) * 90000 / int64(time.Second)
	var v int64
	var err error
	switch in.track.Codec {
	case media.CodecH264:
		if key || in.h264DTS == nil {
			in.h264DTS = &h264.DTSExtractor{}
			in.h264DTS.Initialize()
		}
		v, err = in.h264DTS.Extract(au, ticks)
	case media.CodecH265:
		if key || in.h265DTS == nil {
			in.h265DTS = &h265.DTSExtractor{}
			in.h265DTS.Initialize()
		}
		v, err = in.h265DTS.Extract(au, ticks)
	}
	d := pts
	if err == nil {
		d = time.Duration(v) * time.Second / 90000
	}
	if d > pts {
		d = pts
	}
	if in.haveDTS && d <= in.lastDTS {
		d = in.lastDTS + time.Millisecond
	}
	in.lastDTS, in.haveDTS = d, true
	return d
}

func hasParams(c media.Codec, nalus [][]byte) bool {
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		if c == media.CodecH264 && n[0]&0x1f == 7 {
			return true
		}
		if c == media.CodecH265 && (n[0]>>1)&0x3f == 33 {
			return true
		}
	}
	return false
}

// splitLengthPrefixed splits AVCC/HVCC data into NAL units.
func splitLengthPrefixed(dst [][]byte, p []byte, lenSize int) ([][]byte, error) {
	for len(p) > 0 {
		if len(p) < lenSize {
			return dst, fmt.Errorf("putmedia: NAL unit length cut short")
		}
		n := 0
		for i := 0; i < lenSize; i++ {
			n = n<<8 | int(p[i])
		}
		p = p[lenSize:]
		if n > len(p) {
			return dst, fmt.Errorf("putmedia: NAL unit of %d bytes with %d left", n, len(p))
		}
		if n > 0 {
			dst = append(dst, p[:n])
		}
		p = p[n:]
	}
	return dst, nil
}

// decoderConfig reads a track's avcC or hvcC record with parse. An empty
// one is accepted: the parameter sets then come in-band, with 4-byte NAL
// unit lengths. The parameter sets are copied: the record's bytes belong
// to the reader.
func decoderConfig(p []byte, parse func([]byte) (mkv.DecoderConfig, error)) (mkv.DecoderConfig, error) {
	if len(p) == 0 {
		return mkv.DecoderConfig{LengthSize: 4}, nil
	}
	c, err := parse(p)
	if err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalidCodecPrivate, err)
	}
	for i, n := range c.ParamSets {
		c.ParamSets[i] = clone(n)
	}
	return c, nil
}
