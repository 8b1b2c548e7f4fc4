package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestWebPage drives the web page in Chromium against a running appliance
// fed by camsim (cam1, cam2) and ffmpeg (gapcam, published twice with a
// gap between): log in through the form, see the grid with thumbnails,
// see the gap on gapcam's timeline, click it to play, drag a clip and
// download it through its token URL (ffprobe checks the MP4), with no
// JavaScript error on the way.
func TestWebPage(t *testing.T) {
	b := newBrowser(t)
	s := startServer(t, t.TempDir(), freeUDPPair(t))

	// gapcam: publish the 10 s clip, leave a gap, publish it again.
	pub := func() {
		if out, err := publish(t, s, "h264_aac.ts", "gapcam", "tcp", "camera:camsecret").CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg publish: %v\n%s", err, out)
		}
	}
	pub()
	var lastEnd time.Time
	waitFor(t, time.Minute, "gapcam's first session stored", func() error {
		frags, err := s.tryFragments("gapcam")
		if err != nil || len(frags) == 0 {
			return fmt.Errorf("no fragments yet: %v", err)
		}
		f := frags[len(frags)-1]
		lastEnd = f.ServerTimestamp.Add(time.Duration(f.FragmentLengthInMilliseconds) * time.Millisecond)
		return nil
	})
	// The gap is made, not waited for: 6 s of wall time with no
	// publisher (the 10-minute view's resolution is 1 s).
	<-time.After(time.Until(lastEnd.Add(6 * time.Second)))
	pub()

	// The API sees the gap before the page is asked to.
	waitFor(t, time.Minute, "gapcam's timeline has two ranges", func() error {
		resp, err := s.get("/v1/streams/gapcam/timeline", url.Values{"start": {time.Now().Add(-10 * time.Minute).UTC().Format(time.RFC3339)}, "step": {"1s"}})
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var tl videoapi.TimelineJSON
		if err := json.NewDecoder(resp.Body).Decode(&tl); err != nil {
			return err
		}
		if len(tl.Ranges) < 2 {
			return fmt.Errorf("ranges %v", tl.Ranges)
		}
		return nil
	})

	cams := startCamsim(t, s, "cam", 2)

	base := "http://" + s.httpAddr
	// Log in through the form.
	b.do(time.Minute, "login form", chromedp.Navigate(base+"/"), chromedp.WaitVisible("#access_key"))
	b.screenshot("login")
	b.do(time.Minute, "log in",
		chromedp.SendKeys("#access_key", "admin"),
		chromedp.SendKeys("#secret_key", "adminsecret"),
		chromedp.Click(`button[type="submit"]`),
		chromedp.WaitVisible("#grid-view"))

	// The grid: three cameras, each with a thumbnail that loaded, and
	// the camsim cameras online.
	b.waitJS(90*time.Second, "grid with thumbnails", `(() => {
		const cards = [...document.querySelectorAll('#grid .card')];
		const names = cards.map(c => c.querySelector('h2').textContent).sort().join(',');
		const imgs = cards.map(c => c.querySelector('img.thumb'));
		const loaded = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
		const online = cards.filter(c => c.textContent.includes('Online: pushed')).length;
		const note = 'cameras ' + names + ', thumbnails loaded ' + loaded + ', online ' + online + '; ' + document.getElementById('grid-error').textContent;
		return {done: names === 'cam1,cam2,gapcam' && loaded === 3 && online >= 2, note};
	})()`)
	b.screenshot("grid")

	// gapcam's page, 10-minute zoom: two recorded ranges with a gap.
	b.do(time.Minute, "open gapcam", chromedp.Click(`a.card[href="#/cam/gapcam"]`), chromedp.WaitVisible("#timeline"),
		chromedp.Click(`button[data-window="600"]`))
	b.waitJS(time.Minute, "the gap on the timeline", `(() => {
		const r = [...document.querySelectorAll('#tl-bars .tl-range')].map(e => e.getBoundingClientRect());
		r.sort((a, b) => a.left - b.left);
		const between = r.length >= 2 && [...document.querySelectorAll('#tl-bars .tl-gap')].some(g => {
			const x = g.getBoundingClientRect();
			return x.left >= r[0].right - 1 && x.right <= r[1].left + 1 && x.width > 0;
		});
		return {done: between, note: r.length + ' ranges; ' + document.getElementById('tl-info').textContent + ' ' + document.getElementById('cam-error').textContent};
	})()`)
	b.screenshot("timeline")

	// Click a third into the first range: the recording plays.
	type box struct{ X1, X2, Y float64 }
	ranges := eval[[]box](b, `[...document.querySelectorAll('#tl-bars .tl-range')].map(e => e.getBoundingClientRect())
		.sort((a, b) => a.left - b.left).map(r => ({X1: r.left, X2: r.right, Y: r.top + r.height / 2}))`)
	first, second := ranges[0], ranges[1]
	b.do(time.Minute, "click the timeline", chromedp.MouseClickXY(first.X1+(first.X2-first.X1)/3, first.Y))
	b.waitJS(90*time.Second, "playback", `(() => {
		const v = document.getElementById('video');
		const status = document.getElementById('video-status').textContent;
		if (v.error) return {fail: 'media error ' + v.error.code + ' ' + v.error.message + '; ' + status};
		return {done: v.currentTime > 1.5, note: 'currentTime ' + v.currentTime + ', readyState ' + v.readyState + '; ' + status};
	})()`)
	b.screenshot("playing")

	// Drag from the middle of the first range to the middle of the second:
	// the download link appears.
	x1, x2 := (first.X1+first.X2)/2, (second.X1+second.X2)/2
	b.do(time.Minute, "drag a clip",
		chromedp.MouseEvent(chromedp.MousePressed, x1, first.Y, chromedp.ButtonLeft, chromedp.ClickCount(1)),
		chromedp.MouseEvent(chromedp.MouseMoved, (x1+x2)/2, first.Y, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseMoved, x2, first.Y, chromedp.ButtonLeft),
		chromedp.MouseEvent(chromedp.MouseReleased, x2, first.Y, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	b.waitJS(time.Minute, "download link", `(() => {
		const a = document.getElementById('download');
		return {done: !a.hidden && a.href.includes('token='), note: document.getElementById('clip-range').textContent};
	})()`)
	b.screenshot("clip")
	href := eval[string](b, `document.getElementById('download').href`)

	// Hovering over the second range shows its picture. (The pointer on
	// the timeline stops it following now, so the range is measured after
	// the pointer is there.)
	b.do(time.Minute, "pointer on the timeline", chromedp.MouseEvent(chromedp.MouseMoved, first.X1, first.Y))
	ranges = eval[[]box](b, `[...document.querySelectorAll('#tl-bars .tl-range')].map(e => e.getBoundingClientRect())
		.sort((a, b) => a.left - b.left).map(r => ({X1: r.left, X2: r.right, Y: r.top + r.height / 2}))`)
	second = ranges[1]
	b.do(time.Minute, "hover", chromedp.MouseEvent(chromedp.MouseMoved, (second.X1+second.X2)/2, second.Y))
	b.waitJS(time.Minute, "hover thumbnail", `(() => {
		const box = document.getElementById('tl-hover'), img = document.getElementById('tl-hover-img');
		return {done: !box.hidden && !img.hidden && img.src.includes('token=') && img.complete && img.naturalWidth > 0,
			note: 'box hidden ' + box.hidden + ', img ' + img.src + ' ' + img.naturalWidth};
	})()`)
	b.screenshot("hover")

	// The keyboard moves the timeline's cursor (the player, which moves
	// it too while it plays, paused first).
	eval[bool](b, `(() => { document.getElementById('video').pause(); return true })()`)
	before := eval[string](b, `document.getElementById('timeline').getAttribute('aria-valuetext')`)
	b.do(time.Minute, "arrow keys", chromedp.Focus("#timeline"), chromedp.KeyEvent(kb.ArrowLeft+kb.ArrowLeft, chromedp.KeyModifiers(chromedp.ModifierShift)))
	if after := eval[string](b, `document.getElementById('timeline').getAttribute('aria-valuetext')`); after == before {
		t.Errorf("Shift+ArrowLeft on the timeline left the cursor at %q", after)
	}

	// The link works on its own (its token, no cookie, no Basic) and is
	// an MP4 ffprobe reads, across the gap.
	resp, err := http.Get(href)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("download %s: %s %s", href, resp.Status, msg)
	}
	clip := filepath.Join(b.artifacts, "clip.mp4")
	f, err := os.Create(clip)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	p := ffprobe(t, clip)
	if !strings.Contains(strings.Join(p.codecs(), ","), "h264") || p.packets(t)["video"] < 10 {
		t.Fatalf("downloaded clip: codecs %v, packets %v", p.codecs(), p.packets(t))
	}
	// The same URL for another stream is refused in words.
	other := strings.Replace(href, "/gapcam/", "/cam1/", 1)
	resp2, err := http.Get(other)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusForbidden || !strings.Contains(string(msg), "gapcam") {
		t.Fatalf("the token on another stream: %s %s", resp2.Status, msg)
	}

	// Live view: the WHEP client gathers ICE, POSTs its offer with a
	// media token, and plays the camera's H.264 (its AAC does not exist
	// in WebRTC): the picture has a size and its decoded frames grow.
	b.do(time.Minute, "open cam1", chromedp.Navigate(base+"/#/cam/cam1"), chromedp.WaitVisible("#live-start"), chromedp.Click("#live-start"))
	if st := eval[string](b, `(() => { const v = document.getElementById('video'); return (v.getAttribute('src') || '') + ' readyState ' + v.readyState })()`); st != " readyState 0" {
		t.Errorf("cam1's page still holds gapcam's recording: %s", st)
	}
	liveFrames := `(() => { const v = document.getElementById('live'); return v.getVideoPlaybackQuality().totalVideoFrames })()`
	b.waitJS(90*time.Second, "live view to play", `(() => {
		const s = document.getElementById('live-status').textContent;
		if (s.startsWith('Live view unavailable') || s.startsWith('The live connection failed')) return {fail: s};
		const v = document.getElementById('live');
		const n = v.getVideoPlaybackQuality().totalVideoFrames;
		return {done: s === 'Live.' && v.videoWidth > 0 && n > 0, note: s + ' videoWidth ' + v.videoWidth + ', frames ' + n};
	})()`)
	if w := eval[int](b, `document.getElementById('live').videoWidth`); w != 320 {
		t.Errorf("live picture %d pixels wide, want camsim's 320", w)
	}
	n0 := eval[int](b, liveFrames)
	b.waitJS(90*time.Second, "live frames to keep coming", fmt.Sprintf(`(() => {
		const n = %s;
		return {done: n >= %d, note: 'frames ' + n};
	})()`, liveFrames, n0+25))
	if v := s.metric(t, "kinedge_live_viewers", "cam1"); v != 1 {
		t.Errorf("kinedge_live_viewers{cam1} %d while the page watches, want 1", v)
	}
	b.screenshot("live")
	// Stop live: the page DELETEs its session (with the token), and the
	// appliance lets the viewer go.
	b.do(time.Minute, "stop live", chromedp.Click("#live-stop"))
	waitFor(t, time.Minute, "the live viewer to leave", func() error {
		if v := s.metric(t, "kinedge_live_viewers", "cam1"); v != 0 {
			return fmt.Errorf("kinedge_live_viewers{cam1} %d", v)
		}
		return nil
	})

	// Live over HLS, the fallback where WebRTC cannot get through: the
	// page plays live.m3u8 with the vendored hls.js (Chromium has no HLS
	// of its own), and its frames keep coming.
	b.do(time.Minute, "live over HLS", chromedp.Click("#live-hls"))
	b.waitJS(2*time.Minute, "live HLS to play", `(() => {
		const s = document.getElementById('live-status').textContent;
		if (s.startsWith('Live view unavailable')) return {fail: s};
		const v = document.getElementById('live');
		return {done: s === 'Live over HLS (a few seconds behind).' && v.videoWidth === 320, note: s + ' videoWidth ' + v.videoWidth};
	})()`)
	n0 = eval[int](b, liveFrames)
	b.waitJS(2*time.Minute, "live HLS frames to keep coming", fmt.Sprintf(`(() => {
		const n = %s;
		return {done: n >= %d, note: 'frames ' + n};
	})()`, liveFrames, n0+50))
	b.screenshot("live-hls")
	b.do(time.Minute, "stop live HLS", chromedp.Click("#live-stop"))
	if st := eval[string](b, `(() => { const v = document.getElementById('live'); return (v.getAttribute('src') || '') + ' readyState ' + v.readyState })()`); st != " readyState 0" {
		t.Errorf("after stopping live HLS the player still holds %s", st)
	}

	// On a phone's screen: one column, no horizontal scrolling.
	b.do(time.Minute, "phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(base+"/#/"),
		chromedp.WaitVisible("#grid .card"))
	b.waitJS(time.Minute, "phone layout", `(() => {
		const xs = new Set([...document.querySelectorAll('#grid .card')].map(c => Math.round(c.getBoundingClientRect().left)));
		return {done: xs.size === 1 && document.documentElement.scrollWidth <= window.innerWidth,
			note: 'card columns ' + xs.size + ', scrollWidth ' + document.documentElement.scrollWidth + ' > ' + window.innerWidth};
	})()`)
	b.screenshot("phone")

	if errs := b.errors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors:\n%s", strings.Join(errs, "\n"))
	}
	cams.alive(t)
}

