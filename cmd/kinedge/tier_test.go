package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/dataplane/video/replay"
	"github.com/kinedge/kinedge/firehose"
	"github.com/kinedge/kinedge/firehose/archive"
	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/ingest/camsim"
	"github.com/kinedge/kinedge/testdata/s3test"
)

// tierRig is an appliance's index and archive in process, with its video
// API on the tier, reading the bucket through a proxy that counts.
type tierRig struct {
	idx    *index.Index
	kr     *seal.Keyring
	arch   *archive.Archiver
	api    *httptest.Server
	proxy  *s3test.Proxy
	s3     *s3test.Server
	stored []index.Fragment
	hour   time.Time // the current hour; the recordings are the three before
}

// newTierRig records the test clip into cam1 at ten past each of the
// three hours before the current one, archives it (sealed or playable
// MKV) to versitygw and waits until every manifest is written.
func newTierRig(t *testing.T, sealed bool) *tierRig {
	t.Helper()
	srv := s3test.Start(t)
	srv.MakeBucket("footage")
	db, err := store.Open(store.Options{InMemory: true, NoSync: true, MemTableSize: 8 << 20, BlockCacheSize: 1 << 20, IndexCacheSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := index.Open(index.Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close(); db.Close() })
	space, err := db.Space("a/")
	if err != nil {
		t.Fatal(err)
	}
	kr := &seal.Keyring{Store: idx.Keys(), Master: seal.NewMasterKey()}
	if _, err := idx.CreateStream(t.Context(), index.Stream{Name: "cam1"}); err != nil {
		t.Fatal(err)
	}
	clip, err := camsim.ReadClip(filepath.Join("..", "..", "testdata", "h264_aac.ts"))
	if err != nil {
		t.Fatal(err)
	}
	rig := &tierRig{idx: idx, kr: kr, s3: srv, hour: time.Now().UTC().Truncate(time.Hour)}
	for i := 3; i >= 1; i-- {
		base := rig.hour.Add(-time.Duration(i)*time.Hour + 10*time.Minute)
		now := base
		r := &fragment.Recorder{Stream: "cam1", Tracks: clip.Tracks, Sink: idx, Sealer: kr,
			Now: func() time.Time { return now }, OnStored: func(f index.Fragment) { rig.stored = append(rig.stored, f) }}
		if err := r.Start(); err != nil {
			t.Fatal(err)
		}
		for _, f := range clip.Frames {
			now = base.Add(f.DTS)
			c := *f
			r.WriteFrame(&c)
		}
		r.Close()
	}
	s3cfg := firehose.S3Config{Endpoint: srv.Endpoint(), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey}
	bucket, err := archive.NewS3Bucket(s3cfg, "footage")
	if err != nil {
		t.Fatal(err)
	}
	rig.arch = &archive.Archiver{Index: idx, Space: space, Bucket: bucket, Keys: idx.Keys(), Opener: kr, Sealed: sealed,
		ApplianceID: "pi-7", Prefix: "video/", Rescan: 50 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	if err := rig.arch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rig.arch.Close() })
	idx.SetEvictionHold(rig.arch.ArchivedThrough)
	last := rig.stored[len(rig.stored)-1].ServerTime
	// Settled through the last fragment: every manifest is written.
	waitFor(t, time.Minute, "every fragment archived and in its manifest", func() error {
		if th, err := rig.arch.SettledThrough("cam1"); err != nil || !th.Equal(last) {
			return fmt.Errorf("settled through %v (%v), the last fragment is at %v", th, err, last)
		}
		return nil
	})
	rig.proxy = srv.Proxy(t)
	s3cfg.Endpoint = rig.proxy.Endpoint()
	counted, err := archive.NewS3Bucket(s3cfg, "footage")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{ApplianceID: "pi-7"}
	cfg.Archive.Prefix = "video/"
	mux := http.NewServeMux()
	(&videoapi.Handler{Index: idx, Opener: kr, Archive: newTier(counted, cfg, seal.MasterKeys{Active: kr.Master}, rig.arch)}).Register(mux)
	rig.api = httptest.NewServer(mux)
	t.Cleanup(rig.api.Close)
	return rig
}

func (rig *tierRig) get(t *testing.T, path string, q url.Values) []byte {
	t.Helper()
	resp, err := http.Get(rig.api.URL + path + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s: %s %v %.300s", path, resp.Status, err, body)
	}
	return body
}

// list returns cam1's fragments from start to now, and the S3 reads the
// listing made.
func (rig *tierRig) list(t *testing.T, start time.Time) ([]videoapi.FragmentJSON, []string) {
	t.Helper()
	return rig.listQuery(t, url.Values{"start": {start.Format(time.RFC3339Nano)}, "end": {time.Now().Format(time.RFC3339Nano)}})
}

