package rtsp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpav1"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpfragmented"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtplpcm"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmjpeg"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpsimpleaudio"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpvp8"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpvp9"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/media/bitstream"
)

// trackDecoder turns the RTP packets of one gortsplib format into
// media.Frames. It knows nothing of the RTSP server: a pull client feeds it
// the same way (packet + unwrapped PTS + optional NTP wall time).
//
// Payload formats: H.264 RFC 6184, H.265 RFC 7798, AAC RFC 3640
// (mpeg4-generic) and RFC 6416 (MP4A-LATM), Opus RFC 7587, G.711 (PCMU,
// PCMA) RFC 3551 section 4.5.14 and LPCM (L16, L24) RFC 3551/3190: one
// frame per packet; VP8 RFC 7741, VP9 RFC 9628, AV1 (RTP Payload Format
// for AV1 v1.0), MJPEG RFC 2435: one frame (AV1: one temporal unit) per
// picture, DTS = PTS. VP9 keyframes are read from the uncompressed header
// (frame_type KEY_FRAME); an AV1 keyframe is a temporal unit with a
// sequence header and a shown key frame, and it teaches the track its
// av1C and size. (VP9 spatial layers, sent as several frames of one
// timestamp, keep only the first: cameras send one layer.)
//
// Video access units are re-muxed as mediamtx does: access unit delimiters
// and in-band parameter sets are removed, and every keyframe is prefixed with
// the latest known VPS/SPS/PPS, so each keyframe is decodable on its own.
// The decoder's own Track copy learns parameter sets and picture size from
// the stream when the SDP lacks them.
//
// A trackDecoder is not safe for concurrent use.
type trackDecoder struct {
	index     int
	track     *media.Track
	clockRate int64

	h264Dec  *rtph264.Decoder
	h265Dec  *rtph265.Decoder
	aacDec   *rtpmpeg4audio.Decoder
	latmDec  *rtpfragmented.Decoder
	opusDec  *rtpsimpleaudio.Decoder
	pcmDec   *rtplpcm.Decoder // G.711 and LPCM
	vp8Dec   *rtpvp8.Decoder
	vp9Dec   *rtpvp9.Decoder
	av1Dec   *rtpav1.Decoder
	mjpegDec *rtpmjpeg.Decoder

	latmConfig *mpeg4audio.StreamMuxConfig
	latmInBand bool
	// auStep is the duration of one AAC access unit in clock-rate units.
	auStep int64

	// DTS extraction; nil until a keyframe with parameter sets arrives, and
	// again after an extraction error.
	h264DTS *h264.DTSExtractor
	h265DTS *h265.DTSExtractor
	// lastDTS is the DTS of the last delivered video frame, if haveDTS.
	lastDTS int64
	haveDTS bool
}

