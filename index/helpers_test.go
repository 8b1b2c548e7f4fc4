package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"go.uber.org/goleak"

	"github.com/kinedge/kinedge/index/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// t0 is the start of the fake clock.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is an injected clock that tests advance by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// modes are the option sets every contract test runs over.
var modes = []struct {
	name string
	opts func(t testing.TB) Options
}{
	{"memory", func(t testing.TB) Options { return Options{InMemory: true} }},
	{"disk", func(t testing.TB) Options { return Options{Dir: t.TempDir(), NoSync: true} }},
}

// forModes runs fn as a subtest per mode, with an open index on a fake
// clock that is closed at the end.
func forModes(t *testing.T, fn func(t *testing.T, x *Index, clk *fakeClock)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			clk := newClock()
			opts := m.opts(t)
			opts.Now = clk.Now
			x := openT(t, opts)
			fn(t, x, clk)
		})
	}
}

// openT opens an index and closes it at the end of the test.
func openT(t testing.TB, opts Options) *Index {
	t.Helper()
	if opts.GCInterval == 0 {
		opts.GCInterval = time.Hour // tests run GC by hand
	}
	x, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := x.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return x
}

// mustStream creates a stream with the given retention.
func mustStream(t testing.TB, x *Index, name string, hours int) Stream {
	t.Helper()
	s, err := x.CreateStream(context.Background(), Stream{Name: name, RetentionHours: hours, MediaType: "video/h264"})
	if err != nil {
		t.Fatalf("CreateStream %s: %v", name, err)
	}
	return s
}

// blobFor returns a deterministic blob of n bytes for fragment number.
func blobFor(number uint64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(number*131 + uint64(i)*7)
	}
	return b
}

// mustPut stores a fragment with the given times and a blob of n bytes,
// and returns it as stored.
func mustPut(t testing.TB, x *Index, stream string, server, producer time.Time, n int) Fragment {
	t.Helper()
	ctx := context.Background()
	num, err := x.NextFragmentNumber(ctx)
	if err != nil {
		t.Fatalf("NextFragmentNumber: %v", err)
	}
	f := Fragment{
		Number: num, Stream: stream, ServerTime: server, ProducerTime: producer,
		Duration: 2 * time.Second, KeyID: "key-1", Frames: 50,
		Tracks: []TrackInfo{{Codec: "H264", Kind: "video"}},
	}
	blob := blobFor(num, n)
	if err := x.PutFragment(ctx, f, blob); err != nil {
		t.Fatalf("PutFragment %d: %v", num, err)
	}
	got, err := x.Fragment(ctx, num)
	if err != nil {
		t.Fatalf("Fragment %d after put: %v", num, err)
	}
	return got
}

// countPrefix counts the visible keys under prefix.
func countPrefix(t testing.TB, x *Index, prefix []byte) int {
	t.Helper()
	n := 0
	err := x.view(func(txn *store.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("count %q: %v", prefix, err)
	}
	return n
}

// numbers returns the fragment numbers of fs.
func numbers(fs []Fragment) []uint64 {
	out := make([]uint64, len(fs))
	for i, f := range fs {
		out[i] = f.Number
	}
	return out
}

// checkErr fails unless err matches want (nil for no error).
func checkErr(t testing.TB, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// equalFragment reports the first difference between two fragments.
func diffFragment(a, b Fragment) string {
	switch {
	case a.Number != b.Number, a.Stream != b.Stream:
		return fmt.Sprintf("id %d/%s vs %d/%s", a.Number, a.Stream, b.Number, b.Stream)
	case !a.ServerTime.Equal(b.ServerTime), !a.ProducerTime.Equal(b.ProducerTime):
		return fmt.Sprintf("times %v/%v vs %v/%v", a.ServerTime, a.ProducerTime, b.ServerTime, b.ProducerTime)
	case a.Duration != b.Duration, a.Size != b.Size, a.KeyID != b.KeyID, a.Frames != b.Frames, a.Gap != b.Gap:
		return fmt.Sprintf("fields %+v vs %+v", a, b)
	case a.SHA256 != b.SHA256:
		return "sha256"
	case len(a.Tracks) != len(b.Tracks):
		return "tracks"
	}
	for i := range a.Tracks {
		if a.Tracks[i] != b.Tracks[i] {
			return "tracks"
		}
	}
	return ""
}

var _ = bytes.Equal
