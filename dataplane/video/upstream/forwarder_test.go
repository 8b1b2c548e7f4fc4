package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinedge/kinedge/firehose/uplink"
	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/ingest/camsim"
	"github.com/kinedge/kinedge/ingest/media"
)

// box is an appliance's storage: an in-memory database, its index and
// keyring, and the forwarder's space.
type box struct {
	idx *index.Index
	sp  *store.Space
	kr  *seal.Keyring
}

func openBox(t *testing.T) *box {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true, NoSync: true, MemTableSize: 8 << 20, BlockCacheSize: 1 << 20, IndexCacheSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := index.Open(index.Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := db.Space("u/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close(); db.Close() })
	return &box{idx: idx, sp: sp, kr: &seal.Keyring{Store: idx.Keys(), Master: seal.NewMasterKey()}}
}

// record records the H.264+AAC test clip into stream from base and
// returns the fragments stored.
func (b *box) record(t *testing.T, stream string, base time.Time) []index.Fragment {
	t.Helper()
	return b.recordSome(t, stream, base, nil)
}

// recordSome records the frames of the clip keep keeps (nil: all).
func (b *box) recordSome(t *testing.T, stream string, base time.Time, keep func(c *camsim.Clip, f *media.Frame) bool) []index.Fragment {
	t.Helper()
	c, err := camsim.ReadClip(filepath.Join("..", "..", "..", "testdata", "h264_aac.ts"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.idx.Stream(t.Context(), stream); errors.Is(err, index.ErrStreamNotFound) {
		if _, err := b.idx.CreateStream(t.Context(), index.Stream{Name: stream}); err != nil {
			t.Fatal(err)
		}
	}
	now := base
	var mu sync.Mutex
	var stored []index.Fragment
	r := &fragment.Recorder{Stream: stream, Tracks: c.Tracks, Sink: b.idx, Sealer: b.kr,
		Now: func() time.Time { return now },
		OnStored: func(f index.Fragment) {
			mu.Lock()
			stored = append(stored, f)
			mu.Unlock()
		}}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range c.Frames {
		if keep != nil && !keep(c, f) {
			continue
		}
		now = base.Add(f.DTS)
		cf := *f
		r.WriteFrame(&cf)
	}
	r.Close()
	if len(stored) < 2 {
		t.Fatalf("stored %d fragments", len(stored))
	}
	return stored
}

// eventually polls fn until it returns nil, for at most 20 s.
func eventually(t *testing.T, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestForwarderOutageAndRestart: fragments recorded while the upstream
// refuses are sent once it answers, in order; the cursor is the last
// PERSISTED; a new forwarder on the same database (a restart) sends only
// what was recorded since, so the upstream has every frame once.
func TestForwarderOutageAndRestart(t *testing.T) {
	for _, batch := range []int{1, 4} {
		t.Run(fmt.Sprintf("batch%d", batch), func(t *testing.T) { testOutageAndRestart(t, batch) })
	}
}

func testOutageAndRestart(t *testing.T, batch int) {
	b := openBox(t)
	rec, up := newUpstream(t)
	var down atomic.Bool
	down.Store(true)
	// The upstream answers 503 while down.
	front := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"__type":"ServiceUnavailableException","message":"down"}`)
			return
		}
		up.Config.Handler.ServeHTTP(w, r)
	}))

	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	first := b.record(t, "cam1", base)
	start := func() *Forwarder {
		f := &Forwarder{Index: b.idx, Space: b.sp, Opener: b.kr, Client: testClient(front.URL), Stream: "cam1", Remote: "edge",
			Batch: batch, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Rescan: 50 * time.Millisecond}
		if err := f.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	f := start()
	eventually(t, "failures while the upstream is down", func() error {
		if st := f.Stats(); st.Failures < 2 || st.Backlog != int64(len(first)) || st.Fragments != 0 || st.Lag == 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	if _, _, ok, err := f.Cursor(); ok || err != nil {
		t.Fatalf("cursor set while nothing was persisted: %v %v", ok, err)
	}
	down.Store(false)
	eventually(t, "the backlog forwarded", func() error {
		if st := f.Stats(); st.Fragments != uint64(len(first)) || st.Backlog != 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	last := first[len(first)-1]
	if srv, n, ok, err := f.Cursor(); err != nil || !ok || n != last.Number || !srv.Equal(last.ServerTime) {
		t.Fatalf("cursor %v %d %v %v, want the last fragment %d", srv, n, ok, err, last.Number)
	}
	f.Close()

	// A restart: a new forwarder on the same space sends only the new
	// recording.
	second := b.record(t, "cam1", base.Add(time.Minute))
	f = start()
	f.Notify(second[0])
	eventually(t, "the new recording forwarded", func() error {
		if st := f.Stats(); st.Fragments != uint64(len(second)) || st.Backlog != 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	frames := 0
	for _, fr := range append(first, second...) {
		frames += fr.Frames
	}
	walls := rec.walls()
	if len(walls) != frames {
		t.Fatalf("the upstream recorded %d frames, %d were stored", len(walls), frames)
	}
	if !walls[0].Equal(first[0].ProducerTime.Truncate(time.Millisecond)) {
		t.Errorf("first frame upstream at %v, the first fragment's producer time is %v", walls[0], first[0].ProducerTime)
	}
}

// TestForwarderUploadWindow: outside its windows the forwarder sends
// nothing but counts the backlog; once the (injected) clock is inside one
// of them, a Notify sends the backlog.
func TestForwarderUploadWindow(t *testing.T) {
	b := openBox(t)
	rec, up := newUpstream(t)
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	stored := b.record(t, "cam1", base)
	var mu sync.Mutex
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.Local)
	ws, err := uplink.ParseWindows("22:00-06:00,13:00-14:00")
	if err != nil {
		t.Fatal(err)
	}
	f := &Forwarder{Index: b.idx, Space: b.sp, Opener: b.kr, Client: testClient(up.URL), Stream: "cam1",
		Windows: ws, Rescan: time.Hour, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	eventually(t, "the backlog counted outside the windows", func() error {
		if st := f.Stats(); st.Backlog != int64(len(stored)) {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	// Another round, still closed: nothing is sent.
	f.Notify(stored[0])
	eventually(t, "a second round", func() error {
		f.Notify(stored[0])
		if st := f.Stats(); st.Sessions != 0 || len(rec.walls()) != 0 {
			t.Fatalf("sent outside the windows: %+v", st)
		}
		if len(f.kick) != 0 {
			return errors.New("the kick is not taken yet")
		}
		return nil
	})
	mu.Lock()
	now = now.Add(90 * time.Minute) // 13:30, inside the second window
	mu.Unlock()
	f.Notify(stored[0])
	eventually(t, "the backlog sent inside a window", func() error {
		if st := f.Stats(); st.Fragments != uint64(len(stored)) || st.Backlog != 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
}

// TestForwarderBandwidthCap: the cluster bytes are paced by the token
// bucket (one second's bytes of burst): what the injected sleeps add up
// to is the bytes beyond the burst and the last cluster, at the cap. Every
// frame arrives.
func TestForwarderBandwidthCap(t *testing.T) {
	b := openBox(t)
	rec, up := newUpstream(t)
	stored := b.record(t, "cam1", time.Now().Add(-time.Hour).Truncate(time.Second))
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	var slept time.Duration
	const limit = 20_000 // bytes/s
	f := &Forwarder{Index: b.idx, Space: b.sp, Opener: b.kr, Client: testClient(up.URL), Stream: "cam1",
		BandwidthLimit: limit, Rescan: time.Hour, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}
	f.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		slept += d
		now = now.Add(d)
		return ctx.Err()
	}
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	eventually(t, "the recording forwarded", func() error {
		if st := f.Stats(); st.Fragments != uint64(len(stored)) || st.Backlog != 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	st := f.Stats()
	frames := 0
	for _, fr := range stored {
		frames += fr.Frames
	}
	if n := len(rec.walls()); n != frames {
		t.Fatalf("upstream recorded %d frames, %d stored", n, frames)
	}
	mu.Lock()
	defer mu.Unlock()
	// At most: every byte at the cap; at least: all but the burst and
	// the largest cluster (the last one's bytes are not waited for).
	upper := time.Duration(float64(st.Bytes) / limit * float64(time.Second))
	if st.Bytes < 3*limit || slept > upper || slept < upper-time.Second-time.Duration(float64(maxCluster(t, b, stored))/limit*float64(time.Second)) {
		t.Fatalf("slept %v for %d bytes at %d B/s (at most %v)", slept, st.Bytes, limit, upper)
	}
	if st.Sessions != 1 {
		t.Errorf("%d sessions, want 1 (one batch)", st.Sessions)
	}
}

func maxCluster(t *testing.T, b *box, frags []index.Fragment) (n int) {
	t.Helper()
	for _, fr := range frags {
		n = max(n, int(fr.Size))
	}
	return n
}