// newTrackDecoder returns the decoder of a format, the frames of which carry
// Track index. It returns ErrUnsupportedCodec for other formats.
func newTrackDecoder(index int, f format.Format) (*trackDecoder, error) {
	d := &trackDecoder{index: index}
	// ClockRate of these formats dereferences their configuration.
	if a, ok := f.(*format.MPEG4Audio); ok && a.Config == nil {
		return nil, fmt.Errorf("%w: AAC without AudioSpecificConfig", ErrUnsupportedCodec)
	}
	if l, ok := f.(*format.MPEG4AudioLATM); ok && !l.CPresent && (l.StreamMuxConfig == nil || latmASC(l.StreamMuxConfig) == nil) {
		return nil, fmt.Errorf("%w: MP4A-LATM without StreamMuxConfig", ErrUnsupportedCodec)
	}
	d.clockRate = int64(f.ClockRate())
	var err error
	switch f := f.(type) {
	case *format.H264:
		sps, pps := f.SafeParams()
		d.track = &media.Track{Codec: media.CodecH264, ClockRate: 90000}
		d.setParam(&d.track.SPS, sps)
		d.setParam(&d.track.PPS, pps)
		d.h264Dec, err = f.CreateDecoder()
	case *format.H265:
		vps, sps, pps := f.SafeParams()
		d.track = &media.Track{Codec: media.CodecH265, ClockRate: 90000}
		d.setParam(&d.track.VPS, vps)
		d.setParam(&d.track.SPS, sps)
		d.setParam(&d.track.PPS, pps)
		d.h265Dec, err = f.CreateDecoder()
	case *format.MPEG4Audio:
		if err = d.setAACConfig(f.Config); err != nil {
			return nil, err
		}
		d.aacDec, err = f.CreateDecoder()
	case *format.MPEG4AudioLATM:
		switch {
		case f.StreamMuxConfig != nil:
			d.latmConfig = f.StreamMuxConfig
		case f.CPresent:
			d.latmInBand = true
		default:
			return nil, fmt.Errorf("%w: MP4A-LATM without StreamMuxConfig", ErrUnsupportedCodec)
		}
		d.track = &media.Track{Codec: media.CodecAAC, ClockRate: int(d.clockRate)}
		if d.latmConfig != nil {
			asc := latmASC(d.latmConfig)
			if asc == nil {
				return nil, fmt.Errorf("%w: MP4A-LATM StreamMuxConfig without AudioSpecificConfig", ErrUnsupportedCodec)
			}
			if err = d.setAACConfig(asc); err != nil {
				return nil, err
			}
		}
		d.latmDec, err = f.CreateDecoder()
	case *format.Opus:
		// gortsplib's SDP parser always sets ChannelCount (and the
		// deprecated IsStereo with it); 0 only comes from a hand-built
		// format, which is mono.
		ch := max(f.ChannelCount, 1)
		if ch > 2 {
			// multiopus needs a channel mapping the frame model lacks.
			return nil, fmt.Errorf("%w: multiopus with %d channels", ErrUnsupportedCodec, ch)
		}
		d.track = &media.Track{Codec: media.CodecOpus, ClockRate: 48000, SampleRate: 48000, Channels: ch}
		d.opusDec, err = f.CreateDecoder()
	case *format.G711:
		codec := media.CodecPCMA
		if f.MULaw {
			codec = media.CodecPCMU
		}
		ch := max(f.ChannelCount, 1)
		d.track = &media.Track{Codec: codec, ClockRate: f.SampleRate, SampleRate: f.SampleRate, Channels: ch}
		d.pcmDec, err = f.CreateDecoder()
	case *format.LPCM:
		if f.BitDepth != 16 && f.BitDepth != 24 {
			return nil, fmt.Errorf("%w: LPCM of %d bits", ErrUnsupportedCodec, f.BitDepth)
		}
		ch := max(f.ChannelCount, 1)
		d.track = &media.Track{Codec: media.CodecLPCM, ClockRate: f.SampleRate, SampleRate: f.SampleRate, Channels: ch, BitDepth: f.BitDepth}
		d.pcmDec, err = f.CreateDecoder()
	case *format.VP8:
		d.track = &media.Track{Codec: media.CodecVP8, ClockRate: 90000}
		d.vp8Dec, err = f.CreateDecoder()
	case *format.MJPEG:
		d.track = &media.Track{Codec: media.CodecMJPEG, ClockRate: 90000}
		d.mjpegDec, err = f.CreateDecoder()
	case *format.VP9:
		d.track = &media.Track{Codec: media.CodecVP9, ClockRate: 90000}
		d.vp9Dec, err = f.CreateDecoder()
	case *format.AV1:
		d.track = &media.Track{Codec: media.CodecAV1, ClockRate: 90000}
		d.av1Dec, err = f.CreateDecoder()
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedCodec, f.Codec())
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnsupportedCodec, f.Codec(), err)
	}
	if d.clockRate <= 0 {
		return nil, fmt.Errorf("%w: %s with clock rate %d", ErrUnsupportedCodec, f.Codec(), d.clockRate)
	}
	return d, nil
}

func latmASC(c *mpeg4audio.StreamMuxConfig) *mpeg4audio.AudioSpecificConfig {
	if len(c.Programs) == 0 || len(c.Programs[0].Layers) == 0 {
		return nil
	}
	return c.Programs[0].Layers[0].AudioSpecificConfig
}

func (d *trackDecoder) setAACConfig(c *mpeg4audio.AudioSpecificConfig) error {
	raw, err := c.Marshal()
	if err != nil {
		return fmt.Errorf("%w: AAC config: %w", ErrUnsupportedCodec, err)
	}
	if d.track == nil {
		d.track = &media.Track{Codec: media.CodecAAC, ClockRate: int(d.clockRate)}
	}
	if c.SampleRate <= 0 {
		return fmt.Errorf("%w: AAC sample rate %d", ErrUnsupportedCodec, c.SampleRate)
	}
	d.track.SampleRate = c.SampleRate
	d.track.Channels = c.ChannelCount
	d.track.Config = raw
	samples := int64(mpeg4audio.SamplesPerAccessUnit)
	if c.FrameLengthFlag {
		samples = 960
	}
	// the RTP clock is the sample rate, except 90 kHz for LATM with
	// in-band configuration (RFC 6416 §7.3).
	d.auStep = samples * d.clockRate / int64(c.SampleRate)
	return nil
}

