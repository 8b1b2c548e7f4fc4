package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestKVSHLSEndToEnd records a camera with `kinedge serve`, asks the AWS
// CLI (botocore's kinesis-video-archived-media) for an ON_DEMAND HLS
// session URL over the recording, and has ffprobe read that URL with no
// credentials but its session token: every recorded frame comes back.
// A LIVE session's master playlist passes neither the SigV4 middleware
// nor the web page's login.
func TestKVSHLSEndToEnd(t *testing.T) {
	awsPath := testtool.Need(t, "aws")
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	out, err := testtool.Command(t, 2*time.Minute, kinedgeBin, "camsim", "--url", "rtsp://camera:camsecret@"+s.rtspAddr+"/", "--cameras", "1",
		"--prefix", "hls", "--duration", "5s").CombinedOutput()
	if err != nil {
		t.Fatalf("camsim: %v\n%s", err, out)
	}
	stream := "hls1"
	waitFor(t, time.Minute, stream+" fragments", func() error {
		if len(s.fragments(t, stream)) < 2 {
			return errNoFragments
		}
		return nil
	})
	frags := s.fragments(t, stream)
	frames := 0
	for _, f := range frags {
		frames += f.Frames
	}
	cli := testtool.AWSCLI{Path: awsPath, Endpoint: "http://" + s.httpAddr, Region: "us-east-1", Key: "admin", Secret: "adminsecret"}
	sessionURL := func(args ...string) string {
		t.Helper()
		stdout, stderr, err := cli.Run(t, "kinesis-video-archived-media", append([]string{"get-hls-streaming-session-url", "--stream-name", stream}, args...)...)
		if err != nil {
			t.Fatalf("aws get-hls-streaming-session-url: %v %s\n%s", err, stderr, s.logs())
		}
		var got struct{ HLSStreamingSessionURL string }
		if err := json.Unmarshal([]byte(stdout), &got); err != nil || !strings.HasPrefix(got.HLSStreamingSessionURL, "http://"+s.httpAddr+"/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken=") {
			t.Fatalf("get-hls-streaming-session-url: %v %s", err, stdout)
		}
		return got.HLSStreamingSessionURL
	}
	start := frags[0].ServerTimestamp.Add(-time.Second).UTC().Format(time.RFC3339)
	end := frags[len(frags)-1].ServerTimestamp.Add(time.Second).UTC().Format(time.RFC3339)
	u := sessionURL("--playback-mode", "ON_DEMAND", "--hls-fragment-selector",
		"FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp="+start+",EndTimestamp="+end+"}")
	n := ffprobe(t, u).packets(t)
	if n["video"]+n["audio"] != frames || n["video"] == 0 || n["audio"] == 0 {
		t.Errorf("ffprobe read %v from the session, %d frames were recorded", n, frames)
	}

	live := sessionURL("--playback-mode", "LIVE")
	resp, err := http.Get(live)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), "#EXTM3U") {
		t.Errorf("LIVE master playlist: HTTP %d %s", resp.StatusCode, b)
	}
}
