package archive

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// memBucket is a Bucket in memory.
type memBucket struct {
	mu   sync.Mutex
	objs map[string][]byte
	meta map[string]map[string]string
}

func (m *memBucket) Put(_ context.Context, key string, body []byte, meta map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.objs == nil {
		m.objs, m.meta = map[string][]byte{}, map[string]map[string]string{}
	}
	m.objs[key] = append([]byte(nil), body...)
	m.meta[key] = maps.Clone(meta)
	return nil
}

func (m *memBucket) Dirs(_ context.Context, prefix string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	for k := range m.objs {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		if i := strings.Index(rest, "/"); i >= 0 {
			rest = rest[:i+1]
		}
		seen[prefix+rest] = true
	}
	return slices.Sorted(maps.Keys(seen)), nil
}

func (m *memBucket) Meta(_ context.Context, key string) (map[string]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[key]; !ok {
		return nil, fmt.Errorf("%s: %w", key, ErrNoObject)
	}
	return maps.Clone(m.meta[key]), nil
}

func (m *memBucket) ReplaceMeta(_ context.Context, key string, meta map[string]string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.objs[key]; !ok {
		return fmt.Errorf("%s: %w", key, ErrNoObject)
	}
	m.meta[key] = maps.Clone(meta)
	return nil
}

func (m *memBucket) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, key)
	return nil
}

func (m *memBucket) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objs[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, ErrNoObject)
	}
	return b, nil
}

// sizedBucket records the size of every PUT, in order.
type sizedBucket struct {
	memBucket
	smu                 sync.Mutex
	sizes               []int64
	manifests, fragment int64
}

func (s *sizedBucket) Put(ctx context.Context, key string, body []byte, meta map[string]string) error {
	s.smu.Lock()
	s.sizes = append(s.sizes, int64(len(body)))
	if strings.HasSuffix(key, "/manifest.json") {
		s.manifests += int64(len(body))
	} else {
		s.fragment += int64(len(body))
	}
	s.smu.Unlock()
	return s.memBucket.Put(ctx, key, body, meta)
}

// TestUplinkPacing: outside its windows the archiver waits for the first
// to open; then uploads, fragments and manifests alike, are spaced so
// their bytes average the cap. The clock is injected and the waits are
// recorded, not slept.
func TestUplinkPacing(t *testing.T) {
	b := openBox(t, "", seal.NewMasterKey())
	stored := b.record(t, "cam1", time.Now().UTC().Add(-time.Minute).Truncate(time.Second))
	var mu sync.Mutex
	now := time.Date(2026, 12, 2, 0, 30, 0, 0, time.UTC)
	var waits []time.Duration
	// Two windows: the one that opens first counts.
	w, err := ParseWindows("03:00-05:00, 01:00-02:00")
	if err != nil || len(w) != 2 {
		t.Fatalf("ParseWindows: %v %v", w, err)
	}
	bk := &sizedBucket{}
	a := &Archiver{Index: b.idx, Space: b.sp, Bucket: bk, Keys: b.idx.Keys(), Sealed: true, ApplianceID: "pi-7",
		Window: w, BandwidthLimit: 1000, Rescan: time.Hour,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}
	a.sleep = func(_ context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		now = now.Add(d)
		return nil
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	archived(t, a, uint64(len(stored)))
	a.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(waits) == 0 || waits[0] != 30*time.Minute {
		t.Fatalf("first wait %v, want the 30 minutes until the window", waits)
	}
	var paced time.Duration
	for _, d := range waits[1:] {
		paced += d
	}
	// Every byte but the last upload's is paid for before the next one,
	// the manifests' too.
	bk.smu.Lock()
	defer bk.smu.Unlock()
	var total int64
	for _, n := range bk.sizes {
		total += n
	}
	last := bk.sizes[len(bk.sizes)-1]
	want := time.Duration(float64(total-last) / 1000 * float64(time.Second))
	slack := time.Duration(len(bk.sizes)) * time.Millisecond
	if paced < want-slack || paced > want+slack {
		t.Fatalf("paced %v for %d bytes (%d of manifests) at 1000 B/s, want about %v", paced, total, bk.manifests, want)
	}
	if time.Duration(bk.manifests)*time.Millisecond < 2*slack || bk.fragment < int64(len(stored)) {
		t.Fatalf("%d bytes of manifests, %d of fragments: too few to tell", bk.manifests, bk.fragment)
	}
}

// TestManifestInterval: the manifest of the hour being filled is written
// at once, then no more often than ManifestInterval, and when it has
// passed the next pass writes every entry.
func TestManifestInterval(t *testing.T) {
	b := openBox(t, "", seal.NewMasterKey())
	base := time.Now().UTC().Truncate(time.Hour).Add(time.Minute)
	first := b.record(t, "cam1", base)
	var mu sync.Mutex
	now := base.Add(5 * time.Minute)
	bk := &memBucket{}
	a := &Archiver{Index: b.idx, Space: b.sp, Bucket: bk, Keys: b.idx.Keys(), Sealed: true, ApplianceID: "pi-7",
		ManifestInterval: time.Hour, Rescan: time.Hour,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	archived(t, a, uint64(len(first)))
	listed := func() int {
		body, _ := bk.Get(t.Context(), ManifestKey("", "pi-7", "cam1", base))
		m, err := ParseManifest(body)
		if err != nil {
			t.Fatal(err)
		}
		return len(m.Fragments)
	}
	if n := listed(); n != len(first) || a.Stats().Manifests != 1 {
		t.Fatalf("first manifest: %d entries, %d writes", n, a.Stats().Manifests)
	}
	second := b.record(t, "cam1", base.Add(2*time.Minute))
	a.Notify(second[0])
	testtool.WaitFor(t, "the second recording", func() bool { return a.Stats().Objects == uint64(len(first)+len(second)) && a.Stats().Backlog == 0 })
	if n := listed(); n != len(first) || a.Stats().Manifests != 1 {
		t.Fatalf("within the interval: %d entries, %d writes", n, a.Stats().Manifests)
	}
	mu.Lock()
	now = now.Add(time.Hour) // the interval has passed (the hour of the fragments is not complete)
	mu.Unlock()
	a.Notify(second[0])
	testtool.WaitFor(t, "the manifest after the interval", func() bool { return a.Stats().Manifests == 2 })
	if n := listed(); n != len(first)+len(second) {
		t.Fatalf("after the interval: %d entries, want %d", n, len(first)+len(second))
	}
}
