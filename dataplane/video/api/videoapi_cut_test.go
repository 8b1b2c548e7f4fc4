package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/ingest/camsim"
)

// TestMediaEndsAtCodecChange records the H.264+AAC clip, then after a gap
// the H.265+Opus clip, into one stream: a media request over both gets
// the H.264 run only, complete, with the headers that say where the rest
// begins; a request from there gets the H.265 run.
func TestMediaEndsAtCodecChange(t *testing.T) {
	idx, kr, base, n := recordedIndex(t)
	clip, err := camsim.ReadClip(filepath.Join("..", "..", "..", "testdata", "h265_opus.ts"))
	if err != nil {
		t.Fatal(err)
	}
	later := base.Add(30 * time.Second)
	now := later
	var h265 []index.Fragment
	r := &fragment.Recorder{
		Stream: "cam1", Tracks: clip.Tracks, Sink: idx, Sealer: kr,
		Now: func() time.Time { return now }, OnStored: func(f index.Fragment) { h265 = append(h265, f) },
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range clip.Frames {
		now = later.Add(f.DTS)
		c := *f
		r.WriteFrame(&c)
	}
	r.Close()
	if len(h265) == 0 {
		t.Fatal("no H.265 fragments stored")
	}
	mux := http.NewServeMux()
	(&Handler{Index: idx, Opener: kr}).Register(mux)
	get := func(start time.Time, format string) *httptest.ResponseRecorder {
		q := url.Values{"start": {start.Format(time.RFC3339Nano)}, "end": {later.Add(time.Minute).Format(time.RFC3339Nano)}, "format": {format}}
		req := httptest.NewRequest(http.MethodGet, "/v1/streams/cam1/media?"+q.Encode(), nil)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s from %v: %d %s", format, start, rec.Code, rec.Body)
		}
		return rec
	}
	for _, format := range []string{"mkv", "mp4"} {
		rec := get(base, format)
		next, err := time.Parse(time.RFC3339Nano, rec.Header().Get(HeaderNextStart))
		if err != nil || !next.Equal(h265[0].ServerTime) {
			t.Fatalf("%s: %s %q (%v), want the first H.265 fragment's time %v", format, HeaderNextStart, rec.Header().Get(HeaderNextStart), err, h265[0].ServerTime)
		}
		if got := rec.Header().Get(HeaderTruncated); got != "codecs-changed; codecs=H265,OPUS" {
			t.Fatalf("%s: %s %q", format, HeaderTruncated, got)
		}
		body := rec.Body.Bytes()
		if bytes.Contains(body, []byte("V_MPEGH/ISO/HEVC")) || bytes.Contains(body, []byte("hvc1")) || bytes.Contains(body, []byte("hvcC")) {
			t.Fatalf("%s: the H.264 run holds H.265", format)
		}
		if format == "mp4" {
			// The same resolution throughout: the usual sample entry.
			if !bytes.Contains(body, []byte("avc1")) || len(partsOf(t, body)) != n {
				t.Fatalf("mp4: not avc1 with %d parts", n)
			}
		}
		// HEAD says the same from the metadata, without a body.
		q := url.Values{"start": {base.Format(time.RFC3339Nano)}, "end": {later.Add(time.Minute).Format(time.RFC3339Nano)}, "format": {format}}
		head := httptest.NewRecorder()
		mux.ServeHTTP(head, httptest.NewRequest(http.MethodHead, "/v1/streams/cam1/media?"+q.Encode(), nil))
		if head.Code != http.StatusOK || head.Header().Get(HeaderNextStart) != rec.Header().Get(HeaderNextStart) ||
			head.Header().Get(HeaderTruncated) != rec.Header().Get(HeaderTruncated) || head.Header().Get("Content-Type") != rec.Header().Get("Content-Type") || head.Body.Len() != 0 {
			t.Fatalf("%s: HEAD %d %v, %d bytes; GET's headers %v", format, head.Code, head.Header(), head.Body.Len(), rec.Header())
		}
		rest := get(next, format)
		if rest.Header().Get(HeaderNextStart) != "" {
			t.Fatalf("%s: the rest is cut again", format)
		}
		if b := rest.Body.Bytes(); !bytes.Contains(b, []byte("V_MPEGH/ISO/HEVC")) && !bytes.Contains(b, []byte("hvcC")) {
			t.Fatalf("%s: the rest holds no H.265", format)
		}
	}
}

// partsOf returns the moof boxes of an fMP4.
func partsOf(t *testing.T, b []byte) []string {
	var moofs []string
	for _, typ := range topBoxes(t, b) {
		if typ == "moof" {
			moofs = append(moofs, typ)
		}
	}
	return moofs
}
