package mkv

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/testdata/testtool"
)

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := testtool.Command(t, 2*time.Minute, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Fatalf("%s %s wrote errors:\n%s", name, strings.Join(args, " "), stderr.String())
	}
	return out
}

// parameterSets extracts the NAL units of an avcC or hvcC record.
func parameterSets(t *testing.T, codec string, rec []byte) map[byte][]byte {
	t.Helper()
	sets := map[byte][]byte{}
	fail := func() { t.Fatalf("malformed %s record % X", codec, rec) }
	read := func(p []byte) ([]byte, []byte) {
		if len(p) < 2 || len(p) < 2+int(binary.BigEndian.Uint16(p)) {
			fail()
		}
		n := int(binary.BigEndian.Uint16(p))
		return p[2 : 2+n], p[2+n:]
	}
	var nal []byte
	switch codec {
	case CodecH264:
		if len(rec) < 7 {
			fail()
		}
		p := rec[6:]
		for range rec[5] & 0x1F {
			nal, p = read(p)
			sets[avcNALSPS] = nal
		}
		if len(p) < 1 {
			fail()
		}
		n := p[0]
		p = p[1:]
		for range n {
			nal, p = read(p)
			sets[avcNALPPS] = nal
		}
	case CodecH265:
		if len(rec) < 23 {
			fail()
		}
		p := rec[23:]
		for range rec[22] {
			if len(p) < 3 {
				fail()
			}
			typ, n := p[0]&0x3F, binary.BigEndian.Uint16(p[1:])
			p = p[3:]
			for range n {
				nal, p = read(p)
				sets[typ] = nal
			}
		}
	}
	return sets
}

