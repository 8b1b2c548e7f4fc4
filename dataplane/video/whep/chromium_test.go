package whep

import (
	"context"
	"net/http"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// playerPage plays /whep/cam1 in a <video> and keeps window.decoded (the
// inbound video's framesDecoded, from getStats) and window.failure up to
// date.
const playerPage = `<!doctype html>
<html><body>
<video id="v" autoplay muted playsinline></video>
<script>
window.decoded = 0;
window.failure = "";
(async () => {
  try {
    const pc = new RTCPeerConnection();
    pc.addTransceiver("video", {direction: "recvonly"});
    pc.addTransceiver("audio", {direction: "recvonly"});
    const v = document.getElementById("v");
    pc.ontrack = (e) => { if (e.track.kind === "video") v.srcObject = new MediaStream([e.track]); };
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === "complete") resolve(); };
      setTimeout(resolve, 3000);
    });
    const resp = await fetch("/whep/cam1", {method: "POST", headers: {"Content-Type": "application/sdp"}, body: pc.localDescription.sdp});
    const body = await resp.text();
    if (resp.status !== 201) throw new Error("POST /whep/cam1: " + resp.status + " " + body);
    window.location_ = resp.headers.get("Location");
    await pc.setRemoteDescription({type: "answer", sdp: body});
    setInterval(async () => {
      const stats = await pc.getStats();
      stats.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") window.decoded = s.framesDecoded || 0; });
    }, 100);
  } catch (e) {
    window.failure = String(e);
  }
})();
</script>
</body></html>`

// TestChromiumPlays plays a stream in Chromium, the browser a user has:
// the <video> gets a picture (videoWidth > 0) and its decoded frames grow.
func TestChromiumPlays(t *testing.T) {
	chromium := testtool.Need(t, "chromium")
	if _, err := exec.LookPath(chromium); err != nil {
		t.Fatal(err)
	}
	fx := newFixture(t)
	stop := feed(fx.hub, "cam1", h264Track, h264Frames(t))
	defer stop()
	fx.mux.HandleFunc("GET /player", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(playerPage))
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:0:0],
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// Chromium hides its host addresses behind mDNS names and skips
		// loopback; the appliance's test network is loopback only.
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
	)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	var mu sync.Mutex
	var exceptions []string
	if err := chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			mu.Lock()
			exceptions = append(exceptions, e.ExceptionDetails.Text)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	err := chromedp.Do(bctx,
		chromedp.Navigate(fx.srv.URL+"/player"),
		chromedp.Poll[chromedp.Void](`document.getElementById("v").videoWidth > 0 || window.failure !== ""`, chromedp.WithPollingTimeout(time.Minute)),
	)
	if err != nil {
		t.Fatalf("chromium: no picture: %v", err)
	}
	eval := func(expr string) int {
		t.Helper()
		v, err := chromedp.Run(bctx, chromedp.Evaluate[int](expr))
		if err != nil {
			t.Fatalf("chromium: %s: %v", expr, err)
		}
		return v
	}
	if failure, err := chromedp.Run(bctx, chromedp.Evaluate[string](`window.failure`)); err != nil || failure != "" {
		t.Fatalf("the page failed: %q %v", failure, err)
	}
	width := eval(`document.getElementById("v").videoWidth`)
	decoded1 := eval(`window.decoded`)
	if err := chromedp.Do(bctx, chromedp.Poll[chromedp.Void](`window.decoded > `+strconv.Itoa(decoded1+10), chromedp.WithPollingTimeout(time.Minute))); err != nil {
		t.Fatalf("chromium: frames decoded stayed at %d: %v", decoded1, err)
	}
	decoded2 := eval(`window.decoded`)
	if width != 320 {
		t.Fatalf("videoWidth %d, want 320", width)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(exceptions) > 0 {
		t.Fatalf("JavaScript exceptions: %v", exceptions)
	}
	t.Logf("chromium: videoWidth %d, frames decoded %d → %d", width, decoded1, decoded2)
}
