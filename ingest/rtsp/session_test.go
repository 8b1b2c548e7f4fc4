package rtsp

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/rtpclock"
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

// fakeTimer gives every packet its RTP timestamp as PTS (no unwrapping).
type fakeTimer struct{}

func (fakeTimer) PacketPTS2(_ *description.Media, pkt *rtp.Packet) (int64, bool) {
	return int64(pkt.Timestamp), true
}

// TestSessionProducerClock drives a session with an injected arrival
// clock: a sender report before the first packet (ffmpeg's), a clock 5 s
// ahead then stepped back, and checks frame Wall times, the stats and one
// log line per kind.
func TestSessionProducerClock(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)
	now := t0
	var lines int
	medi := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{h264Format()}}
	dec, err := newTrackDecoder(0, medi.Formats[0])
	if err != nil {
		t.Fatal(err)
	}
	w := &recWriter{r: &recRouter{}, req: &PublishRequest{}}
	s := &session{
		cfg:    sessionConfig{now: func() time.Time { return now }, discontinuity: time.Minute, pause: time.Minute},
		ss:     fakeTimer{},
		medias: []*description.Media{medi},
		decs:   []*trackDecoder{dec},
		w:      w,
		watch:  make([]trackWatch, 1),
		stats:  &SessionStats{},
		log:    slog.New(countHandler{&lines}),
	}
	var seq uint16
	frame := func(i int, arrival time.Duration) *media.Frame {
		t.Helper()
		now = t0.Add(arrival)
		ts := uint32(i * 3600)
		nalus := [][]byte{testNonIDR}
		if i == 0 {
			nalus = [][]byte{testSPS, testPPS, testIDR}
		}
		before := len(w.frames)
		for j, n := range nalus {
			s.onPacket(dec, medi, nalPacket(seq, ts, j == len(nalus)-1, n))
			seq++
		}
		if len(w.frames) != before+1 {
			t.Fatalf("frame %d: %d frames delivered", i, len(w.frames)-before)
		}
		return w.frames[before]
	}
	sr := func(claimed time.Time, ts uint32) {
		s.onRTCP(medi, &rtcp.SenderReport{NTPTime: rtpclock.NTPTimestamp(claimed), RTPTime: ts})
	}
	ms := time.Millisecond

	// the camera's clock is 5 s ahead; frame i is captured at i×40 ms and
	// arrives 10 ms later (frame 2: 4 ms later).
	sr(t0.Add(5*time.Second), 0)
	for i, arr := range []time.Duration{10 * ms, 50 * ms, 84 * ms, 130 * ms} {
		f := frame(i, arr)
		want := t0.Add(time.Duration(i)*40*ms + 10*ms)
		if i >= 2 {
			want = want.Add(-6 * ms)
		}
		if !f.Wall.Equal(want) {
			t.Fatalf("frame %d: wall %v, want %v", i, f.Wall.Sub(t0), want.Sub(t0))
		}
	}
	if st := s.stats.Snapshot(); st.ClockCorrections != 2 || st.ClockCorrection != 5*time.Second-4*ms || st.ProducerLatency != 6*ms || lines != 1 {
		t.Fatalf("stats %+v, %d log lines", st, lines)
	}
	// NTP steps the camera's clock back to ours: a jump, the correction
	// restarts, frames map exactly.
	sr(t0.Add(160*ms), 4*3600)
	if f := frame(4, 170*ms); !f.Wall.Equal(t0.Add(160 * ms)) {
		t.Fatalf("after the jump: wall %v", f.Wall.Sub(t0))
	}
	// and a second jump: counted, not logged again.
	sr(t0.Add(200*ms+3*time.Second), 5*3600)
	if st := s.stats.Snapshot(); st.ClockJumps != 2 || st.ClockCorrection != 0 || lines != 2 {
		t.Fatalf("stats %+v, %d log lines", st, lines)
	}
}
