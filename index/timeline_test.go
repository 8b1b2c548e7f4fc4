package index

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// putDur stores a fragment of stream at server time st lasting d, with
// the producer time pt.
func putDur(t testing.TB, x *Index, stream string, st, pt time.Time, d time.Duration) {
	t.Helper()
	ctx := context.Background()
	num, err := x.NextFragmentNumber(ctx)
	if err != nil {
		t.Fatalf("NextFragmentNumber: %v", err)
	}
	f := Fragment{Number: num, Stream: stream, ServerTime: st, ProducerTime: pt, Duration: d, KeyID: "key-1", Frames: 1}
	if err := x.PutFragment(ctx, f, blobFor(num, 64)); err != nil {
		t.Fatalf("PutFragment %d: %v", num, err)
	}
}

// interval is a fragment's [start, end) in the reference model.
type interval struct{ start, end time.Time }

// referenceTimeline merges the intervals (sorted by start) exactly:
// neighbours less than step apart make one span; spans are clipped to
// [from, to].
func referenceTimeline(ivs []interval, from, to time.Time, step time.Duration) []Span {
	var out []Span
	for _, iv := range ivs {
		if !iv.end.After(from) || iv.start.After(to) {
			continue
		}
		if n := len(out); n > 0 && iv.start.Sub(out[n-1].End) < step {
			if iv.end.After(out[n-1].End) {
				out[n-1].End = iv.end
			}
			continue
		}
		out = append(out, Span{Start: iv.start, End: iv.end})
	}
	for i := range out {
		out[i].Start = maxTime(out[i].Start, from)
		out[i].End = minTime(out[i].End, to)
	}
	return out
}

