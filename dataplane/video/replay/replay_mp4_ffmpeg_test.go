package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/ingest/camsim"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// recordClip runs a test clip through a recorder with a real keyring, as a
// camera would, and returns the stored fragments and the keyring.
func recordClip(t testing.TB, name string) (*memStore, *seal.Keyring) {
	t.Helper()
	clip, err := camsim.ReadClip(filepath.Join("..", "..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	store := &memStore{}
	kr := &seal.Keyring{Store: &seal.MemKeyStore{}, Master: seal.NewMasterKey()}
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	now := base
	r := &fragment.Recorder{
		Stream: "cam1", Tracks: clip.Tracks,
		Sink: store, Sealer: kr, Now: func() time.Time { return now },
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range clip.Frames {
		now = base.Add(f.DTS)
		c := *f
		r.WriteFrame(&c)
	}
	r.Close()
	if len(store.frags) < 2 {
		t.Fatalf("recorded %d fragments", len(store.frags))
	}
	return store, kr
}

// probe is what ffprobe tells of a file.
type probe struct {
	Streams []struct {
		Index         int    `json:"index"`
		CodecName     string `json:"codec_name"`
		NbReadPackets string `json:"nb_read_packets"`
		Duration      string `json:"duration"`
	} `json:"streams"`
	Packets []struct {
		StreamIndex int    `json:"stream_index"`
		PTSTime     string `json:"pts_time"`
		DTSTime     string `json:"dts_time"`
	} `json:"packets"`
	Format struct {
		Duration  string `json:"duration"`
		StartTime string `json:"start_time"`
	} `json:"format"`
}

func runProbe(t *testing.T, ffprobe, file string) probe {
	t.Helper()
	out, err := testtool.Command(t, time.Minute, ffprobe, "-v", "error", "-count_packets", "-show_streams", "-show_packets", "-show_format", "-of", "json", file).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var p probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe output: %v", err)
	}
	return p
}

func seconds(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return v
}

// clipFrames returns the presentation times of a clip's frames per track,
// in decode order.
func clipFrames(t *testing.T, name string) [][]time.Duration {
	t.Helper()
	clip, err := camsim.ReadClip(filepath.Join("..", "..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	pts := make([][]time.Duration, len(clip.Tracks))
	for _, f := range clip.Frames {
		pts[f.Track] = append(pts[f.Track], f.PTS)
	}
	return pts
}

// storedFrames counts the frames of each track in each stored fragment.
func storedFrames(t *testing.T, frags []*storedFragment, kr *seal.Keyring) [][]int {
	t.Helper()
	var counts [][]int
	for _, f := range frags {
		var n []int
		plain, err := kr.Open(context.Background(), "cam1", f.Number, f.Blob)
		if err != nil {
			t.Fatal(err)
		}
		blob, err := fragment.DecodeBlob(plain)
		if err != nil {
			t.Fatal(err)
		}
		r := mkv.NewReader(bytes.NewReader(append(append([]byte(nil), blob.Tracks...), blob.Cluster...)), mkv.ReaderOptions{SegmentBody: true})
		for {
			ev, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if b, ok := ev.(mkv.Block); ok {
				for len(n) < int(b.Track) {
					n = append(n, 0)
				}
				n[b.Track-1]++
			}
		}
		counts = append(counts, n)
	}
	return counts
}

// TestWriteMP4FFmpeg records the test clips as a camera would, exports
// them as fMP4 and checks the file with ffprobe and ffmpeg: codecs, frame
// counts, decode order, B-frame reordering, presentation times against the
// clip's (A/V sync), duration, and a clean decode.
func TestWriteMP4FFmpeg(t *testing.T) {
	ffprobe := testtool.Need(t, "ffprobe")
	ffmpeg := testtool.Need(t, "ffmpeg")
	for _, tt := range []struct {
		name   string
		clip   string
		codecs []string
		frame  time.Duration // video frame duration
		from   int           // first fragment exported
		skip   int           // a fragment left out (a hole), -1 for none
	}{
		{"h264 aac", "h264_aac.ts", []string{"h264", "aac"}, 40 * time.Millisecond, 0, -1},
		{"h265 opus", "h265_opus.ts", []string{"hevc", "opus"}, 40 * time.Millisecond, 0, -1},
		{"h264 aac from the second fragment, with a hole", "h264_aac.ts", []string{"h264", "aac"}, 40 * time.Millisecond, 1, 3},
		{"h265 opus with a hole", "h265_opus.ts", []string{"hevc", "opus"}, 40 * time.Millisecond, 0, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store, kr := recordClip(t, tt.clip)
			all := storedFrames(t, store.frags, kr)
			// The exported fragments, and the clip's video frames in them.
			var sel []*storedFragment
			var keep []int
			next := 0
			for i, f := range store.frags {
				for j := range all[i][0] {
					if i >= tt.from && i != tt.skip {
						keep = append(keep, next+j)
					}
				}
				next += all[i][0]
				if i >= tt.from && i != tt.skip {
					sel = append(sel, f)
				}
			}
			seq := func(yield func(Fragment, error) bool) {
				for f, err := range store.seq(0) {
					if slices.ContainsFunc(sel, func(s *storedFragment) bool { return s.Number == f.Number }) && !yield(f, err) {
						return
					}
				}
			}
			src := Source{Store: store, Opener: kr}
			var out bytes.Buffer
			st, err := src.WriteMP4(context.Background(), &out, "cam1", seq)
			if err != nil {
				t.Fatal(err)
			}
			if st.Fragments != len(sel) || st.Bytes != int64(out.Len()) {
				t.Fatalf("stats %+v, %d fragments exported, %d bytes written", st, len(sel), out.Len())
			}
			file := filepath.Join(t.TempDir(), "out.mp4")
			if err := os.WriteFile(file, out.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			p := runProbe(t, ffprobe, file)

			// Codecs and frame counts.
			want := make([]int, len(tt.codecs))
			for _, n := range storedFrames(t, sel, kr) {
				for i := range min(len(n), len(want)) {
					want[i] += n[i]
				}
			}
			if len(p.Streams) != len(tt.codecs) {
				t.Fatalf("%d streams, %d stored tracks, want %d", len(p.Streams), len(want), len(tt.codecs))
			}
			for i, s := range p.Streams {
				if s.CodecName != tt.codecs[i] || s.NbReadPackets != strconv.Itoa(want[i]) {
					t.Errorf("stream %d: %s with %s packets, want %s with %d", i, s.CodecName, s.NbReadPackets, tt.codecs[i], want[i])
				}
			}

			// Decode order, reordering and presentation times. Packets are
			// in decode order per stream; every presentation time must be
			// the clip's (stored to the millisecond) moved by one offset
			// common to all tracks.
			clip := clipFrames(t, tt.clip)
			var last []float64
			var offset float64
			haveOffset, reordered := false, 0
			idx := make([]int, len(p.Streams))
			for _, pk := range p.Packets {
				si := pk.StreamIndex
				pts, dts := seconds(t, pk.PTSTime), seconds(t, pk.DTSTime)
				for len(last) <= si {
					last = append(last, -1)
				}
				if dts <= last[si] {
					t.Fatalf("stream %d: dts %v after %v", si, dts, last[si])
				}
				last[si] = dts
				if pts < dts {
					t.Fatalf("stream %d: pts %v before dts %v", si, pts, dts)
				}
				if pts != dts {
					reordered++
				}
				if si == 0 {
					// Video frames are all stored, in the clip's order.
					cp := clip[0][keep[idx[0]]].Seconds()
					if !haveOffset {
						offset, haveOffset = pts-cp, true
					}
					if d := pts - offset - cp; d > 0.0011 || d < -0.0011 {
						t.Fatalf("video frame %d: pts %v, clip %v + offset %v", idx[0], pts, cp, offset)
					}
				}
				idx[si]++
			}
			if reordered == 0 {
				t.Fatal("no packet has pts != dts: B-frame reordering lost")
			}
			// Audio: each packet is a clip frame, at its time (1 ms of
			// storage rounding, one sample of timescale rounding).
			for _, pk := range p.Packets {
				if pk.StreamIndex != 1 {
					continue
				}
				at := seconds(t, pk.PTSTime) - offset
				best := 1.0
				for _, cp := range clip[1] {
					best = min(best, max(at-cp.Seconds(), cp.Seconds()-at))
				}
				if best > 0.0011 {
					t.Fatalf("audio packet at %v (clip time %v) is %v from every clip frame", pk.PTSTime, at, best)
				}
			}

			// Duration: the video stream lasts what the fragments do,
			// holes included.
			total := sel[len(sel)-1].ServerTime.Add(sel[len(sel)-1].Duration).Sub(sel[0].ServerTime)
			vdur := seconds(t, p.Streams[0].Duration)
			if d := vdur - total.Seconds(); d > tt.frame.Seconds() || d < -tt.frame.Seconds() {
				t.Errorf("video duration %v, fragments total %v", vdur, total)
			}

			// A clean decode.
			msg, err := testtool.Command(t, 2*time.Minute, ffmpeg, "-v", "error", "-i", file, "-f", "null", "-").CombinedOutput()
			if err != nil || len(msg) > 0 {
				t.Fatalf("ffmpeg decode: %v\n%s", err, msg)
			}
		})
	}
}