// setParam stores a parameter set in the decoder's track and refreshes the
// picture size when it is an SPS.
func (d *trackDecoder) setParam(dst *[]byte, v []byte) {
	if len(v) == 0 || string(*dst) == string(v) {
		return
	}
	*dst = append([]byte(nil), v...)
	if dst != &d.track.SPS {
		return
	}
	switch d.track.Codec {
	case media.CodecH264:
		var s h264.SPS
		if s.Unmarshal(v) == nil {
			d.track.Width, d.track.Height = s.Width(), s.Height()
		}
	case media.CodecH265:
		var s h265.SPS
		if s.Unmarshal(v) == nil {
			d.track.Width, d.track.Height = s.Width(), s.Height()
		}
	}
}

// Track returns the decoder's view of the track, updated with what the
// stream taught it. The caller must not modify it and must copy it (Clone)
// before handing it to another goroutine.
func (d *trackDecoder) Track() *media.Track { return d.track }

// Decode decodes one RTP packet whose PTS is pts, in clock-rate units on the
// session's unwrapped timeline (gortsplib's PacketPTS2). wall is the NTP time
// of the packet from RTCP sender reports, zero when unknown.
//
// It returns the completed frames, or ErrNeedMorePackets (normal: the access
// unit is not complete yet), ErrDecode (a damaged or garbage payload) or
// ErrFrameDropped (video waiting for a keyframe).
func (d *trackDecoder) Decode(pkt *rtp.Packet, pts int64, wall time.Time) (frames []*media.Frame, err error) {
	// A bug in a third-party depacketizer or bitstream parser must cost one
	// camera a frame, not the whole appliance: every camera shares the
	// process. FuzzTrackDecoder fails on any recovered panic.
	defer func() {
		if r := recover(); r != nil {
			d.h264DTS, d.h265DTS = nil, nil
			frames, err = nil, fmt.Errorf("%w: %v", errDecoderPanic, r)
		}
	}()
	switch {
	case d.h264Dec != nil:
		return d.decodeH264(pkt, pts, wall)
	case d.h265Dec != nil:
		return d.decodeH265(pkt, pts, wall)
	case d.aacDec != nil:
		aus, err := d.aacDec.Decode(pkt)
		if err != nil {
			return nil, decodeErr(err, rtpmpeg4audio.ErrMorePacketsNeeded)
		}
		return d.audioFrames(aus, pts, wall), nil
	case d.latmDec != nil:
		return d.decodeLATM(pkt, pts, wall)
	case d.opusDec != nil:
		p, err := d.opusDec.Decode(pkt)
		if err != nil {
			return nil, decodeErr(err, nil)
		}
		if len(p) == 0 {
			return nil, fmt.Errorf("%w: empty Opus packet", ErrDecode)
		}
		return d.audioFrames([][]byte{p}, pts, wall), nil
	case d.pcmDec != nil:
		p, err := d.pcmDec.Decode(pkt)
		if err != nil {
			return nil, decodeErr(err, nil)
		}
		if len(p) == 0 {
			return nil, fmt.Errorf("%w: empty %s packet", ErrDecode, d.track.Codec)
		}
		return d.audioFrames([][]byte{p}, pts, wall), nil
	case d.vp8Dec != nil:
		fr, err := d.vp8Dec.Decode(pkt)
		if err != nil {
			return nil, decodeErr(err, rtpvp8.ErrMorePacketsNeeded)
		}
		// RFC 6386 section 9.1: bit 0 of the frame tag is 0 on a key
		// frame, whose start code 9d 01 2a is followed by the size.
		key := len(fr) > 0 && fr[0]&1 == 0
		if key && len(fr) >= 10 && fr[3] == 0x9d && fr[4] == 0x01 && fr[5] == 0x2a {
			d.track.Width, d.track.Height = int(binary.LittleEndian.Uint16(fr[6:])&0x3fff), int(binary.LittleEndian.Uint16(fr[8:])&0x3fff)
		}
		return d.plainVideoFrame(fr, key, pts, wall)
	case d.vp9Dec != nil:
		fr, err := d.vp9Dec.Decode(pkt)
		if err != nil {
			return nil, decodeErr(err, rtpvp9.ErrMorePacketsNeeded)
		}
		v, err := bitstream.ReadVP9(fr)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDecode, err)
		}
		if v.Key {
			d.track.Width, d.track.Height = v.Width, v.Height
		}
		return d.plainVideoFrame(fr, v.Key, pts, wall)
	case d.av1Dec != nil:
		return d.decodeAV1(pkt, pts, wall)
	case d.mjpegDec != nil:
		img, err := d.mjpegDec.Decode(pkt)
		if err != nil {
			return nil, decodeErr(err, rtpmjpeg.ErrMorePacketsNeeded)
		}
		if w, h, ok := jpegSize(img); ok {
			d.track.Width, d.track.Height = w, h
		}
		return d.plainVideoFrame(img, true, pts, wall)
	}
	return nil, ErrUnsupportedCodec
}

