package replay

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/media/bitstream"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// recordIVF encodes 3 s of a test picture (160x120, 25 fps, a keyframe a
// second) with ffmpeg into IVF and records its frames as a camera of the
// codec would send them; it returns the store, the keyring and the frame
// count.
func recordIVF(t *testing.T, codec media.Codec, encoder ...string) (*memStore, *seal.Keyring, int) {
	t.Helper()
	ffmpeg := testtool.Need(t, "ffmpeg")
	file := filepath.Join(t.TempDir(), "in.ivf")
	args := []string{"-hide_banner", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-t", "3", "-g", "25"}
	args = append(append(args, encoder...), "-f", "ivf", file)
	if out, err := testtool.Command(t, 2*time.Minute, ffmpeg, args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	store := &memStore{}
	kr := &seal.Keyring{Store: &seal.MemKeyStore{}, Master: seal.NewMasterKey()}
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	now := base
	r := &fragment.Recorder{
		Stream: "cam1", Tracks: []*media.Track{{Codec: codec, ClockRate: 90000}},
		Sink: store, Sealer: kr, Now: func() time.Time { return now },
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for p := b[32:]; len(p) >= 12; n++ {
		size := int(binary.LittleEndian.Uint32(p))
		data := append([]byte(nil), p[12:12+size]...)
		p = p[12+size:]
		var key bool
		switch codec {
		case media.CodecVP8:
			v, err := bitstream.ReadVP8(data)
			key = err == nil && v.Key
		case media.CodecVP9:
			v, err := bitstream.ReadVP9(data)
			key = err == nil && v.Key
		case media.CodecAV1:
			if data, err = bitstream.AV1FromLowOverhead(data); err != nil {
				t.Fatal(err)
			}
			a, err := bitstream.ReadAV1(data)
			key = err == nil && a.Key
		}
		if n == 0 && !key {
			t.Fatal("the first frame is not a keyframe")
		}
		pts := time.Duration(n) * 40 * time.Millisecond
		now = base.Add(pts)
		r.WriteFrame(&media.Frame{PTS: pts, DTS: pts, Key: key, Data: data})
	}
	r.Close()
	if len(store.frags) < 2 {
		t.Fatalf("recorded %d fragments", len(store.frags))
	}
	return store, kr, n
}

// TestWriteMP4VPxAV1FFmpeg: VP8 (vp08), VP9 (vp09, also profile 2 at 10
// bits) and AV1 (av01) tracks export as fMP4 with the sample entry and
// configuration box of their ISO BMFF binding; ffprobe reads the codec,
// size, pixel format and every frame, and ffmpeg decodes the whole file
// without a message.
func TestWriteMP4VPxAV1FFmpeg(t *testing.T) {
	ffprobe := testtool.Need(t, "ffprobe")
	ffmpeg := testtool.Need(t, "ffmpeg")
	for _, c := range []struct {
		name    string
		codec   media.Codec
		encoder []string
		entry   string // sample entry and configuration box
		probe   string // codec_name,width,height,pix_fmt
	}{
		{"vp8", media.CodecVP8, []string{"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k", "-pix_fmt", "yuv420p"}, "vp08vpcC", "vp8,160,120,yuv420p"},
		{"vp9", media.CodecVP9, []string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k", "-pix_fmt", "yuv420p"}, "vp09vpcC", "vp9,160,120,yuv420p"},
		{"vp9 profile 2", media.CodecVP9, []string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k", "-pix_fmt", "yuv420p10le", "-profile:v", "2"}, "vp09vpcC", "vp9,160,120,yuv420p10le"},
		{"av1", media.CodecAV1, []string{"-c:v", "libsvtav1", "-preset", "12", "-pix_fmt", "yuv420p"}, "av01av1C", "av1,160,120,yuv420p"},
	} {
		t.Run(c.name, func(t *testing.T) {
			store, kr, frames := recordIVF(t, c.codec, c.encoder...)
			var out bytes.Buffer
			st, err := Source{Store: store, Opener: kr}.WriteMP4(context.Background(), &out, "cam1", store.seq(0))
			if err != nil {
				t.Fatal(err)
			}
			if st.Fragments != len(store.frags) {
				t.Fatalf("stats %+v, %d fragments", st, len(store.frags))
			}
			// The sample entry, its configuration box right after its
			// 78 bytes of VisualSampleEntry fields (ISO/IEC 14496-12
			// 12.1.3) and the box header.
			if i := bytes.Index(out.Bytes(), []byte(c.entry[:4])); i < 0 || !bytes.Equal(out.Bytes()[i+4+78+4:i+4+78+8], []byte(c.entry[4:])) {
				t.Fatalf("no %s sample entry with %s", c.entry[:4], c.entry[4:])
			}
			file := filepath.Join(t.TempDir(), "out.mp4")
			if err := os.WriteFile(file, out.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			b, err := testtool.Command(t, time.Minute, ffprobe, "-v", "error", "-show_entries", "stream=codec_name,width,height,pix_fmt",
				"-of", "csv=p=0", file).Output()
			if err != nil {
				t.Fatalf("ffprobe: %v", err)
			}
			if got := strings.TrimSpace(string(b)); got != c.probe {
				t.Fatalf("ffprobe: %q, want %q", got, c.probe)
			}
			p := runProbe(t, ffprobe, file)
			if len(p.Streams) != 1 || p.Streams[0].NbReadPackets != strconv.Itoa(frames) {
				t.Fatalf("streams %+v, want one of %d frames", p.Streams, frames)
			}
			msg, err := testtool.Command(t, 2*time.Minute, ffmpeg, "-v", "error", "-i", file, "-f", "null", "-").CombinedOutput()
			if err != nil || len(msg) > 0 {
				t.Fatalf("ffmpeg decode: %v\n%s", err, msg)
			}
		})
	}
}
