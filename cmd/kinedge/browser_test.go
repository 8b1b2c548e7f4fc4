package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// browser is a headless Debian Chromium driven by chromedp, for the tests
// of the web page (and, later, its WHEP live view). It records the page's
// JavaScript exceptions and console errors, and saves screenshots into
// the artifacts directory: $KINEDGE_TEST_ARTIFACTS/<test name> when that
// variable is set (CI uploads it), else a t.TempDir() (logged, removed
// after the test).
type browser struct {
	t         testing.TB
	ctx       context.Context
	artifacts string

	mu       sync.Mutex
	jsErrors []string
	netLog   []string
}

// newBrowser starts Chromium, skipping the test (failing it under
// CI=true) when it is not installed; extra adds flags (fake camera
// devices).
func newBrowser(t testing.TB, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	exe := testtool.Need(t, "chromium")
	b := &browser{t: t, artifacts: t.TempDir()}
	if dir := os.Getenv("KINEDGE_TEST_ARTIFACTS"); dir != "" {
		b.artifacts = filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(b.artifacts, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("browser artifacts (screenshots) in %s", b.artifacts)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("headless", "new"),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		// WebRTC to an appliance whose ICE port is on loopback (the test
		// servers'): allow loopback candidates, and no mDNS names for
		// the page's own.
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		// A camera and a microphone for the publish page: Chromium's
		// fake devices (a test pattern and a beep), granted without a
		// prompt.
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.WindowSize(1280, 1000),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "profile")),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(opts, extra...)...)
	ctx, cancelCtx := chromedp.NewContext(alloc, chromedp.WithListener(b.event))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		if t.Failed() {
			b.mu.Lock()
			t.Logf("browser network errors:\n%s", strings.Join(b.netLog, "\n"))
			b.mu.Unlock()
		}
	})
	b.ctx = ctx
	// The first Run starts the browser and ties it to its context: it must
	// be b.ctx itself, not a child with a deadline (the browser would end
	// with the child).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return b
}

// event records what the page reports: exceptions and console.error as
// JavaScript errors, the rest of the browser's error log as network
// notes (shown when the test fails).
func (b *browser) event(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += ": " + d.Exception.Description
		}
		b.jsErrors = append(b.jsErrors, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert {
			var parts []string
			for _, a := range e.Args {
				if a.Description != "" {
					parts = append(parts, a.Description)
				} else {
					parts = append(parts, string(a.Value))
				}
			}
			b.jsErrors = append(b.jsErrors, "console."+string(e.Type)+": "+strings.Join(parts, " "))
		}
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError {
			b.netLog = append(b.netLog, fmt.Sprintf("%s %s %s", e.Entry.Source, e.Entry.URL, e.Entry.Text))
		}
	}
}

// errors returns the JavaScript errors seen so far.
func (b *browser) errors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.jsErrors...)
}

// do runs actions with a deadline, failing the test (with a screenshot)
// on error.
func (b *browser) do(d time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.screenshot("failed")
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression into T.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("browser: evaluating %s: %v", expr, err)
	}
	return v
}

// check is what a waited-for expression returns: done, or failed with
// why (the wait stops), or neither (keep waiting) with a note of where
// things stand.
type check struct {
	Done bool   `json:"done"`
	Fail string `json:"fail"`
	Note string `json:"note"`
}

// waitJS polls expr, which evaluates to a check, every 200 ms until it
// is done, fails, or d passes.
func (b *browser) waitJS(d time.Duration, what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	var last check
	for {
		last = eval[check](b, expr)
		if last.Done {
			return
		}
		if last.Fail != "" {
			b.screenshot("failed")
			b.t.Fatalf("browser: %s: %s", what, last.Fail)
		}
		if time.Now().After(deadline) {
			b.screenshot("failed")
			b.t.Fatalf("browser: %s: not within %v (%s)", what, d, last.Note)
		}
		ctx, cancel := context.WithTimeout(b.ctx, 200*time.Millisecond)
		<-ctx.Done()
		cancel()
	}
}

// screenshot saves the page as <artifacts>/<name>.png.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	ext := ".png"
	if len(png) > 2 && png[0] == 0xff && png[1] == 0xd8 {
		ext = ".jpg" // FullScreenshot below quality 100 is JPEG
	}
	path := filepath.Join(b.artifacts, name+ext)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.t.Logf("screenshot %s", path)
}
