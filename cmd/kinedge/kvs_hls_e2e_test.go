package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
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
	r := newKVSSessionRig(t, awsPath, "hls")
	s, stream, frags, frames := r.s, r.stream, r.frags, r.frames
	sessionURL := func(args ...string) string { return r.sessionURL(t, "hls", args...) }
	// LIVE first: it needs a fragment stored in the last 30 s.
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

	// The web page's live fallback: its media token (live view) opens
	// /v1/streams/<name>/live.m3u8, a redirect to a LIVE session whose
	// media playlist lists the newest fragments; without the token the
	// Guard refuses.
	resp, err = s.get("/v1/streams/"+stream+"/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || tok.Token == "" {
		t.Fatalf("media token: %v %+v", err, tok)
	}
	liveURL := "http://" + s.httpAddr + "/v1/streams/" + stream + "/live.m3u8"
	resp, err = http.Get(liveURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("live.m3u8 without a token: HTTP %d, want 401", resp.StatusCode)
	}
	resp, err = http.Get(liveURL + "?token=" + url.QueryEscape(tok.Token))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Request.URL.Path, "/hls/v1/getHLSMasterPlaylist.m3u8") || len(lines) < 2 {
		t.Fatalf("live.m3u8 with the page's token: HTTP %d at %s:\n%s", resp.StatusCode, resp.Request.URL, b)
	}
	media, err := resp.Request.URL.Parse(lines[len(lines)-1])
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(media.String())
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "getMP4MediaFragment.mp4?FragmentNumber="+frags[len(frags)-1].FragmentNumber+"&") || strings.Contains(string(b), "#EXT-X-ENDLIST") {
		t.Errorf("live media playlist (newest fragment %s): HTTP %d\n%s", frags[len(frags)-1].FragmentNumber, resp.StatusCode, b)
	}

	// ON_DEMAND over the whole recording: ffprobe reads every frame.
	start := frags[0].ServerTimestamp.Add(-time.Second).UTC().Format(time.RFC3339)
	end := frags[len(frags)-1].ServerTimestamp.Add(time.Second).UTC().Format(time.RFC3339)
	u := sessionURL("--playback-mode", "ON_DEMAND", "--hls-fragment-selector",
		"FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp="+start+",EndTimestamp="+end+"}")
	n := ffprobe(t, u).packets(t)
	if n["video"]+n["audio"] != frames || n["video"] == 0 || n["audio"] == 0 {
		t.Errorf("ffprobe read %v from the session, %d frames were recorded", n, frames)
	}

	// The same range as MPEG-TS: ffmpeg decodes every recorded frame
	// (framemd5 writes one line per decoded frame, passthrough timing).
	ts := sessionURL("--playback-mode", "ON_DEMAND", "--container-format", "MPEG_TS", "--hls-fragment-selector",
		"FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp="+start+",EndTimestamp="+end+"}")
	cmd := testtool.Command(t, 2*time.Minute, testtool.Need(t, "ffmpeg"), "-v", "error", "-i", ts, "-map", "0",
		"-fps_mode", "passthrough", "-f", "framemd5", "-")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("ffmpeg of the MPEG_TS session: %v\n%s", err, stderr.String())
	}
	decoded := map[string]int{}
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			decoded[strings.TrimSpace(strings.SplitN(l, ",", 2)[0])]++
		}
	}
	if decoded["0"]+decoded["1"] != frames || decoded["0"] != n["video"] || decoded["1"] != n["audio"] {
		t.Errorf("ffmpeg decoded %v (stream: frames) from the MPEG_TS session; %d frames recorded (%v)", decoded, frames, n)
	}
}

// kvsSessionRig is a camsim recording of a few seconds (<prefix>1), idle
// (its last fragment stored), and an AWS CLI that asks for its session
// URLs.
type kvsSessionRig struct {
	s      *server
	stream string
	frags  []videoapi.FragmentJSON
	frames int
	cli    testtool.AWSCLI
}

func newKVSSessionRig(t *testing.T, awsPath, prefix string) *kvsSessionRig {
	return newKVSSessionRigFor(t, awsPath, prefix, "5s", 2)
}

// newKVSSessionRigFor records for duration and waits for at least
// minFrags fragments.
func newKVSSessionRigFor(t *testing.T, awsPath, prefix, duration string, minFrags int) *kvsSessionRig {
	t.Helper()
	r := &kvsSessionRig{s: startServer(t, t.TempDir(), freeUDPPair(t)), stream: prefix + "1"}
	s := r.s
	out, err := testtool.Command(t, 2*time.Minute, kinedgeBin, "camsim", "--url", "rtsp://camera:camsecret@"+s.rtspAddr+"/", "--cameras", "1",
		"--prefix", prefix, "--duration", duration).CombinedOutput()
	if err != nil {
		t.Fatalf("camsim: %v\n%s", err, out)
	}
	// camsim has left: once the stream is idle its last fragment is
	// stored, and the recording is what it will stay.
	waitFor(t, time.Minute, r.stream+" idle with fragments", func() error {
		js, err := s.streamJSON(t, r.stream)
		if err != nil {
			return err
		}
		if js.State != videoapi.StateIdle || js.Session != nil {
			return fmt.Errorf("state %q", js.State)
		}
		if len(s.fragments(t, r.stream)) < minFrags {
			return errNoFragments
		}
		return nil
	})
	r.frags = s.fragments(t, r.stream)
	for _, f := range r.frags {
		r.frames += f.Frames
	}
	r.cli = testtool.AWSCLI{Path: awsPath, Endpoint: "http://" + s.httpAddr, Region: "us-east-1", Key: "admin", Secret: "adminsecret"}
	return r
}

// sessionURL asks the AWS CLI for a session URL of the recording: kind
// "hls" (GetHLSStreamingSessionURL) or "dash" (GetDASHStreamingSessionURL).
func (r *kvsSessionRig) sessionURL(t *testing.T, kind string, args ...string) string {
	t.Helper()
	op, field, path := "get-hls-streaming-session-url", "HLSStreamingSessionURL", "/hls/v1/getHLSMasterPlaylist.m3u8"
	if kind == "dash" {
		op, field, path = "get-dash-streaming-session-url", "DASHStreamingSessionURL", "/dash/v1/getDASHManifest.mpd"
	}
	stdout, stderr, err := r.cli.Run(t, "kinesis-video-archived-media", append([]string{op, "--stream-name", r.stream}, args...)...)
	if err != nil {
		t.Fatalf("aws %s: %v %s\n%s", op, err, stderr, r.s.logs())
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || !strings.HasPrefix(got[field], "http://"+r.s.httpAddr+path+"?SessionToken=") {
		t.Fatalf("%s: %v %s", op, err, stdout)
	}
	return got[field]
}
