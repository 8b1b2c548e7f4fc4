package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinedge/kinedge/fragment/seal"
)

func TestRestart(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	opts := Options{Dir: dir, Now: clk.Now, GCInterval: time.Hour}
	x, err := Open(opts)
	checkErr(t, "Open", err, nil)
	ctx := context.Background()
	mustStream(t, x, "cam1", 24)
	mustStream(t, x, "cam2", 48)
	var fs []Fragment
	for i := range 5 {
		at := t0.Add(time.Duration(i-10) * time.Second)
		fs = append(fs, mustPut(t, x, "cam1", at, at.Add(time.Millisecond), 5000))
	}
	streams, err := x.Streams(ctx)
	checkErr(t, "Streams", err, nil)
	last, err := x.NextFragmentNumber(ctx)
	checkErr(t, "NextFragmentNumber", err, nil)
	key := seal.KeyRecord{ID: "k1", Alias: "cam1", Created: t0.Add(time.Nanosecond), Wrapped: []byte{1, 2, 3}, MasterCheck: "mc"}
	checkErr(t, "PutKey", x.Keys().PutKey(ctx, key), nil)
	checkErr(t, "Close", x.Close(), nil)

	x, err = Open(opts)
	checkErr(t, "reopen", err, nil)
	defer x.Close()
	again, err := x.Streams(ctx)
	checkErr(t, "Streams after restart", err, nil)
	if !slices.Equal(again, streams) {
		t.Fatalf("streams after restart %+v, want %+v", again, streams)
	}
	got, _, err := x.List(ctx, "cam1", Query{})
	checkErr(t, "List after restart", err, nil)
	if len(got) != len(fs) {
		t.Fatalf("%d fragments after restart, want %d", len(got), len(fs))
	}
	for i := range fs {
		if d := diffFragment(got[i], fs[i]); d != "" {
			t.Fatalf("fragment %d after restart: %s", i, d)
		}
		b, err := x.Blob(ctx, fs[i].Number)
		checkErr(t, "Blob after restart", err, nil)
		if !bytes.Equal(b, blobFor(fs[i].Number, 5000)) {
			t.Fatalf("blob %d differs after restart", fs[i].Number)
		}
	}
	gotKey, err := x.Keys().GetKey(ctx, "k1")
	checkErr(t, "GetKey after restart", err, nil)
	if gotKey.Alias != key.Alias || !gotKey.Created.Equal(key.Created) || !bytes.Equal(gotKey.Wrapped, key.Wrapped) || gotKey.MasterCheck != key.MasterCheck {
		t.Fatalf("key after restart %+v, want %+v", gotKey, key)
	}
	next, err := x.NextFragmentNumber(ctx)
	checkErr(t, "NextFragmentNumber after restart", err, nil)
	if next <= last {
		t.Fatalf("fragment number %d after restart, not above %d", next, last)
	}
}

// TestRestartResumesPurge deletes a stream and closes before any GC: the
// purge must happen after the restart.
func TestRestartResumesPurge(t *testing.T) {
	dir := t.TempDir()
	clk := newClock()
	opts := Options{Dir: dir, Now: clk.Now, GCInterval: time.Hour, NoSync: true}
	x, err := Open(opts)
	checkErr(t, "Open", err, nil)
	mustStream(t, x, "cam1", 24)
	for i := range 5 {
		mustPut(t, x, "cam1", t0.Add(time.Duration(-i)*time.Second), time.Time{}, 2000)
	}
	// Hold the GC lock so the background purge cannot run before Close.
	x.gcMu.Lock()
	checkErr(t, "DeleteStream", x.DeleteStream(context.Background(), "cam1"), nil)
	x.cancel()
	x.gcMu.Unlock()
	checkErr(t, "Close", x.Close(), nil)

	x = openT(t, opts)
	deadline := time.Now().Add(30 * time.Second)
	for countPrefix(t, x, []byte(pfxDeleted)) != 0 || countPrefix(t, x, []byte(pfxBlob)) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("purge did not resume after restart")
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
	if n := countPrefix(t, x, []byte(pfxNumber)); n != 0 {
		t.Fatalf("%d number keys left", n)
	}
}

