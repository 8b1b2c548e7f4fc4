package rtsp

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// BenchmarkTrackDecoderH264 measures the decode step of a 2 Mbit/s-like
// H.264 stream: 10 KB access units in FU-A packets, a keyframe every 25.
func BenchmarkTrackDecoderH264(b *testing.B) {
	f := h264Format()
	enc, err := f.CreateEncoder()
	if err != nil {
		b.Fatal(err)
	}
	slice := func(first byte) []byte {
		n := make([]byte, 10_000)
		n[0] = first
		for i := 1; i < len(n); i++ {
			n[i] = byte(i*7 + 1)
		}
		return n
	}
	idr, nonIDR := slice(0x65), slice(0x41)
	var gop [][]*rtp.Packet
	for i := range 25 {
		au := [][]byte{nonIDR}
		if i == 0 {
			au = [][]byte{testSPS, testPPS, idr}
		}
		pkts, err := enc.Encode(au)
		if err != nil {
			b.Fatal(err)
		}
		gop = append(gop, pkts)
	}
	d, err := newTrackDecoder(0, f)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(10_000)
	b.ReportAllocs()
	b.ResetTimer()
	ts := uint32(0)
	for i := 0; i < b.N; i++ {
		ts += 3600
		for _, p := range gop[i%25] {
			p.Timestamp = ts
			frames, err := d.Decode(p, int64(ts), time.Time{})
			if err == nil && len(frames) != 1 {
				b.Fatal("no frame")
			}
		}
	}
}

// BenchmarkTrackDecoderAAC measures AAC: one packet of 4 access units.
func BenchmarkTrackDecoderAAC(b *testing.B) {
	payload := aacPayload(b, make([]byte, 200), make([]byte, 200), make([]byte, 200), make([]byte, 200))
	d, err := newTrackDecoder(1, aacFormat())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		p := &rtp.Packet{Header: rtp.Header{Version: 2, Marker: true, Timestamp: uint32(i * 4096)}, Payload: payload}
		if frames, err := d.Decode(p, int64(i*4096), time.Time{}); err != nil || len(frames) != 4 {
			b.Fatal(err)
		}
	}
}