// firstDiff returns the index of the first span that differs between a
// and b (or the shorter length), -1 if they are equal.
func firstDiff(a, b []Span) int {
	for i := range min(len(a), len(b)) {
		if !a[i].Start.Equal(b[i].Start) || !a[i].End.Equal(b[i].End) {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// recording stores about n fragments in stream from start: runs of
// back-to-back fragments of 0.5 to 10 s (some overlapping their
// predecessor by a little, as re-anchored sessions do) separated by gaps
// from 100 ms to 5 min. Producer times run 1 h behind. It returns the
// fragments' server-time intervals, in order.
func recording(t *testing.T, x *Index, stream string, start time.Time, n int, rng *rand.Rand) []interval {
	var ivs []interval
	at := start
	for range n {
		switch r := rng.IntN(100); {
		case r < 4:
			at = at.Add(time.Duration(rng.Int64N(int64(5*time.Minute))) + 100*time.Millisecond)
		case r < 8:
			at = at.Add(-time.Duration(rng.Int64N(int64(80 * time.Millisecond))))
		}
		d := 500*time.Millisecond + time.Duration(rng.Int64N(int64(9500*time.Millisecond)))
		putDur(t, x, stream, at, at.Add(-time.Hour), d)
		ivs = append(ivs, interval{at, at.Add(d)})
		at = at.Add(d)
	}
	return ivs
}

func TestTimeline(t *testing.T) {
	forModes(t, func(t *testing.T, x *Index, clk *fakeClock) {
		ctx := context.Background()
		mustStream(t, x, "cam1", 24)
		rng := rand.New(rand.NewPCG(1, 2))
		start := t0.Add(-6 * time.Hour)
		ivs := recording(t, x, "cam1", start, 1500, rng)
		last := ivs[len(ivs)-1].end

		// Ranges: the whole recording, one starting and ending inside
		// fragments, and one past both ends.
		ranges := []struct{ from, to time.Time }{
			{ivs[0].start, last},
			{ivs[100].start.Add(700 * time.Millisecond), ivs[1200].end.Add(-300 * time.Millisecond)},
			{start.Add(-time.Hour), last.Add(time.Hour)},
		}
		for _, r := range ranges {
			// Every step gives exactly what merging every fragment
			// gives; from twice the longest fragment on, the walk jumps
			// and reads a share of them.
			for _, step := range []time.Duration{500 * time.Millisecond, time.Second, 5 * time.Second, 19 * time.Second, 20 * time.Second, time.Minute, 3 * time.Minute, time.Hour} {
				got, reads, err := x.timeline(ctx, "cam1", TimelineQuery{Start: r.from, End: r.to, Step: step})
				if err != nil {
					t.Fatal(err)
				}
				want := referenceTimeline(ivs, r.from, r.to, step)
				if i := firstDiff(got, want); i >= 0 {
					t.Fatalf("step %v [%v, %v]: got %d spans, want %d; first difference at %d", step, r.from, r.to, len(got), len(want), i)
				}
				if step >= time.Minute && reads > len(ivs)/2 {
					t.Fatalf("step %v: read %d entries for %d fragments: the walk does not jump", step, reads, len(ivs))
				}
				t.Logf("step %v: %d spans, %d entries read of %d fragments", step, len(got), reads, len(ivs))
			}
		}

		// A camera's day: 2-s fragments for two hours with three 5-min
		// outages. At minute resolution the walk reads a small share of
		// the fragments and still finds the outages exactly.
		mustStream(t, x, "cam2", 24)
		var day []interval
		at := start
		for i := range 3600 {
			if i > 0 && i%900 == 0 {
				at = at.Add(5 * time.Minute)
			}
			putDur(t, x, "cam2", at, at, 2*time.Second)
			day = append(day, interval{at, at.Add(2 * time.Second)})
			at = at.Add(2 * time.Second)
		}
		spans, reads, err := x.timeline(ctx, "cam2", TimelineQuery{Start: start, End: at, Step: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if want := referenceTimeline(day, start, at, time.Minute); firstDiff(spans, want) >= 0 || len(want) != 4 {
			t.Fatalf("camera day: got %v, want %v", spans, want)
		}
		if reads > len(day)/10 {
			t.Fatalf("camera day: read %d entries for %d fragments at minute resolution", reads, len(day))
		}
		t.Logf("camera day: %d fragments, %d entries read at minute resolution", len(day), reads)

		// Producer time: the same recording an hour earlier.
		got, err := x.Timeline(ctx, "cam1", TimelineQuery{By: ProducerTime, Start: start.Add(-2 * time.Hour), End: last, Step: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var shifted []interval
		for _, iv := range ivs {
			shifted = append(shifted, interval{iv.start.Add(-time.Hour), iv.end.Add(-time.Hour)})
		}
		if want := referenceTimeline(shifted, start.Add(-2*time.Hour), last, time.Second); firstDiff(got, want) >= 0 {
			t.Fatalf("producer time: got %d spans, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
		}

		// Retention: after 25 h nothing is visible.
		clk.Advance(25 * time.Hour)
		if got, err := x.Timeline(ctx, "cam1", TimelineQuery{Start: start, End: last, Step: time.Minute}); err != nil || len(got) != 0 {
			t.Fatalf("beyond retention: %v, %v", got, err)
		}

		for _, q := range []TimelineQuery{
			{Start: start, Step: time.Second},
			{Start: last, End: start, Step: time.Second},
			{Start: start, End: last},
			{Start: start, End: start.Add(7 * 24 * time.Hour), Step: time.Second},
			{By: TimestampType(9), Start: start, End: last, Step: time.Second},
		} {
			if _, err := x.Timeline(ctx, "cam1", q); !errors.Is(err, ErrInvalidQuery) {
				t.Fatalf("%+v: err %v, want ErrInvalidQuery", q, err)
			}
		}
		if _, err := x.Timeline(ctx, "nope", TimelineQuery{Start: start, End: last, Step: time.Second}); !errors.Is(err, ErrStreamNotFound) {
			t.Fatalf("unknown stream: %v", err)
		}
	})
}
