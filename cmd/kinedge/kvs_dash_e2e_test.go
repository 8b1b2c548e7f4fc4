package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestKVSDASHEndToEnd records a camera with `kinedge serve`, asks the AWS
// CLI (botocore's kinesis-video-archived-media) for DASH session URLs,
// and has ffmpeg read the ON_DEMAND one with no credentials but its
// session token: every recorded frame is decoded. A LIVE session's
// manifest is dynamic; a request KVS refuses gets KVS's error.
func TestKVSDASHEndToEnd(t *testing.T) {
	awsPath := testtool.Need(t, "aws")
	ffmpeg := testtool.Need(t, "ffmpeg")
	r := newKVSSessionRig(t, awsPath, "dash")
	stream, frags, frames := r.stream, r.frags, r.frames
	sessionURL := func(args ...string) string { return r.sessionURL(t, "dash", args...) }
	// LIVE first: it needs a fragment stored in the last 30 s. Its
	// manifest is dynamic and names the newest fragment (kvs:fn).
	live := sessionURL("--playback-mode", "LIVE", "--display-fragment-number", "ALWAYS")
	resp, err := http.Get(live)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/dash+xml" || !strings.Contains(string(b), `type="dynamic"`) ||
		!strings.Contains(string(b), `kvs:fn="`+frags[len(frags)-1].FragmentNumber+`"`) {
		t.Errorf("LIVE manifest (newest fragment %s): HTTP %d\n%s", frags[len(frags)-1].FragmentNumber, resp.StatusCode, b)
	}

	// ON_DEMAND over the whole recording: ffmpeg decodes every frame
	// (framemd5 writes one line per decoded frame, passthrough timing).
	// Each track is decoded on its own: ffmpeg's DASH demuxer ends the
	// whole input at the first representation's end, so the audio frames
	// a camera sent after its last picture would be left out of a
	// decoding of both at once.
	start := frags[0].ServerTimestamp.Add(-time.Second).UTC().Format(time.RFC3339)
	end := frags[len(frags)-1].ServerTimestamp.Add(time.Second).UTC().Format(time.RFC3339)
	u := sessionURL("--playback-mode", "ON_DEMAND", "--dash-fragment-selector",
		"FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp="+start+",EndTimestamp="+end+"}")
	decoded := map[string]int{}
	for _, track := range []string{"v", "a"} {
		cmd := testtool.Command(t, 2*time.Minute, ffmpeg, "-v", "error", "-i", u, "-map", "0:"+track, "-fps_mode", "passthrough", "-f", "framemd5", "-")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 {
			t.Fatalf("ffmpeg of the ON_DEMAND DASH session's %s track: %v\n%s", track, err, stderr.String())
		}
		for _, l := range strings.Split(string(out), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				decoded[track]++
			}
		}
	}
	if decoded["v"]+decoded["a"] != frames || decoded["v"] == 0 || decoded["a"] == 0 {
		t.Errorf("ffmpeg decoded %v (track: frames) from the DASH session; %d frames recorded", decoded, frames)
	}

	// KVS's error for a request it refuses: ON_DEMAND needs a range.
	_, errOut, err := r.cli.Run(t, "kinesis-video-archived-media", "get-dash-streaming-session-url", "--stream-name", stream, "--playback-mode", "ON_DEMAND")
	if err == nil || !strings.Contains(errOut, "InvalidArgumentException") {
		t.Errorf("ON_DEMAND without a range: %v %s, want InvalidArgumentException", err, errOut)
	}
}
