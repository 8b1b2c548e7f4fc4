package rtsp

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/media/bitstream"
)

// H.265 parameter sets and an IDR slice (from mediacommon's tests).
var (
	testVPS265 = []byte{0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x78, 0x99, 0x98, 0x09}
	testSPS265 = []byte{0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x78, 0xa0, 0x03, 0xc0, 0x80, 0x10, 0xe5, 0x96, 0x66, 0x69, 0x24, 0xca, 0xe0, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x01, 0xe0, 0x80}
	testPPS265 = []byte{0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40}
	testIDR265 = []byte{0x26, 0x01, 0xaf, 0x08, 0x42, 0x23, 0x48, 0x8a, 0x43, 0xe2}
	testAUD264 = []byte{0x09, 0xf0}
)

func latmFormat() *format.MPEG4AudioLATM {
	return &format.MPEG4AudioLATM{
		PayloadTyp: 98,
		StreamMuxConfig: &mpeg4audio.StreamMuxConfig{Programs: []*mpeg4audio.StreamMuxConfigProgram{{
			Layers: []*mpeg4audio.StreamMuxConfigLayer{{
				AudioSpecificConfig: &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelCount: 2},
				LatmBufferFullness:  255,
			}},
		}}},
	}
}

func latmPayload(t testing.TB, f *format.MPEG4AudioLATM, au []byte) []byte {
	el := mpeg4audio.AudioMuxElement{StreamMuxConfig: f.StreamMuxConfig, Payloads: [][][][]byte{{{au}}}}
	b, err := el.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stapA aggregates NAL units in one packet (RFC 6184 §5.7.1).
func stapA(nalus ...[]byte) []byte {
	b := []byte{24}
	for _, n := range nalus {
		b = append(b, byte(len(n)>>8), byte(len(n)))
		b = append(b, n...)
	}
	return b
}

// aggregation is an H.265 aggregation packet (RFC 7798 §4.4.2).
func aggregation(nalus ...[]byte) []byte {
	b := []byte{48 << 1, 1}
	for _, n := range nalus {
		b = append(b, byte(len(n)>>8), byte(len(n)))
		b = append(b, n...)
	}
	return b
}

type decStep struct {
	payload []byte
	ts      uint32
	marker  bool
	wall    time.Time
	err     error  // expected class, nil for frames
	frames  int    // expected frame count
	data    []byte // expected data of the first frame, if set
	key     bool
	pts     time.Duration // expected PTS of the first frame
}

func TestTrackDecoder(t *testing.T) {
	wall := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	latm := latmFormat()
	for _, tc := range []struct {
		name   string
		format format.Format
		track  media.Track // expected after the steps (Codec, sizes, params)
		steps  []decStep
	}{
		{
			name:   "h264 learns in-band params, waits for keyframe",
			format: &format.H264{PayloadTyp: 96, PacketizationMode: 1},
			track:  media.Track{Codec: media.CodecH264, ClockRate: 90000, SPS: testSPS, PPS: testPPS, Width: 352, Height: 288},
			steps: []decStep{
				{payload: []byte{28, 0x05, 1}, err: ErrFrameDropped}, // joined mid FU-A
				{payload: testNonIDR, ts: 0, marker: true, err: ErrFrameDropped},
				{payload: testIDR, ts: 3000, marker: true, err: ErrFrameDropped}, // no SPS/PPS known
				{payload: stapA(testAUD264, testSPS, testPPS), ts: 6000, err: ErrNeedMorePackets},
				{payload: testIDR, ts: 6000, marker: true, frames: 1, key: true, pts: 6000 * time.Second / 90000,
					data: avcc(testSPS, testPPS, testIDR)},
				{payload: stapA(testAUD264, testNonIDR), ts: 9000, marker: true, frames: 1, data: avcc(testNonIDR), pts: 100 * time.Millisecond},
				{payload: stapA(testSPS, testPPS), ts: 12000, marker: true, err: ErrNeedMorePackets}, // params only
			},
		},
		{
			name:   "h264 garbage",
			format: h264Format(),
			track:  media.Track{Codec: media.CodecH264, ClockRate: 90000, SPS: testSPS, PPS: testPPS, Width: 352, Height: 288},
			steps: []decStep{
				{payload: []byte{0x19, 1}, marker: true, err: ErrDecode}, // STAP-B: unsupported
				{payload: nil, marker: true, err: ErrDecode},
				{payload: []byte{24, 0, 9, 1}, marker: true, err: ErrDecode},
				{payload: []byte{28, 0x05}, err: ErrDecode}, // FU-A continuation without start
				{payload: testIDR, ts: 1, marker: true, wall: wall, frames: 1, key: true, pts: time.Second / 90000,
					data: avcc(testSPS, testPPS, testIDR)},
			},
		},
		{
			name:   "h264 DTS error drops until next keyframe",
			format: h264Format(),
			track:  media.Track{Codec: media.CodecH264, ClockRate: 90000, SPS: testSPS, PPS: testPPS, Width: 352, Height: 288},
			steps: []decStep{
				{payload: testIDR, ts: 9000, marker: true, frames: 1, key: true, pts: 100 * time.Millisecond},
				{payload: testNonIDR, ts: 3000, marker: true, err: ErrFrameDropped}, // DTS goes back
				{payload: testNonIDR, ts: 12000, marker: true, err: ErrFrameDropped},
				{payload: testIDR, ts: 15000, marker: true, frames: 1, key: true, pts: 15000 * time.Second / 90000},
				{payload: testNonIDR, ts: 18000, marker: true, frames: 1, pts: 200 * time.Millisecond},
			},
		},
		{
			name:   "h265 keyframe gets parameter sets",
			format: &format.H265{PayloadTyp: 96},
			track:  media.Track{Codec: media.CodecH265, ClockRate: 90000, VPS: testVPS265, SPS: testSPS265, PPS: testPPS265, Width: 1920, Height: 1080},
			steps: []decStep{
				{payload: testIDR265, marker: true, err: ErrFrameDropped},
				{payload: aggregation(testVPS265, testSPS265, testPPS265), ts: 9000, err: ErrNeedMorePackets},
				{payload: testIDR265, ts: 9000, marker: true, frames: 1, key: true, pts: 100 * time.Millisecond,
					data: avcc(testVPS265, testSPS265, testPPS265, testIDR265)},
				{payload: []byte{0x7e}, marker: true, err: ErrDecode},
			},
		},
		{
			name:   "aac generic",
			format: aacFormat(),
			track:  media.Track{Codec: media.CodecAAC, ClockRate: 44100, SampleRate: 44100, Channels: 2, Config: []byte{0x12, 0x10}},
			steps: []decStep{
				{payload: aacPayload(t, []byte{1}, []byte{2}), ts: 44100, marker: true, frames: 2, data: []byte{1}, key: true, pts: time.Second},
				{payload: []byte{0, 16, 0xff, 0xf8}, marker: true, err: ErrDecode}, // AU larger than payload
				{payload: []byte{0}, marker: true, err: ErrDecode},
			},
		},
		{
			name:   "aac latm",
			format: latm,
			track:  media.Track{Codec: media.CodecAAC, ClockRate: 48000, SampleRate: 48000, Channels: 2, Config: []byte{0x11, 0x90}},
			steps: []decStep{
				{payload: latmPayload(t, latm, []byte{5, 6, 7}), ts: 960, marker: true, frames: 1, data: []byte{5, 6, 7}, key: true, pts: 20 * time.Millisecond},
				{payload: []byte{0xff, 0xff, 0xff}, marker: true, err: ErrDecode},
			},
		},
		{
			name:   "opus",
			format: &format.Opus{PayloadTyp: 111, ChannelCount: 2},
			track:  media.Track{Codec: media.CodecOpus, ClockRate: 48000, SampleRate: 48000, Channels: 2},
			steps: []decStep{
				{payload: []byte{0xfc, 0xff}, ts: 48000, marker: true, frames: 1, data: []byte{0xfc, 0xff}, key: true, pts: time.Second},
				{payload: nil, marker: true, err: ErrDecode},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := newTrackDecoder(0, tc.format)
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range tc.steps {
				pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: st.ts, Marker: st.marker}, Payload: st.payload}
				frames, err := d.Decode(pkt, int64(st.ts), st.wall)
				if st.err != nil {
					if !errors.Is(err, st.err) || frames != nil {
						t.Fatalf("step %d: err %v frames %d, want %v", i, err, len(frames), st.err)
					}
					continue
				}
				if err != nil || len(frames) != st.frames {
					t.Fatalf("step %d: err %v, %d frames, want %d", i, err, len(frames), st.frames)
				}
				f := frames[0]
				if st.data != nil && !bytes.Equal(f.Data, st.data) {
					t.Fatalf("step %d: data %x, want %x", i, f.Data, st.data)
				}
				if f.Key != st.key || f.PTS != st.pts || f.DTS > f.PTS || !f.Wall.Equal(st.wall) {
					t.Fatalf("step %d: frame key=%v pts=%v dts=%v wall=%v", i, f.Key, f.PTS, f.DTS, f.Wall)
				}
			}
			got := d.Track()
			if got.Codec != tc.track.Codec || got.ClockRate != tc.track.ClockRate ||
				!bytes.Equal(got.VPS, tc.track.VPS) || !bytes.Equal(got.SPS, tc.track.SPS) || !bytes.Equal(got.PPS, tc.track.PPS) ||
				got.Width != tc.track.Width || got.Height != tc.track.Height ||
				got.SampleRate != tc.track.SampleRate || got.Channels != tc.track.Channels || !bytes.Equal(got.Config, tc.track.Config) {
				t.Fatalf("track %+v\nwant  %+v", got, tc.track)
			}
		})
	}
}

