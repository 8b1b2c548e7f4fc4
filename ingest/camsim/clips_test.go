package camsim

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestCommittedClipsMatchREADME checks with ffprobe (a tool nobody here
// wrote) that testdata/gen.sh's committed clips have the properties
// testdata/README.md documents.
func TestCommittedClipsMatchREADME(t *testing.T) {
	ffprobe := testtool.Need(t, "ffprobe")
	type stream struct {
		CodecType  string `json:"codec_type"`
		CodecName  string `json:"codec_name"`
		Profile    string `json:"profile"`
		Width      int    `json:"width"`
		Height     int    `json:"height"`
		RFrameRate string `json:"r_frame_rate"`
		HasBFrames int    `json:"has_b_frames"`
		SampleRate string `json:"sample_rate"`
		Channels   int    `json:"channels"`
	}
	tests := []struct {
		file       string
		video      string
		audio      string
		keyframes  int // in 10 s
		bframes    bool
		maxBitrate float64 // kbit/s of the whole file, TS overhead included
	}{
		{"h264_aac.ts", "h264", "aac", 10, true, 400},
		{"h265_opus.ts", "hevc", "opus", 5, true, 420},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("..", "..", "testdata", tt.file)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() >= 600*1024 {
				t.Errorf("%s is %d bytes, want < 600 KB", tt.file, fi.Size())
			}
			out, err := testtool.Command(t, time.Minute, ffprobe, "-v", "error", "-of", "json",
				"-show_streams", "-show_format", path).Output()
			if err != nil {
				t.Fatalf("ffprobe: %v", err)
			}
			var probe struct {
				Streams []stream `json:"streams"`
				Format  struct {
					Duration string `json:"duration"`
					BitRate  string `json:"bit_rate"`
				} `json:"format"`
			}
			if err := json.Unmarshal(out, &probe); err != nil {
				t.Fatal(err)
			}
			var v, a *stream
			for i := range probe.Streams {
				switch probe.Streams[i].CodecType {
				case "video":
					v = &probe.Streams[i]
				case "audio":
					a = &probe.Streams[i]
				}
			}
			if v == nil || a == nil {
				t.Fatalf("streams = %+v", probe.Streams)
			}
			if v.CodecName != tt.video || v.Profile != "Main" || v.Width != 320 || v.Height != 240 ||
				v.RFrameRate != "25/1" || (v.HasBFrames > 0) != tt.bframes {
				t.Errorf("video = %+v", *v)
			}
			if a.CodecName != tt.audio || a.SampleRate != "48000" || a.Channels != 2 {
				t.Errorf("audio = %+v", *a)
			}
			if tt.audio == "aac" && a.Profile != "LC" {
				t.Errorf("AAC profile %q, want LC", a.Profile)
			}
			d, _ := strconv.ParseFloat(probe.Format.Duration, 64)
			if math.Abs(d-10) > 0.1 {
				t.Errorf("duration %v s, want 10", d)
			}
			br, _ := strconv.ParseFloat(probe.Format.BitRate, 64)
			if br/1000 > tt.maxBitrate || br/1000 < 200 {
				t.Errorf("bit rate %.0f kbit/s, want 200..%.0f", br/1000, tt.maxBitrate)
			}

			// Keyframes: the GOP documented (25 = 1 s for H.264, 50 = 2 s for H.265).
			out, err = testtool.Command(t, time.Minute, ffprobe, "-v", "error", "-select_streams", "v",
				"-show_entries", "packet=flags", "-of", "csv=p=0", path).Output()
			if err != nil {
				t.Fatalf("ffprobe packets: %v", err)
			}
			keys, packets := 0, 0
			for _, l := range strings.Fields(string(out)) {
				packets++
				if strings.HasPrefix(l, "K") {
					keys++
				}
			}
			if keys != tt.keyframes || packets != 250 {
				t.Errorf("%d video packets with %d keyframes, want 250 with %d", packets, keys, tt.keyframes)
			}
		})
	}
}
