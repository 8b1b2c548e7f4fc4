package index

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

// TestCorrectClock stores fragments on an unsynchronised boot timeline
// that started at the floor, sets the clock, and checks that the
// corrected fragments are found at their real times (server and producer
// indexes, blobs moved to their real buckets, usage kept) and that a
// second correction moves nothing.
func TestCorrectClock(t *testing.T) {
	forModes(t, func(t *testing.T, x *Index, clk *fakeClock) {
		ctx := context.Background()
		mustStream(t, x, "cam", 24*100)
		// The boot timeline starts at the floor (2026-01-01) and runs
		// 10 minutes; the real time is t0 (2026-03-01) plus that.
		floor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		clk.Set(floor)
		before := mustPut(t, x, "cam", floor.Add(-time.Hour), floor.Add(-time.Hour), 2000) // recorded synced (an earlier boot)
		var unsynced []Fragment
		for i := range 5 {
			num, err := x.NextFragmentNumber(ctx)
			if err != nil {
				t.Fatal(err)
			}
			at := floor.Add(time.Duration(i) * 2 * time.Second)
			f := Fragment{Number: num, Stream: "cam", ServerTime: at, Duration: 2 * time.Second,
				Tracks: []TrackInfo{{Codec: "H264", Kind: "video"}}, ClockUnsynced: true}
			if err := x.PutFragment(ctx, f, blobFor(num, 3000)); err != nil {
				t.Fatalf("PutFragment: %v", err)
			}
			got, _ := x.Fragment(ctx, num)
			if !got.ClockUnsynced || got.ClockOffset != 0 {
				t.Fatalf("stored fragment: unsynced %v offset %v", got.ClockUnsynced, got.ClockOffset)
			}
			unsynced = append(unsynced, got)
		}
		usage0, _ := x.Usage(ctx)
		// The clock is set: the real time is t0 + 10 s when the timeline
		// reads floor + 10 s.
		offset := t0.Sub(floor)
		clk.Set(t0.Add(10 * time.Second))
		c, err := x.CorrectClock(ctx, unsynced[0].Number, offset, true)
		if err != nil {
			t.Fatalf("CorrectClock: %v", err)
		}
		if c.Moved != 5 || c.Settled != 5 {
			t.Fatalf("correction %+v, want 5 moved and settled", c)
		}
		for i, f := range unsynced {
			got, err := x.Fragment(ctx, f.Number)
			if err != nil {
				t.Fatalf("Fragment %d: %v", f.Number, err)
			}
			want := t0.Add(time.Duration(i) * 2 * time.Second)
			if !got.ServerTime.Equal(want) || !got.ProducerTime.Equal(want) {
				t.Errorf("fragment %d at %v/%v, want %v", f.Number, got.ServerTime, got.ProducerTime, want)
			}
			if got.ClockUnsynced || got.ClockOffset != offset {
				t.Errorf("fragment %d: unsynced %v offset %v after correction", f.Number, got.ClockUnsynced, got.ClockOffset)
			}
			b, err := x.Blob(ctx, f.Number)
			if err != nil || !bytes.Equal(b, blobFor(f.Number, 3000)) {
				t.Errorf("blob %d after correction: %v", f.Number, err)
			}
		}
		if got, _ := x.Fragment(ctx, before.Number); !got.ServerTime.Equal(before.ServerTime) {
			t.Errorf("fragment of an earlier boot moved to %v", got.ServerTime)
		}
		// Replay by timestamp finds them at their real times, and nothing
		// is left at the boot timeline's.
		for _, by := range []TimestampType{ServerTime, ProducerTime} {
			fs, _, err := x.List(ctx, "cam", Query{By: by, Start: t0, End: t0.Add(8 * time.Second)})
			if err != nil || len(fs) != 5 {
				t.Fatalf("List %v at the real time: %d fragments, %v", by, len(fs), err)
			}
			fs, _, err = x.List(ctx, "cam", Query{By: by, Start: floor, End: floor.Add(time.Minute)})
			if err != nil || len(fs) != 0 {
				t.Fatalf("List %v at the boot timeline: %d fragments, %v", by, len(fs), err)
			}
		}
		if n := countPrefix(t, x, []byte(pfxServer)); n != 6 {
			t.Errorf("%d server index entries, want 6", n)
		}
		if n := countPrefix(t, x, []byte(pfxBlob)); n != 6 {
			t.Errorf("%d blobs, want 6", n)
		}
		if usage1, _ := x.Usage(ctx); len(usage1) != len(usage0) || usage1[0].Bytes != usage0[0].Bytes {
			t.Errorf("usage %+v after correction, was %+v", usage1, usage0)
		}
		// Retention counts from the real time: a GC does not drop the
		// moved blobs as if they were two months old.
		if _, err := x.RunGC(ctx); err != nil {
			t.Fatal(err)
		}
		if fs, _, _ := x.List(ctx, "cam", Query{Start: t0}); len(fs) != 5 {
			t.Errorf("after GC %d fragments at the real time, want 5", len(fs))
		}
		c, err = x.CorrectClock(ctx, unsynced[0].Number, offset, true)
		if err != nil || c.Moved != 0 || c.Settled != 0 {
			t.Fatalf("second correction %+v, %v: want nothing", c, err)
		}
	})
}