func aacPayload(t testing.TB, aus ...[]byte) []byte {
	f := aacFormat()
	enc, err := f.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := enc.Encode(aus)
	if err != nil || len(pkts) != 1 {
		t.Fatal(err, len(pkts))
	}
	return pkts[0].Payload
}

func TestAACFramesAdvance(t *testing.T) {
	d, err := newTrackDecoder(1, aacFormat())
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true}, Payload: aacPayload(t, []byte{1}, []byte{2}, []byte{3})}
	frames, err := d.Decode(pkt, 1000, wall)
	if err != nil || len(frames) != 3 {
		t.Fatal(err, len(frames))
	}
	for i, f := range frames {
		pts := time.Duration(1000+i*1024) * time.Second / 44100
		if f.Track != 1 || (f.PTS-pts).Abs() > time.Microsecond || f.DTS != f.PTS ||
			(f.Wall.Sub(wall)-(pts-frames[0].PTS)).Abs() > time.Microsecond {
			t.Fatalf("frame %d: %+v (want pts %v)", i, f, pts)
		}
	}
	// the frame data must not alias the packet.
	pkt.Payload[len(pkt.Payload)-1] = 0xee
	if frames[2].Data[0] != 3 {
		t.Fatal("frame data aliases the RTP payload")
	}
}

