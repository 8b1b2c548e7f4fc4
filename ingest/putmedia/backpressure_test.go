package putmedia

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinedge/kinedge/ingest/media"
)

// gatedPublisher is a fakePublisher that notes, for every frame, how many
// ticks the test had sent when the frame was written.
type gatedPublisher struct {
	fakePublisher
	ticks  *atomic.Int64
	seenAt []int64 // ticks sent when each frame was written
}

func (p *gatedPublisher) Publish(req *PublishRequest) (media.Writer, error) {
	w, err := p.fakePublisher.Publish(req)
	if err != nil {
		return nil, err
	}
	return &gatedWriter{Writer: w, p: p}, nil
}

type gatedWriter struct {
	media.Writer
	p *gatedPublisher
}

func (w *gatedWriter) WriteFrame(f *media.Frame) {
	w.p.mu.Lock()
	w.p.seenAt = append(w.p.seenAt, w.p.ticks.Load())
	w.p.mu.Unlock()
	w.Writer.WriteFrame(f)
}

// TestInFlightBound: with more received than persisted (InFlightBytes 1),
// the session reads no further cluster until a fragment is stored or a
// tick passes. The fake stores a fragment only at the next cluster's
// keyframe, so here only the tick releases it: no frame of the second
// cluster may be written before the test sent a tick.
func TestInFlightBound(t *testing.T) {
	var ticks atomic.Int64
	pub := &gatedPublisher{ticks: &ticks}
	tick := make(chan time.Time)
	srv := &Server{Publisher: pub, InFlightBytes: 1, NewTicker: func(time.Duration) (<-chan time.Time, func()) { return tick, func() {} }}
	pub.srv = srv
	ts := httptest.NewServer(srv)
	defer ts.Close()
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write(buildMKV(t, []cluster{{0, []int64{0, 40}, 0}, {1000, []int64{0}, 0}}))
		pw.Close()
	}()
	resp := post(t, ts.URL, relHeaders, pr)
	sc := bufio.NewScanner(resp.Body)
	lines := make(chan Ack)
	go func() {
		defer close(lines)
		for sc.Scan() {
			var a Ack
			if json.Unmarshal(sc.Bytes(), &a) == nil {
				lines <- a
			}
		}
	}()
	var got []string
	deadline := time.After(30 * time.Second)
	for done := false; !done; {
		select {
		case a, ok := <-lines:
			if !ok {
				done = true
				break
			}
			if a.EventType != EventIdle {
				got = append(got, a.EventType)
			}
		case tick <- time.Time{}: // the serve loop or the waiting reader takes it
			ticks.Add(1)
		case <-deadline:
			t.Fatalf("no end; acks so far %v", got)
		}
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if len(pub.seenAt) != 3 {
		t.Fatalf("%d frames written, want 3 (acks %v)", len(pub.seenAt), got)
	}
	if pub.seenAt[2] == 0 {
		t.Fatalf("the second cluster's frame was written before any tick: the reader did not wait (ticks per frame %v)", pub.seenAt)
	}
}
