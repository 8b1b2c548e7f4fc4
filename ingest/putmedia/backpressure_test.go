package putmedia

import (
	"bytes"
	"io"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestInFlightBound: with more received than persisted (InFlightBytes 1),
// the session stops before the next cluster and waits for a stored
// fragment or a tick. The fake stores a fragment only at the next
// cluster's keyframe, so only a tick can release it: the reader must ask
// for its ticker (the serve loop asks for the other one) and go on after
// the tick with every frame.
func TestInFlightBound(t *testing.T) {
	for _, tc := range []struct {
		limit int64
		waits bool
	}{{1, true}, {1 << 20, false}} {
		var calls atomic.Int32
		pub := &fakePublisher{}
		srv := &Server{Publisher: pub, InFlightBytes: tc.limit, NewTicker: func(time.Duration) (<-chan time.Time, func()) {
			calls.Add(1)
			c := make(chan time.Time, 1)
			c <- time.Time{} // one tick, at once
			return c, func() {}
		}}
		pub.srv = srv
		ts := httptest.NewServer(srv)
		body := buildMKV(t, []cluster{{0, []int64{0, 40}, 0}, {1000, []int64{0}, 0}, {2000, []int64{0}, 0}})
		resp := post(t, ts.URL, relHeaders, bytes.NewReader(body))
		_, _ = io.Copy(io.Discard, resp.Body)
		ts.Close()
		if pub.count() != 4 {
			t.Fatalf("limit %d: %d frames written, want 4", tc.limit, pub.count())
		}
		if waited := calls.Load() == 2; waited != tc.waits {
			t.Fatalf("limit %d: the reader waited: %v, want %v", tc.limit, waited, tc.waits)
		}
	}
}