// decodeAV1 delivers one temporal unit in the form of media.CodecAV1. The
// track's av1C follows the sequence headers of keyframes.
func (d *trackDecoder) decodeAV1(pkt *rtp.Packet, pts int64, wall time.Time) ([]*media.Frame, error) {
	obus, err := d.av1Dec.Decode(pkt)
	if err != nil {
		return nil, decodeErr(err, rtpav1.ErrMorePacketsNeeded)
	}
	tu, err := bitstream.AV1TemporalUnit(obus)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	a, err := bitstream.ReadAV1(tu)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	if a.Key {
		c, err := bitstream.ParseAV1SequenceHeader(a.SequenceHeader)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDecode, err)
		}
		if string(c.Record) != string(d.track.Config) {
			d.track.Config = c.Record
		}
		d.track.Width, d.track.Height = c.Width, c.Height
	}
	return d.plainVideoFrame(tu, a.Key, pts, wall)
}

// plainVideoFrame delivers a frame of a codec without reordering (VP8, VP9, AV1, MJPEG):
// DTS is PTS, and a timestamp that does not move forward is dropped.
func (d *trackDecoder) plainVideoFrame(data []byte, key bool, pts int64, wall time.Time) ([]*media.Frame, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty %s frame", ErrDecode, d.track.Codec)
	}
	if d.haveDTS && pts <= d.lastDTS {
		return nil, fmt.Errorf("%w: %s timestamp did not move forward", ErrFrameDropped, d.track.Codec)
	}
	d.lastDTS, d.haveDTS = pts, true
	f := &media.Frame{Track: d.index, PTS: d.toDuration(pts), Key: key, Wall: wall, Data: append([]byte(nil), data...)}
	f.DTS = f.PTS
	return []*media.Frame{f}, nil
}

// jpegSize returns the picture size of a JPEG image from its first
// start-of-frame segment (ITU-T T.81 section B.2.2).
func jpegSize(b []byte) (w, h int, ok bool) {
	if len(b) < 4 || b[0] != 0xff || b[1] != 0xd8 {
		return 0, 0, false
	}
	for i := 2; i+9 <= len(b); {
		if b[i] != 0xff {
			return 0, 0, false
		}
		m := b[i+1]
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if m >= 0xc0 && m <= 0xc3 {
			return int(binary.BigEndian.Uint16(b[i+7:])), int(binary.BigEndian.Uint16(b[i+5:])), true
		}
		if m == 0xda || n < 2 { // start of scan: no frame header before it
			return 0, 0, false
		}
		i += 2 + n
	}
	return 0, 0, false
}

// decodeErr maps a gortsplib decoder error to the package's classes.
func decodeErr(err, morePackets error) error {
	switch {
	case morePackets != nil && errors.Is(err, morePackets):
		return ErrNeedMorePackets
	case errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious),
		errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious),
		errors.Is(err, rtpvp9.ErrNonStartingPacketAndNoPrevious),
		errors.Is(err, rtpav1.ErrNonStartingPacketAndNoPrevious):
		// joined in the middle of a fragmented NAL unit: normal at start.
		return fmt.Errorf("%w: %w", ErrFrameDropped, err)
	}
	return fmt.Errorf("%w: %w", ErrDecode, err)
}

