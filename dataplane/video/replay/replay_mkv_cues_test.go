package replay

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestWriteMKVDurationAndCues replays a recorded clip as Matroska with
// its duration and Cues, finishes the file as `kinedge replay` does, and
// asks ffmpeg: the length is the one written, the file is seekable by
// its Cues (ffmpeg's demuxer logs the index it read), and a seek into the
// middle decodes from there.
func TestWriteMKVDurationAndCues(t *testing.T) {
	ffprobe := testtool.Need(t, "ffprobe")
	ffmpeg := testtool.Need(t, "ffmpeg")
	store, kr := recordClip(t, "h264_aac.ts")
	var total time.Duration
	first := store.frags[0].ServerTime
	for f, err := range store.seq(0) {
		if err != nil {
			t.Fatal(err)
		}
		total = f.ServerTime.Add(f.Duration).Sub(first)
	}
	src := Source{Store: store, Opener: kr}
	var out bytes.Buffer
	st, err := src.WriteMKVWith(context.Background(), &out, "cam1", MKVOptions{Title: "cam1", Duration: total, Cues: true}, store.seq(0))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "out.mkv")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(out.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := mkv.FinishFile(f, st.Bytes); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	// The length players show.
	o, err := testtool.Command(t, time.Minute, ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	got, err := strconv.ParseFloat(strings.TrimSpace(string(o)), 64)
	if err != nil || got < total.Seconds()-0.05 || got > total.Seconds()+0.05 {
		t.Fatalf("ffprobe duration %q, want %.3f s", o, total.Seconds())
	}
	// The Cues, found through the SeekHead before any cluster is read:
	// GStreamer's demuxer logs the SeekHead and each index entry it loads.
	gst := testtool.Need(t, "gst-launch-1.0")
	cmd := testtool.Command(t, time.Minute, gst, "-q", "filesrc", "location="+file, "!", "matroskademux", "!", "fakesink")
	cmd.Env = append(os.Environ(), "GST_DEBUG=matroskademux:5,matroskareadcommon:5", "GST_DEBUG_NO_COLOR=1")
	o, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gst-launch: %v\n%s", err, lastLines(string(o), 20))
	}
	if n := strings.Count(string(o), "Index entry: pos="); !strings.Contains(string(o), "Parsing SeekHead") || n != st.Fragments {
		t.Fatalf("GStreamer read %d index entries (want one per fragment, %d); SeekHead parsed: %v", n, st.Fragments, strings.Contains(string(o), "Parsing SeekHead"))
	}
	// A seek to the middle decodes from there to the end.
	mid := strconv.FormatFloat(total.Seconds()/2, 'f', 3, 64)
	o, err = testtool.Command(t, time.Minute, ffmpeg, "-v", "error", "-ss", mid, "-i", file, "-map", "0:v", "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(o)) > 0 {
		t.Fatalf("ffmpeg -ss %s: %v\n%s", mid, err, o)
	}

	// Without Cues the stream has no Void to finish: FinishFile refuses
	// and changes nothing.
	var plain bytes.Buffer
	if _, err := src.WriteMKV(context.Background(), &plain, "cam1", "cam1", store.seq(0)); err != nil {
		t.Fatal(err)
	}
	pf := filepath.Join(t.TempDir(), "plain.mkv")
	if err := os.WriteFile(pf, plain.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := os.OpenFile(pf, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := mkv.FinishFile(g, int64(plain.Len())); err == nil {
		t.Fatal("FinishFile finished a stream without Cues")
	}
	if after, _ := os.ReadFile(pf); !bytes.Equal(after, plain.Bytes()) {
		t.Fatal("a refused FinishFile changed the file")
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
