package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestWriteTSSegments records the test clips as a camera would, writes
// every fragment as an MPEG-TS segment on one session timeline, and reads
// the segments, one after the other as an HLS player fetches them, with
// ffprobe and ffmpeg: codecs, every stored frame a packet and a decoded
// frame, decode times strictly increasing across segment boundaries, and
// each segment starting at its fragment's place on the timeline.
func TestWriteTSSegments(t *testing.T) {
	ffprobe := testtool.Need(t, "ffprobe")
	for _, tt := range []struct {
		name   string
		clip   string
		skip   func(string) bool
		codecs []string
		sps    []byte // a start code and the SPS's NAL unit header
	}{
		{"h264 aac", "h264_aac.ts", nil, []string{"h264", "aac"}, []byte{0, 0, 1, 0x67}},
		{"h265 with opus left out", "h265_opus.ts", func(id string) bool { return id == "A_OPUS" }, []string{"hevc"}, []byte{0, 0, 1, 0x42, 0x01}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store, kr := recordClip(t, tt.clip)
			stored := storedFrames(t, store.frags, kr)
			src := Source{Store: store, Opener: kr}
			origin := store.frags[0].ServerTime
			var all bytes.Buffer
			i := 0
			for f, err := range store.seq(0) {
				if err != nil {
					t.Fatal(err)
				}
				var seg bytes.Buffer
				st, err := src.WriteTSSegment(context.Background(), &seg, "cam1", SegmentOptions{MP4Options: MP4Options{Skip: tt.skip}, Origin: origin}, f)
				if err != nil {
					t.Fatal(err)
				}
				if st.Bytes != int64(seg.Len()) || st.Fragments != 1 || seg.Len()%188 != 0 || seg.Bytes()[0] != 0x47 {
					t.Fatalf("segment %d: stats %+v, %d bytes", i, st, seg.Len())
				}
				// Parameter sets before the keyframe: a player may join
				// at any segment.
				if !bytes.Contains(seg.Bytes(), tt.sps) {
					t.Errorf("segment %d holds no SPS", i)
				}
				// Each segment alone: its first video frame at its place
				// on the session's timeline (segmentLead after Origin).
				if i == 1 {
					file := filepath.Join(t.TempDir(), "seg.ts")
					if err := os.WriteFile(file, seg.Bytes(), 0o600); err != nil {
						t.Fatal(err)
					}
					p := runProbe(t, ffprobe, file)
					want := (segmentLead + f.ServerTime.Sub(origin)).Seconds()
					if got := seconds(t, p.Format.StartTime); got < want-0.7 || got > want+0.1 {
						t.Errorf("segment 1 starts at %.3f s, its fragment at %.3f s", got, want)
					}
					if n := countVideo(p); n != stored[1][0] {
						t.Errorf("segment 1: %d video packets, fragment has %d frames", n, stored[1][0])
					}
				}
				all.Write(seg.Bytes())
				i++
			}
			file := filepath.Join(t.TempDir(), "all.ts")
			if err := os.WriteFile(file, all.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			p := runProbe(t, ffprobe, file)
			if len(p.Streams) != len(tt.codecs) {
				t.Fatalf("%d streams, want %v", len(p.Streams), tt.codecs)
			}
			for k, s := range p.Streams {
				if s.CodecName != tt.codecs[k] {
					t.Errorf("stream %d: codec %s, want %s", k, s.CodecName, tt.codecs[k])
				}
				want := 0
				for _, n := range stored {
					if k < len(n) {
						want += n[k]
					}
				}
				if s.NbReadPackets != itoa(want) {
					t.Errorf("stream %d (%s): %s packets, %d frames stored", k, s.CodecName, s.NbReadPackets, want)
				}
			}
			last := map[int]float64{}
			for _, pk := range p.Packets {
				d := seconds(t, pk.DTSTime)
				if prev, ok := last[pk.StreamIndex]; ok && d <= prev {
					t.Fatalf("stream %d: decode time %.4f after %.4f", pk.StreamIndex, d, prev)
				}
				last[pk.StreamIndex] = d
			}
			// Every video frame decodes.
			out, err := testtool.Command(t, time.Minute, ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
				"-show_entries", "stream=nb_read_frames", "-of", "json", file).Output()
			if err != nil {
				t.Fatalf("ffprobe -count_frames: %v", err)
			}
			var fr struct {
				Streams []struct {
					NbReadFrames string `json:"nb_read_frames"`
				} `json:"streams"`
			}
			if err := json.Unmarshal(out, &fr); err != nil || len(fr.Streams) != 1 {
				t.Fatalf("ffprobe frames: %v %s", err, out)
			}
			if want := itoa(countVideo(p)); fr.Streams[0].NbReadFrames != want {
				t.Errorf("%s video frames decoded, %s packets", fr.Streams[0].NbReadFrames, want)
			}
		})
	}
}

