package sources

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/ingest/camsim"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/rtsp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*defaultPolicy[...]).processItems"),
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*Cache[...]).processItems"),
		goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
	)
}

// fakeDisk plays the filesystem under the store: full when another
// program takes it all.
type fakeDisk struct{ full atomic.Bool }

func (d *fakeDisk) space(string) (store.DiskSpace, error) {
	const total = 8 << 30
	if d.full.Load() {
		return store.DiskSpace{Total: total}, nil
	}
	return store.DiskSpace{Total: total, Free: total / 2}, nil
}

// testEnv is a real store (on disk, so the budget applies, with the
// DENY_NEW_MEDIA policy), index and keyring.
type testEnv struct {
	db     *store.DB
	idx    *index.Index
	disk   *fakeDisk
	dir    string
	sealer *seal.Keyring
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	e := &testEnv{disk: &fakeDisk{}, dir: t.TempDir()}
	var err error
	e.db, err = store.Open(store.Options{
		Dir: filepath.Join(e.dir, "db"), NoSync: true, MemTableSize: 1 << 20, ValueLogFileSize: 1 << 20,
		BlockCacheSize: 1 << 20, IndexCacheSize: 1 << 20, CheckInterval: time.Hour, Disk: e.disk.space,
		Budget: store.Budget{Policy: store.DenyNewMedia, MinFreeBytes: 64 << 20, MinFreePercent: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	e.idx, err = index.Open(index.Options{DB: e.db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.idx.Close() })
	e.sealer = &seal.Keyring{Store: e.idx.Keys(), Master: seal.NewMasterKey()}
	if err := e.sealer.Initialize(t.Context()); err != nil {
		t.Fatal(err)
	}
	return e
}

// manager starts a Manager on e; Close runs at the end of the test.
func (e *testEnv) manager(t *testing.T, opts ...func(*Manager)) *Manager {
	t.Helper()
	m := &Manager{Index: e.idx, DB: e.db, Sealer: e.sealer, AutoCreate: true, Dir: e.dir}
	for _, o := range opts {
		o(m)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// session plays an ingest session (an rtsp server session): Kick closes
// its Writer from another goroutine, as gortsplib does.
type session struct {
	t       *testing.T
	req     *rtsp.PublishRequest
	mu      sync.Mutex
	w       media.Writer
	kicked  chan string
	closing sync.WaitGroup
}

var clip = sync.OnceValues(func() (*camsim.Clip, error) {
	return camsim.ReadClip(filepath.Join("..", "..", "testdata", "h264_aac.ts"))
})

func publish(t *testing.T, m *Manager, name string) (*session, error) {
	t.Helper()
	c, err := clip()
	if err != nil {
		t.Fatal(err)
	}
	s := &session{t: t, kicked: make(chan string, 1)}
	tracks := make([]*media.Track, len(c.Tracks))
	for i, tr := range c.Tracks {
		tracks[i] = tr.Clone()
	}
	s.req = &rtsp.PublishRequest{Stream: name, Tracks: tracks, RemoteAddr: "192.0.2.1:5000", Transport: rtsp.TransportTCP,
		Kick: func(reason string) {
			select {
			case s.kicked <- reason:
			default:
			}
			s.closing.Add(1)
			go func() {
				defer s.closing.Done()
				s.close()
			}()
		}}
	w, err := m.Publish(s.req)
	if err != nil {
		return nil, err
	}
	s.w = w
	t.Cleanup(func() { s.close(); s.closing.Wait() })
	return s, nil
}

// write sends the clip's frames up to d of media time.
func (s *session) write(d time.Duration) {
	c, _ := clip()
	for _, f := range c.Frames {
		if f.DTS > d {
			break
		}
		fr := *f
		s.w.WriteFrame(&fr)
	}
}

func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.Close()
}

func fragments(t *testing.T, idx *index.Index, name string) []index.Fragment {
	t.Helper()
	fs, _, err := idx.List(t.Context(), name, index.Query{})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestPublishRecords(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var events []index.Fragment
	m := e.manager(t, func(m *Manager) {
		m.OnStored = func(f index.Fragment) { mu.Lock(); events = append(events, f); mu.Unlock() }
	})
	s, err := publish(t, m, "cam1")
	if err != nil {
		t.Fatal(err)
	}
	s.write(5 * time.Second)
	s.close()

	st, err := e.idx.Stream(t.Context(), "cam1")
	if err != nil || st.RetentionHours != index.DefaultRetentionHours {
		t.Fatalf("video stream created on publish: %+v %v", st, err)
	}
	frags := fragments(t, e.idx, "cam1")
	if len(frags) < 2 {
		t.Fatalf("%d fragments stored, want at least 2 of 5 s", len(frags))
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != len(frags) || events[0].Number != frags[0].Number || events[0].Size != frags[0].Size {
		t.Fatalf("OnStored saw %d fragments (%+v), the index holds %d", len(events), events, len(frags))
	}
	if frags[0].Gap || len(frags[0].Tracks) != 2 || frags[0].Tracks[0].Codec != "H264" {
		t.Fatalf("first fragment %+v", frags[0])
	}
	if got := m.RecorderStats()["cam1"].FragmentsStored.Load(); got != uint64(len(frags)) {
		t.Fatalf("RecorderStats: %d fragments stored, want %d", got, len(frags))
	}
}

func TestPublishUnknownStreamWithoutAutoCreate(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t, func(m *Manager) { m.AutoCreate = false })
	if _, err := publish(t, m, "cam1"); !errors.Is(err, rtsp.ErrStreamNotFound) {
		t.Fatalf("publish: %v, want ErrStreamNotFound", err)
	}
	if _, err := e.idx.CreateStream(t.Context(), index.Stream{Name: "cam1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := publish(t, m, "cam1"); err != nil {
		t.Fatalf("publish to an existing video stream: %v", err)
	}
}

func TestTakeover(t *testing.T) {
	for _, takeover := range []bool{false, true} {
		t.Run(map[bool]string{false: "off", true: "on"}[takeover], func(t *testing.T) {
			e := newEnv(t)
			m := e.manager(t, func(m *Manager) { m.Takeover = takeover })
			first, err := publish(t, m, "cam1")
			if err != nil {
				t.Fatal(err)
			}
			first.write(3 * time.Second)
			second, err := publish(t, m, "cam1")
			if !takeover {
				if !errors.Is(err, rtsp.ErrStreamBusy) {
					t.Fatalf("second publish: %v, want ErrStreamBusy", err)
				}
				select {
				case r := <-first.kicked:
					t.Fatalf("first session kicked without takeover: %s", r)
				default:
				}
				return
			}
			if err != nil {
				t.Fatalf("takeover: %v", err)
			}
			select {
			case r := <-first.kicked:
				if !strings.Contains(r, "took over") {
					t.Fatalf("kick reason %q", r)
				}
			default:
				t.Fatal("the first session was not kicked")
			}
			// The first session's last fragment was stored before the
			// newcomer started: it resumes after it.
			before := fragments(t, e.idx, "cam1")
			if len(before) == 0 {
				t.Fatal("the kicked session stored nothing")
			}
			second.write(3 * time.Second)
			second.close()
			after := fragments(t, e.idx, "cam1")
			last := before[len(before)-1]
			next := after[len(before)]
			if !next.Gap || next.ServerTime.Before(last.ServerTime.Add(last.Duration)) {
				t.Fatalf("the newcomer's first fragment %+v overlaps or continues the old one's last %+v", next, last)
			}
		})
	}
}

// TestResumeAfterPreviousSession: a camera that reconnects at once (its
// media clock restarts) never places a frame before the end of what it
// stored before, and its first fragment is marked as after a gap.
func TestResumeAfterPreviousSession(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t)
	s1, err := publish(t, m, "cam1")
	if err != nil {
		t.Fatal(err)
	}
	// Fed faster than real time: the session's fragments reach seconds
	// past the wall clock, where a naive second session would start.
	s1.write(6 * time.Second)
	s1.close()
	first := fragments(t, e.idx, "cam1")
	end := first[len(first)-1].ServerTime.Add(first[len(first)-1].Duration)

	s2, err := publish(t, m, "cam1")
	if err != nil {
		t.Fatal(err)
	}
	s2.write(3 * time.Second)
	s2.close()
	all := fragments(t, e.idx, "cam1")
	if len(all) <= len(first) {
		t.Fatal("the second session stored nothing")
	}
	next := all[len(first)]
	if !next.Gap {
		t.Errorf("first fragment of the second session is not marked as after a gap: %+v", next)
	}
	if next.ServerTime.Before(end) {
		t.Errorf("second session starts at %v, before the end of the first %v (NotBefore)", next.ServerTime, end)
	}
}

// TestDenyNewMedia: under DENY_NEW_MEDIA a session whose fragment the
// budget refuses is ended (the camera learns it at once), and new
// sessions are refused with the reason (RTSP 503).
func TestDenyNewMedia(t *testing.T) {
	e := newEnv(t)
	stored := make(chan struct{}, 16)
	m := e.manager(t, func(m *Manager) { m.OnStored = func(index.Fragment) { stored <- struct{}{} } })
	s, err := publish(t, m, "cam1")
	if err != nil {
		t.Fatal(err)
	}
	s.write(3 * time.Second)
	select { // the first fragment is stored; the second is open
	case <-stored:
	case <-time.After(time.Minute):
		t.Fatal("no fragment stored in a minute")
	}
	e.disk.full.Store(true)
	if st := e.db.Check(); st.State != store.StateDenying {
		t.Fatalf("storage state %s, want denying", st.State)
	}
	s.close() // the last fragment is refused
	select {
	case r := <-s.kicked:
		if !strings.Contains(r, "DENY_NEW_MEDIA") {
			t.Fatalf("kick reason %q", r)
		}
	default:
		t.Fatalf("the session was not ended when the budget refused its fragment; storage %+v, store errors %d", e.db.Status(), m.RecorderStats()["cam1"].StoreErrors.Load())
	}
	if m.RecorderStats()["cam1"].StoreErrors.Load() == 0 {
		t.Fatal("the refused fragment was not counted")
	}
	_, err = publish(t, m, "cam1")
	var ue *rtsp.UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, rtsp.ErrUnavailable) || !strings.Contains(ue.Reason, "DENY_NEW_MEDIA") {
		t.Fatalf("publish on a denying store: %v", err)
	}
}

func TestCloseKicksSessions(t *testing.T) {
	e := newEnv(t)
	m := e.manager(t)
	s, err := publish(t, m, "cam1")
	if err != nil {
		t.Fatal(err)
	}
	s.write(3 * time.Second)
	m.Close() // returns once the session stored its last fragment
	select {
	case <-s.kicked:
	default:
		t.Fatal("Close did not kick the session")
	}
	if got := len(fragments(t, e.idx, "cam1")); got < 2 {
		t.Fatalf("%d fragments after Close, want the open one finished too", got)
	}
	if _, err := publish(t, m, "cam1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after Close: %v", err)
	}
}

func TestStartValidates(t *testing.T) {
	err := (&Manager{Pulls: []Pull{{Name: "a/b", Source: "rtsp://h/x"}}}).Start()
	for _, want := range []string{"Index is required", "DB is required", "Sealer is required", "Dir is required", "Pulls[0]"} {
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), want) {
			t.Errorf("Start: %v, want %q", err, want)
		}
	}
	if _, err := (&Manager{}).Publish(&rtsp.PublishRequest{Stream: "cam1"}); err == nil {
		t.Error("Publish before Start succeeded")
	}
}
