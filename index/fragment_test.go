package index

import (
	"bytes"
	"context"
	"crypto/sha256"
	"sync"
	"testing"
	"time"
)

func TestFragments(t *testing.T) {
	forModes(t, func(t *testing.T, x *Index, clk *fakeClock) {
		ctx := context.Background()
		mustStream(t, x, "cam1", 1)
		num := func() uint64 {
			n, err := x.NextFragmentNumber(ctx)
			checkErr(t, "NextFragmentNumber", err, nil)
			return n
		}
		n1 := num()
		blob := blobFor(n1, 3000)
		full := Fragment{
			Number: n1, Stream: "cam1", ServerTime: t0.Add(-time.Minute), ProducerTime: t0.Add(-61 * time.Second),
			Duration: 2 * time.Second, Size: 3000, KeyID: "k1", Frames: 60, Gap: true,
			Tracks: []TrackInfo{{Codec: "H264", Kind: "video", Frames: 50, Width: 1280, Height: 720}, {Codec: "AAC", Kind: "audio", Frames: 10}},
			SHA256: sha256.Sum256(blob),
		}
		tests := []struct {
			name string
			f    Fragment
			blob []byte
			want error
		}{
			{"full", full, blob, nil},
			{"duplicate number", full, blob, ErrFragmentExists},
			{"unknown stream", Fragment{Number: num(), Stream: "nope"}, []byte("x"), ErrStreamNotFound},
			{"no number", Fragment{Stream: "cam1"}, []byte("x"), ErrInvalidFragment},
			{"no stream", Fragment{Number: num()}, []byte("x"), ErrInvalidFragment},
			{"size mismatch", Fragment{Number: num(), Stream: "cam1", Size: 5}, []byte("x"), ErrInvalidFragment},
			{"beyond retention", Fragment{Number: num(), Stream: "cam1", ServerTime: t0.Add(-61 * time.Minute)}, []byte("x"), ErrInvalidFragment},
			{"defaults", Fragment{Number: num(), Stream: "cam1"}, []byte("defaults"), nil},
			{"empty blob", Fragment{Number: num(), Stream: "cam1", ServerTime: t0.Add(time.Second)}, nil, nil},
		}
		for _, tt := range tests {
			err := x.PutFragment(ctx, tt.f, tt.blob)
			checkErr(t, tt.name, err, tt.want)
			if tt.want != nil && tt.name != "duplicate number" {
				if _, err := x.Fragment(ctx, tt.f.Number); tt.f.Number != 0 {
					checkErr(t, tt.name+": fragment after failed put", err, ErrFragmentNotFound)
				}
				continue
			}
			got, err := x.Fragment(ctx, tt.f.Number)
			checkErr(t, tt.name+": Fragment", err, nil)
			want := tt.f
			if tt.name == "defaults" || tt.name == "empty blob" {
				if want.ServerTime.IsZero() {
					want.ServerTime = t0
				}
				want.ProducerTime = want.ServerTime
				want.Size = int64(len(tt.blob))
				want.SHA256 = sha256.Sum256(tt.blob)
			}
			if d := diffFragment(got, want); d != "" {
				t.Fatalf("%s: stored fragment differs: %s", tt.name, d)
			}
			b, err := x.Blob(ctx, tt.f.Number)
			checkErr(t, tt.name+": Blob", err, nil)
			if !bytes.Equal(b, tt.blob) {
				t.Fatalf("%s: blob differs", tt.name)
			}
		}
		if s := full.NumberString(); s == "" || s[0] == '0' {
			t.Fatalf("NumberString %q", s)
		}
		_, err := x.Fragment(ctx, 999999)
		checkErr(t, "Fragment unknown", err, ErrFragmentNotFound)
		_, err = x.Blob(ctx, 999999)
		checkErr(t, "Blob unknown", err, ErrFragmentNotFound)
		if st := x.Stats(); st.FragmentsStored != 3 || st.BytesStored != uint64(3000+len("defaults")) {
			t.Fatalf("stats %+v", st)
		}
		// Numbers strictly increase.
		a, b := num(), num()
		if b <= a {
			t.Fatalf("NextFragmentNumber %d then %d", a, b)
		}
	})
}

