package index

import (
	"context"
	"slices"
	"testing"
	"time"
)

// listFixture stores 10 fragments in "cam1" at server times t0-60s+i*2s
// (i = 0..9) with producer times in the reverse order, 10 in "cam2", and
// returns the cam1 fragments by server time.
func listFixture(t *testing.T, x *Index) []Fragment {
	mustStream(t, x, "cam1", 24)
	mustStream(t, x, "cam2", 24)
	base := t0.Add(-time.Minute)
	var fs []Fragment
	for i := range 10 {
		st := base.Add(time.Duration(i) * 2 * time.Second)
		pt := base.Add(-time.Hour + time.Duration(9-i)*2*time.Second)
		fs = append(fs, mustPut(t, x, "cam1", st, pt, 100))
		mustPut(t, x, "cam2", st, st, 100)
	}
	return fs
}

func TestList(t *testing.T) {
	forModes(t, func(t *testing.T, x *Index, clk *fakeClock) {
		ctx := context.Background()
		fs := listFixture(t, x)
		st := func(i int) time.Time { return fs[i].ServerTime }
		pt := func(i int) time.Time { return fs[i].ProducerTime }
		nums := func(idx ...int) []uint64 {
			out := []uint64{}
			for _, i := range idx {
				out = append(out, fs[i].Number)
			}
			return out
		}
		all := nums(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
		tests := []struct {
			name string
			q    Query
			want []uint64
			err  error
		}{
			{"everything", Query{}, all, nil},
			{"server full range", Query{Start: st(0), End: st(9)}, all, nil},
			{"server boundaries inclusive", Query{Start: st(2), End: st(5)}, nums(2, 3, 4, 5), nil},
			{"server between fragments", Query{Start: st(2).Add(time.Millisecond), End: st(5).Add(-time.Millisecond)}, nums(3, 4), nil},
			{"server single instant", Query{Start: st(7), End: st(7)}, nums(7), nil},
			{"server open start", Query{End: st(1)}, nums(0, 1), nil},
			{"server open end", Query{Start: st(8)}, nums(8, 9), nil},
			{"server after all", Query{Start: st(9).Add(time.Nanosecond)}, []uint64{}, nil},
			{"server before all", Query{End: st(0).Add(-time.Nanosecond)}, []uint64{}, nil},
			{"producer order", Query{By: ProducerTime}, nums(9, 8, 7, 6, 5, 4, 3, 2, 1, 0), nil},
			{"producer boundaries", Query{By: ProducerTime, Start: pt(6), End: pt(3)}, nums(6, 5, 4, 3), nil},
			{"producer range by server times is empty", Query{By: ProducerTime, Start: st(0), End: st(9)}, []uint64{}, nil},
			{"limit", Query{Limit: 3}, nums(0, 1, 2), nil},
			{"end before start", Query{Start: st(5), End: st(2)}, nil, ErrInvalidQuery},
			{"bad type", Query{By: TimestampType(7)}, nil, ErrInvalidQuery},
			{"garbage token", Query{NextToken: "!!!"}, nil, ErrInvalidToken},
		}
		for _, tt := range tests {
			got, _, err := x.List(ctx, "cam1", tt.q)
			checkErr(t, tt.name, err, tt.err)
			if tt.err == nil && !slices.Equal(numbers(got), tt.want) {
				t.Fatalf("%s: got %v, want %v", tt.name, numbers(got), tt.want)
			}
		}
		_, _, err := x.List(ctx, "nope", Query{})
		checkErr(t, "unknown stream", err, ErrStreamNotFound)

		// Pagination: every page size gives back the whole range, in order.
		for _, by := range []TimestampType{ServerTime, ProducerTime} {
			want, _, err := x.List(ctx, "cam1", Query{By: by, Start: st(1).Add(-time.Hour), End: st(8)})
			checkErr(t, "full list", err, nil)
			for limit := 1; limit <= 11; limit++ {
				q := Query{By: by, Start: st(1).Add(-time.Hour), End: st(8), Limit: limit}
				var got []Fragment
				for pages := 0; ; pages++ {
					if pages > 20 {
						t.Fatalf("%v limit %d: no end of pages", by, limit)
					}
					page, next, err := x.List(ctx, "cam1", q)
					checkErr(t, "page", err, nil)
					if len(page) > limit {
						t.Fatalf("%v limit %d: page of %d", by, limit, len(page))
					}
					got = append(got, page...)
					if next == "" {
						break
					}
					q.NextToken = next
				}
				if !slices.Equal(numbers(got), numbers(want)) {
					t.Fatalf("%v limit %d: pages %v, want %v", by, limit, numbers(got), numbers(want))
				}
			}
		}

		// A token only resumes the listing it came from.
		_, tok, err := x.List(ctx, "cam1", Query{Limit: 2})
		checkErr(t, "first page", err, nil)
		if tok == "" {
			t.Fatal("no token after a partial page")
		}
		_, _, err = x.List(ctx, "cam2", Query{Limit: 2, NextToken: tok})
		checkErr(t, "token on another stream", err, ErrInvalidToken)
		_, _, err = x.List(ctx, "cam1", Query{By: ProducerTime, NextToken: tok})
		checkErr(t, "token on another type", err, ErrInvalidToken)
		page, _, err := x.List(ctx, "cam1", Query{Limit: 2, NextToken: tok})
		checkErr(t, "second page", err, nil)
		if !slices.Equal(numbers(page), nums(2, 3)) {
			t.Fatalf("second page %v", numbers(page))
		}

		// Iterate walks everything (across internal pages) and honours Limit.
		var walked []Fragment
		err = x.Iterate(ctx, "cam1", Query{}, func(f Fragment) error { walked = append(walked, f); return nil })
		checkErr(t, "Iterate", err, nil)
		if !slices.Equal(numbers(walked), all) {
			t.Fatalf("Iterate %v", numbers(walked))
		}
		walked = nil
		err = x.Iterate(ctx, "cam1", Query{Limit: 4, Start: st(3)}, func(f Fragment) error { walked = append(walked, f); return nil })
		checkErr(t, "Iterate limit", err, nil)
		if !slices.Equal(numbers(walked), nums(3, 4, 5, 6)) {
			t.Fatalf("Iterate limit %v", numbers(walked))
		}

		// Earliest and Latest by server time.
		e, err := x.Earliest(ctx, "cam1")
		checkErr(t, "Earliest", err, nil)
		l, err := x.Latest(ctx, "cam1")
		checkErr(t, "Latest", err, nil)
		if e.Number != fs[0].Number || l.Number != fs[9].Number {
			t.Fatalf("Earliest %d, Latest %d", e.Number, l.Number)
		}
		mustStream(t, x, "empty", 24)
		_, err = x.Latest(ctx, "empty")
		checkErr(t, "Latest of empty", err, ErrFragmentNotFound)
		_, err = x.Earliest(ctx, "empty")
		checkErr(t, "Earliest of empty", err, ErrFragmentNotFound)
		_, err = x.Latest(ctx, "nope")
		checkErr(t, "Latest of unknown", err, ErrStreamNotFound)
	})
}

// TestIterateManyPages checks Iterate across several internal pages.
func TestIterateManyPages(t *testing.T) {
	x := openT(t, Options{InMemory: true, Now: newClock().Now})
	mustStream(t, x, "cam1", 24)
	var want []uint64
	for i := range 3*iteratePage + 7 {
		f := mustPut(t, x, "cam1", t0.Add(-time.Hour+time.Duration(i)*time.Second), time.Time{}, 10)
		want = append(want, f.Number)
	}
	var got []uint64
	err := x.Iterate(context.Background(), "cam1", Query{}, func(f Fragment) error { got = append(got, f.Number); return nil })
	checkErr(t, "Iterate", err, nil)
	if !slices.Equal(got, want) {
		t.Fatalf("Iterate returned %d fragments, want %d", len(got), len(want))
	}
}