type probeStream struct {
	CodecName    string `json:"codec_name"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	NbReadFrames string `json:"nb_read_frames"`
}

func probeStreams(t *testing.T, ffprobe, file string) []probeStream {
	t.Helper()
	out := run(t, ffprobe, "-v", "error", "-show_streams", "-count_frames",
		"-show_entries", "stream=codec_name,nb_read_frames,width,height", "-of", "json", file)
	var v struct{ Streams []probeStream }
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("ffprobe output %s: %v", out, err)
	}
	return v.Streams
}

func probeTags(t *testing.T, ffprobe, file string) map[string]string {
	t.Helper()
	out := run(t, ffprobe, "-v", "error", "-show_format", "-of", "json", file)
	var v struct {
		Format struct{ Tags map[string]string }
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("ffprobe output %s: %v", out, err)
	}
	return v.Format.Tags
}

// TestFFmpegPeer reads clips made by ffmpeg, rewrites them with the writer
// (codec private data rebuilt by AVCConfig/HEVCConfig/OpusHead, one cluster
// per video GOP built at timecode 0 and patched), and checks with ffprobe
// and ffmpeg that the result carries the same streams and frames, decodes
// cleanly and exposes the KVS tags.
func TestFFmpegPeer(t *testing.T) {
	ffmpeg := testtool.Need(t, "ffmpeg")
	ffprobe := testtool.Need(t, "ffprobe")
	encoders := string(run(t, ffmpeg, "-hide_banner", "-v", "error", "-encoders"))

	cases := []struct {
		name  string
		codec []string // encoders needed
		args  []string
	}{
		{"h264-aac", []string{"libx264", "aac"}, []string{
			"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100",
			"-t", "2", "-c:v", "libx264", "-g", "25", "-bf", "2", "-pix_fmt", "yuv420p", "-c:a", "aac"}},
		{"h264-444-aac", []string{"libx264", "aac"}, []string{
			"-f", "lavfi", "-i", "testsrc=size=176x144:rate=25",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
			"-t", "1", "-c:v", "libx264", "-g", "10", "-c:a", "aac"}},
		{"h265-opus", []string{"libx265", "libopus"}, []string{
			"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
			"-t", "2", "-c:v", "libx265", "-x265-params", "log-level=error:keyint=25:bframes=2",
			"-c:a", "libopus"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, enc := range c.codec {
				if !strings.Contains(encoders, " "+enc+" ") {
					if os.Getenv("CI") == "true" {
						t.Fatalf("ffmpeg lacks encoder %s", enc)
					}
					t.Skipf("ffmpeg lacks encoder %s", enc)
				}
			}
			dir := t.TempDir()
			in := filepath.Join(dir, "in.mkv")
			run(t, ffmpeg, append(append([]string{"-v", "error", "-nostdin"}, c.args...), in)...)
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			tracks, blocks := readClip(t, src)

			// ffmpeg's live output to a pipe (unknown-size segment, CRC-32
			// elements) must read as the same frames. The remux may shift
			// a track's timeline as a whole (Opus pre-skip), nothing else.
			live := run(t, ffmpeg, "-v", "error", "-nostdin", "-i", in, "-c", "copy", "-f", "matroska", "-live", "1", "pipe:1")
			_, liveBlocks := readClip(t, live)
			if len(liveBlocks) != len(blocks) {
				t.Errorf("live remux: %d blocks, file %d", len(liveBlocks), len(blocks))
			}
			shift := map[uint64]int64{}
			for i := range min(len(liveBlocks), len(blocks)) {
				shifted := liveBlocks[i]
				if _, ok := shift[shifted.Track]; !ok {
					shift[shifted.Track] = shifted.Timecode - blocks[i].Timecode
				}
				shifted.Timecode -= shift[shifted.Track]
				if !reflect.DeepEqual(shifted, blocks[i]) {
					l, f := liveBlocks[i], blocks[i]
					t.Errorf("live remux block %d: track %d time %d key %v dur %d len %d; file: track %d time %d key %v dur %d len %d",
						i, l.Track, l.Timecode, l.Key, l.Duration, len(l.Data), f.Track, f.Timecode, f.Key, f.Duration, len(f.Data))
				}
			}
			rebuilt := rebuildTracks(t, tracks)

			tracksEl, err := AppendTracks(nil, rebuilt)
			if err != nil {
				t.Fatal(err)
			}
			tags := []SimpleTag{
				{TagFragmentNumber, "91343852333181432392682062607743920146264596385"},
				{TagServerTimestamp, "1700000000.123"},
				{TagProducerTimestamp, "1699999999.987"},
			}
			clusters := buildClusters(t, rebuilt, blocks)
			if len(clusters) < 2 {
				t.Fatalf("only %d clusters", len(clusters))
			}

			// One continuous live-style stream.
			out := AppendEBMLHeader(nil)
			out = AppendSegmentStart(out)
			out = AppendInfo(out, Info{Title: c.name})
			out = append(out, tracksEl...)
			out = AppendTags(out, tags)
			for _, cl := range clusters {
				out = append(out, cl...)
			}
			outFile := filepath.Join(dir, "out.mkv")
			if err := os.WriteFile(outFile, out, 0o600); err != nil {
				t.Fatal(err)
			}

			want, got := probeStreams(t, ffprobe, in), probeStreams(t, ffprobe, outFile)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ffprobe streams:\n got %+v\nwant %+v", got, want)
			}
			t.Logf("%s: %+v in %d clusters", c.name, got, len(clusters))
			run(t, ffmpeg, "-v", "error", "-nostdin", "-i", outFile, "-f", "null", "-")
			checkTags(t, probeTags(t, ffprobe, outFile), tags)

			// The first cluster alone as a KVS-style fragment file: tags
			// after the cluster, found through the SeekHead.
			for _, unknown := range []bool{false, true} {
				frag, err := AppendFragment(nil, &Fragment{Info: Info{Duration: time.Second}, Tracks: tracksEl,
					Cluster: clusters[0], Tags: tags, UnknownSize: unknown})
				if err != nil {
					t.Fatal(err)
				}
				fragFile := filepath.Join(dir, "frag.mkv")
				if err := os.WriteFile(fragFile, frag, 0o600); err != nil {
					t.Fatal(err)
				}
				run(t, ffmpeg, "-v", "error", "-nostdin", "-i", fragFile, "-f", "null", "-")
				if !unknown {
					checkTags(t, probeTags(t, ffprobe, fragFile), tags)
				}
			}
		})
	}
}

func checkTags(t *testing.T, got map[string]string, want []SimpleTag) {
	t.Helper()
	for _, tag := range want {
		if got[tag.Name] != tag.Value {
			t.Errorf("ffprobe format tag %s = %q, want %q (all: %v)", tag.Name, got[tag.Name], tag.Value, got)
		}
	}
}

// readClip reads a whole file with the Reader.
func readClip(t *testing.T, data []byte) ([]Track, []Block) {
	t.Helper()
	r := NewReader(bytes.NewReader(data), ReaderOptions{})
	var tracks []Track
	var blocks []Block
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch ev := ev.(type) {
		case Tracks:
			tracks = ev.Tracks
		case Block:
			blocks = append(blocks, ev)
		}
	}
	if len(tracks) != 2 || len(blocks) == 0 {
		t.Fatalf("read %d tracks, %d blocks", len(tracks), len(blocks))
	}
	return tracks, blocks
}

// rebuildTracks rebuilds the tracks the way the fragmenter will: codec
// private data and picture size from the parameter sets.
func rebuildTracks(t *testing.T, tracks []Track) []Track {
	t.Helper()
	var out []Track
	for _, tr := range tracks {
		n := Track{Number: tr.Number, UID: tr.UID, Type: tr.Type, CodecID: tr.CodecID}
		var err error
		switch tr.CodecID {
		case CodecH264:
			ps := parameterSets(t, tr.CodecID, tr.CodecPrivate)
			n.CodecPrivate, err = AVCConfig(ps[avcNALSPS], ps[avcNALPPS])
			if err == nil && !bytes.Equal(n.CodecPrivate, tr.CodecPrivate) {
				t.Errorf("AVCConfig differs from ffmpeg's avcC:\n% X\n% X", n.CodecPrivate, tr.CodecPrivate)
			}
			if err == nil {
				n.Width, n.Height, err = VideoSize(tr.CodecID, ps[avcNALSPS])
			}
		case CodecH265:
			ps := parameterSets(t, tr.CodecID, tr.CodecPrivate)
			n.CodecPrivate, err = HEVCConfig(ps[hevcNALVPS], ps[hevcNALSPS], ps[hevcNALPPS])
			// Profile/tier/level, chroma format and bit depths must match
			// what x265 wrote (the segmentation and parallelism hints may
			// differ).
			if err == nil && (!bytes.Equal(n.CodecPrivate[:13], tr.CodecPrivate[:13]) ||
				!bytes.Equal(n.CodecPrivate[16:19], tr.CodecPrivate[16:19])) {
				t.Errorf("HEVCConfig differs from ffmpeg's hvcC:\n% X\n% X", n.CodecPrivate[:23], tr.CodecPrivate[:23])
			}
			if err == nil {
				n.Width, n.Height, err = VideoSize(tr.CodecID, ps[hevcNALSPS])
			}
		case CodecAAC:
			n.CodecPrivate, n.SampleRate, n.Channels = tr.CodecPrivate, tr.SampleRate, tr.Channels
		case CodecOpus:
			n.CodecPrivate = OpusHead(tr.Channels, int(tr.SampleRate))
			n.SampleRate, n.Channels = tr.SampleRate, tr.Channels
			n.CodecDelay, n.SeekPreRoll = tr.CodecDelay, tr.SeekPreRoll
		default:
			t.Fatalf("unexpected codec %q", tr.CodecID)
		}
		if err != nil {
			t.Fatalf("%s: %v", tr.CodecID, err)
		}
		if tr.Type == TrackVideo && (n.Width != tr.Width || n.Height != tr.Height) {
			t.Errorf("VideoSize = %dx%d, ffmpeg wrote %dx%d", n.Width, n.Height, tr.Width, tr.Height)
		}
		out = append(out, n)
	}
	return out
}

// buildClusters cuts blocks into clusters at video keyframes. Each cluster
// is built at timecode 0 with blocks relative to its first block, then
// patched to its real time, as the fragment store does on replay.
func buildClusters(t *testing.T, tracks []Track, blocks []Block) [][]byte {
	t.Helper()
	video := map[uint64]bool{}
	for _, tr := range tracks {
		video[tr.Number] = tr.Type == TrackVideo
	}
	var clusters [][]byte
	var cur []byte
	var start int64
	flush := func() {
		if cur == nil {
			return
		}
		if err := FinishCluster(cur); err != nil {
			t.Fatal(err)
		}
		if err := PatchClusterTimecode(cur, uint64(start)); err != nil {
			t.Fatal(err)
		}
		clusters = append(clusters, cur)
		cur = nil
	}
	for _, b := range blocks {
		if b.Timecode < 0 {
			t.Fatalf("negative block time %d", b.Timecode)
		}
		if cur == nil || video[b.Track] && b.Key {
			flush()
			cur, start = AppendClusterStart(nil, 0), b.Timecode
		}
		var err error
		cur, err = AppendSimpleBlock(cur, b.Track, b.Timecode-start, b.Key, b.Data)
		if err != nil {
			t.Fatal(err)
		}
	}
	flush()
	return clusters
}
