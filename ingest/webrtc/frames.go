package webrtc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/media/bitstream"
)

// maxLate bounds the reorder buffer of a track, in packets: a 4 Mbit/s
// keyframe is ~400 packets of 1200 bytes, and NACKed packets come back
// within a round trip.
const maxLate = 512

// maxFrame bounds a reassembled frame (a 4K keyframe is far below).
const maxFrame = 8 << 20

// errNotKey is a video frame before the track's first keyframe.
var errNotKey = errors.New("video frame before the first keyframe")

// assembler turns one track's RTP packets into whole frames. It is used by
// one goroutine (the track's reader).
type assembler struct {
	codec media.Codec
	rate  int64
	sb    *samplebuilder.SampleBuilder

	started bool
	last    uint32
	ext     int64         // RTP timestamp of the current frame, unwrapped, from the first
	base    time.Duration // media time of the first frame
	gotKey  bool
}

// newAssembler returns the assembler of a codec at an RTP clock rate.
func newAssembler(c media.Codec, rate int) (*assembler, error) {
	var d rtp.Depacketizer
	switch c {
	case media.CodecH264:
		d = &codecs.H264Packet{IsAVC: true}
	case media.CodecH265:
		d = &h265Depacketizer{}
	case media.CodecVP8:
		d = &codecs.VP8Packet{}
	case media.CodecVP9:
		d = &codecs.VP9Packet{}
	case media.CodecAV1:
		d = &codecs.AV1Depacketizer{}
	case media.CodecOpus:
		d = &codecs.OpusPacket{}
	case media.CodecPCMU, media.CodecPCMA:
		d = rawAudio{}
	default:
		return nil, fmt.Errorf("webrtc: no depacketizer for %s", c)
	}
	if rate <= 0 {
		return nil, fmt.Errorf("webrtc: clock rate %d", rate)
	}
	return &assembler{codec: c, rate: int64(rate), sb: samplebuilder.New(maxLate, d, uint32(rate), samplebuilder.WithRTPHeaders(c.Kind() == media.KindVideo))}, nil
}

// rawAudio is the depacketizer of G.711: the payload is the samples.
type rawAudio struct{}

func (rawAudio) Unmarshal(p []byte) ([]byte, error) { return p, nil }
func (rawAudio) IsPartitionHead([]byte) bool        { return true }
func (rawAudio) IsPartitionTail(bool, []byte) bool  { return true }

// push adds a packet (which the assembler keeps).
func (a *assembler) push(p *rtp.Packet) { a.sb.Push(p) }

// pop returns the next whole frame, nil when none is ready. since is the
// arrival of the frame since the session started: it places a track's
// first frame on the session's timeline. A frame that cannot be stored is
// returned as an error with the frame nil; call pop again.
func (a *assembler) pop(since time.Duration) (*media.Frame, uint32, error) {
	s := a.sb.Pop()
	if s == nil {
		return nil, 0, nil
	}
	if !a.started {
		a.started, a.last, a.base = true, s.PacketTimestamp, since
	} else {
		a.ext += int64(int32(s.PacketTimestamp - a.last))
		a.last = s.PacketTimestamp
	}
	pts := a.base + time.Duration(a.ext*int64(time.Second)/a.rate)
	if err := whole(s.RTPHeaders); err != nil {
		// A frame whose last packet never came (Chromium abandons a VP9
		// frame's tail when it answers a PLI): the sample builder ends it
		// where the timestamp changes, or glues it to the next frame's
		// marker packet. Stored, it would be corrupt, and later frames
		// may reference it: wait for a keyframe.
		a.gotKey = false
		return nil, s.PacketTimestamp, fmt.Errorf("%w: %s frame of %d bytes: %v", ErrBadPayload, a.codec, len(s.Data), err)
	}
	f, err := a.frame(s.Data)
	if err != nil {
		return nil, s.PacketTimestamp, err
	}
	f.PTS, f.DTS = pts, pts
	return f, s.PacketTimestamp, nil
}