// TestCorrectClockSteps: a jump while still unsynchronised moves the
// marked fragments by the jump and keeps them marked; the sync then moves
// them by the rest only.
func TestCorrectClockSteps(t *testing.T) {
	forModes(t, func(t *testing.T, x *Index, clk *fakeClock) {
		ctx := context.Background()
		mustStream(t, x, "cam", 24*365)
		num, _ := x.NextFragmentNumber(ctx)
		at := t0.Add(-time.Hour)
		if err := x.PutFragment(ctx, Fragment{Number: num, Stream: "cam", ServerTime: at, ClockUnsynced: true}, []byte("blob")); err != nil {
			t.Fatal(err)
		}
		if _, err := x.CorrectClock(ctx, num, 30*time.Minute, false); err != nil {
			t.Fatal(err)
		}
		got, _ := x.Fragment(ctx, num)
		if !got.ClockUnsynced || !got.ServerTime.Equal(at.Add(30*time.Minute)) {
			t.Fatalf("after the jump: %v unsynced %v", got.ServerTime, got.ClockUnsynced)
		}
		if _, err := x.CorrectClock(ctx, num, 45*time.Minute, true); err != nil {
			t.Fatal(err)
		}
		got, _ = x.Fragment(ctx, num)
		if got.ClockUnsynced || !got.ServerTime.Equal(at.Add(45*time.Minute)) {
			t.Fatalf("after the sync: %v unsynced %v", got.ServerTime, got.ClockUnsynced)
		}
	})
}

// TestPutFragmentTimeBounds: with a floor and a future tolerance, a
// server time at 1970 or an hour ahead is refused in words.
func TestPutFragmentTimeBounds(t *testing.T) {
	clk := newClock()
	x := openT(t, Options{InMemory: true, Now: clk.Now, TimeFloor: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), FutureTolerance: time.Minute})
	ctx := context.Background()
	mustStream(t, x, "cam", 24*365*10)
	for _, tc := range []struct {
		at   time.Time
		want error
	}{
		{time.Unix(0, 0), ErrInvalidFragment},
		{t0.Add(time.Hour), ErrInvalidFragment},
		{t0.Add(30 * time.Second), nil},
		{t0.Add(-time.Hour), nil},
	} {
		num, _ := x.NextFragmentNumber(ctx)
		err := x.PutFragment(ctx, Fragment{Number: num, Stream: "cam", ServerTime: tc.at}, []byte("blob"))
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("server time %v: %v, want %v", tc.at, err, tc.want)
		}
	}
}