func TestConcurrentPuts(t *testing.T) {
	clk := newClock()
	x := openT(t, Options{Dir: t.TempDir(), Now: clk.Now}) // fsync on: group commit
	ctx := context.Background()
	const writers, each = 64, 8
	for w := range writers {
		mustStream(t, x, fmt.Sprintf("cam%02d", w), 24)
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	nums := make([][]uint64, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("cam%02d", w)
			for i := range each {
				n, err := x.NextFragmentNumber(ctx)
				if err != nil {
					errs <- err
					return
				}
				at := t0.Add(time.Duration(i-each) * time.Second)
				if err := x.PutFragment(ctx, Fragment{Number: n, Stream: name, ServerTime: at}, blobFor(n, 4096)); err != nil {
					errs <- err
					return
				}
				nums[w] = append(nums[w], n)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("writer: %v", err)
	}
	seen := map[uint64]bool{}
	for w := range writers {
		got, _, err := x.List(ctx, fmt.Sprintf("cam%02d", w), Query{})
		checkErr(t, "List", err, nil)
		if !slices.Equal(numbers(got), nums[w]) {
			t.Fatalf("writer %d: listed %v, put %v", w, numbers(got), nums[w])
		}
		for _, n := range nums[w] {
			if seen[n] {
				t.Fatalf("fragment number %d handed out twice", n)
			}
			seen[n] = true
		}
	}
	if st := x.Stats(); st.FragmentsStored != writers*each {
		t.Fatalf("stats %+v", st)
	}
}

func TestClose(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			opts := m.opts(t)
			opts.GCInterval = time.Millisecond // the loop is busy when Close comes
			x, err := Open(opts)
			checkErr(t, "Open", err, nil)
			ctx := context.Background()
			mustStream(t, x, "cam1", 24)
			mustPut(t, x, "cam1", time.Now(), time.Time{}, 100)
			checkErr(t, "Close", x.Close(), nil)
			checkErr(t, "Close again", x.Close(), nil)
			calls := []struct {
				name string
				err  error
			}{
				{"Stream", func() error { _, err := x.Stream(ctx, "cam1"); return err }()},
				{"Streams", func() error { _, err := x.Streams(ctx); return err }()},
				{"CreateStream", func() error { _, err := x.CreateStream(ctx, Stream{Name: "x"}); return err }()},
				{"List", func() error { _, _, err := x.List(ctx, "cam1", Query{}); return err }()},
				{"Fragment", func() error { _, err := x.Fragment(ctx, 1); return err }()},
				{"PutFragment", x.PutFragment(ctx, Fragment{Number: 9, Stream: "cam1"}, nil)},
				{"NextFragmentNumber", func() error { _, err := x.NextFragmentNumber(ctx); return err }()},
				{"RunGC", func() error { _, err := x.RunGC(ctx); return err }()},
				{"Iterate", x.Iterate(ctx, "cam1", Query{}, func(Fragment) error { return nil })},
			}
			for _, c := range calls {
				if !errors.Is(c.err, ErrClosed) {
					t.Errorf("%s after Close: %v, want ErrClosed", c.name, c.err)
				}
			}
		})
	}
}

// TestWritesDuringGC puts fragments and keys while GC cycles drop
// expired buckets: writers wait for the drop instead of failing with
// badger.ErrBlockedWrites. Each cycle starts only after the writer stored
// a fragment since the last one (an event, not the scheduler's luck), so
// every cycle has a bucket to drop once the clock passes the retention.
func TestWritesDuringGC(t *testing.T) {
	clk := newClock()
	x := openT(t, Options{Dir: t.TempDir(), NoSync: true, Now: clk.Now, BucketWidth: time.Minute})
	ctx := context.Background()
	mustStream(t, x, "cam1", 1)
	stop := make(chan struct{})
	errs := make(chan error, 1)
	wrote := make(chan struct{}, 1) // a fragment was stored
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			n, err := x.NextFragmentNumber(ctx)
			if err == nil {
				err = x.PutFragment(ctx, Fragment{Number: n, Stream: "cam1"}, blobFor(n, 8<<10)) // server time: Now
			}
			if err == nil {
				select {
				case wrote <- struct{}{}:
				default:
				}
				err = x.Keys().PutKey(ctx, seal.KeyRecord{ID: fmt.Sprint(i % 8), Wrapped: []byte{1}})
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	drops := 0
	for range 30 {
		select {
		case <-wrote:
		case err := <-errs:
			close(stop)
			wg.Wait()
			t.Fatalf("writer during GC: %v", err)
		}
		clk.Advance(10 * time.Minute)
		rep, err := x.RunGC(ctx)
		checkErr(t, "RunGC", err, nil)
		drops += rep.BucketsDropped
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("writer during GC: %v", err)
	}
	if drops == 0 {
		t.Fatal("no bucket was dropped while writing")
	}
}