// listQuery returns the fragments of a listing, paged through 4 at a
// time, and the S3 reads it made.
func (rig *tierRig) listQuery(t *testing.T, v url.Values) ([]videoapi.FragmentJSON, []string) {
	t.Helper()
	rig.proxy.Reads()
	var all []videoapi.FragmentJSON
	for range 100 {
		var page struct {
			Fragments []videoapi.FragmentJSON `json:"fragments"`
			Next      string                  `json:"next"`
		}
		if err := json.Unmarshal(rig.get(t, "/v1/streams/cam1/fragments", v), &page); err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Fragments...)
		if page.Next == "" {
			return all, rig.proxy.Reads()
		}
		v.Set("next", page.Next)
		v.Set("limit", "4")
	}
	t.Fatal("the listing does not end")
	return nil, nil
}

// media returns cam1's MKV from start to now, and the S3 reads it made.
func (rig *tierRig) media(t *testing.T, start time.Time) ([]byte, []string) {
	t.Helper()
	rig.proxy.Reads()
	body := rig.get(t, "/v1/streams/cam1/media", url.Values{"start": {start.Format(time.RFC3339Nano)}, "end": {time.Now().Format(time.RFC3339Nano)}, "format": {"mkv"}})
	return body, rig.proxy.Reads()
}