// TestWriteTSSegmentErrors: a codec TS does not carry here is
// ErrUnsupportedTS, and a lost fragment the store's error, nothing
// written.
func TestWriteTSSegmentErrors(t *testing.T) {
	store, kr := recordClip(t, "h265_opus.ts")
	src := Source{Store: store, Opener: kr}
	var seg bytes.Buffer
	f := Fragment{Number: store.frags[0].Number, ServerTime: store.frags[0].ServerTime}
	for g := range store.seq(0) {
		f = g
		break
	}
	_, err := src.WriteTSSegment(context.Background(), &seg, "cam1", SegmentOptions{Origin: f.ServerTime}, f)
	if !errors.Is(err, ErrUnsupportedTS) || !strings.Contains(err.Error(), "A_OPUS") || seg.Len() != 0 {
		t.Fatalf("opus: %v, %d bytes", err, seg.Len())
	}
	if _, err := src.WriteTSSegment(context.Background(), &seg, "cam1", SegmentOptions{Origin: f.ServerTime}, Fragment{Number: 99, ServerTime: f.ServerTime}); err == nil || errors.Is(err, ErrUnsupportedTS) || seg.Len() != 0 {
		t.Fatalf("missing fragment: %v, %d bytes", err, seg.Len())
	}
}

func TestSplitNALUs(t *testing.T) {
	got, err := splitNALUs([]byte{0, 2, 0x65, 1, 0, 0, 0, 1, 0x41}, 2)
	if err != nil || len(got) != 2 || !bytes.Equal(got[0], []byte{0x65, 1}) || len(got[1]) != 1 {
		t.Fatalf("%x %v", got, err)
	}
	for _, b := range [][]byte{{0, 0, 0, 5, 1}, {0, 0}, {}} {
		if _, err := splitNALUs(b, 4); !errors.Is(err, ErrBadFragment) {
			t.Errorf("%x: %v", b, err)
		}
	}
}

func countVideo(p probe) int {
	n := 0
	for _, pk := range p.Packets {
		if pk.StreamIndex == 0 {
			n++
		}
	}
	return n
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestWriteTSSegmentParameterSets: a keyframe stored without its SPS and
// PPS gets the track's before it (TS has no sample entry to keep them), a
// keyframe holding them keeps its own only, and AAC frames become ADTS.
func TestWriteTSSegmentParameterSets(t *testing.T) {
	tracks := []*media.Track{
		{Codec: media.CodecH264, ClockRate: 90000, SPS: sps, PPS: pps},
		{Codec: media.CodecAAC, ClockRate: 48000, SampleRate: 48000, Channels: 2, Config: aacConfig},
	}
	for _, tt := range []struct {
		name string
		key  []byte
	}{
		{"bare keyframe", avcc([]byte{0x65, 0x88, 0x80})},
		{"keyframe with its own", avcc(sps, pps, []byte{0x65, 0x88, 0x80})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fragment.Fragment{Tracks: tracks, Frames: []*media.Frame{
				{Track: 0, PTS: 0, Key: true, Data: tt.key},
				{Track: 1, PTS: 0, Data: []byte{0x21, 0x10, 0x04}},
				{Track: 0, PTS: 40 * time.Millisecond, Data: avcc([]byte{0x41, 0x9a, 0x01})},
			}}
			b, err := fragment.AppendBlob(nil, f)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			var seg bytes.Buffer
			src := plainSource{b}
			for g := range src.seq(start, time.Second) {
				if _, err := (Source{Store: src, Opener: src}).WriteTSSegment(context.Background(), &seg, "cam1", SegmentOptions{Origin: start}, g); err != nil {
					t.Fatal(err)
				}
			}
			annexB := append(append(append([]byte{0, 0, 0, 1}, sps...), append([]byte{0, 0, 0, 1}, pps...)...), 0, 0, 0, 1, 0x65, 0x88, 0x80)
			if !bytes.Contains(seg.Bytes(), annexB) || bytes.Count(seg.Bytes(), sps) != 1 {
				t.Errorf("keyframe not led by exactly one SPS and PPS in Annex B: %x", seg.Bytes())
			}
			if !bytes.Contains(seg.Bytes(), []byte{0, 0, 0, 1, 0x41, 0x9a, 0x01}) {
				t.Errorf("second picture missing")
			}
			if !bytes.Contains(seg.Bytes(), []byte{0xff, 0xf1}) {
				t.Errorf("no ADTS header")
			}
		})
	}
}
