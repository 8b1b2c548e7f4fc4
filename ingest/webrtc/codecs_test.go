package webrtc

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/media/bitstream"
	"github.com/kinedge/kinedge/ingest/webrtc/whiptest"
)

// readIVF returns the frames of an IVF file of package bitstream's test
// data (real libvpx and libaom output).
func readIVF(t *testing.T, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile("../media/bitstream/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 32 || string(b[:4]) != "DKIF" {
		t.Fatalf("%s: not IVF", name)
	}
	var frames [][]byte
	for p := b[binary.LittleEndian.Uint16(b[6:]):]; len(p) >= 12; {
		n := int(binary.LittleEndian.Uint32(p))
		if n > len(p)-12 {
			t.Fatalf("%s: truncated frame", name)
		}
		frames = append(frames, p[12:12+n])
		p = p[12+n:]
	}
	return frames
}

// VP9 and AV1 frames from real encoders arrive whole, AV1 in the stored
// form (temporal delimiters dropped), with their keyframes flagged.
func TestPublishVP9AV1(t *testing.T) {
	for _, c := range []struct {
		file, mime string
		codec      media.Codec
	}{
		{"vp9_160x120.ivf", pion.MimeTypeVP9, media.CodecVP9},
		{"av1_192x108.ivf", pion.MimeTypeAV1, media.CodecAV1},
	} {
		t.Run(string(c.codec), func(t *testing.T) {
			frames := readIVF(t, c.file)
			var want [][]byte
			var keys []bool
			for _, f := range frames {
				switch c.codec {
				case media.CodecVP9:
					v, err := bitstream.ReadVP9(f)
					if err != nil {
						t.Fatal(err)
					}
					want, keys = append(want, f), append(keys, v.Key)
				case media.CodecAV1:
					tu, err := bitstream.AV1FromLowOverhead(f)
					if err != nil {
						t.Fatal(err)
					}
					v, err := bitstream.ReadAV1(tu)
					if err != nil {
						t.Fatal(err)
					}
					want, keys = append(want, tu), append(keys, v.Key)
				}
			}
			if !keys[0] {
				t.Fatal("the test clip does not start with a keyframe")
			}
			h := &Handler{}
			srv, pub := newServer(t, h)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p, err := whiptest.Publish(ctx, whiptest.Options{URL: srv.URL + "/whip/cam", Token: token, Video: c.mime})
			if err != nil {
				t.Fatal(err)
			}
			req, w := pub.last(t)
			if req.Tracks[0].Codec != c.codec {
				t.Fatalf("track %s, want %s", req.Tracks[0].Codec, c.codec)
			}
			if err := p.WaitConnected(ctx); err != nil {
				t.Fatal(err)
			}
			var samples []pmedia.Sample
			for _, f := range frames {
				samples = append(samples, pmedia.Sample{Data: f, Duration: time.Second / 30})
			}
			if err := whiptest.Send(ctx, p.Video, samples); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the frames", 10*time.Second, func() bool { return len(w.snapshot()) >= len(frames)-1 })
			if code, err := p.Delete(ctx); err != nil || code != 200 {
				t.Fatalf("DELETE: %d %v", code, err)
			}
			got := w.snapshot()
			if len(got) != len(want) {
				t.Fatalf("%d frames, want %d", len(got), len(want))
			}
			for i, f := range got {
				if !bytes.Equal(f.Data, want[i]) || f.Key != keys[i] {
					t.Errorf("frame %d: %d bytes key %v, want %d bytes key %v", i, len(f.Data), f.Key, len(want[i]), keys[i])
				}
			}
		})
	}
}
