package index

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestRetentionFilter(t *testing.T) {
	forModes(t, func(t *testing.T, x *Index, clk *fakeClock) {
		ctx := context.Background()
		mustStream(t, x, "cam1", 2)
		// One fragment every 10 min for 2 h, written as time passes.
		var fs []Fragment
		for i := range 12 {
			fs = append(fs, mustPut(t, x, "cam1", clk.Now(), clk.Now().Add(-time.Hour), 2000))
			if i < 11 {
				clk.Advance(10 * time.Minute)
			}
		}
		// Now = t0+110m: all within 2 h.
		visible := func() []uint64 {
			got, _, err := x.List(ctx, "cam1", Query{})
			checkErr(t, "List", err, nil)
			return numbers(got)
		}
		if got := visible(); len(got) != 12 {
			t.Fatalf("visible %d, want 12", len(got))
		}
		// Now = t0+2h15m: the fragments at t0 and t0+10m are beyond 2 h.
		clk.Advance(25 * time.Minute)
		tests := []struct {
			name string
			want []uint64
			got  func() ([]uint64, error)
		}{
			{"server list", numbers(fs[2:]), func() ([]uint64, error) {
				got, _, err := x.List(ctx, "cam1", Query{})
				return numbers(got), err
			}},
			{"server list from the start", numbers(fs[2:4]), func() ([]uint64, error) {
				got, _, err := x.List(ctx, "cam1", Query{Start: t0, End: fs[3].ServerTime})
				return numbers(got), err
			}},
			{"producer list", numbers(fs[2:]), func() ([]uint64, error) {
				got, _, err := x.List(ctx, "cam1", Query{By: ProducerTime})
				return numbers(got), err
			}},
			{"earliest", numbers(fs[2:3]), func() ([]uint64, error) {
				f, err := x.Earliest(ctx, "cam1")
				return []uint64{f.Number}, err
			}},
		}
		for _, tt := range tests {
			got, err := tt.got()
			checkErr(t, tt.name, err, nil)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("%s: %v, want %v", tt.name, got, tt.want)
			}
		}
		for _, f := range fs[:2] {
			_, err := x.Fragment(ctx, f.Number)
			checkErr(t, "Fragment beyond retention", err, ErrFragmentNotFound)
			_, err = x.Blob(ctx, f.Number)
			checkErr(t, "Blob beyond retention", err, ErrFragmentNotFound)
		}
		if _, err := x.Blob(ctx, fs[2].Number); err != nil {
			t.Fatalf("Blob within retention: %v", err)
		}

		// A retention decrease hides older fragments at once.
		_, err := x.UpdateStream(ctx, "cam1", "", func(s *Stream) error { s.RetentionHours = 1; return nil })
		checkErr(t, "UpdateStream", err, nil)
		if got, want := visible(), numbers(fs[8:]); !slices.Equal(got, want) {
			t.Fatalf("after decrease: %v, want %v", got, want)
		}

		// GC removes what retention hides; what remains is unchanged.
		rep, err := x.RunGC(ctx)
		checkErr(t, "RunGC", err, nil)
		if rep.FragmentsExpired != 8 {
			t.Fatalf("GC expired %d fragments, want 8 (%+v)", rep.FragmentsExpired, rep)
		}
		if n := countPrefix(t, x, []byte(pfxNumber)); n != 4 {
			t.Fatalf("%d number keys after GC, want 4", n)
		}
		if n := countPrefix(t, x, []byte(pfxProducer)); n != 4 {
			t.Fatalf("%d producer keys after GC, want 4", n)
		}
		// Buckets (10 min) that ended by the cutoff t0+75m are dropped; the
		// fragment at t0+70m is hidden, but its bucket ends at t0+80m.
		if n := countPrefix(t, x, []byte(pfxBlob)); n != 5 {
			t.Fatalf("%d blob keys after GC, want 5", n)
		}
		if got, want := visible(), numbers(fs[8:]); !slices.Equal(got, want) {
			t.Fatalf("after GC: %v, want %v", got, want)
		}
		for _, f := range fs[8:] {
			if _, err := x.Blob(ctx, f.Number); err != nil {
				t.Fatalf("Blob %d after GC: %v", f.Number, err)
			}
		}
		if st := x.Stats(); st.FragmentsExpired != 8 || st.BucketsDropped != 7 || st.GCRuns == 0 {
			t.Fatalf("stats %+v", st)
		}
		// A second cycle finds nothing more.
		rep, err = x.RunGC(ctx)
		checkErr(t, "RunGC again", err, nil)
		if rep.FragmentsExpired != 0 || rep.BucketsDropped != 0 {
			t.Fatalf("second GC %+v", rep)
		}
	})
}

