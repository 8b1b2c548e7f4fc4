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
	"testing"
	"time"

	"github.com/kinedge/kinedge/dataplane/video/replay"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
)

// memArchive is an Archive on the fragments of an index: the archive of
// the appliance that recorded them.
type memArchive struct {
	idx *index.Index
	kr  *seal.Keyring
}

func (m memArchive) Streams(ctx context.Context) ([]string, error) {
	return []string{"cam1"}, nil
}

func (m memArchive) Fragments(ctx context.Context, stream string, start, end time.Time) ([]ArchivedFragment, error) {
	src := &replay.Source{Store: m.idx, Opener: m.kr}
	var out []ArchivedFragment
	err := m.idx.Iterate(ctx, stream, index.Query{Start: start, End: end}, func(f index.Fragment) error {
		var codecs []string
		for _, t := range f.Tracks {
			codecs = append(codecs, t.Codec)
		}
		out = append(out, ArchivedFragment{Fragment: replay.Fragment{Number: f.Number, ServerTime: f.ServerTime,
			ProducerTime: f.ProducerTime, Duration: f.Duration, Codecs: codecs, From: src}, Size: f.Size, KeyID: f.KeyID})
		return nil
	})
	return out, err
}

// evicted is an Index whose fragments with an odd number are gone.
type evicted struct {
	*index.Index
}

func (e evicted) Iterate(ctx context.Context, stream string, q index.Query, fn func(index.Fragment) error) error {
	return e.Index.Iterate(ctx, stream, q, func(f index.Fragment) error {
		if f.Number%2 == 1 {
			return nil
		}
		return fn(f)
	})
}

func (e evicted) Blob(ctx context.Context, number uint64) ([]byte, error) {
	if number%2 == 1 {
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

// listAll pages through a fragments listing, limit at a time.
func listAll(t *testing.T, h http.Handler, base time.Time, limit int) []FragmentJSON {
	t.Helper()
	var all []FragmentJSON
	next := ""
	for range 100 {
		path := fmt.Sprintf("/v1/streams/cam1/fragments?start=%s&end=%s&limit=%d&next=%s",
			url.QueryEscape(base.Add(-time.Hour).Format(time.RFC3339)), url.QueryEscape(time.Now().Format(time.RFC3339)), limit, url.QueryEscape(next))
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

// TestTieredReplay lists and replays a recording whose fragments are all
// local, half evicted, or none local (a fresh appliance), with the
// archive as the second tier: the same fragments in the same order, and
// the same MKV byte for byte.
func TestTieredReplay(t *testing.T) {
	idx, kr, base, n := recordedIndex(t)
	arch := memArchive{idx, kr}
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
		{"half evicted", &Handler{Index: evicted{idx}, Opener: kr, Archive: arch}, n / 2, n},
		{"fresh appliance", &Handler{Index: fresh, Opener: freshKR, Archive: arch}, 0, n},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := mux(c.h)
			for _, limit := range []int{1000, 2} {
				frags := listAll(t, h, base, limit)
				if len(frags) != n {
					t.Fatalf("limit %d: listed %d fragments, want %d", limit, len(frags), n)
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
				if local < c.local || local > c.local+1 || remote != c.remote {
					t.Fatalf("limit %d: %d local, %d archived; want %d, %d", limit, local, remote, c.local, c.remote)
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
		})
	}
	// Without the archive the fresh appliance knows nothing.
	if code, _ := getBody(t, mux(&Handler{Index: fresh, Opener: freshKR}), media); code != 404 {
		t.Fatalf("fresh appliance without archive: %d", code)
	}
}
