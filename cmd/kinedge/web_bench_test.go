package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// BenchmarkPageLoad measures the web page as a person meets it, in
// Debian's Chromium against `kinedge serve` fed by four camsim cameras:
//
//   - grid: from navigation to the camera grid with every camera's
//     thumbnail loaded (HTML, script, the stream list, a media token and
//     an ffmpeg-decoded keyframe per camera);
//   - camera: from navigation to a camera's page with its timeline drawn
//     (the stream, an hour's timeline);
//   - play: from a click on the timeline (10-minute zoom, a random moment
//     of what is recorded) to the <video>'s "playing" event (a media
//     token, the MP4 range's first bytes, the decoder's start).
//
// Each iteration loads both pages afresh (through about:blank; the
// browser's HTTP cache stays warm after the first, as a person's would)
// and clicks once. Times are the page's own clock (performance.now,
// whose origin is the navigation's start; the wait polls each animation
// frame, so a figure may be up to a frame late). Reported as p50 and max
// in ms, plus the first grid load (cold browser cache) on its own:
//
//	go test -run '^$' -bench PageLoad -benchtime 20x ./cmd/kinedge/
func BenchmarkPageLoad(b *testing.B) {
	br := newBrowser(b)
	s := startServer(b, b.TempDir(), freeUDPPair(b))
	cams := startCamsim(b, s, "cam", 4)
	// 30 s recorded on every camera, so that a click lands on a moment
	// at least a second old.
	for i := 1; i <= 4; i++ {
		name := fmt.Sprintf("cam%d", i)
		waitFor(b, 2*time.Minute, name+" has recorded 30 s", func() error {
			frags, err := s.tryFragments(name)
			if err != nil || len(frags) == 0 {
				return fmt.Errorf("no fragments yet: %v", err)
			}
			if span := frags[len(frags)-1].ServerTimestamp.Sub(frags[0].ServerTimestamp); span < 30*time.Second {
				return fmt.Errorf("%v recorded", span)
			}
			return nil
		})
	}

	base := "http://" + s.httpAddr
	br.do(time.Minute, "log in", chromedp.Navigate(base+"/"), chromedp.WaitVisible("#access_key"),
		chromedp.SendKeys("#access_key", "admin"), chromedp.SendKeys("#secret_key", "adminsecret"),
		chromedp.Click(`button[type="submit"]`), chromedp.WaitVisible("#grid-view"))

	var grid, camera, play []float64
	b.ResetTimer()
	for b.Loop() {
		br.do(time.Minute, "blank", chromedp.Navigate("about:blank"))
		br.do(time.Minute, "open the grid", chromedp.Navigate(base+"/#/"))
		grid = append(grid, awaitJS(br, "grid with four thumbnails", `(() => {
			const cards = [...document.querySelectorAll('#grid .card')];
			const loaded = cards.filter(c => { const i = c.querySelector('img.thumb'); return i && i.complete && i.naturalWidth > 0 }).length;
			const err = document.getElementById('grid-error').textContent;
			return {done: cards.length === 4 && loaded === 4, fail: err, note: cards.length + ' cards, ' + loaded + ' thumbnails'};
		})()`))

		br.do(time.Minute, "blank", chromedp.Navigate("about:blank"))
		cam := fmt.Sprintf("cam%d", 1+rand.IntN(4))
		br.do(time.Minute, "open "+cam, chromedp.Navigate(base+"/#/cam/"+cam))
		camera = append(camera, awaitJS(br, cam+"'s timeline", `(() => {
			const r = document.querySelectorAll('#tl-bars .tl-range').length;
			return {done: r > 0, fail: document.getElementById('cam-error').textContent, note: r + ' ranges; ' + document.getElementById('tl-info').textContent};
		})()`))

		// 10-minute zoom; then a click on a random moment of the recorded
		// range, leaving out its newest fifth (still being recorded).
		// (The bars are emptied first: the zoom's timeline is the one
		// drawn after it.)
		eval[bool](br, `(() => { document.getElementById('tl-bars').replaceChildren(); return true })()`)
		br.do(time.Minute, "zoom", chromedp.Click(`button[data-window="600"]`))
		br.waitJS(time.Minute, "zoomed timeline", `(() => {
			const r = document.querySelectorAll('#tl-bars .tl-range').length;
			return {done: r > 0, note: r + ' ranges'};
		})()`)
		type box struct{ X1, X2, Y float64 }
		r := eval[box](br, `(() => { const r = [...document.querySelectorAll('#tl-bars .tl-range')].map(e => e.getBoundingClientRect())
			.sort((a, b) => b.width - a.width)[0]; return {X1: r.left, X2: r.right, Y: r.top + r.height / 2} })()`)
		eval[bool](br, `(() => {
			window.benchClick = null; window.benchPlaying = null;
			window.addEventListener('pointerdown', () => { window.benchClick = performance.now() }, {capture: true, once: true});
			document.getElementById('video').addEventListener('playing', () => { window.benchPlaying = performance.now() }, {once: true});
			return true;
		})()`)
		x := r.X1 + (r.X2-r.X1)*0.8*rand.Float64()
		br.do(time.Minute, "click the timeline", chromedp.MouseClickXY(x, r.Y))
		awaitJS(br, "playing", `(() => {
			const v = document.getElementById('video');
			if (v.error) return {fail: 'media error ' + v.error.code + ' ' + v.error.message + '; ' + document.getElementById('video-status').textContent};
			return {done: window.benchPlaying !== null && window.benchClick !== null, note: document.getElementById('video-status').textContent};
		})()`)
		play = append(play, eval[float64](br, `window.benchPlaying - window.benchClick`))
	}
	b.StopTimer()
	if errs := br.errors(); len(errs) > 0 {
		b.Fatalf("JavaScript errors: %v", errs)
	}
	cams.alive(b)
	b.ReportMetric(grid[0], "grid-first-ms")
	for _, m := range []struct {
		name string
		v    []float64
	}{{"grid", grid}, {"camera", camera}, {"play", play}} {
		slices.Sort(m.v)
		b.ReportMetric(m.v[len(m.v)/2], m.name+"-p50-ms")
		b.ReportMetric(m.v[len(m.v)-1], m.name+"-max-ms")
	}
}

// awaitJS evaluates expr (a check) on every animation frame inside the
// page until it is done, and returns performance.now() at that frame:
// the page's time since its navigation started. A fail, or a minute
// without done, fails the benchmark.
func awaitJS(br *browser, what, expr string) float64 {
	br.t.Helper()
	ctx, cancel := context.WithTimeout(br.ctx, time.Minute)
	defer cancel()
	js := `new Promise((resolve, reject) => {
		const until = performance.now() + 55000;
		const step = () => {
			const c = ` + expr + `;
			if (c.fail) { reject(new Error(c.fail)); return; }
			if (c.done) { resolve(performance.now()); return; }
			if (performance.now() > until) { reject(new Error('not within 55 s: ' + c.note)); return; }
			requestAnimationFrame(step);
		};
		step();
	})`
	v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](js, chromedp.EvalAwaitPromise))
	if err != nil {
		br.screenshot("failed")
		br.t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}
