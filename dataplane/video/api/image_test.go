package api

import (
	"bytes"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kinedge/kinedge/dataplane/video/thumbnail"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestImage makes pictures of a recorded clip (320x240 H.264) with the
// real ffmpeg: full size and scaled, cached on the second look, 404 in a
// gap, 400 for bad parameters, 501 without ffmpeg.
func TestImage(t *testing.T) {
	ffmpeg := testtool.Need(t, "ffmpeg")
	idx, kr, base, _ := recordedIndex(t)
	th := &thumbnail.Maker{FFmpeg: ffmpeg, Timeout: time.Minute} // a loaded CI machine
	srv := httptest.NewServer(muxOf(&Handler{Index: idx, Opener: kr, Thumbnails: th}))
	t.Cleanup(srv.Close)
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp, b.Bytes()
	}
	at := base.Add(2500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	for _, tc := range []struct {
		query         string
		width, height int
	}{{"", 320, 240}, {"&width=160", 160, 120}} {
		resp, body := get("/v1/streams/cam1/image?at=" + at + tc.query)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("%q: %s %s", tc.query, resp.Status, body)
		}
		img, err := jpeg.Decode(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%q: not a JPEG: %v", tc.query, err)
		}
		if b := img.Bounds(); b.Dx() != tc.width || b.Dy() != tc.height {
			t.Fatalf("%q: picture %dx%d, want %dx%d", tc.query, b.Dx(), b.Dy(), tc.width, tc.height)
		}
		frame, err := time.Parse(time.RFC3339Nano, resp.Header.Get("X-Kinedge-Frame-Time"))
		if err != nil || frame.After(base.Add(2500*time.Millisecond)) || frame.Before(base) {
			t.Fatalf("%q: frame time %q for a picture at %s", tc.query, resp.Header.Get("X-Kinedge-Frame-Time"), at)
		}
	}
	// The same moment again: from the cache, no decode.
	hits, decodes := th.Stats()
	if resp, body := get("/v1/streams/cam1/image?at=" + at); resp.StatusCode != http.StatusOK {
		t.Fatalf("again: %s %s", resp.Status, body)
	}
	if h2, d2 := th.Stats(); d2 != decodes || h2 <= hits {
		t.Fatalf("a second look decoded again: %d decodes (was %d), %d hits (was %d)", d2, decodes, h2, hits)
	}

	for path, want := range map[string]int{
		"/v1/streams/cam1/image?at=" + base.Add(-time.Hour).UTC().Format(time.RFC3339): http.StatusNotFound,
		"/v1/streams/cam1/image":                          http.StatusBadRequest,
		"/v1/streams/cam1/image?at=" + at + "&width=5":    http.StatusBadRequest,
		"/v1/streams/cam1/image?at=" + at + "&width=wide": http.StatusBadRequest,
		"/v1/streams/nope/image?at=" + at:                 http.StatusNotFound,
	} {
		if resp, body := get(path); resp.StatusCode != want {
			t.Fatalf("%s: %s %s, want %d", path, resp.Status, body, want)
		}
	}
	noFFmpeg := httptest.NewServer(muxOf(&Handler{Index: idx, Opener: kr, Thumbnails: &thumbnail.Maker{FFmpeg: "/nonexistent/ffmpeg"}}))
	t.Cleanup(noFFmpeg.Close)
	resp, err := http.Get(noFFmpeg.URL + "/v1/streams/cam1/image?at=" + at)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented {
		t.Fatalf("without ffmpeg: %s, want 501", resp.Status)
	}
}