// TestSeedFragmentNumbers: a replacement appliance continues its
// predecessor's archived numbers, across a restart; the base never goes
// back, and a seed below what is stored changes nothing.
func TestSeedFragmentNumbers(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	open := func() *Index {
		x, err := Open(Options{Dir: dir, NoSync: true, Now: clk.Now, GCInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	ctx := context.Background()
	x := open()
	mustStream(t, x, "cam1", 1)
	if err := x.SeedFragmentNumbers(ctx, 5000); err != nil {
		t.Fatal(err)
	}
	f := mustPut(t, x, "cam1", t0.Add(-time.Minute), t0.Add(-time.Minute), 100)
	if f.Number <= 5000 {
		t.Fatalf("first number after seeding above 5000: %d", f.Number)
	}
	// A lower seed, or one below a stored number, changes nothing.
	for _, above := range []uint64{10, f.Number - 1} {
		if err := x.SeedFragmentNumbers(ctx, above); err != nil {
			t.Fatal(err)
		}
	}
	g := mustPut(t, x, "cam1", t0.Add(-50*time.Second), t0.Add(-50*time.Second), 100)
	if g.Number <= f.Number || g.Number > f.Number+1000 {
		t.Fatalf("next number %d after %d", g.Number, f.Number)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	// After a restart the base holds.
	x = open()
	defer x.Close()
	h := mustPut(t, x, "cam1", t0.Add(-40*time.Second), t0.Add(-40*time.Second), 100)
	if h.Number <= g.Number {
		t.Fatalf("number %d after a restart, %d before", h.Number, g.Number)
	}
}

// TestFragmentNumbersIssued: only a database that never issued a number
// and was never seeded is fresh, across a restart; a seed while numbers
// are being issued keeps them unique and increasing.
func TestFragmentNumbersIssued(t *testing.T) {
	ctx := context.Background()
	open := func(dir string) *Index {
		x, err := Open(Options{Dir: dir, NoSync: true, Now: newClock().Now, GCInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	issued := func(x *Index) bool {
		t.Helper()
		ok, err := x.FragmentNumbersIssued(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	dir := t.TempDir()
	x := open(dir)
	mustStream(t, x, "cam1", 1) // a stream is not a number
	if issued(x) {
		t.Fatal("a fresh database has issued numbers")
	}
	first, err := x.NextFragmentNumber(ctx)
	if err != nil || first != 1 || !issued(x) {
		t.Fatalf("first number %d, %v; issued %v", first, err, issued(x))
	}
	x.Close()
	x = open(dir)
	if !issued(x) {
		t.Fatal("issued numbers forgotten across a restart")
	}
	x.Close()

	y := open(t.TempDir())
	defer y.Close()
	if err := y.SeedFragmentNumbers(ctx, 77); err != nil || !issued(y) {
		t.Fatalf("a seeded database is fresh (%v)", err)
	}
	// Seeds racing with the numbers issued: all unique, each goroutine's
	// increasing.
	var wg sync.WaitGroup
	got := make([][]uint64, 4)
	for g := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				if g == 0 && i%50 == 0 {
					if err := y.SeedFragmentNumbers(ctx, uint64(1000*(i+1))); err != nil {
						t.Error(err)
					}
				}
				n, err := y.NextFragmentNumber(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				got[g] = append(got[g], n)
			}
		}()
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for _, ns := range got {
		for i, n := range ns {
			if seen[n] || i > 0 && n <= ns[i-1] {
				t.Fatalf("number %d issued twice or out of order", n)
			}
			seen[n] = true
		}
	}
}
