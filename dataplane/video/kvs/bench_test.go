package kvs

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// benchServe runs one operation through the mux (no network, no SigV4)
// per iteration.
func benchServe(b *testing.B, mux *http.ServeMux, path string, body []byte) {
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+path, bytes.NewReader(body))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("HTTP %d %s", rec.Code, rec.Body.Bytes())
		}
	}
}

func BenchmarkDescribeStream(b *testing.B) {
	mux, _ := newBareMux(b)
	call(b, mux, PathCreateStream, []byte(`{"StreamName":"cam"}`))
	benchServe(b, mux, PathDescribeStream, []byte(`{"StreamName":"cam"}`))
}

// BenchmarkListStreams lists a page of 100 out of 1000 streams.
func BenchmarkListStreams(b *testing.B) {
	mux, _ := newBareMux(b)
	for i := 0; i < 1000; i++ {
		call(b, mux, PathCreateStream, fmt.Appendf(nil, `{"StreamName":"cam-%04d"}`, i))
	}
	benchServe(b, mux, PathListStreams, []byte(`{"MaxResults":100,"NextToken":"`+encodeStreamsToken("cam-0499")+`"}`))
}

// BenchmarkListFragments lists a page of 100 fragments.
func BenchmarkListFragments(b *testing.B) {
	mux, h := newBareMux(b)
	putFragments(b, h.Index, "cam", 500)
	benchServe(b, mux, PathListFragments, []byte(`{"StreamName":"cam","MaxResults":100}`))
}

// BenchmarkGetMediaCatchUp reads a recorded stream from EARLIEST through
// SigV4 and HTTP on 127.0.0.1, the rate limit off: the catch-up
// throughput of one GetMedia session (decrypt, Matroska with tags,
// chunked HTTP). Each op is one session of the whole recording.
func BenchmarkGetMediaCatchUp(b *testing.B) {
	env := newMediaEnv(b, func(h *Handler) {
		h.GetMediaIdle = time.Millisecond
		h.GetMediaBytesPerSecond = -1
	})
	for range 4 {
		env.record(b, "cam1") // 5 recordings of the clip
	}
	var size int64
	b.ResetTimer()
	for b.Loop() {
		resp := env.do(b, b.Context(), PathGetMedia, selector("EARLIEST"))
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("HTTP %d, %v", resp.StatusCode, err)
		}
		resp.Body.Close()
		size = n
	}
	b.SetBytes(size)
	b.ReportMetric(float64(len(env.frags))*float64(b.N)/b.Elapsed().Seconds(), "fragments/s")
}