func (d *trackDecoder) audioFrames(aus [][]byte, pts int64, wall time.Time) []*media.Frame {
	out := make([]*media.Frame, 0, len(aus))
	for i, au := range aus {
		if len(au) == 0 {
			continue
		}
		p := pts + int64(i)*d.auStep
		f := &media.Frame{
			Track: d.index,
			PTS:   d.toDuration(p),
			Key:   true,
			Data:  append([]byte(nil), au...), // au aliases the packet buffer
		}
		f.DTS = f.PTS
		if !wall.IsZero() {
			f.Wall = wall.Add(d.toDuration(p - pts))
		}
		out = append(out, f)
	}
	return out
}

func (d *trackDecoder) decodeLATM(pkt *rtp.Packet, pts int64, wall time.Time) ([]*media.Frame, error) {
	el, err := d.latmDec.Decode(pkt)
	if err != nil {
		return nil, decodeErr(err, rtpfragmented.ErrMorePacketsNeeded)
	}
	ame := mpeg4audio.AudioMuxElement{MuxConfigPresent: d.latmInBand, StreamMuxConfig: d.latmConfig}
	if err := ame.Unmarshal(el); err != nil {
		return nil, fmt.Errorf("%w: LATM: %w", ErrDecode, err)
	}
	if d.latmInBand && ame.StreamMuxConfig != nil && d.latmConfig == nil {
		asc := latmASC(ame.StreamMuxConfig)
		if asc == nil {
			return nil, fmt.Errorf("%w: LATM config without AudioSpecificConfig", ErrDecode)
		}
		if err := d.setAACConfig(asc); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDecode, err)
		}
		d.latmConfig = ame.StreamMuxConfig
	}
	if d.auStep == 0 {
		return nil, fmt.Errorf("%w: LATM payload before its configuration", ErrFrameDropped)
	}
	var aus [][]byte
	for _, sub := range ame.Payloads {
		if len(sub) > 0 && len(sub[0]) > 0 {
			aus = append(aus, sub[0][0])
		}
	}
	if len(aus) == 0 {
		return nil, fmt.Errorf("%w: LATM element without payload", ErrDecode)
	}
	return d.audioFrames(aus, pts, wall), nil
}

// toDuration converts clock-rate units to a duration without overflowing
// for any session length.
func (d *trackDecoder) toDuration(v int64) time.Duration {
	secs, rem := v/d.clockRate, v%d.clockRate
	return time.Duration(secs)*time.Second + time.Duration(rem*int64(time.Second)/d.clockRate)
}

func (d *trackDecoder) decodeH264(pkt *rtp.Packet, pts int64, wall time.Time) ([]*media.Frame, error) {
	au, err := d.h264Dec.Decode(pkt)
	if err != nil {
		return nil, decodeErr(err, rtph264.ErrMorePacketsNeeded)
	}
	// learn in-band parameter sets, drop them and delimiters from the AU.
	body := make([][]byte, 0, len(au)+2)
	for _, nalu := range au {
		if len(nalu) == 0 {
			continue
		}
		switch h264.NALUType(nalu[0] & 0x1f) {
		case h264.NALUTypeSPS:
			d.setParam(&d.track.SPS, nalu)
			continue
		case h264.NALUTypePPS:
			d.setParam(&d.track.PPS, nalu)
			continue
		case h264.NALUTypeAccessUnitDelimiter:
			continue
		}
		body = append(body, nalu)
	}
	if len(body) == 0 {
		return nil, ErrNeedMorePackets // parameter sets only
	}
	key := h264.IsRandomAccess(body)
	if key {
		if d.track.SPS == nil || d.track.PPS == nil {
			return nil, fmt.Errorf("%w: H264 keyframe without known SPS/PPS", ErrFrameDropped)
		}
		body = append([][]byte{d.track.SPS, d.track.PPS}, body...)
		if d.h264DTS == nil {
			d.h264DTS = &h264.DTSExtractor{}
			d.h264DTS.Initialize()
		}
	}
	if d.h264DTS == nil {
		return nil, fmt.Errorf("%w: H264 waiting for a keyframe", ErrFrameDropped)
	}
	dts, err := d.h264DTS.Extract(body, pts)
	if err == nil {
		err = d.checkDTS(pts, dts)
	}
	if err != nil && key {
		// The timeline jumped ahead (a camera's clock step, an encoder
		// restart): the keyframe starts a new extraction instead of losing
		// a GOP, as long as DTS still moves forward.
		ext := &h264.DTSExtractor{}
		ext.Initialize()
		if v, err2 := ext.Extract(body, pts); err2 == nil && d.checkDTS(pts, v) == nil && d.after(v) {
			d.h264DTS, dts, err = ext, v, nil
		}
	}
	if err != nil {
		d.h264DTS = nil
		return nil, fmt.Errorf("%w: H264 DTS: %w", ErrFrameDropped, err)
	}
	return d.videoFrame(body, key, pts, dts, wall)
}

