package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinedge/kinedge/dataplane/video/replay"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
)

// memArchive is an Archive on the fragments of an index: the archive of
// the appliance that recorded them, all archived. It counts the reads of
// fragments and remembers the last range read.
type memArchive struct {
	idx *index.Index
	kr  *seal.Keyring

	mu         sync.Mutex
	reads      int
	start, end time.Time
}

func (m *memArchive) Streams(ctx context.Context) ([]string, error) {
	return []string{"cam1"}, nil
}

func (m *memArchive) Archived(ctx context.Context, stream string) (func(time.Time, uint64) bool, error) {
	return func(time.Time, uint64) bool { return true }, nil
}

// read returns the reads since the last call and the last range read.
func (m *memArchive) read() (n int, start, end time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, m.reads = m.reads, 0
	return n, m.start, m.end
}

func (m *memArchive) Fragments(ctx context.Context, stream string, q ArchiveQuery) ([]ArchivedFragment, error) {
	m.mu.Lock()
	m.reads++
	m.start, m.end = q.Start, q.End
	m.mu.Unlock()
	src := &replay.Source{Store: m.idx, Opener: m.kr}
	var out []ArchivedFragment
	err := m.idx.Iterate(ctx, stream, index.Query{Start: q.Start, End: q.End}, func(f index.Fragment) error {
		if !q.Keep(f.ProducerTime) {
			return nil
		}
		if q.Limit > 0 && len(out) == q.Limit {
			return errStop
		}
		var codecs []string
		for _, t := range f.Tracks {
			codecs = append(codecs, t.Codec)
		}
		out = append(out, ArchivedFragment{Fragment: replay.Fragment{Number: f.Number, ServerTime: f.ServerTime,
			ProducerTime: f.ProducerTime, Duration: f.Duration, Codecs: codecs, From: src}, Size: f.Size, KeyID: f.KeyID})
		return nil
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return out, err
}

// evicted is an Index whose fragments up to number through are gone, as
// retention and eviction leave it: the oldest.
type evicted struct {
	*index.Index
	through uint64
}

func (e evicted) Iterate(ctx context.Context, stream string, q index.Query, fn func(index.Fragment) error) error {
	limit := q.Limit
	q.Limit = 0
	n := 0
	return e.Index.Iterate(ctx, stream, q, func(f index.Fragment) error {
		if f.Number <= e.through {
			return nil
		}
		if n++; limit > 0 && n > limit {
			return errStop
		}
		return fn(f)
	})
}

// Timeline merges the fragments left, exactly as Index.Timeline does.
func (e evicted) Timeline(ctx context.Context, stream string, q index.TimelineQuery) ([]index.Span, error) {
	var spans []index.Span
	err := e.Iterate(ctx, stream, index.Query{By: q.By, Start: q.Start.Add(-time.Minute), End: q.End}, func(f index.Fragment) error {
		at := f.ServerTime
		if q.By == index.ProducerTime {
			at = f.ProducerTime
		}
		if s, ok := (index.Span{Start: at, End: at.Add(f.Duration)}).Clip(q.Start, q.End); ok {
			spans = append(spans, s)
		}
		return nil
	})
	return index.MergeSpans(spans, q.Step), err
}

func (e evicted) Blob(ctx context.Context, number uint64) ([]byte, error) {
	if number <= e.through {
		return nil, errors.New("evicted")
	}
	return e.Index.Blob(ctx, number)
}

func getBody(t *testing.T, h http.Handler, path string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.Bytes()
}

// listAll pages through a fragments listing, limit at a time, from start
// to now, or (start zero) with no start and no end.
func listAll(t *testing.T, h http.Handler, start time.Time, limit int) []FragmentJSON {
	t.Helper()
	v := url.Values{}
	if !start.IsZero() {
		v.Set("start", start.Format(time.RFC3339Nano))
		v.Set("end", time.Now().Format(time.RFC3339Nano))
	}
	return listQuery(t, h, v, limit)
}

// listQuery pages through the fragments listing of query v, limit at a
// time.
func listQuery(t *testing.T, h http.Handler, v url.Values, limit int) []FragmentJSON {
	t.Helper()
	var all []FragmentJSON
	next := ""
	for range 100 {
		v.Set("limit", fmt.Sprint(limit))
		v.Set("next", next)
		path := "/v1/streams/cam1/fragments?" + v.Encode()
		code, body := getBody(t, h, path)
		if code != 200 {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		var page struct {
			Fragments []FragmentJSON `json:"fragments"`
			Next      string         `json:"next"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Fragments...)
		if page.Next == "" {
			return all
		}
		next = page.Next
	}
	t.Fatal("the listing does not end")
	return nil
}

// numbers returns the fragment numbers of a listing, in order.
func numbers(frags []FragmentJSON) string {
	var b strings.Builder
	for _, f := range frags {
		fmt.Fprintf(&b, "%s ", f.FragmentNumber)
	}
	return b.String()
}

// TestTieredReplay lists and replays a recording whose fragments are all
// local, half evicted, or none local (a fresh appliance), with the
// archive as the second tier: the same fragments in the same order, and
// the same MKV byte for byte, with a range or without (the whole
// history). The archive is read only for what is older than the oldest
// local fragment: never when all is local.
func TestTieredReplay(t *testing.T) {
	idx, kr, base, n := recordedIndex(t)
	arch := &memArchive{idx: idx, kr: kr}
	half := evicted{idx, 0}
	oldest := map[string]time.Time{}
	var first time.Time
	if err := idx.Iterate(t.Context(), "cam1", index.Query{}, func(f index.Fragment) error {
		if first.IsZero() {
			first = f.ServerTime
		}
		if half.through == 0 || f.Number <= uint64(n/2) {
			half.through = f.Number
		} else if oldest["half evicted"].IsZero() {
			oldest["half evicted"] = f.ServerTime
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	mux := func(h *Handler) *http.ServeMux {
		m := http.NewServeMux()
		h.Register(m)
		return m
	}
	orig := mux(&Handler{Index: idx, Opener: kr})
	media := fmt.Sprintf("/v1/streams/cam1/media?start=%s&end=%s&format=mkv",
		url.QueryEscape(base.Format(time.RFC3339)), url.QueryEscape(time.Now().Format(time.RFC3339)))
	code, want := getBody(t, orig, media)
	if code != 200 {
		t.Fatalf("original replay: %d %s", code, want)
	}

	// Listings by producer time: of a range inside the recording, and of
	// everything; as the original index lists them.
	var producer []time.Time
	if err := idx.Iterate(t.Context(), "cam1", index.Query{By: index.ProducerTime}, func(f index.Fragment) error {
		producer = append(producer, f.ProducerTime)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var byProducer []struct{ start, end, want string }
	for _, r := range [][2]string{
		{producer[1].Format(time.RFC3339Nano), producer[len(producer)-2].Format(time.RFC3339Nano)},
		{"", ""},
	} {
		v := url.Values{"by": {"producer"}, "start": {r[0]}, "end": {r[1]}}
		frags := listQuery(t, orig, v, 1000)
		if len(frags) < 2 {
			t.Fatalf("original listing by producer time %v: %d fragments", r, len(frags))
		}
		byProducer = append(byProducer, struct{ start, end, want string }{r[0], r[1], numbers(frags)})
	}

	fresh, err := index.Open(index.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fresh.Close() })
	freshKR := &seal.Keyring{Store: &seal.MemKeyStore{}, Master: kr.Master}

	for _, c := range []struct {
		name          string
		h             *Handler
		local, remote int // fragments marked local, and archived
	}{
		{"all local", &Handler{Index: idx, Opener: kr, Archive: arch}, n, n},
		{"half evicted", &Handler{Index: half, Opener: kr, Archive: arch}, n - n/2, n},
		{"fresh appliance", &Handler{Index: fresh, Opener: freshKR, Archive: arch}, 0, n},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := mux(c.h)
			for _, lc := range []struct {
				limit int
				base  time.Time
			}{{1000, base.Add(-time.Hour)}, {2, base.Add(-time.Hour)}, {1000, time.Time{}}, {3, time.Time{}}} {
				limit := lc.limit
				arch.read()
				frags := listAll(t, h, lc.base, limit)
				if len(frags) != n {
					t.Fatalf("limit %d, start %v: listed %d fragments, want %d", limit, lc.base, len(frags), n)
				}
				reads, _, end := arch.read()
				switch {
				case c.local == n && !lc.base.IsZero() && (reads == 0 || !end.Before(base)):
					t.Fatalf("limit %d: %d archive reads, the last up to %v; all is local from %v", limit, reads, end, base)
				case c.local < n && c.local > 0 && (reads == 0 || !end.Before(oldest[c.name])):
					t.Fatalf("limit %d: %d archive reads, the last up to %v; the oldest local fragment is at %v", limit, reads, end, oldest[c.name])
				}
				local, remote := 0, 0
				for i, f := range frags {
					if i > 0 && !frags[i-1].ServerTimestamp.Before(f.ServerTimestamp) {
						t.Fatalf("fragment %d out of order or listed twice", i)
					}
					if f.Local {
						local++
					}
					if f.Archived {
						remote++
					}
				}
				if local != c.local || remote != c.remote {
					t.Fatalf("limit %d: %d local, %d archived; want %d, %d", limit, local, remote, c.local, c.remote)
				}
			}
			// By producer time, with and without a range: what the
			// original index lists, in its order.
			for _, pc := range byProducer {
				for _, limit := range []int{1000, 2} {
					got := listQuery(t, h, url.Values{"by": {"producer"}, "start": {pc.start}, "end": {pc.end}}, limit)
					if numbers(got) != pc.want {
						t.Fatalf("by producer time from %q to %q, limit %d: fragments %s; want %s", pc.start, pc.end, limit, numbers(got), pc.want)
					}
				}
			}
			if c.local == n {
				// A listing of local fragments only reads nothing of the
				// archive.
				arch.read()
				frags := listAll(t, h, first.Add(time.Nanosecond), 1000)
				if reads, _, _ := arch.read(); reads != 0 || len(frags) != n-1 {
					t.Fatalf("listing from the second fragment: %d fragments, %d archive reads", len(frags), reads)
				}
			}
			code, got := getBody(t, h, media)
			if code != 200 || !bytes.Equal(got, want) {
				t.Fatalf("tiered replay: %d, %d bytes; the original: %d bytes", code, len(got), len(want))
			}
			code, body := getBody(t, h, "/v1/streams/cam1")
			if code != 200 {
				t.Fatalf("describe: %d %s", code, body)
			}
			code, body = getBody(t, h, "/v1/streams")
			if code != 200 || !bytes.Contains(body, []byte(`"cam1"`)) {
				t.Fatalf("streams: %d %s", code, body)
			}
			// The timeline: the original's ranges, the part only the
			// archive holds marked archived.
			tl := func(h http.Handler) TimelineJSON {
				t.Helper()
				v := url.Values{"start": {base.Add(-time.Hour).Format(time.RFC3339Nano)}, "end": {time.Now().Format(time.RFC3339Nano)}, "step": {"1s"}}
				code, body := getBody(t, h, "/v1/streams/cam1/timeline?"+v.Encode())
				if code != 200 {
					t.Fatalf("timeline: %d %s", code, body)
				}
				var js TimelineJSON
				if err := json.Unmarshal(body, &js); err != nil {
					t.Fatal(err)
				}
				return js
			}
			wantTL, gotTL := tl(orig), tl(h)
			if len(wantTL.Ranges) == 0 || !slices.Equal(gotTL.Ranges, wantTL.Ranges) {
				t.Fatalf("timeline ranges %v; the original's %v", gotTL.Ranges, wantTL.Ranges)
			}
			switch {
			case c.local == n && len(gotTL.Archived) != 0:
				t.Fatalf("all local, archived spans %v", gotTL.Archived)
			case c.local == 0 && !slices.Equal(gotTL.Archived, gotTL.Ranges):
				t.Fatalf("fresh appliance: archived spans %v, ranges %v", gotTL.Archived, gotTL.Ranges)
			case c.local > 0 && c.local < n && (len(gotTL.Archived) != 1 || !gotTL.Archived[0].Start.Equal(gotTL.Ranges[0].Start) ||
				gotTL.Archived[0].End.After(oldest[c.name]) || gotTL.Archived[0].End.Before(oldest[c.name].Add(-10*time.Second))):
				t.Fatalf("half evicted: archived spans %v; the oldest local fragment is at %v", gotTL.Archived, oldest[c.name])
			}
		})
	}
	// Without the archive the fresh appliance knows nothing.
	if code, _ := getBody(t, mux(&Handler{Index: fresh, Opener: freshKR}), media); code != 404 {
		t.Fatalf("fresh appliance without archive: %d", code)
	}
}

// TestTieredListingByProducerTime: a camera whose clock is 40 minutes
// behind; its archived fragments are found by their producer times
// (within ProducerSkew of the server times the manifests are by), merged
// with the local ones in producer-time order, with a range and without;
// beyond ProducerSkew they are not (the documented limit).
func TestTieredListingByProducerTime(t *testing.T) {
	ctx := t.Context()
	idx, err := index.Open(index.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	if _, err := idx.CreateStream(ctx, index.Stream{Name: "cam1"}); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	const n = 8
	var producer []time.Time
	for i := range n {
		st := base.Add(time.Duration(i) * 2 * time.Second)
		producer = append(producer, st.Add(-40*time.Minute))
		f := index.Fragment{Number: uint64(i + 1), Stream: "cam1", ServerTime: st, ProducerTime: producer[i], Duration: 2 * time.Second}
		if err := idx.PutFragment(ctx, f, []byte("sealed")); err != nil {
			t.Fatal(err)
		}
	}
	arch := &memArchive{idx: idx}
	fresh, err := index.Open(index.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fresh.Close() })
	for _, c := range []struct {
		name string
		ix   Index
		skew time.Duration
		want string // from producer[2] to producer[5]
		all  int
	}{
		{"half evicted", evicted{idx, n / 2}, 0, "3 4 5 6 ", n},
		{"fresh appliance", fresh, 0, "3 4 5 6 ", n},
		{"fresh appliance, clock off by more than the skew", fresh, 30 * time.Minute, "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := http.NewServeMux()
			(&Handler{Index: c.ix, Archive: arch, ProducerSkew: c.skew}).Register(m)
			for _, limit := range []int{1000, 1} {
				v := url.Values{"by": {"producer"}, "start": {producer[2].Format(time.RFC3339Nano)}, "end": {producer[5].Format(time.RFC3339Nano)}}
				if c.want == "" {
					if code, body := getBody(t, m, "/v1/streams/cam1/fragments?"+v.Encode()); code != 404 && !bytes.Contains(body, []byte(`"fragments": []`)) {
						t.Fatalf("limit %d: %d %s", limit, code, body)
					}
					continue
				}
				if got := numbers(listQuery(t, m, v, limit)); got != c.want {
					t.Fatalf("limit %d: fragments %s; want %s", limit, got, c.want)
				}
				if got := listQuery(t, m, url.Values{"by": {"producer"}}, limit); len(got) != c.all {
					t.Fatalf("limit %d, no range: %d fragments; want %d", limit, len(got), c.all)
				}
			}
		})
	}
}

// TestTierDestroyedKeyIsGone: archived media whose data key was destroyed
// (crypto-shredded) is answered 410 Gone naming the key, not 500.
func TestTierDestroyedKeyIsGone(t *testing.T) {
	idx, kr, base, _ := recordedIndex(t)
	arch := &memArchive{idx: idx, kr: kr}
	fresh, err := index.Open(index.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fresh.Close() })
	var ids []string
	if err := idx.Iterate(t.Context(), "cam1", index.Query{}, func(f index.Fragment) error {
		ids = append(ids, f.KeyID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := kr.Store.DestroyKey(t.Context(), id, "stream cam1 deleted"); err != nil {
			t.Fatal(err)
		}
	}
	kr.Forget(ids...)
	m := http.NewServeMux()
	(&Handler{Index: fresh, Opener: &seal.Keyring{Store: &seal.MemKeyStore{}, Master: kr.Master}, Archive: arch}).Register(m)
	media := fmt.Sprintf("/v1/streams/cam1/media?start=%s&end=%s&format=mkv",
		url.QueryEscape(base.Format(time.RFC3339)), url.QueryEscape(time.Now().Format(time.RFC3339)))
	code, body := getBody(t, m, media)
	if code != http.StatusGone || !strings.Contains(string(body), "data key "+ids[0]+" was destroyed: stream cam1 deleted") {
		t.Fatalf("media of a shredded key: %d %s", code, body)
	}
}
