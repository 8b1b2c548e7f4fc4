package kvs

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/kinedge/kinedge/dataplane/video/hls"
	"github.com/kinedge/kinedge/index"
)

// walkRecording stores fragments of stream one at a time: 2 s each from
// start, with a gap before every 7th and a change of picture size at
// every 11th, so that every DiscontinuityMode has something to mark.
type walkRecording struct {
	idx    *index.Index
	stream string
	next   time.Time
	i      int
}

func newWalkRecording(t testing.TB, idx *index.Index, stream string, start time.Time) *walkRecording {
	t.Helper()
	if _, err := idx.CreateStream(context.Background(), index.Stream{Name: stream, RetentionHours: 48}); err != nil {
		t.Fatal(err)
	}
	return &walkRecording{idx: idx, stream: stream, next: start}
}

func (r *walkRecording) put(t testing.TB, n int) {
	t.Helper()
	ctx := context.Background()
	for range n {
		num, err := r.idx.NextFragmentNumber(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.i%7 == 6 {
			r.next = r.next.Add(time.Second) // a gap
		}
		width := 1280
		if (r.i/11)%2 == 1 {
			width = 640
		}
		f := index.Fragment{Number: num, Stream: r.stream, ServerTime: r.next, ProducerTime: r.next, Duration: 2 * time.Second,
			Tracks: []index.TrackInfo{{Codec: "H264", Kind: "video", Width: width, Height: 720}}}
		if err := r.idx.PutFragment(ctx, f, []byte("sealed")); err != nil {
			t.Fatal(err)
		}
		r.next = r.next.Add(2 * time.Second)
		r.i++
	}
}

// TestSessionWalkResumes: a session's playlist, walked on from where its
// last request left it as fragments arrive, is what a walk from the
// session's start gives (numbers, discontinuities, the run of each
// segment, the end), in every playback and discontinuity mode.
func TestSessionWalkResumes(t *testing.T) {
	idx := openIndex(t)
	start := testNow.Add(-2 * time.Hour)
	rec := newWalkRecording(t, idx, "cam", start)
	rec.put(t, 3)
	// The LIVE_REPLAY session began 100 s ago: its window runs 106 s of
	// playback ahead, then the clock moves on.
	clock := testNow
	h := &Handler{Index: idx, Now: func() time.Time { return clock }}
	var sessions []hls.Session
	for _, disc := range []string{discontinuityAlways, discontinuityOn, discontinuityNever} {
		sessions = append(sessions,
			hls.Session{Stream: "cam", Mode: hls.Live, Start: start, MaxResults: 5, Discontinuity: disc, Created: testNow},
			hls.Session{Stream: "cam", Mode: hls.LiveReplay, Start: start.Add(10 * time.Second), MaxResults: 4, Discontinuity: disc, Created: testNow.Add(-100 * time.Second)},
			hls.Session{Stream: "cam", Mode: hls.OnDemand, Start: start, End: start.Add(time.Hour), MaxResults: 40, Discontinuity: disc, Created: testNow})
	}
	for round := range 12 {
		for _, s := range sessions {
			name := fmt.Sprintf("round %d, %s %s", round, s.Mode, s.Discontinuity)
			segs, before, ended, err := h.segments(context.Background(), s)
			fresh := &Handler{Index: idx, Now: h.Now}
			wantSegs, wantBefore, wantEnded, wantErr := fresh.segments(context.Background(), s)
			if !reflect.DeepEqual(err, wantErr) {
				t.Fatalf("%s: error %v, walked from the start %v", name, err, wantErr)
			}
			if before != wantBefore || ended != wantEnded || !reflect.DeepEqual(segs, wantSegs) {
				t.Fatalf("%s: resumed walk (%d discontinuities before, ended %v)\n%+v\nwalked from the start (%d, %v)\n%+v",
					name, before, ended, seqs(segs), wantBefore, wantEnded, seqs(wantSegs))
			}
		}
		rec.put(t, 1+round%4)
		clock = clock.Add(5 * time.Second)
	}
	// The LIVE window slid: its first segment is numbered past 0.
	segs, _, _, err := h.segments(context.Background(), sessions[0])
	if err != nil || len(segs) != 5 || segs[0].seq == 0 {
		t.Fatalf("live window %+v, %v", seqs(segs), err)
	}
}

// seqs lists a window's numbers and marks, for failure messages.
func seqs(segs []sessionSegment) []string {
	var out []string
	for _, s := range segs {
		out = append(out, fmt.Sprintf("%d/#%d disc=%v map=%v", s.seq, s.f.Number, s.discontinuity, s.newMap))
	}
	return out
}

// TestSessionWalksBounded: past the segments the table may hold, the
// least recently used walks are forgotten, never the one in use; a
// forgotten session walks from its start again and numbers alike.
func TestSessionWalksBounded(t *testing.T) {
	idx := openIndex(t)
	start := testNow.Add(-time.Hour)
	newWalkRecording(t, idx, "cam", start).put(t, 20)
	h := &Handler{Index: idx, Now: func() time.Time { return testNow }}
	h.walks.limit = 12
	session := func(i int) hls.Session {
		return hls.Session{Stream: "cam", Mode: hls.Live, Start: start, MaxResults: 5, Discontinuity: discontinuityAlways, Created: testNow.Add(time.Duration(i))}
	}
	first, _, _, err := h.segments(context.Background(), session(0))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 4; i++ {
		if _, _, _, err := h.segments(context.Background(), session(i)); err != nil {
			t.Fatal(err)
		}
	}
	h.walks.mu.Lock()
	kept, held := len(h.walks.byKey), h.walks.segs
	_, firstKept := h.walks.byKey[walkKey(session(0))]
	_, lastKept := h.walks.byKey[walkKey(session(3))]
	h.walks.mu.Unlock()
	if kept != 2 || held != 10 || firstKept || !lastKept {
		t.Fatalf("%d walks holding %d segments (first kept %v, last %v), want the 2 most recent holding 10", kept, held, firstKept, lastKept)
	}
	again, _, _, err := h.segments(context.Background(), session(0))
	if err != nil || !reflect.DeepEqual(again, first) {
		t.Fatalf("forgotten session walked again: %v, %v; first %v", seqs(again), err, seqs(first))
	}
}

// BenchmarkLivePlaylistReload: a LIVE session that began 12 hours ago
// (21,600 fragments of 2 s) reloads its playlist: walked from the
// session's start at every request, or on from where the last ended.
//
//	go test -run '^$' -bench LivePlaylistReload -benchtime 20x ./dataplane/video/kvs/
func BenchmarkLivePlaylistReload(b *testing.B) {
	idx := openIndex(b)
	start := testNow.Add(-12 * time.Hour)
	rec := newWalkRecording(b, idx, "cam", start)
	rec.put(b, 21600)
	s := hls.Session{Stream: "cam", Mode: hls.Live, Start: start, MaxResults: 5, Discontinuity: discontinuityAlways, Created: start}
	for _, resume := range []bool{false, true} {
		b.Run(fmt.Sprintf("resumed=%v", resume), func(b *testing.B) {
			h := &Handler{Index: idx, Now: func() time.Time { return testNow }}
			if _, _, _, err := h.segments(context.Background(), s); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if !resume {
					h.walks = walks{}
				}
				segs, _, _, err := h.segments(context.Background(), s)
				if err != nil || segs[len(segs)-1].seq != 21599 {
					b.Fatalf("%d segments, %v", len(segs), err)
				}
			}
		})
	}
}

// TestSessionWalksCounted: past maxWalks sessions the least recently used
// are forgotten, however few segments they hold.
func TestSessionWalksCounted(t *testing.T) {
	var ws walks
	for i := range maxWalks + 10 {
		s := hls.Session{Stream: "cam", Created: testNow.Add(time.Duration(i))}
		_, key := ws.get(s)
		ws.held(key, 1)
	}
	if n := ws.lru.Len(); n != maxWalks || len(ws.byKey) != maxWalks || ws.segs != maxWalks {
		t.Fatalf("%d walks (%d keys, %d segments), want %d", n, len(ws.byKey), ws.segs, maxWalks)
	}
}
