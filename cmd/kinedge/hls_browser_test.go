package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// hlsPage plays the session URL in its query with hls.js (the copy the web page serves)
// and keeps what hls.js and the <video> report in window.hlsState.
const hlsPage = `<!doctype html><html><body>
<video id="v" muted playsinline width="320" height="240"></video>
<script src="/hls.js"></script>
<script>
window.hlsState = {errors: [], fatal: ""};
const v = document.getElementById("v");
v.addEventListener("error", () => { window.hlsState.fatal = "video error " + (v.error && v.error.code); });
v.addEventListener("playing", () => { if (window.hlsState.t0 === undefined) window.hlsState.t0 = v.currentTime; });
const hls = new Hls();
hls.on(Hls.Events.ERROR, (_, d) => {
  window.hlsState.errors.push(d.type + "/" + d.details);
  if (d.fatal) window.hlsState.fatal = d.type + "/" + d.details;
});
hls.loadSource(new URLSearchParams(location.search).get("src"));
hls.attachMedia(v);
hls.on(Hls.Events.MANIFEST_PARSED, () => v.play());
</script></body></html>`

// TestHLSSessionInChromium plays an ON_DEMAND HLS session of a recorded
// camera with hls.js in Chromium, from a page of another origin (the
// session's GETs allow any origin), in fMP4 and in MPEG-TS: the video's
// currentTime advances by 3 s and neither hls.js nor the <video> reports
// a fatal error.
func TestHLSSessionInChromium(t *testing.T) {
	awsPath := testtool.Need(t, "aws")
	b := newBrowser(t)
	r := newKVSSessionRigFor(t, awsPath, "hlsjs", "8s", 3)
	stream, frags, cli := r.stream, r.frags, r.cli
	start := frags[0].ServerTimestamp.Add(-time.Second).UTC().Format(time.RFC3339)
	end := frags[len(frags)-1].ServerTimestamp.Add(time.Second).UTC().Format(time.RFC3339)
	// Both containers: hls.js transmuxes MPEG_TS segments itself.
	for _, container := range []string{"FRAGMENTED_MP4", "MPEG_TS"} {
		stdout, stderr, err := cli.Run(t, "kinesis-video-archived-media", "get-hls-streaming-session-url", "--stream-name", stream,
			"--playback-mode", "ON_DEMAND", "--container-format", container, "--hls-fragment-selector",
			"FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp="+start+",EndTimestamp="+end+"}")
		if err != nil {
			t.Fatalf("aws get-hls-streaming-session-url %s: %v %s", container, err, stderr)
		}
		var got struct{ HLSStreamingSessionURL string }
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatal(err)
		}
		playHLS(t, b, got.HLSStreamingSessionURL, 3)
		b.screenshot("playing-" + container)
		if errs := b.errors(); len(errs) > 0 {
			t.Errorf("%s: JavaScript errors: %s", container, strings.Join(errs, "; "))
		}
	}
}

// playHLS serves hlsPage (and hls.js) from an origin of its own on
// 127.0.0.1, opens it in b on the session URL src and waits until the
// video's currentTime has advanced by more than advance seconds since it
// began playing, without a fatal error.
func playHLS(t *testing.T, b *browser, src string, advance float64) {
	t.Helper()
	js, err := os.ReadFile(filepath.Join("..", "..", "dataplane", "video", "web", "static", "vendor", "hls.light.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hls.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		_, _ = w.Write(js)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(hlsPage))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	page := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = page.Serve(ln) }()
	t.Cleanup(func() { _ = page.Close(); <-done })

	b.do(30*time.Second, "open the player page", chromedp.Navigate("http://"+ln.Addr().String()+"/?src="+url.QueryEscape(src)))
	b.waitJS(60*time.Second, "hls.js plays the session", fmt.Sprintf(`(() => {
		const v = document.getElementById("v"), s = window.hlsState;
		if (s.fatal) return {fail: s.fatal + " " + s.errors.join(",")};
		return {done: s.t0 !== undefined && v.currentTime > s.t0 + %g, note: "playing from " + s.t0 + ", currentTime " + v.currentTime + " readyState " + v.readyState + " errors " + s.errors.join(",")};
	})()`, advance))
}

// TestHLSLiveInChromium plays a LIVE session with hls.js while camsim
// publishes: the video plays on for more than 12 s, past what the first
// playlist (the 5 newest fragments, 2 s each, started about 3 fragments
// from its end) held, so the playlist slid as fragments were stored.
func TestHLSLiveInChromium(t *testing.T) {
	awsPath := testtool.Need(t, "aws")
	b := newBrowser(t)
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	cam := testtool.Command(t, 2*time.Minute, kinedgeBin, "camsim", "--url", "rtsp://camera:camsecret@"+s.rtspAddr+"/", "--cameras", "1",
		"--prefix", "hlslive", "--duration", "45s")
	if err := cam.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cam.Process.Kill(); _ = cam.Wait() })
	stream := "hlslive1"
	waitFor(t, time.Minute, stream+" fragments", func() error {
		// The stream exists once camsim's first publish arrived.
		if _, err := s.streamJSON(t, stream); err != nil {
			return err
		}
		if len(s.fragments(t, stream)) < 2 {
			return errNoFragments
		}
		return nil
	})
	cli := testtool.AWSCLI{Path: awsPath, Endpoint: "http://" + s.httpAddr, Region: "us-east-1", Key: "admin", Secret: "adminsecret"}
	stdout, stderr, err := cli.Run(t, "kinesis-video-archived-media", "get-hls-streaming-session-url", "--stream-name", stream, "--playback-mode", "LIVE")
	if err != nil {
		t.Fatalf("aws get-hls-streaming-session-url: %v %s", err, stderr)
	}
	var got struct{ HLSStreamingSessionURL string }
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	first := len(s.fragments(t, stream))
	playHLS(t, b, got.HLSStreamingSessionURL, 12)
	if n := len(s.fragments(t, stream)); n <= first {
		t.Errorf("%d fragments before playing, %d after: the camera stopped", first, n)
	}
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("JavaScript errors: %s", strings.Join(errs, "; "))
	}
}
