package kvs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// ffprobeFrames decodes file with ffprobe and returns the frames it
// counted per codec.
func ffprobeFrames(t *testing.T, ffprobe, file string) map[string]int {
	t.Helper()
	cmd := testtool.Command(t, time.Minute, ffprobe, "-v", "error", "-count_frames",
		"-show_entries", "stream=codec_name,nb_read_frames", "-of", "json", file)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", filepath.Base(file), err)
	}
	var got struct {
		Streams []struct {
			CodecName    string `json:"codec_name"`
			NbReadFrames string `json:"nb_read_frames"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("ffprobe output %s: %v", out, err)
	}
	frames := map[string]int{}
	for _, s := range got.Streams {
		n, _ := strconv.Atoi(s.NbReadFrames)
		frames[s.CodecName] += n
	}
	return frames
}

// TestAWSCLIMedia reads the appliance with the AWS CLI (botocore's
// kinesis-video-media and kinesis-video-archived-media clients, which
// write the payload to a file) and decodes what they wrote with ffprobe.
func TestAWSCLIMedia(t *testing.T) {
	awsPath := testtool.Need(t, "aws")
	ffprobe := testtool.Need(t, "ffprobe")
	env := newMediaEnv(t, func(h *Handler) { h.GetMediaIdle = 300 * time.Millisecond })
	cli := testtool.AWSCLI{Path: awsPath, Endpoint: env.srv.URL, Region: testRegion, Key: testKey, Secret: testSecret}
	dir := t.TempDir()
	fr := env.frags
	var videoFrames int
	for _, f := range fr {
		videoFrames += f.Tracks[0].Frames
	}

	readChunks := func(file string) []chunk {
		t.Helper()
		fh, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		return readAll(t, fh)
	}

	t.Run("get-media", func(t *testing.T) {
		out := filepath.Join(dir, "media.mkv")
		stdout, stderr, err := cli.Run(t, "kinesis-video-media", "get-media", "--stream-name", "cam1",
			"--start-selector", "StartSelectorType=EARLIEST", out)
		if err != nil {
			t.Fatalf("aws get-media: %v\n%s", err, stderr)
		}
		if !strings.Contains(stdout, "video/webm") {
			t.Errorf("aws get-media printed %q, want the ContentType video/webm", stdout)
		}
		cs := readChunks(out)
		if len(cs) != len(fr)+1 {
			t.Fatalf("%d chunks, want %d fragments and the idle end", len(cs), len(fr))
		}
		for i, f := range fr {
			for _, name := range []string{mkv.TagFragmentNumber, mkv.TagServerTimestamp, mkv.TagProducerTimestamp, mkv.TagContinuationToken, mkv.TagMillisBehindNow} {
				if cs[i].tags[name] == "" {
					t.Errorf("fragment %d: no %s tag", f.Number, name)
				}
			}
		}
		frames := ffprobeFrames(t, ffprobe, out)
		// ffprobe reads the EBML header + Segment pairs one after another.
		if frames["h264"] != videoFrames || frames["aac"] == 0 {
			t.Errorf("ffprobe decoded %v, want all %d H.264 frames and AAC", frames, videoFrames)
		}

		// Resume with the token the CLI wrote after fragment 2.
		tok := cs[1].tags[mkv.TagContinuationToken]
		out2 := filepath.Join(dir, "resumed.mkv")
		if _, stderr, err := cli.Run(t, "kinesis-video-media", "get-media", "--stream-name", "cam1",
			"--start-selector", "StartSelectorType=CONTINUATION_TOKEN,ContinuationToken="+tok, out2); err != nil {
			t.Fatalf("aws get-media CONTINUATION_TOKEN: %v\n%s", err, stderr)
		}
		rs := readChunks(out2)
		if len(rs) != len(fr)-2+1 || rs[0].number(t) != fr[2].Number {
			t.Errorf("resumed: %d chunks from %v, want %d from fragment %d", len(rs), rs[0].tags, len(fr)-1, fr[2].Number)
		}

		_, stderr, err = cli.Run(t, "kinesis-video-media", "get-media", "--stream-name", "nope",
			"--start-selector", "StartSelectorType=NOW", filepath.Join(dir, "x"))
		if err == nil || !strings.Contains(stderr, "ResourceNotFoundException") {
			t.Errorf("unknown stream: %v %s, want ResourceNotFoundException", err, stderr)
		}
		_, stderr, err = cli.Run(t, "kinesis-video-media", "get-media", "--stream-name", "cam1",
			"--start-selector", "StartSelectorType=FRAGMENT_NUMBER", filepath.Join(dir, "x"))
		if err == nil || !strings.Contains(stderr, "InvalidArgumentException") {
			t.Errorf("FRAGMENT_NUMBER without a number: %v %s, want InvalidArgumentException", err, stderr)
		}
	})

	t.Run("get-media-for-fragment-list", func(t *testing.T) {
		out := filepath.Join(dir, "list.mkv")
		if _, stderr, err := cli.Run(t, "kinesis-video-archived-media", "get-media-for-fragment-list", out, "--stream-name", "cam1",
			"--fragments", fr[0].NumberString(), fr[1].NumberString()); err != nil {
			t.Fatalf("aws get-media-for-fragment-list: %v\n%s", err, stderr)
		}
		cs := readChunks(out)
		if len(cs) != 2 || cs[0].number(t) != fr[0].Number || cs[1].number(t) != fr[1].Number {
			t.Fatalf("chunks %v", cs)
		}
		if frames := ffprobeFrames(t, ffprobe, out); frames["h264"] == 0 || frames["aac"] == 0 {
			t.Errorf("ffprobe decoded %v", frames)
		}
		_, stderr, err := cli.Run(t, "kinesis-video-archived-media", "get-media-for-fragment-list", filepath.Join(dir, "x"), "--stream-name", "cam1",
			"--fragments", "424242424242")
		if err == nil || !strings.Contains(stderr, "ResourceNotFoundException") {
			t.Errorf("unknown fragment: %v %s, want ResourceNotFoundException", err, stderr)
		}
	})

	t.Run("get-clip", func(t *testing.T) {
		out := filepath.Join(dir, "clip.mp4")
		sel := "FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp=" +
			fr[0].ServerTime.Add(-time.Millisecond).UTC().Format(time.RFC3339Nano) + ",EndTimestamp=" + fr[len(fr)-1].ServerTime.UTC().Format(time.RFC3339Nano) + "}"
		stdout, stderr, err := cli.Run(t, "kinesis-video-archived-media", "get-clip", "--stream-name", "cam1",
			"--clip-fragment-selector", sel, out)
		if err != nil {
			t.Fatalf("aws get-clip: %v\n%s", err, stderr)
		}
		if !strings.Contains(stdout, "video/mp4") {
			t.Errorf("aws get-clip printed %q, want the ContentType video/mp4", stdout)
		}
		frames := ffprobeFrames(t, ffprobe, out)
		if frames["h264"] != videoFrames || frames["aac"] == 0 {
			t.Errorf("ffprobe decoded %v of the clip, want %d H.264 frames and AAC", frames, videoFrames)
		}
		empty := "FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp=2001-01-01T00:00:00Z,EndTimestamp=2001-01-01T00:01:00Z}"
		_, stderr, err = cli.Run(t, "kinesis-video-archived-media", "get-clip", "--stream-name", "cam1",
			"--clip-fragment-selector", empty, filepath.Join(dir, "x"))
		if err == nil || !strings.Contains(stderr, "ResourceNotFoundException") {
			t.Errorf("empty range: %v %s, want ResourceNotFoundException", err, stderr)
		}
	})
}

// TestAWSCLILiveEdge: the AWS CLI's get-media from NOW, started before
// the camera records more, writes the fragments recorded during the
// session (which then ends idle, and the CLI with it).
func TestAWSCLILiveEdge(t *testing.T) {
	awsPath := testtool.Need(t, "aws")
	env := newMediaEnv(t, func(h *Handler) { h.GetMediaIdle = 5 * time.Second })
	cli := testtool.AWSCLI{Path: awsPath, Endpoint: env.srv.URL, Region: testRegion, Key: testKey, Secret: testSecret}
	out := filepath.Join(t.TempDir(), "live.mkv")
	done := make(chan error, 1)
	var stderr string
	go func() {
		var err error
		_, stderr, err = cli.Run(t, "kinesis-video-media", "get-media", "--stream-name", "cam1",
			"--start-selector", "StartSelectorType=NOW", out)
		done <- err
	}()
	// The session is open once the handler counts it (the CLI has its 200).
	testtool.WaitFor(t, "the CLI's GetMedia session", func() bool { return env.h.Stats().GetMediaSessions == 1 })
	fresh := env.record(t, "cam1")
	if err := <-done; err != nil {
		t.Fatalf("aws get-media NOW: %v\n%s", err, stderr)
	}
	fh, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	cs := readAll(t, fh)
	latest := env.frags[len(env.frags)-len(fresh)-1]
	if len(cs) != len(fresh)+2 || cs[0].number(t) != latest.Number {
		t.Fatalf("%d chunks, want the latest fragment, the %d recorded during the session and the idle end", len(cs), len(fresh))
	}
	for i, f := range fresh {
		if cs[i+1].number(t) != f.Number {
			t.Errorf("chunk %d is fragment %d, want %d", i+1, cs[i+1].number(t), f.Number)
		}
	}
}
