package archive

import (
	"bytes"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinedge/kinedge/dataplane/video/replay"
	"github.com/kinedge/kinedge/firehose"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/testdata/s3test"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// hoursArchive records the clip into cam1 at ten past each of the three
// hours before the current one, archives it (sealed or not) and returns
// the box, the running archiver, the fragments and the current hour.
func hoursArchive(t *testing.T, srv *s3test.Server, sealed bool) (*box, *Archiver, []index.Fragment, time.Time) {
	t.Helper()
	b := openBox(t, "", seal.NewMasterKey())
	hour := time.Now().UTC().Truncate(time.Hour)
	var stored []index.Fragment
	for i := 3; i >= 1; i-- {
		stored = append(stored, b.record(t, "cam1", hour.Add(-time.Duration(i)*time.Hour+10*time.Minute))...)
	}
	a := startArchiver(t, b, s3Bucket(t, srv), sealed)
	archived(t, a, uint64(len(stored)))
	manifested(t, srv, len(stored))
	return b, a, stored, hour
}

// mentions returns the requests that name one of the hour directories.
func mentions(reqs []string, dirs ...string) []string {
	var out []string
	for _, r := range reqs {
		u, err := url.QueryUnescape(r)
		if err != nil {
			u = r
		}
		for _, d := range dirs {
			if strings.Contains(u, d) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// TestCacheReadsSettledHoursOnce: through the manifest cache, a repeated
// read of past hours the archiver has settled makes no S3 request, even
// long after the TTL; a read up to now asks again only for what is not
// settled (the last hour, the listings that reach into the present), and
// only after the TTL. The requests are counted at a proxy in front of
// versitygw.
func TestCacheReadsSettledHoursOnce(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(bucket)
	b, a, stored, hour := hoursArchive(t, srv, true)
	proxy := srv.Proxy(t)
	pb, err := NewS3Bucket(firehose.S3Config{Endpoint: proxy.Endpoint(), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey}, bucket)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now()}
	cache := &Cache{Reader: pb, Root: Root("video/", "pi-7", ""), Now: clock.Now, SettledThrough: func(s string) time.Time {
		th, err := a.SettledThrough(s)
		if err != nil {
			t.Error(err)
		}
		return th
	}}
	r := &Remote{Bucket: cache, Prefix: "video/", ApplianceID: "pi-7", Master: b.kr.Master}
	dir := func(h int) string { return hourDir("video/", "pi-7", "cam1", hour.Add(-time.Duration(h)*time.Hour)) }
	count := func(start, end time.Time, want int) []string {
		t.Helper()
		es, _, err := r.Fragments(t.Context(), "cam1", start, end)
		if err != nil || len(es) != want {
			t.Fatalf("Fragments: %d, %v; want %d", len(es), err, want)
		}
		for i, e := range es {
			if e.Number != stored[i].NumberString() {
				t.Fatalf("entry %d is fragment %s, want %d", i, e.Number, stored[i].Number)
			}
		}
		return proxy.Reads()
	}
	nPast := 0
	for _, f := range stored {
		if f.ServerTime.Before(hour.Add(-time.Hour)) {
			nPast++
		}
	}
	pastStart, pastEnd := hour.Add(-4*time.Hour), hour.Add(-time.Hour-1)
	if reqs := count(pastStart, pastEnd, nPast); len(mentions(reqs, dir(3)+"manifest.json", dir(2)+"manifest.json")) != 4 {
		t.Fatalf("first read of the past hours: a LIST and a GET of each manifest expected:\n%s", strings.Join(reqs, "\n"))
	}
	clock.Advance(time.Hour)
	if reqs := count(pastStart, pastEnd, nPast); len(reqs) != 0 {
		t.Fatalf("second read of settled past hours, after the TTL: %d requests:\n%s", len(reqs), strings.Join(reqs, "\n"))
	}
	// Up to now: the last hour's manifest is read (it is not settled: the
	// cursor is in it), the settled ones are not.
	now := clock.Now()
	reqs := count(pastStart, now, len(stored))
	if len(mentions(reqs, dir(1)+"manifest.json")) != 2 || len(mentions(reqs, dir(3), dir(2))) != 0 {
		t.Fatalf("read up to now:\n%s", strings.Join(reqs, "\n"))
	}
	if reqs := count(pastStart, now, len(stored)); len(reqs) != 0 {
		t.Fatalf("read up to now again within the TTL: %d requests:\n%s", len(reqs), strings.Join(reqs, "\n"))
	}
	clock.Advance(DefaultCacheTTL)
	reqs = count(pastStart, now, len(stored))
	if len(mentions(reqs, dir(1)+"manifest.json")) != 2 || len(mentions(reqs, dir(3), dir(2))) != 0 {
		t.Fatalf("read up to now after the TTL:\n%s", strings.Join(reqs, "\n"))
	}
	if st := cache.Stats(); st.Hits == 0 || st.Entries == 0 || st.Evictions != 0 {
		t.Fatalf("cache stats %+v", st)
	}

	// A cache too small for the manifests keeps within its bound and still
	// reads right (asking the bucket again).
	small := &Cache{Reader: pb, Root: cache.Root, SettledThrough: cache.SettledThrough, MaxBytes: 3000, Now: clock.Now}
	r.Bucket = small
	for range 2 {
		if reqs := count(pastStart, now, len(stored)); len(mentions(reqs, "manifest.json")) == 0 {
			t.Fatal("a cache of 3000 bytes held every manifest")
		}
		if st := small.Stats(); st.Bytes > 3000 || st.Evictions == 0 {
			t.Fatalf("small cache: %+v", st)
		}
	}

	// Every fragment is archived and in its manifest; one after the
	// cursor, or of a stream never archived, is not.
	listed, err := a.Listed("cam1")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range stored {
		if !listed(f.ServerTime, f.Number) {
			t.Fatalf("fragment %d not listed", f.Number)
		}
	}
	if last := stored[len(stored)-1]; listed(last.ServerTime, last.Number+1) || listed(last.ServerTime.Add(time.Second), last.Number+1) {
		t.Fatal("a fragment after the cursor is listed")
	}
	if none, err := a.Listed("cam2"); err != nil || none(stored[0].ServerTime, stored[0].Number) {
		t.Fatalf("Listed of a stream never archived: %v", err)
	}

	// An archiver that has settled nothing (no cursor) makes nothing final.
	if th, err := a.SettledThrough("cam2"); err != nil || !th.IsZero() {
		t.Fatalf("SettledThrough of a stream never archived = %v, %v", th, err)
	}
}

// TestRemoteReplaysPlaintextArchive: an archive of playable MKV
// (Sealed false) replays through Remote, with no master key, byte for
// byte as the appliance replays the stored fragments.
func TestRemoteReplaysPlaintextArchive(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(bucket)
	b, a, stored, hour := hoursArchive(t, srv, false)
	a.Close()
	local := localReplay(t, replay.Source{Store: b.idx, Opener: b.kr}, stored)
	bk, err := NewS3Bucket(s3Config(srv), bucket)
	if err != nil {
		t.Fatal(err)
	}
	r := &Remote{Bucket: bk, Prefix: "video/", ApplianceID: "pi-7"}
	var remote bytes.Buffer
	st, _, err := r.WriteMKV(t.Context(), &remote, "cam1", hour.Add(-4*time.Hour), time.Now())
	if err != nil || st.Fragments != len(stored) || !bytes.Equal(remote.Bytes(), local) {
		t.Fatalf("replay of the plaintext archive: %d fragments, %d bytes, %v; the appliance's: %d fragments, %d bytes",
			st.Fragments, remote.Len(), err, len(stored), len(local))
	}
	// The first limit fragments only.
	frags, entries, _, err := r.SourceLimit(t.Context(), "cam1", hour.Add(-4*time.Hour), time.Now(), 3)
	if err != nil || len(frags) != 3 || len(entries) != 3 || frags[2].Number != stored[2].Number {
		t.Fatalf("SourceLimit 3: %d fragments, %v", len(frags), err)
	}
}