func TestZeroRetention(t *testing.T) {
	clk := newClock()
	x := openT(t, Options{InMemory: true, Now: clk.Now, ZeroRetention: 5 * time.Minute})
	ctx := context.Background()
	_, err := x.CreateStream(ctx, Stream{Name: "live", RetentionHours: ZeroRetentionHours})
	checkErr(t, "create", err, nil)
	f := mustPut(t, x, "live", clk.Now(), time.Time{}, 10)
	clk.Advance(5*time.Minute + time.Nanosecond)
	_, err = x.Fragment(ctx, f.Number)
	checkErr(t, "after the zero-retention window", err, ErrFragmentNotFound)
}

func TestDeleteStream(t *testing.T) {
	forModes(t, func(t *testing.T, x *Index, clk *fakeClock) {
		ctx := context.Background()
		mustStream(t, x, "gone", 24)
		mustStream(t, x, "kept", 24)
		var goneFs, keptFs []Fragment
		for i := range 20 {
			at := t0.Add(-time.Hour + time.Duration(i)*time.Minute)
			goneFs = append(goneFs, mustPut(t, x, "gone", at, at, 3000))
			keptFs = append(keptFs, mustPut(t, x, "kept", at, at, 3000))
		}
		checkErr(t, "DeleteStream", x.DeleteStream(ctx, "gone"), nil)
		// Gone from readers at once, whatever the purge is doing.
		_, err := x.Fragment(ctx, goneFs[3].Number)
		checkErr(t, "Fragment of deleted stream", err, ErrFragmentNotFound)
		_, err = x.Blob(ctx, goneFs[3].Number)
		checkErr(t, "Blob of deleted stream", err, ErrFragmentNotFound)
		_, _, err = x.List(ctx, "gone", Query{})
		checkErr(t, "List of deleted stream", err, ErrStreamNotFound)
		// The name can be used again, and starts empty.
		mustStream(t, x, "gone", 24)
		got, _, err := x.List(ctx, "gone", Query{})
		checkErr(t, "List of recreated stream", err, nil)
		if len(got) != 0 {
			t.Fatalf("recreated stream lists %d fragments", len(got))
		}
		_, err = x.Fragment(ctx, goneFs[3].Number)
		checkErr(t, "old fragment under recreated name", err, ErrFragmentNotFound)

		_, err = x.RunGC(ctx)
		checkErr(t, "RunGC", err, nil)
		for _, pfx := range []string{pfxNumber, pfxServer, pfxProducer, pfxBlob} {
			if n := countPrefix(t, x, []byte(pfx)); n != len(keptFs) {
				t.Fatalf("%d keys under %q after purge, want %d", n, pfx, len(keptFs))
			}
		}
		if n := countPrefix(t, x, []byte(pfxDeleted)); n != 0 {
			t.Fatalf("%d deletion markers left", n)
		}
		got, _, err = x.List(ctx, "kept", Query{})
		checkErr(t, "List kept", err, nil)
		if !slices.Equal(numbers(got), numbers(keptFs)) {
			t.Fatalf("kept stream lists %v", numbers(got))
		}
	})
}