func TestNewTrackDecoderUnsupported(t *testing.T) {
	for _, f := range []format.Format{
		&format.MPEG4Video{PayloadTyp: 100},
		&format.LPCM{PayloadTyp: 96, BitDepth: 8, SampleRate: 44100, ChannelCount: 2},
		&format.G722{},
		&format.MPEG4Audio{PayloadTyp: 97}, // no config
		&format.MPEG4AudioLATM{PayloadTyp: 97},
		&format.Opus{PayloadTyp: 111, ChannelCount: 6}, // multiopus
	} {
		if _, err := newTrackDecoder(0, f); !errors.Is(err, ErrUnsupportedCodec) {
			t.Errorf("%s: err = %v", f.Codec(), err)
		}
	}
}

func TestToDuration(t *testing.T) {
	d := &trackDecoder{clockRate: 90000}
	for _, tc := range []struct {
		in   int64
		want time.Duration
	}{
		{0, 0},
		{90000, time.Second},
		{-3000, -time.Second / 30},
		{90000 * 86400 * 365 * 100, 100 * 365 * 24 * time.Hour}, // a century: no overflow
	} {
		if got := d.toDuration(tc.in); got != tc.want {
			t.Errorf("toDuration(%d) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestCheckDTS(t *testing.T) {
	d := &trackDecoder{clockRate: 90000}
	for _, tc := range []struct {
		pts, dts int64
		ok       bool
	}{
		{0, 0, true},
		{9000, 3000, true},
		{0, 1, false},
		{900000, 0, true},
		{900001, 0, false},
		{0, -1 << 63, false},
	} {
		if err := d.checkDTS(tc.pts, tc.dts); (err == nil) != tc.ok {
			t.Errorf("checkDTS(%d, %d) = %v", tc.pts, tc.dts, err)
		}
	}
}

// FuzzTrackDecoder feeds random RTP payloads to each codec's decoder: it
// must never panic, and what it delivers must be well formed.
func FuzzTrackDecoder(f *testing.F) {
	seeds := [][]byte{
		testIDR, testNonIDR, stapA(testSPS, testPPS, testIDR), {28, 0x85, 1, 2}, {28, 0x45, 3},
		aggregation(testVPS265, testSPS265, testPPS265, testIDR265), testIDR265, {49 << 1, 1, 0x93, 1},
		aacPayload(f, []byte{1}, []byte{2}), {0, 16, 0, 8, 9},
		latmPayload(f, latmFormat(), []byte{1, 2}),
		{0xfc, 0xff},
		{0x10, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00},       // VP8: start of a key frame, 320x240
		{0, 0, 0, 0, 1, 255, 40, 30, 0xff, 0xd9},                                 // RFC 2435 header, then JPEG bytes
		{0x8c, 0x82, 0x49, 0x83, 0x42, 0x00, 0x09, 0xf0, 0x07, 0x70},             // VP9: B and E, a key frame's start
		{0x10, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x24, 0xc4, 0xff, 0xdf, 0x00, 0x68}, // AV1: one OBU, a sequence header
	}
	for i, s := range seeds {
		for c := range 11 {
			f.Add(uint8(c), uint8(i), s, []byte{0x1c, 0x05, 0xff})
		}
	}
	f.Fuzz(func(t *testing.T, codec, flags uint8, a, b []byte) {
		var forma format.Format
		switch codec % 11 {
		case 0:
			forma = h264Format()
		case 1:
			forma = &format.H265{PayloadTyp: 96, VPS: testVPS265, SPS: testSPS265, PPS: testPPS265}
		case 2:
			forma = aacFormat()
		case 3:
			forma = latmFormat()
		case 4:
			forma = &format.Opus{PayloadTyp: 111, ChannelCount: 2}
		case 5:
			forma = &format.G711{PayloadTyp: 0, MULaw: flags&0x80 != 0, SampleRate: 8000, ChannelCount: 1 + int(flags>>6&1)}
		case 6:
			forma = &format.LPCM{PayloadTyp: 96, BitDepth: 16 + 8*int(flags>>7), SampleRate: 48000, ChannelCount: 1 + int(flags>>6&1)}
		case 7:
			forma = &format.VP8{PayloadTyp: 96}
		case 9:
			forma = &format.VP9{PayloadTyp: 96}
		case 10:
			forma = &format.AV1{PayloadTyp: 96}
		default:
			forma = &format.MJPEG{}
		}
		d, err := newTrackDecoder(0, forma)
		if err != nil {
			t.Fatal(err)
		}
		// a: first packet (marker from flags), b: the next one with the same
		// timestamp, then a again on the next timestamp.
		lastDTS := time.Duration(-1 << 63)
		for i, p := range [][]byte{a, b, a} {
			pkt := &rtp.Packet{
				Header:  rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i/2) * 3000, Marker: flags&(1<<i) != 0},
				Payload: append([]byte(nil), p...),
			}
			frames, err := d.Decode(pkt, int64(pkt.Timestamp), time.Time{})
			if err != nil {
				if frames != nil {
					t.Fatal("frames with an error")
				}
				if errors.Is(err, errDecoderPanic) {
					t.Fatal(err)
				}
				if !errors.Is(err, ErrDecode) && !errors.Is(err, ErrFrameDropped) && !errors.Is(err, ErrNeedMorePackets) {
					t.Fatalf("unclassified error %v", err)
				}
				continue
			}
			for _, fr := range frames {
				if len(fr.Data) == 0 || fr.DTS > fr.PTS || fr.PTS-fr.DTS > maxReorderDelay {
					t.Fatalf("bad frame %+v", fr)
				}
				// video DTS never goes back (audio follows the sender's
				// timestamps, which this input may send backwards).
				if d.Track().Kind() == media.KindVideo && fr.DTS < lastDTS {
					t.Fatalf("video DTS %v after %v", fr.DTS, lastDTS)
				}
				lastDTS = fr.DTS
				if !fr.Key {
					continue
				}
				switch types := nalTypes(d.Track().Codec, fr.Data); d.Track().Codec {
				case media.CodecH264:
					if len(types) < 3 || types[0] != 7 || types[1] != 8 {
						t.Fatalf("H264 keyframe NAL types %v", types)
					}
				case media.CodecH265:
					if len(types) < 4 || types[0] != 32 || types[1] != 33 || types[2] != 34 {
						t.Fatalf("H265 keyframe NAL types %v", types)
					}
				case media.CodecAV1:
					// a keyframe has taught the track its av1C
					if _, err := bitstream.AV1ConfigOBU(d.Track().Config); err != nil {
						t.Fatalf("AV1 keyframe, track config %x: %v", d.Track().Config, err)
					}
				}
			}
		}
	})
}

func TestDecodeRecoversPanic(t *testing.T) {
	dec, err := h264Format().CreateDecoder()
	if err != nil {
		t.Fatal(err)
	}
	d := &trackDecoder{h264Dec: dec, clockRate: 90000} // no track: learning SPS dereferences nil
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true}, Payload: stapA(testSPS, testPPS, testIDR)}
	frames, err := d.Decode(pkt, 0, time.Time{})
	if frames != nil || !errors.Is(err, ErrDecode) || !errors.Is(err, errDecoderPanic) {
		t.Fatalf("frames %v err %v", frames, err)
	}
}
