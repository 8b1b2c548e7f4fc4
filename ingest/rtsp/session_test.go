package rtsp

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/ingest/media"
)

func TestCheckTimeline(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	type step struct {
		track   int
		dts     time.Duration
		arrival time.Duration
		disc    string // substring of the expected reason, "" for none
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"steady", []step{{0, 0, 0, ""}, {0, 40 * ms, 40 * ms, ""}, {0, 80 * ms, 45 * ms, ""}, {1, 0, 50 * ms, ""}}},
		{"burst after short stall", []step{{0, 0, 0, ""}, {0, 40 * ms, 1500 * ms, ""}, {0, 80 * ms, 1500 * ms, ""}}},
		{"jump ahead", []step{{0, 0, 0, ""}, {0, 10 * time.Second, 40 * ms, "jumped ahead"}, {0, 10*time.Second + 40*ms, 80 * ms, ""}}},
		{"backwards", []step{{0, 5 * time.Second, 0, ""}, {0, time.Second, 40 * ms, "went back"}}},
		{"network stall", []step{{0, 0, 0, ""}, {0, 40 * ms, 5 * time.Second, ""}, {0, 80 * ms, 5 * time.Second, ""}}},
		{"camera paused", []step{{0, 0, 0, ""}, {0, 40 * ms, 15 * time.Second, "fell behind"}}},
		{"one discontinuity for both tracks", []step{
			{0, 0, 0, ""}, {1, 0, 0, ""},
			{0, 30 * time.Second, 40 * ms, "track 0"},
			{1, 30 * time.Second, 40 * ms, ""}, // new run for the audio track too
			{1, 30*time.Second + 20*ms, 60 * ms, ""},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &recWriter{r: &recRouter{}, req: &PublishRequest{}}
			p := &session{
				cfg:   sessionConfig{discontinuity: 2 * time.Second, pause: 10 * time.Second},
				w:     w,
				watch: make([]trackWatch, 2),
				stats: &SessionStats{},
				log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
			}
			for i, st := range tc.steps {
				before := len(w.events)
				p.checkTimeline(&media.Frame{Track: st.track, DTS: st.dts}, t0.Add(st.arrival))
				var got string
				if len(w.events) > before {
					got = w.events[before]
				}
				if (st.disc == "") != (got == "") || !strings.Contains(got, st.disc) {
					t.Fatalf("step %d: event %q, want %q", i, got, st.disc)
				}
			}
		})
	}
}

// countHandler counts log records.
type countHandler struct{ n *int }

func (h countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countHandler) Handle(_ context.Context, r slog.Record) error {
	*h.n++
	return nil
}
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countHandler) WithGroup(string) slog.Handler      { return h }

func TestLogLimited(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var n int
	p := &session{
		cfg: sessionConfig{now: func() time.Time { return now }},
		log: slog.New(countHandler{&n}),
	}
	for _, tc := range []struct {
		kind  string
		after time.Duration
		lines int
	}{
		{"decode", 0, 1},
		{"decode", time.Second, 1},     // suppressed
		{"lost", 0, 2},                 // another kind
		{"decode", 3 * time.Second, 2}, // 4 s after the first line: suppressed
		{"decode", 2 * time.Second, 3}, // 6 s after the first line
	} {
		now = now.Add(tc.after)
		p.logLimited(tc.kind, "msg")
		if n != tc.lines {
			t.Fatalf("%+v: %d lines", tc, n)
		}
	}
}
