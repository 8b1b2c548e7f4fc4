package rtsp

import (
	"bytes"
	"encoding/binary"
	"os"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	mcav1 "github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/pion/rtp"

	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/media/bitstream"
)

// ivfFrames returns the frames of one of the bitstream package's IVF
// samples (made by ffmpeg).
func ivfFrames(t testing.TB, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile("../media/bitstream/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for p := b[32:]; len(p) >= 12; {
		n := int(binary.LittleEndian.Uint32(p))
		out = append(out, p[12:12+n])
		p = p[12+n:]
	}
	return out
}

// decodeAll feeds packets of consecutive pictures 100 ms apart and
// returns the frames.
func decodeAll(t *testing.T, d *trackDecoder, pictures [][]*rtp.Packet) []*media.Frame {
	t.Helper()
	var out []*media.Frame
	for i, pkts := range pictures {
		for _, p := range pkts {
			p.Timestamp = uint32(i * 9000)
			frames, err := d.Decode(p, int64(p.Timestamp), time.Time{})
			if err != nil && err != ErrNeedMorePackets {
				t.Fatalf("picture %d: %v", i, err)
			}
			out = append(out, frames...)
		}
	}
	return out
}

// TestTrackDecoderVP9AV1: VP9 (RFC 9628) and AV1 pictures packetized by
// gortsplib, small packets so frames fragment, come out whole: VP9 as
// sent, AV1 as the low-overhead temporal unit without delimiters; the
// first is the keyframe, and the track learns size (and av1C).
func TestTrackDecoderVP9AV1(t *testing.T) {
	t.Run("vp9", func(t *testing.T) {
		for _, c := range []struct {
			file string
			w, h int
		}{{"vp9_160x120.ivf", 160, 120}, {"vp9p2_176x144.ivf", 176, 144}} {
			f := &format.VP9{PayloadTyp: 96}
			enc, err := f.CreateEncoder()
			if err != nil {
				t.Fatal(err)
			}
			enc.PayloadMaxSize = 300
			frames := ivfFrames(t, c.file)
			var pics [][]*rtp.Packet
			for _, fr := range frames {
				pkts, err := enc.Encode(fr)
				if err != nil {
					t.Fatal(err)
				}
				pics = append(pics, pkts)
			}
			d, err := newTrackDecoder(0, f)
			if err != nil {
				t.Fatal(err)
			}
			got := decodeAll(t, d, pics)
			if len(got) != len(frames) {
				t.Fatalf("%s: %d frames, want %d", c.file, len(got), len(frames))
			}
			for i, fr := range got {
				if !bytes.Equal(fr.Data, frames[i]) || fr.Key != (i == 0) || fr.PTS != time.Duration(i)*100*time.Millisecond {
					t.Fatalf("%s: frame %d: key %v pts %v, %d bytes", c.file, i, fr.Key, fr.PTS, len(fr.Data))
				}
			}
			if tr := d.Track(); tr.Codec != media.CodecVP9 || tr.Width != c.w || tr.Height != c.h {
				t.Fatalf("track %+v", tr)
			}
		}
	})
	t.Run("av1", func(t *testing.T) {
		f := &format.AV1{PayloadTyp: 96}
		enc, err := f.CreateEncoder()
		if err != nil {
			t.Fatal(err)
		}
		enc.PayloadMaxSize = 200
		var pics [][]*rtp.Packet
		var want [][]byte
		for _, u := range ivfFrames(t, "av1_192x108.ivf") {
			// An RTP sender's OBUs: no size fields (and here the
			// temporal delimiter too, which the decoder drops).
			var obus mcav1.Bitstream
			if err := obus.Unmarshal(u); err != nil {
				t.Fatal(err)
			}
			pkts, err := enc.Encode(obus)
			if err != nil {
				t.Fatal(err)
			}
			pics = append(pics, pkts)
			tu, err := bitstream.AV1FromLowOverhead(u)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, tu)
		}
		d, err := newTrackDecoder(0, f)
		if err != nil {
			t.Fatal(err)
		}
		got := decodeAll(t, d, pics)
		if len(got) != len(want) {
			t.Fatalf("%d frames, want %d", len(got), len(want))
		}
		for i, fr := range got {
			if !bytes.Equal(fr.Data, want[i]) || fr.Key != (i == 0) {
				t.Fatalf("unit %d: key %v, %x\nwant %x", i, fr.Key, fr.Data, want[i])
			}
		}
		a, _ := bitstream.ReadAV1(want[0])
		cfg, _ := bitstream.ParseAV1SequenceHeader(a.SequenceHeader)
		if tr := d.Track(); tr.Codec != media.CodecAV1 || !bytes.Equal(tr.Config, cfg.Record) || tr.Width != 192 || tr.Height != 108 {
			t.Fatalf("track %+v", tr)
		}
		// A unit joined mid-way (continuation without a start) is dropped
		// as normal; garbage is a decode error.
		d2, _ := newTrackDecoder(0, f)
		if _, err := d2.Decode(&rtp.Packet{Header: rtp.Header{Marker: true}, Payload: []byte{0x80 | 0x10, 0x30, 1}}, 0, time.Time{}); err == nil {
			t.Fatal("continuation accepted")
		}
	})
}
