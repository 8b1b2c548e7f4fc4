package thumbnail

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/ingest/media/bitstream"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestJPEGCodecs: the picture of a VP8, VP9 or AV1 keyframe, as replay
// hands it over (a one-frame MKV with the stored track: V_AV1 with its
// av1C), comes out as a JPEG of the asked width.
func TestJPEGCodecs(t *testing.T) {
	ffmpeg := testtool.Need(t, "ffmpeg")
	for _, c := range []struct {
		codecID string
		encoder []string
	}{
		{mkv.CodecVP8, []string{"-c:v", "libvpx"}},
		{mkv.CodecVP9, []string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"}},
		{mkv.CodecAV1, []string{"-c:v", "libsvtav1", "-preset", "12"}},
	} {
		t.Run(c.codecID, func(t *testing.T) {
			args := append([]string{"-hide_banner", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-frames:v", "1", "-pix_fmt", "yuv420p"}, c.encoder...)
			ivf, err := testtool.Command(t, time.Minute, ffmpeg, append(args, "-f", "ivf", "-")...).Output()
			if err != nil || len(ivf) < 44 {
				t.Fatalf("ffmpeg: %v", err)
			}
			frame := ivf[44 : 44+binary.LittleEndian.Uint32(ivf[32:])]
			track := mkv.Track{Number: 1, Type: mkv.TrackVideo, CodecID: c.codecID, Width: 320, Height: 240}
			if c.codecID == mkv.CodecAV1 {
				if frame, err = bitstream.AV1FromLowOverhead(frame); err != nil {
					t.Fatal(err)
				}
				a, err := bitstream.ReadAV1(frame)
				if err != nil || !a.Key {
					t.Fatalf("first unit: key %v, %v", a.Key, err)
				}
				cfg, err := bitstream.ParseAV1SequenceHeader(a.SequenceHeader)
				if err != nil {
					t.Fatal(err)
				}
				track.CodecPrivate = cfg.Record
			}
			tracks, err := mkv.AppendTracks(nil, []mkv.Track{track})
			if err != nil {
				t.Fatal(err)
			}
			cluster := mkv.AppendClusterStart(nil, 0)
			if cluster, err = mkv.AppendSimpleBlock(cluster, 1, 0, true, frame); err != nil {
				t.Fatal(err)
			}
			if err := mkv.FinishCluster(cluster); err != nil {
				t.Fatal(err)
			}
			file, err := mkv.AppendFragment(nil, &mkv.Fragment{Tracks: tracks, Cluster: cluster})
			if err != nil {
				t.Fatal(err)
			}
			m := &Maker{}
			jpg, err := m.JPEG(context.Background(), c.codecID, file, 160)
			if err != nil {
				t.Fatal(err)
			}
			// SOI, then a baseline frame header 160 wide somewhere.
			if !bytes.HasPrefix(jpg, []byte{0xff, 0xd8}) {
				t.Fatalf("not a JPEG: %x", jpg[:min(len(jpg), 8)])
			}
			i := bytes.Index(jpg, []byte{0xff, 0xc0})
			if i < 0 || i+9 > len(jpg) || binary.BigEndian.Uint16(jpg[i+7:]) != 160 {
				t.Fatalf("no 160-wide frame header in the JPEG")
			}
		})
	}
}