// frame checks a reassembled frame and tells its keyframes.
func (a *assembler) frame(data []byte) (*media.Frame, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty %s frame", ErrBadPayload, a.codec)
	}
	if len(data) > maxFrame {
		return nil, fmt.Errorf("%w: %s frame of %d bytes (at most %d)", ErrBadPayload, a.codec, len(data), maxFrame)
	}
	f := &media.Frame{Data: data, Key: true}
	var err error
	switch a.codec {
	case media.CodecH264:
		f.Key, err = h264Key(data)
	case media.CodecH265:
		f.Data, f.Key, err = h265AU(data)
	case media.CodecVP8:
		var v bitstream.VP8Frame
		v, err = bitstream.ReadVP8(data)
		f.Key = v.Key
	case media.CodecVP9:
		var v bitstream.VP9Frame
		v, err = bitstream.ReadVP9(data)
		f.Key = v.Key
	case media.CodecAV1:
		f.Data, err = bitstream.AV1FromLowOverhead(data)
		if err == nil {
			var v bitstream.AV1Frame
			v, err = bitstream.ReadAV1(f.Data)
			f.Key = v.Key
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadPayload, a.codec, err)
	}
	if a.codec.Kind() == media.KindVideo {
		if !f.Key && !a.gotKey {
			return nil, errNotKey
		}
		a.gotKey = a.gotKey || f.Key
	}
	return f, nil
}

// h264Key reads an AVCC access unit and reports whether it holds an IDR
// slice (NAL type 5).
func h264Key(au []byte) (bool, error) {
	key := false
	for rest := au; len(rest) > 0; {
		if len(rest) < 5 {
			return false, fmt.Errorf("truncated NAL unit length")
		}
		n := binary.BigEndian.Uint32(rest)
		if n == 0 || uint64(n) > uint64(len(rest)-4) {
			return false, fmt.Errorf("NAL unit of %d bytes in %d", n, len(rest)-4)
		}
		if rest[4]&0x1f == 5 {
			key = true
		}
		rest = rest[4+n:]
	}
	return key, nil
}

// h265Depacketizer is pion's H.265 depacketizer (RFC 7798, Annex-B out)
// whose frames end only at the RTP marker: pion's ends one at the last
// fragment of every fragmented NAL unit, which would split an access
// unit of several slices.
type h265Depacketizer struct{ codecs.H265Depacketizer }

func (*h265Depacketizer) IsPartitionTail(marker bool, _ []byte) bool { return marker }

// h265AU turns an Annex-B access unit into 4-byte length-prefixed NAL
// units and reports whether it is an IRAP picture (NAL types 16-23).
func h265AU(annexB []byte) ([]byte, bool, error) {
	var out []byte
	key := false
	for _, nal := range splitAnnexB(annexB) {
		if len(nal) < 2 {
			return nil, false, fmt.Errorf("NAL unit of %d bytes", len(nal))
		}
		if t := nal[0] >> 1 & 0x3f; t >= 16 && t <= 23 {
			key = true
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(nal)))
		out = append(out, nal...)
	}
	if len(out) == 0 {
		return nil, false, errors.New("no NAL unit")
	}
	return out, key, nil
}

// splitAnnexB returns the NAL units between start codes (00 00 01 or
// 00 00 00 01), trailing zero bytes dropped.
func splitAnnexB(b []byte) [][]byte {
	var nals [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				nals = append(nals, trimZeros(b[start:i]))
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		nals = append(nals, trimZeros(b[start:]))
	}
	return nals
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// whole checks the RTP headers of a video sample: one timestamp, and the
// marker on the last packet (RFC 6184, RFC 7741, RFC 9628, the AV1 RTP
// payload format: the marker ends the frame). No headers: audio.
func whole(hdrs []*rtp.Header) error {
	n := len(hdrs)
	if n == 0 {
		return nil
	}
	if !hdrs[n-1].Marker {
		return errors.New("its last packet never came (no RTP marker)")
	}
	for _, h := range hdrs[:n-1] {
		if h.Timestamp != hdrs[n-1].Timestamp {
			return errors.New("its last packet never came (packets of two timestamps)")
		}
	}
	return nil
}
