package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestWHIPPublishPage drives the /publish page in Chromium with its fake
// camera and microphone: for VP8, H.264, VP9 and AV1 (the page's codec choice) it publishes over WHIP, the stream gets fragments, Stop ends the
// session, and the replay decodes with that codec and Opus audio, with
// about as many frames as the time published.
func TestWHIPPublishPage(t *testing.T) {
	b := newBrowser(t, chromedp.Flag("use-fake-device-for-media-stream", true), chromedp.Flag("use-fake-ui-for-media-stream", true))
	testtool.Need(t, "ffprobe")
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	base := "http://" + s.httpAddr
	b.do(time.Minute, "login form", chromedp.Navigate(base+"/"), chromedp.WaitVisible("#access_key"))
	b.do(time.Minute, "log in",
		chromedp.SendKeys("#access_key", "admin"),
		chromedp.SendKeys("#secret_key", "adminsecret"),
		chromedp.Click(`button[type="submit"]`),
		chromedp.WaitVisible("#grid-view"))
	for i, c := range []struct{ mime, stream, codec string }{
		{"video/VP8", "pagevp8", "vp8"},
		{"video/H264", "pageh264", "h264"},
		{"video/VP9", "pagevp9", "vp9"},
		// Chromium encodes AV1 for WebRTC by default (libaom; its
		// RTCRtpSender capabilities list AV1 profile 0): no flag needed.
		{"video/AV1", "pageav1", "av1"},
	} {
		func() {
			b.do(time.Minute, "publish page", chromedp.Navigate(base+"/publish"), chromedp.WaitVisible("#pub-start"))
			b.do(time.Minute, "start publishing",
				chromedp.SetValue("#pub-name", c.stream),
				chromedp.SetValue("#pub-codec", c.mime),
				chromedp.Click("#pub-start"))
			b.waitJS(time.Minute, "Publishing to", `(() => {
				const err = document.getElementById('pub-error');
				if (!err.hidden) return {fail: err.textContent};
				const st = document.getElementById('pub-state').textContent;
				return {done: st.startsWith('Publishing to'), note: st};
			})()`)
			started := time.Now()
			waitFor(t, time.Minute, "two fragments of "+c.stream, func() error {
				frags, err := s.tryFragments(c.stream)
				if err != nil || len(frags) < 2 {
					return fmt.Errorf("%d fragments: %v", len(frags), err)
				}
				return nil
			})
			// At least 4 s published, so the frame rate check has room.
			if d := time.Until(started.Add(4 * time.Second)); d > 0 {
				b.waitJS(d+10*time.Second, "4 s of publishing", fmt.Sprintf(`({done: Date.now() >= %d, note: 'publishing'})`, started.Add(4*time.Second).UnixMilli()))
			}
			b.do(time.Minute, "stop", chromedp.Click("#pub-stop"))
			published := time.Since(started)
			b.waitJS(time.Minute, "Stopped", `(() => {
				const st = document.getElementById('pub-state').textContent;
				return {done: st.startsWith('Stopped'), note: st};
			})()`)
			waitFor(t, time.Minute, "the WHIP session's end", func() error {
				resp, err := s.get("/metrics", nil)
				if err != nil {
					return err
				}
				m, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				// Stop DELETEs the session before it closes the peer
				// connection: the session ends as deleted.
				if !strings.Contains(string(m), "kinedge_whip_sessions 0\n") || !strings.Contains(string(m), fmt.Sprintf(`kinedge_whip_sessions_total{result="deleted"} %d`+"\n", i+1)) {
					return fmt.Errorf("sessions: %s", grepLines(string(m), "kinedge_whip_sessions "))
				}
				return nil
			})
			path := fetchMKV(t, s, c.stream, started.Add(-time.Minute), time.Now().Add(time.Minute))
			pr := ffprobe(t, path)
			n := pr.packets(t)
			secs := published.Seconds() + 2 // the page connects before "started"
			t.Logf("%s: %v, %v packets in about %.1f s published", c.stream, pr.codecs(), n, published.Seconds())
			if strings.Join(pr.codecs(), ",") != c.codec+",opus" {
				t.Fatalf("codecs %v, want %s and opus", pr.codecs(), c.codec)
			}
			// Chromium's fake camera sends 30 fps when it keeps up; a
			// loaded machine lowers it, never raises it.
			if n["video"] < int(5*published.Seconds()) || n["video"] > int(31*secs) {
				t.Errorf("%d video frames for %.1f s published", n["video"], published.Seconds())
			}
			if n["audio"] < int(25*published.Seconds()) || n["audio"] > int(51*secs) {
				t.Errorf("%d opus frames (20 ms) for %.1f s published", n["audio"], published.Seconds())
			}
			// Decoded on the recording's millisecond time base: the
			// browser's variable frame rate rounded to ffmpeg's guess of a
			// constant one (20 fps) gives two frames one output time.
			out, err := testtool.Command(t, 2*time.Minute, testtool.Need(t, "ffmpeg"), "-v", "error", "-i", path,
				"-enc_time_base:v", "1:1000", "-f", "null", "-").CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Fatalf("ffmpeg decode of %s: %v\n%s", path, err, out)
			}
		}()
	}
}
