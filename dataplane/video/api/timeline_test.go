package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kinedge/kinedge/index"
)

// TestTimelineAPI records 2-s fragments with two outages and reads the
// timeline back at two resolutions, with and without defaults.
func TestTimelineAPI(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	idx, err := index.Open(index.Options{InMemory: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	ctx := t.Context()
	if _, err := idx.CreateStream(ctx, index.Stream{Name: "cam1"}); err != nil {
		t.Fatal(err)
	}
	// 10:00–10:30 recorded, 30 s out, 10:30:30–11:00, 10 min out,
	// 11:10–11:30.
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	put := func(from, to time.Time) {
		for at := from; at.Before(to); at = at.Add(2 * time.Second) {
			n, err := idx.NextFragmentNumber(ctx)
			if err != nil {
				t.Fatal(err)
			}
			f := index.Fragment{Number: n, Stream: "cam1", ServerTime: at, ProducerTime: at, Duration: 2 * time.Second, KeyID: "k"}
			if err := idx.PutFragment(ctx, f, []byte("sealed")); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(t0, t0.Add(30*time.Minute))
	put(t0.Add(30*time.Minute+30*time.Second), t0.Add(time.Hour))
	put(t0.Add(70*time.Minute), t0.Add(90*time.Minute))

	srv := httptest.NewServer(muxOf(&Handler{Index: idx, Now: func() time.Time { return now }}))
	t.Cleanup(srv.Close)
	get := func(path string, want int) TimelineJSON {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out TimelineJSON
		if resp.StatusCode != want {
			var msg map[string]string
			json.NewDecoder(resp.Body).Decode(&msg)
			t.Fatalf("GET %s: %d %v, want %d", path, resp.StatusCode, msg, want)
		}
		if want == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	span := func(a, b time.Duration) SpanJSON { return SpanJSON{Start: t0.Add(a), End: t0.Add(b)} }
	check := func(name string, got, want []SpanJSON) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: got %v, want %v", name, got, want)
		}
		for i := range got {
			if !got[i].Start.Equal(want[i].Start) || !got[i].End.Equal(want[i].End) {
				t.Fatalf("%s: got %v, want %v", name, got, want)
			}
		}
	}

	// At 10 s both outages show.
	tl := get("/v1/streams/cam1/timeline?start=2026-12-02T09:50:00Z&end=2026-12-02T11:40:00Z&step=10s", 200)
	check("10s ranges", tl.Ranges, []SpanJSON{span(0, 30*time.Minute), span(30*time.Minute+30*time.Second, time.Hour), span(70*time.Minute, 90*time.Minute)})
	check("10s gaps", tl.Gaps, []SpanJSON{span(-10*time.Minute, 0), span(30*time.Minute, 30*time.Minute+30*time.Second), span(time.Hour, 70*time.Minute), span(90*time.Minute, 100*time.Minute)})
	if tl.StepMS != 10_000 || tl.RecordedMS != (30*time.Minute+29*time.Minute+30*time.Second+20*time.Minute).Milliseconds() || tl.By != "server" {
		t.Fatalf("10s: step %d ms, recorded %d ms, by %q", tl.StepMS, tl.RecordedMS, tl.By)
	}
	// At 5 min (in seconds) the 30-s outage merges.
	tl = get("/v1/streams/cam1/timeline?start=2026-12-02T10:00:00Z&end=2026-12-02T11:30:00Z&step=300", 200)
	check("5m ranges", tl.Ranges, []SpanJSON{span(0, time.Hour), span(70*time.Minute, 90*time.Minute)})
	// Defaults: the day before now, a minute a step; producer time too.
	tl = get("/v1/streams/cam1/timeline", 200)
	if !tl.End.Equal(now) || !tl.Start.Equal(now.Add(-24*time.Hour)) || tl.StepMS != 60_000 {
		t.Fatalf("defaults: %v–%v step %d ms", tl.Start, tl.End, tl.StepMS)
	}
	check("default ranges", tl.Ranges, []SpanJSON{span(0, time.Hour), span(70*time.Minute, 90*time.Minute)})
	tl = get("/v1/streams/cam1/timeline?by=producer&step=1s", 200)
	if tl.By != "producer" || len(tl.Ranges) != 3 {
		t.Fatalf("producer: by %q, ranges %v", tl.By, tl.Ranges)
	}

	get("/v1/streams/nope/timeline", http.StatusNotFound)
	get("/v1/streams/cam1/timeline?step=fast", http.StatusBadRequest)
	get("/v1/streams/cam1/timeline?step=0", http.StatusBadRequest)
	get("/v1/streams/cam1/timeline?step=1ms", http.StatusBadRequest) // a day at 1 ms is too many steps
	get("/v1/streams/cam1/timeline?start=2026-12-02T11:00:00Z&end=2026-12-02T10:00:00Z", http.StatusBadRequest)
	get("/v1/streams/cam1/timeline?by=wall", http.StatusBadRequest)
}

func muxOf(h *Handler) *http.ServeMux {
	mux := http.NewServeMux()
	h.Register(mux)
	return mux
}

// FuzzParseStep feeds arbitrary step parameters: a step is refused or at
// least 1 ms.
func FuzzParseStep(f *testing.F) {
	for _, s := range []string{"", "1m", "10s", "300", "0.5", "-1s", "1e400", "NaN", "1ns", "9223372036s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseStep(s)
		if err == nil && s != "" && d < time.Millisecond {
			t.Fatalf("parseStep(%q) = %v", s, d)
		}
	})
}