// TestWebPageLiveFallback: on an appliance with WebRTC turned off, "Watch
// live" falls back to live HLS by itself, and the picture plays.
func TestWebPageLiveFallback(t *testing.T) {
	b := newBrowser(t)
	// webrtc_udp "" in the config file turns WebRTC off (an empty
	// variable is unset, so the test server's own is undone by it).
	conf := filepath.Join(t.TempDir(), "kinedge.yaml")
	if err := os.WriteFile(conf, []byte("webrtc_udp: \"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, t.TempDir(), freeUDPPair(t), "KINEDGE_CONFIG="+conf, "KINEDGE_WEBRTC_UDP=")
	cams := startCamsim(t, s, "fb", 1)
	waitFor(t, time.Minute, "fb1 recording", func() error {
		frags, err := s.tryFragments("fb1")
		if err != nil || len(frags) == 0 {
			return fmt.Errorf("no fragments yet: %v", err)
		}
		return nil
	})

	base := "http://" + s.httpAddr
	b.do(time.Minute, "log in", chromedp.Navigate(base+"/#/cam/fb1"), chromedp.WaitVisible("#access_key"),
		chromedp.SendKeys("#access_key", "admin"), chromedp.SendKeys("#secret_key", "adminsecret"),
		chromedp.Click(`button[type="submit"]`), chromedp.WaitVisible("#grid-view"))
	b.do(time.Minute, "watch live", chromedp.Navigate(base+"/#/cam/fb1"), chromedp.WaitVisible("#live-start"), chromedp.Click("#live-start"))
	b.waitJS(2*time.Minute, "the fallback to play", `(() => {
		const s = document.getElementById('live-status').textContent;
		if (s.startsWith('Live view unavailable') || s === 'Live.') return {fail: s};
		const v = document.getElementById('live');
		const n = v.getVideoPlaybackQuality().totalVideoFrames;
		return {done: s === 'Live over HLS (a few seconds behind).' && n > 25, note: s + ' srcObject ' + (v.srcObject ? v.srcObject.getTracks().length + ' tracks' : 'none') + ' src ' + v.src + ' frames ' + n + ' currentTime ' + v.currentTime + ' readyState ' + v.readyState + ' paused ' + v.paused + ' buffered ' + (v.buffered.length ? v.buffered.start(0) + '-' + v.buffered.end(v.buffered.length - 1) : 'none')};
	})()`)
	b.screenshot("fallback")
	if errs := b.errors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors:\n%s", strings.Join(errs, "\n"))
	}
	cams.alive(t)
}

// TestWebPageLiveH265: an H.265 camera (with G.711 A-law, as many IP
// cameras send) plays over WebRTC only to a browser that offers H.265;
// to one that does not, WHEP answers 400 naming H.265, and "Watch live"
// says so and goes on to live HLS, which carries H.265 to browsers that
// decode it. This Chromium may do neither (software H.265 is not in every
// build): then the page names both reasons in words.
func TestWebPageLiveH265(t *testing.T) {
	ffmpeg := testtool.Need(t, "ffmpeg")
	b := newBrowser(t)
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	cam := testtool.Command(t, 5*time.Minute, ffmpeg, "-hide_banner", "-v", "error",
		"-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000",
		"-t", "240", "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=25:log-level=error", "-pix_fmt", "yuv420p",
		"-c:a", "pcm_alaw", "-ar", "8000", "-ac", "1",
		"-f", "rtsp", "-rtsp_transport", "tcp", "rtsp://camera:camsecret@"+s.rtspAddr+"/hevccam")
	var camOut strings.Builder
	cam.Stdout, cam.Stderr = &camOut, &camOut
	if err := cam.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cam.Process.Kill()
		cam.Wait()
		if t.Failed() {
			t.Logf("ffmpeg:\n%s", camOut.String())
		}
	})
	waitFor(t, time.Minute, "hevccam recording", func() error {
		frags, err := s.tryFragments("hevccam")
		if err != nil || len(frags) < 2 {
			return fmt.Errorf("fragments %d: %v", len(frags), err)
		}
		return nil
	})

	base := "http://" + s.httpAddr
	b.do(time.Minute, "log in", chromedp.Navigate(base+"/"), chromedp.WaitVisible("#access_key"),
		chromedp.SendKeys("#access_key", "admin"), chromedp.SendKeys("#secret_key", "adminsecret"),
		chromedp.Click(`button[type="submit"]`), chromedp.WaitVisible("#grid-view"))
	b.do(time.Minute, "watch live", chromedp.Navigate(base+"/#/cam/hevccam"), chromedp.WaitVisible("#live-start"), chromedp.Click("#live-start"))
	var final string
	b.waitJS(2*time.Minute, "live view over HLS, or why not", `(() => {
		const s = document.getElementById('live-status').textContent;
		const v = document.getElementById('live');
		const n = v.getVideoPlaybackQuality().totalVideoFrames;
		return {done: ((s === 'Live.' || s === 'Live over HLS (a few seconds behind).') && n > 25) || s.startsWith('Live view unavailable'), note: s + ' frames ' + n};
	})()`)
	final = eval[string](b, `document.getElementById('live-status').textContent`)
	b.screenshot("hevc-live")
	decodes := eval[bool](b, `MediaSource.isTypeSupported('video/mp4; codecs="hev1.1.6.L93.B0"') || MediaSource.isTypeSupported('video/mp4; codecs="hvc1.1.6.L93.B0"')`)
	webrtcH265 := eval[bool](b, `RTCRtpReceiver.getCapabilities('video').codecs.some((c) => c.mimeType.toLowerCase() === 'video/h265')`)
	switch {
	case webrtcH265 && final != "Live.":
		t.Fatalf("this Chromium receives H.265 over WebRTC, yet: %q", final)
	case !webrtcH265 && final == "Live.":
		t.Fatal("WebRTC live view of an H.265 camera claims to play in a Chromium without H.265 over WebRTC")
	case !webrtcH265 && decodes && final != "Live over HLS (a few seconds behind).":
		t.Fatalf("this Chromium decodes H.265 from HLS, yet: %q", final)
	case !webrtcH265 && !decodes && !(strings.Contains(final, "cannot receive H.265") && strings.Contains(final, "HLS:")):
		t.Fatalf("this Chromium decodes no H.265; the page says %q, want both reasons", final)
	}
	t.Logf("Chromium receives H.265 over WebRTC: %v, decodes it from HLS: %v; the page: %q", webrtcH265, decodes, final)
	if errs := b.errors(); len(errs) > 0 {
		t.Fatalf("JavaScript errors:\n%s", strings.Join(errs, "\n"))
	}
}
