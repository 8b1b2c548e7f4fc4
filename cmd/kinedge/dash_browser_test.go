package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// msePage is the least DASH player there is: it reads the static MPD
// named by its query (DOMParser), opens one Media Source Extensions
// SourceBuffer per AdaptationSet with the manifest's mimeType and
// codecs, appends each track's init segment and its media segments
// ($Number$ from startNumber, one per S element) placed as the MPD says
// (presentationTimeOffset, Period@start), and plays. Chromium's
// MSE is strict where ffmpeg is lenient: a SourceBuffer takes an init
// segment of exactly the tracks its codecs name, and the segments'
// timestamps must line up. It keeps what happened in window.dashState.
const msePage = `<!doctype html><html><body>
<video id="v" muted playsinline width="320" height="240"></video>
<script>
window.dashState = {errors: [], fatal: "", appended: 0};
const v = document.getElementById("v");
v.addEventListener("error", () => { window.dashState.fatal = "video error " + (v.error && v.error.code) + " " + (v.error && v.error.message); });
v.addEventListener("playing", () => { if (window.dashState.t0 === undefined) window.dashState.t0 = v.currentTime; });
const src = new URLSearchParams(location.search).get("src");
async function fetchBytes(u) {
  const r = await fetch(u);
  if (!r.ok) throw new Error("HTTP " + r.status + " for " + u);
  return r.arrayBuffer();
}
function append(sb, data) {
  return new Promise((resolve, reject) => {
    sb.addEventListener("updateend", resolve, {once: true});
    sb.addEventListener("error", () => reject(new Error("SourceBuffer error")), {once: true});
    sb.appendBuffer(data);
  });
}
async function play() {
  const text = await (await fetch(src)).text();
  const mpd = new DOMParser().parseFromString(text, "application/xml");
  const sets = [...mpd.getElementsByTagName("AdaptationSet")];
  const ms = new MediaSource();
  v.src = URL.createObjectURL(ms);
  await new Promise(r => ms.addEventListener("sourceopen", r, {once: true}));
  await Promise.all(sets.map(async set => {
    const rep = set.getElementsByTagName("Representation")[0];
    const tpl = rep.getElementsByTagName("SegmentTemplate")[0];
    const type = set.getAttribute("mimeType") + '; codecs="' + rep.getAttribute("codecs") + '"';
    if (!MediaSource.isTypeSupported(type)) throw new Error("not supported: " + type);
    const sb = ms.addSourceBuffer(type);
    // DASH places media time t at t - presentationTimeOffset/timescale +
    // Period@start (ISO/IEC 23009-1 section 5.3.9.6), as dash.js does.
    const period = set.parentElement;
    const periodStart = Number((/^PT([0-9.]+)S$/.exec(period.getAttribute("start")) || [0, 0])[1]);
    sb.timestampOffset = periodStart - Number(tpl.getAttribute("presentationTimeOffset")) / Number(tpl.getAttribute("timescale"));
    await append(sb, await fetchBytes(new URL(tpl.getAttribute("initialization"), src)));
    const first = Number(tpl.getAttribute("startNumber"));
    const n = tpl.getElementsByTagName("S").length;
    for (let i = 0; i < n; i++) {
      const u = new URL(tpl.getAttribute("media").replace("$Number$", String(first + i)), src);
      await append(sb, await fetchBytes(u));
      window.dashState.appended++;
    }
  }));
  ms.endOfStream();
  await v.play();
}
play().catch(e => { window.dashState.fatal = String(e); });
</script></body></html>`

// TestDASHSessionInChromium plays an ON_DEMAND DASH session of a recorded
// camera in Chromium through Media Source Extensions, from a page of
// another origin (the session's GETs allow any origin): every segment of
// both tracks is accepted and the video's currentTime advances by 3 s
// without an error.
func TestDASHSessionInChromium(t *testing.T) {
	awsPath := testtool.Need(t, "aws")
	b := newBrowser(t)
	r := newKVSSessionRigFor(t, awsPath, "dashmse", "8s", 3)
	stream, frags, cli := r.stream, r.frags, r.cli
	start := frags[0].ServerTimestamp.Add(-time.Second).UTC().Format(time.RFC3339)
	end := frags[len(frags)-1].ServerTimestamp.Add(time.Second).UTC().Format(time.RFC3339)
	stdout, stderr, err := cli.Run(t, "kinesis-video-archived-media", "get-dash-streaming-session-url", "--stream-name", stream,
		"--playback-mode", "ON_DEMAND", "--dash-fragment-selector",
		"FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp="+start+",EndTimestamp="+end+"}")
	if err != nil {
		t.Fatalf("aws get-dash-streaming-session-url: %v %s", err, stderr)
	}
	var got struct{ DASHStreamingSessionURL string }
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(msePage))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	page := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = page.Serve(ln) }()
	t.Cleanup(func() { _ = page.Close(); <-done })

	b.do(30*time.Second, "open the player page", chromedp.Navigate("http://"+ln.Addr().String()+"/?src="+url.QueryEscape(got.DASHStreamingSessionURL)))
	// Two tracks: every fragment is appended twice.
	b.waitJS(60*time.Second, "MSE plays the DASH session", fmt.Sprintf(`(() => {
		const v = document.getElementById("v"), s = window.dashState;
		if (s.fatal) return {fail: s.fatal};
		return {done: s.appended === %d && s.t0 !== undefined && v.currentTime > s.t0 + 3, note: s.appended + " segments appended, playing from " + s.t0 + ", currentTime " + v.currentTime + " readyState " + v.readyState};
	})()`, 2*len(frags)))
	b.screenshot("dash-playing")
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("JavaScript errors: %s", strings.Join(errs, "; "))
	}
}
