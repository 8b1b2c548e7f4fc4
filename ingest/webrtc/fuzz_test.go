package webrtc

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/kinedge/kinedge/ingest/media"
)

func FuzzParseOffer(f *testing.F) {
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 102 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1\r\na=rtpmap:96 VP8/90000\r\na=sendonly\r\na=mid:0\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\na=mid:1\r\n"))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 0 RTP/AVP 999\r\na=rtpmap:999 AV1/x/y\r\n"))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := parseOffer(b)
		if err != nil {
			return
		}
		if o.video == nil && o.audio == nil {
			t.Fatal("an accepted offer without a codec")
		}
		for _, c := range []*choice{o.video, o.audio} {
			if c != nil && c.track().Kind() == 0 {
				t.Fatalf("choice %+v has no kind", c)
			}
		}
	})
}

func TestH265AU(t *testing.T) {
	// Pion's depacketizer output: VPS, SPS, PPS and an IDR slice (type
	// 19), 4-byte start codes; a trailing-zero byte and a 3-byte start code.
	annexB := []byte{0, 0, 0, 1, 0x40, 0x01, 0xaa, 0, 0, 0, 1, 0x42, 0x01, 0xbb, 0, 0, 1, 0x44, 0x01, 0, 0, 0, 1, 0x26, 0x01, 0xcc, 0xdd}
	au, key, err := h265AU(annexB)
	want := []byte{0, 0, 0, 3, 0x40, 0x01, 0xaa, 0, 0, 0, 3, 0x42, 0x01, 0xbb, 0, 0, 0, 2, 0x44, 0x01, 0, 0, 0, 4, 0x26, 0x01, 0xcc, 0xdd}
	if err != nil || !key || !bytes.Equal(au, want) {
		t.Fatalf("h265AU: % x key %v err %v", au, key, err)
	}
	if _, key, err := h265AU([]byte{0, 0, 0, 1, 0x02, 0x01, 0xee}); err != nil || key {
		t.Errorf("a TRAIL_R slice: key %v err %v", key, err)
	}
	for _, bad := range [][]byte{{}, {1, 2, 3}, {0, 0, 1, 0x26}} {
		if _, _, err := h265AU(bad); err == nil {
			t.Errorf("h265AU(% x): no error", bad)
		}
	}
}

// FuzzAssembler feeds arbitrary RTP packets (payload, marker, sequence
// and timestamp steps from the input) to every codec's assembler: it must
// not panic, and its frames must be bounded and timed.
func FuzzAssembler(f *testing.F) {
	f.Add(uint8(0), []byte{0x7c, 0x85, 0xaa, 0xbb, 0x00, 0x7c, 0x45, 0xcc})
	f.Add(uint8(1), []byte{0x10, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00})
	f.Add(uint8(2), []byte{0x88, 0x00, 0x80, 0x49, 0x83, 0x42, 0x00})
	f.Add(uint8(3), []byte{0x18, 0x0a, 0x0b, 0x00, 0x00, 0x00, 0x24, 0x4f, 0x7e, 0x7f, 0x00, 0x68, 0x83})
	f.Add(uint8(4), []byte{0xfc, 0x01, 0x02})
	// H.265: an IDR slice alone; an aggregation packet (VPS, SPS); an FU.
	f.Add(uint8(6), []byte{0x05, 0x01, 0x26, 0x01, 0xaf, 0x08, 0x80})
	f.Add(uint8(6), []byte{0x0b, 0x08, 0x60, 0x01, 0x00, 0x02, 0x40, 0x01, 0x00, 0x02, 0x42, 0x01})
	f.Add(uint8(6), []byte{0x04, 0x00, 0x62, 0x01, 0x93, 0xaa, 0x04, 0x09, 0x62, 0x01, 0x53, 0xbb})
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		all := []media.Codec{media.CodecH264, media.CodecVP8, media.CodecVP9, media.CodecAV1, media.CodecOpus, media.CodecPCMU, media.CodecH265}
		c := all[int(which)%len(all)]
		a, err := newAssembler(c, 90000)
		if err != nil {
			t.Fatal(err)
		}
		seq, ts := uint16(65530), uint32(4294967000)
		for len(b) > 2 {
			n := int(b[0]) % 64
			ctl := b[1]
			b = b[2:]
			n = min(n, len(b))
			p := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: ctl&1 != 0, SequenceNumber: seq, Timestamp: ts}, Payload: append([]byte(nil), b[:n]...)}
			b = b[n:]
			seq += uint16(ctl>>1&3) + 1
			if ctl&8 != 0 {
				ts += 3000
			}
			a.push(p)
			for {
				f, _, err := a.pop(time.Second)
				if f == nil && err == nil {
					break
				}
				if f != nil && (len(f.Data) == 0 || len(f.Data) > maxFrame || f.PTS != f.DTS) {
					t.Fatalf("frame %d bytes, PTS %v DTS %v", len(f.Data), f.PTS, f.DTS)
				}
			}
		}
		a.sb.Flush()
		for {
			f, _, err := a.pop(time.Second)
			if f == nil && err == nil {
				break
			}
		}
	})
}

// A video frame whose last packet never came is not stored, nor the delta
// frames after it, until a keyframe.
func TestAssemblerDropsFrameWithoutTail(t *testing.T) {
	a, err := newAssembler(media.CodecVP8, 90000)
	if err != nil {
		t.Fatal(err)
	}
	key := []byte{0x10, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00} // S=1 PID 0, then a key frame
	delta := []byte{0x10, 0x11, 0x02, 0x00}
	pkts := []*rtp.Packet{
		{Header: rtp.Header{SequenceNumber: 1, Timestamp: 0, Marker: true}, Payload: key},
		{Header: rtp.Header{SequenceNumber: 2, Timestamp: 3000, Marker: false}, Payload: delta}, // its tail never comes
		{Header: rtp.Header{SequenceNumber: 3, Timestamp: 6000, Marker: true}, Payload: delta},  // glued to the one before

		{Header: rtp.Header{SequenceNumber: 4, Timestamp: 9000, Marker: true}, Payload: key},
		{Header: rtp.Header{SequenceNumber: 5, Timestamp: 12000, Marker: true}, Payload: delta},
	}
	var got []string
	for _, p := range pkts {
		a.push(p)
		for {
			f, ts, err := a.pop(0)
			if f == nil && err == nil {
				break
			}
			switch {
			case err != nil:
				got = append(got, "drop")
			case f.Key:
				got = append(got, "key")
			default:
				got = append(got, "delta")
			}
			_ = ts
		}
	}
	a.sb.Flush()
	for {
		f, _, err := a.pop(0)
		if f == nil && err == nil {
			break
		}
		if f != nil {
			got = append(got, map[bool]string{true: "key", false: "delta"}[f.Key])
		}
	}
	if want := "key drop key delta"; strings.Join(got, " ") != want {
		t.Fatalf("got %q, want %q", strings.Join(got, " "), want)
	}
}