// localMKV replays every recorded fragment from the index before
// anything is evicted, as the appliance's media API does (with the
// duration and Cues); finished, as kinedge archive replay saves it (the
// SeekHead then pointed at the Cues).
func (rig *tierRig) localMKV(t *testing.T, finished bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	src := replay.Source{Store: rig.idx, Opener: rig.kr}
	first, last := rig.stored[0], rig.stored[len(rig.stored)-1]
	o := replay.MKVOptions{Title: "cam1", Duration: last.ServerTime.Add(last.Duration).Sub(first.ServerTime), Cues: true}
	if _, err := src.WriteMKVWith(t.Context(), &buf, "cam1", o, func(yield func(replay.Fragment, error) bool) {
		for _, f := range rig.stored {
			var codecs []string
			for _, tr := range f.Tracks {
				codecs = append(codecs, tr.Codec)
			}
			if !yield(replay.Fragment{Number: f.Number, ServerTime: f.ServerTime, ProducerTime: f.ProducerTime, Duration: f.Duration, Codecs: codecs}, nil) {
				return
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !finished {
		return buf.Bytes()
	}
	path := filepath.Join(t.TempDir(), "local.mkv")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := mkv.FinishFile(f, int64(buf.Len())); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// manifestReads returns the hours (HH) of the manifests among S3 reads.
func manifestReads(reqs []string) []string {
	var out []string
	for _, r := range reqs {
		u, err := url.QueryUnescape(r)
		if err != nil {
			u = r
		}
		if i := strings.Index(u, "/manifest.json"); i >= 2 {
			out = append(out, u[i-2:i])
		}
	}
	return out
}

// TestTierReadsTheBucketOnlyForWhatIsNotLocal: with the archive on
// (sealed, and playable MKV), the video API reads the bucket only for
// the part of a range older than the stream's oldest local fragment: a
// range that is all local makes no S3 request; after the oldest hour is
// evicted, a range across it reads only the manifests of the hours up to
// the oldest local fragment's, and a second time nothing; the merged
// listing marks every fragment right and the media is byte for byte the
// recording's; kinedge archive replay replays the plaintext archive with
// no master key. Requests are counted at a proxy in front of versitygw.
func TestTierReadsTheBucketOnlyForWhatIsNotLocal(t *testing.T) {
	for _, sealed := range []bool{true, false} {
		t.Run(fmt.Sprintf("sealed=%v", sealed), func(t *testing.T) {
			rig := newTierRig(t, sealed)
			first := rig.stored[0].ServerTime
			from := rig.hour.Add(-4 * time.Hour)
			want, wantPlain := rig.localMKV(t, false), rig.localMKV(t, true)

			// All local: no request.
			if frags, reqs := rig.list(t, first); len(frags) != len(rig.stored) || len(reqs) != 0 {
				t.Fatalf("all-local listing: %d fragments, %d S3 requests: %v", len(frags), len(reqs), reqs)
			}
			if _, reqs := rig.media(t, first.Add(fragment.MaxMax)); len(reqs) != 0 {
				t.Fatalf("all-local media: %d S3 requests: %v", len(reqs), reqs)
			}

			// The oldest hour's recording is evicted (archived media goes
			// first; it all is).
			if _, err := rig.idx.Evict(t.Context(), 1); err != nil {
				t.Fatal(err)
			}
			oldest, err := rig.idx.Earliest(t.Context(), "cam1")
			if err != nil || oldest.ServerTime.Before(rig.hour.Add(-2*time.Hour)) || !oldest.ServerTime.Before(rig.hour.Add(-time.Hour)) {
				t.Fatalf("after eviction the oldest local fragment is %+v, %v; want one two hours ago", oldest, err)
			}
			began := time.Now()
			frags, reqs := rig.list(t, from)
			cold := time.Since(began)
			hours := manifestReads(reqs)
			h3, h2 := rig.hour.Add(-3*time.Hour).Format("15"), rig.hour.Add(-2*time.Hour).Format("15")
			if strings.Join(hours, ",") != strings.Join([]string{h3, h3, h2, h2}, ",") {
				t.Fatalf("listing across the oldest local fragment read the manifests of hours %v; want a LIST and a GET of %s and %s only:\n%s",
					hours, h3, h2, strings.Join(reqs, "\n"))
			}
			if len(frags) != len(rig.stored) {
				t.Fatalf("tiered listing: %d fragments, %d recorded", len(frags), len(rig.stored))
			}
			for i, f := range frags {
				wantLocal := !rig.stored[i].ServerTime.Before(oldest.ServerTime)
				if f.FragmentNumber != rig.stored[i].NumberString() || f.Local != wantLocal || !f.Archived {
					t.Fatalf("fragment %d: %+v; want number %d, local %v, archived", i, f, rig.stored[i].Number, wantLocal)
				}
			}
			began = time.Now()
			if _, reqs := rig.list(t, from); len(reqs) != 0 {
				t.Fatalf("the same listing again: %d S3 requests: %v", len(reqs), reqs)
			}
			t.Logf("listing across the oldest local fragment: %d S3 requests (%d for manifests), %v; again: none, %v", len(reqs), len(hours), cold, time.Since(began))
			// Without a range, and by producer time: the same fragments.
			for _, v := range []url.Values{
				{"limit": {"4"}},
				{"limit": {"4"}, "by": {"producer"}},
				{"limit": {"4"}, "by": {"producer"}, "start": {rig.stored[0].ProducerTime.Format(time.RFC3339Nano)},
					"end": {rig.stored[len(rig.stored)-1].ProducerTime.Format(time.RFC3339Nano)}},
			} {
				q := v.Encode()
				got, _ := rig.listQuery(t, v)
				if len(got) != len(rig.stored) {
					t.Fatalf("listing %s: %d fragments, %d recorded", q, len(got), len(rig.stored))
				}
				for i, f := range got {
					if f.FragmentNumber != rig.stored[i].NumberString() || !f.Archived {
						t.Fatalf("listing %s: fragment %d: %+v, want %d", q, i, f, rig.stored[i].Number)
					}
				}
			}
			got, reqs := rig.media(t, from)
			if string(got) != string(want) {
				t.Fatalf("tiered replay: %d bytes; before the eviction: %d", len(got), len(want))
			}
			// Only the objects of the evicted fragments are fetched.
			evicted := 0
			for _, f := range rig.stored {
				if f.ServerTime.Before(oldest.ServerTime) {
					evicted++
				}
			}
			if len(reqs) != evicted || len(manifestReads(reqs)) != 0 {
				t.Fatalf("tiered replay made %d S3 requests for %d evicted fragments: %v", len(reqs), evicted, reqs)
			}

			// kinedge archive replay without a master key: a plaintext
			// archive replays, a sealed one says what is missing.
			for k, v := range map[string]string{"KINEDGE_CONFIG": "", "KINEDGE_S3_ENDPOINT": rig.s3.Endpoint(), "KINEDGE_S3_ACCESS_KEY": s3test.AccessKey,
				"KINEDGE_S3_SECRET_KEY": s3test.SecretKey, "KINEDGE_ARCHIVE_BUCKET": "footage", "KINEDGE_ARCHIVE_PREFIX": "video/",
				"KINEDGE_APPLIANCE_ID": "pi-7", "KINEDGE_MASTER_KEY": "", "KINEDGE_DATA_DIR": t.TempDir()} {
				t.Setenv(k, v)
			}
			out := filepath.Join(t.TempDir(), "dr.mkv")
			var msgs bytes.Buffer
			err = run(t.Context(), []string{"archive", "replay", "--stream", "cam1", "--start", from.Format(time.RFC3339Nano), "--out", out}, &msgs, &msgs)
			dr, _ := os.ReadFile(out)
			switch {
			case !sealed && (err != nil || !bytes.Equal(dr, wantPlain)):
				t.Fatalf("archive replay of the plaintext archive: %v, %d bytes\n%s", err, len(dr), msgs.String())
			case sealed && (err == nil || !strings.Contains(err.Error(), "master key")):
				t.Fatalf("archive replay of the sealed archive without its key: %v", err)
			}
		})
	}
}