func (d *trackDecoder) decodeH265(pkt *rtp.Packet, pts int64, wall time.Time) ([]*media.Frame, error) {
	au, err := d.h265Dec.Decode(pkt)
	if err != nil {
		return nil, decodeErr(err, rtph265.ErrMorePacketsNeeded)
	}
	body := make([][]byte, 0, len(au)+3)
	for _, nalu := range au {
		if len(nalu) < 2 {
			continue
		}
		switch h265.NALUType((nalu[0] >> 1) & 0x3f) {
		case h265.NALUType_VPS_NUT:
			d.setParam(&d.track.VPS, nalu)
			continue
		case h265.NALUType_SPS_NUT:
			d.setParam(&d.track.SPS, nalu)
			continue
		case h265.NALUType_PPS_NUT:
			d.setParam(&d.track.PPS, nalu)
			continue
		case h265.NALUType_AUD_NUT:
			continue
		}
		body = append(body, nalu)
	}
	if len(body) == 0 {
		return nil, ErrNeedMorePackets
	}
	key := h265.IsRandomAccess(body)
	if key {
		if d.track.VPS == nil || d.track.SPS == nil || d.track.PPS == nil {
			return nil, fmt.Errorf("%w: H265 keyframe without known VPS/SPS/PPS", ErrFrameDropped)
		}
		body = append([][]byte{d.track.VPS, d.track.SPS, d.track.PPS}, body...)
		if d.h265DTS == nil {
			d.h265DTS = &h265.DTSExtractor{}
			d.h265DTS.Initialize()
		}
	}
	if d.h265DTS == nil {
		return nil, fmt.Errorf("%w: H265 waiting for a keyframe", ErrFrameDropped)
	}
	dts, err := d.h265DTS.Extract(body, pts)
	if err == nil {
		err = d.checkDTS(pts, dts)
	}
	if err != nil && key {
		// The timeline jumped ahead (a camera's clock step, an encoder
		// restart): the keyframe starts a new extraction instead of losing
		// a GOP, as long as DTS still moves forward.
		ext := &h265.DTSExtractor{}
		ext.Initialize()
		if v, err2 := ext.Extract(body, pts); err2 == nil && d.checkDTS(pts, v) == nil && d.after(v) {
			d.h265DTS, dts, err = ext, v, nil
		}
	}
	if err != nil {
		d.h265DTS = nil
		return nil, fmt.Errorf("%w: H265 DTS: %w", ErrFrameDropped, err)
	}
	return d.videoFrame(body, key, pts, dts, wall)
}

// maxReorderDelay bounds PTS - DTS: decoders reorder a few frames, never
// seconds; larger values come from damaged parameter sets.
const maxReorderDelay = 10 * time.Second

// checkDTS enforces DTS <= PTS (the extractor skips that check after
// leading B-frames, which a damaged slice header can fake) and a plausible
// reorder delay (a damaged SPS timing can put DTS anywhere).
func (d *trackDecoder) checkDTS(pts, dts int64) error {
	if dts > pts {
		return errDTSAfterPTS
	}
	if dts < pts-int64(maxReorderDelay/time.Second)*d.clockRate { // no overflow for any real pts
		return errDTSAfterPTS
	}
	return nil
}

// after reports whether dts lies after the last delivered video DTS.
func (d *trackDecoder) after(dts int64) bool {
	return !d.haveDTS || dts > d.lastDTS
}

func (d *trackDecoder) videoFrame(body [][]byte, key bool, pts, dts int64, wall time.Time) ([]*media.Frame, error) {
	data, err := h264.AVCC(body).Marshal()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	d.lastDTS, d.haveDTS = dts, true
	return []*media.Frame{{
		Track: d.index,
		PTS:   d.toDuration(pts),
		DTS:   d.toDuration(dts),
		Key:   key,
		Wall:  wall,
		Data:  data,
	}}, nil
}
