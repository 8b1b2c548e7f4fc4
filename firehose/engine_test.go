package firehose

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zip"

	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/testdata/s3test"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// openDB opens a database in dir ("" in memory) and closes it at the end.
func openDB(t testing.TB, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(store.Options{Dir: dir, InMemory: dir == "", NoSync: true,
		MemTableSize: 8 << 20, BlockCacheSize: 1 << 20, IndexCacheSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openEngine opens an engine on db's "f/" space, closed at the end.
func openEngine(t testing.TB, db *store.DB, dest Destination, tweak func(*Options)) *Engine {
	t.Helper()
	sp, err := db.Space("f/")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Space: sp, Destination: dest, RetryMin: 10 * time.Millisecond, RetryMax: 200 * time.Millisecond}
	if tweak != nil {
		tweak(&o)
	}
	e, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// fakeClock is an injected clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// memDest is a Destination in memory that can be made to fail.
type memDest struct {
	mu      sync.Mutex
	objects map[string][]byte
	keys    []string // every attempted key, in order
	fail    atomic.Bool
}

func (m *memDest) Put(ctx context.Context, bucket, key string, body []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys = append(m.keys, key)
	if m.fail.Load() {
		return errors.New("memDest: down")
	}
	if m.objects == nil {
		m.objects = map[string][]byte{}
	}
	m.objects[bucket+"/"+key] = bytes.Clone(body)
	return nil
}

func (m *memDest) attempts() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.keys)
}

func (m *memDest) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.objects)
}

func records(n, size int, tag string) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		r := fmt.Appendf(nil, "%s-%06d|", tag, i)
		for len(r) < size {
			r = append(r, byte('a'+i%26))
		}
		out[i] = r
	}
	return out
}

func dest(bucket string, sizeMB, interval int, compression string) S3Destination {
	return S3Destination{BucketARN: "arn:aws:s3:::" + bucket, SizeInMBs: sizeMB, IntervalInSeconds: interval, Compression: compression}
}

func decompress(t testing.TB, format string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch format {
	case Uncompressed:
		return b
	case GZIP:
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case Snappy:
		r = s2.NewReader(bytes.NewReader(b))
	case HadoopSnappy:
		return readHadoopSnappy(t, b)
	case ZIP:
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		if len(zr.File) != 1 {
			t.Fatalf("zip has %d entries", len(zr.File))
		}
		f, err := zr.File[0].Open()
		if err != nil {
			t.Fatal(err)
		}
		r = f
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decompress %s: %v", format, err)
	}
	return out
}

func TestObjectKeyAsFirehose(t *testing.T) {
	s := Stream{Name: "ds", VersionID: 1, Destination: S3Destination{Compression: GZIP}}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	got := s.ObjectKey(at, "uuid")
	if want := "2026/01/02/02/ds-1-2026-01-02-02-04-05-uuid.gz"; got != want {
		t.Fatalf("key %q, want %q", got, want)
	}
	s.Destination = S3Destination{Prefix: "logs/", Compression: Uncompressed}
	if got, want := s.ObjectKey(at, "u"), "logs/2026/01/02/02/ds-1-2026-01-02-02-04-05-u"; got != want {
		t.Fatalf("key %q, want %q", got, want)
	}
}

// TestSizeTriggeredDelivery: records past SizeInMBs make one object of
// the oldest records up to the size, named from the injected clock; the
// rest waits for the interval.
func TestSizeTriggeredDelivery(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	m := &memDest{}
	e := openEngine(t, openDB(t, ""), m, func(o *Options) { o.Now = clk.Now })
	if _, err := e.Create(context.Background(), "sized", dest("bkt", 1, 900, Uncompressed)); err != nil {
		t.Fatal(err)
	}
	recs := records(5, 300<<10, "r")
	if _, err := e.Put(context.Background(), "sized", recs); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "one object and its records out of the spool", func() bool { return m.count() == 1 && e.Stats().SpoolRecords == 2 })
	for k, body := range m.objects {
		if !strings.HasPrefix(k, "bkt/2026/03/04/05/sized-1-2026-03-04-05-06-07-") {
			t.Errorf("key %q", k)
		}
		if want := bytes.Join(recs[:3], nil); !bytes.Equal(body, want) {
			t.Errorf("object has %d bytes, want the first 3 records (%d bytes)", len(body), len(want))
		}
	}
	st := e.Stats()
	if st.SpoolRecords != 2 || st.Objects != 1 || st.RecordsDelivered != 3 {
		t.Fatalf("stats %+v", st)
	}
	if s, _ := e.Describe("sized"); s.Status != StatusActive {
		t.Fatalf("status %s", s.Status)
	}
}

// TestIntervalTriggeredDelivery: a record far below the size goes out
// when the interval passes (1 s, the smallest non-zero hint).
func TestIntervalTriggeredDelivery(t *testing.T) {
	m := &memDest{}
	e := openEngine(t, openDB(t, ""), m, nil)
	if _, err := e.Create(context.Background(), "timed", dest("bkt", 128, 1, Uncompressed)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := e.Put(context.Background(), "timed", [][]byte{[]byte("one"), []byte("two")}); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "the interval's object", func() bool { return m.count() == 1 })
	if el := time.Since(start); el < time.Second {
		t.Fatalf("delivered after %v, before the 1 s interval", el)
	}
	for _, body := range m.objects {
		if string(body) != "onetwo" {
			t.Fatalf("object %q", body)
		}
	}
}

// TestSpoolQuota: past SpoolBytes puts fail with ErrSpoolFull and store
// nothing; delivery frees the room.
func TestSpoolQuota(t *testing.T) {
	m := &memDest{}
	m.fail.Store(true)
	e := openEngine(t, openDB(t, ""), m, func(o *Options) { o.SpoolBytes = 10 << 10 })
	if _, err := e.Create(context.Background(), "q", dest("bkt", 1, 0, Uncompressed)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Put(context.Background(), "q", records(2, 4<<10, "a")); err != nil {
		t.Fatal(err)
	}
	_, err := e.Put(context.Background(), "q", records(1, 4<<10, "b"))
	if !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("put past the quota: %v", err)
	}
	if st := e.Stats(); st.SpoolRecords != 2 || st.RefusedFull != 1 {
		t.Fatalf("stats %+v", st)
	}
	m.fail.Store(false)
	testtool.WaitFor(t, "the spool to empty", func() bool { return e.Stats().SpoolBytes == 0 })
	if _, err := e.Put(context.Background(), "q", records(1, 4<<10, "c")); err != nil {
		t.Fatal(err)
	}
}

// TestRestartReusesFixedKey: a batch whose writes failed is written after
// a restart under the key fixed before the first attempt, once.
func TestRestartReusesFixedKey(t *testing.T) {
	dir := t.TempDir()
	m := &memDest{}
	m.fail.Store(true)
	db := openDB(t, dir)
	e := openEngine(t, db, m, nil)
	if _, err := e.Create(context.Background(), "rs", dest("bkt", 1, 0, GZIP)); err != nil {
		t.Fatal(err)
	}
	recs := records(10, 100, "x")
	if _, err := e.Put(context.Background(), "rs", recs); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "two failed attempts", func() bool { return len(m.attempts()) >= 2 })
	e.Close()
	db.Close()
	keys := m.attempts()
	if keys[0] != keys[1] {
		t.Fatalf("retry wrote %q after %q", keys[1], keys[0])
	}

	m2 := &memDest{}
	e2 := openEngine(t, openDB(t, dir), m2, nil)
	testtool.WaitFor(t, "the object after the restart", func() bool { return m2.count() == 1 })
	if got := m2.attempts(); got[0] != keys[0] {
		t.Fatalf("after the restart wrote %q, fixed key was %q", got[0], keys[0])
	}
	if body := decompress(t, GZIP, m2.objects["bkt/"+keys[0]]); !bytes.Equal(body, bytes.Join(recs, nil)) {
		t.Fatalf("object body %q", body)
	}
	testtool.WaitFor(t, "an empty spool", func() bool { return e2.Stats().SpoolRecords == 0 })
	if s, err := e2.Describe("rs"); err != nil || s.Status != StatusActive || s.Destination.Compression != GZIP {
		t.Fatalf("stream after restart: %+v %v", s, err)
	}
}

// TestCreateDescribeDelete covers the definitions: errors, persistence,
// and deletion of spooled records.
func TestCreateDescribeDelete(t *testing.T) {
	dir := t.TempDir()
	m := &memDest{}
	m.fail.Store(true)
	db := openDB(t, dir)
	e := openEngine(t, db, m, nil)
	ctx := context.Background()
	if _, err := e.Create(ctx, "a", dest("bkt", 1, 0, Uncompressed)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Create(ctx, "a", dest("bkt", 1, 0, Uncompressed)); !errors.Is(err, ErrInUse) {
		t.Fatalf("duplicate: %v", err)
	}
	if _, err := e.Create(ctx, "c", S3Destination{BucketARN: "bucket"}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad ARN: %v", err)
	}
	if _, err := e.Create(ctx, "z", dest("bkt", 1, 60, "ZSTD")); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad compression: %v", err)
	}
	if _, err := e.Put(ctx, "nope", [][]byte{{1}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("put to unknown: %v", err)
	}
	if _, err := e.Put(ctx, "a", records(3, 10, "d")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Create(ctx, "b", dest("bkt", 2, 30, ZIP)); err != nil {
		t.Fatal(err)
	}
	if got := e.List(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("list %q", got)
	}
	if err := e.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := e.Delete(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if st := e.Stats(); st.SpoolRecords != 0 || st.SpoolBytes != 0 {
		t.Fatalf("stats after delete %+v", st)
	}
	e.Close()
	db.Close()

	e2 := openEngine(t, openDB(t, dir), m, nil)
	s, err := e2.Describe("b")
	if err != nil || s.Destination.SizeInMBs != 2 || s.Destination.IntervalInSeconds != 30 || s.Destination.Compression != ZIP || s.VersionID != 1 {
		t.Fatalf("b after reopen: %+v %v", s, err)
	}
	if got := e2.List(); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("list after reopen %q", got)
	}
	if st := e2.Stats(); st.SpoolRecords != 0 {
		t.Fatalf("records of the deleted stream came back: %+v", st)
	}
}

func TestNoDestination(t *testing.T) {
	e := openEngine(t, openDB(t, ""), nil, nil)
	_, err := e.Create(context.Background(), "a", dest("bkt", 1, 0, Uncompressed))
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "no S3 endpoint") {
		t.Fatalf("create without S3: %v", err)
	}
}

// TestCompressionRoundTripS3: every compression format through
// versitygw, read back with minio-go.
func TestCompressionRoundTripS3(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket("rtrip")
	s3, err := NewS3(S3Config{Endpoint: srv.Endpoint(), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	e := openEngine(t, openDB(t, ""), s3, nil)
	want := map[string][]byte{}
	for _, format := range []string{Uncompressed, GZIP, ZIP, Snappy, HadoopSnappy} {
		name := "rt-" + strings.ToLower(format)
		d := dest("rtrip", 1, 0, format)
		d.Prefix = name + "/"
		if _, err := e.Create(context.Background(), name, d); err != nil {
			t.Fatal(err)
		}
		recs := records(200, 1000, format) // one spool commit: one object
		if _, err := e.Put(context.Background(), name, recs); err != nil {
			t.Fatal(err)
		}
		want[format] = bytes.Join(recs, nil)
	}
	testtool.WaitFor(t, "five objects", func() bool { return e.Stats().Objects == 5 })
	objs := srv.Objects("rtrip")
	if len(objs) != 5 {
		t.Fatalf("%d objects", len(objs))
	}
	for _, o := range objs {
		for format, body := range want {
			name := "rt-" + strings.ToLower(format)
			if !strings.HasPrefix(o.Key, name+"/") {
				continue
			}
			if !strings.HasSuffix(o.Key, extension(format)) || !strings.Contains(o.Key, "/"+name+"-1-") {
				t.Errorf("key %q", o.Key)
			}
			if got := decompress(t, format, o.Body); !bytes.Equal(got, body) {
				t.Errorf("%s: %d bytes back, want %d", format, len(got), len(body))
			}
		}
	}
}

// TestS3OutageExactlyOnce: with the S3 server down records are
// acknowledged and stay spooled; once it is back (same port, same
// directory) every record arrives exactly once.
func TestS3OutageExactlyOnce(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket("outage")
	s3, err := NewS3(S3Config{Endpoint: srv.Endpoint(), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	e := openEngine(t, openDB(t, t.TempDir()), s3, nil)
	ctx := context.Background()
	if _, err := e.Create(ctx, "out", dest("outage", 1, 0, GZIP)); err != nil {
		t.Fatal(err)
	}
	first := records(20, 100, "before")
	if _, err := e.Put(ctx, "out", first); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "the first object", func() bool { return e.Stats().Objects == 1 })

	srv.Stop()
	var during [][]byte
	for i := range 5 {
		recs := records(40, 200, fmt.Sprintf("down%d", i))
		if _, err := e.Put(ctx, "out", recs); err != nil {
			t.Fatalf("put while S3 is down: %v", err)
		}
		during = append(during, recs...)
	}
	testtool.WaitFor(t, "failed uploads", func() bool { return e.Stats().UploadFailures >= 2 })
	if st := e.Stats(); st.SpoolRecords != int64(len(during)) || st.Objects != 1 {
		t.Fatalf("while down: %+v", st)
	}

	srv.Restart()
	testtool.WaitFor(t, "an empty spool", func() bool { return e.Stats().SpoolRecords == 0 })
	st := e.Stats()
	objs := srv.Objects("outage")
	if uint64(len(objs)) != st.Objects {
		t.Fatalf("%d objects in the bucket, the engine wrote %d (a duplicate?)", len(objs), st.Objects)
	}
	all := append(slices.Clone(first), during...)
	var delivered []byte
	for _, o := range objs {
		delivered = append(delivered, decompress(t, GZIP, o.Body)...)
	}
	if want := len(bytes.Join(all, nil)); len(delivered) != want {
		t.Fatalf("%d bytes delivered, want %d (each record once)", len(delivered), want)
	}
	for _, r := range all {
		head := r[:bytes.IndexByte(r, '|')+1]
		if n := bytes.Count(delivered, head); n != 1 {
			t.Fatalf("record %s delivered %d times", head, n)
		}
	}
}

// readHadoopSnappy decodes Hadoop's block format of the Snappy codec, as
// Hadoop's BlockDecompressorStream reads it: per block, its length, then
// chunks (length, raw Snappy) until the block is complete.
func readHadoopSnappy(t testing.TB, b []byte) []byte {
	t.Helper()
	var out []byte
	u32 := func() int {
		if len(b) < 4 {
			t.Fatalf("hadoop snappy: truncated")
		}
		n := int(binary.BigEndian.Uint32(b))
		b = b[4:]
		return n
	}
	for len(b) > 0 {
		want := u32()
		got := 0
		for got < want {
			n := u32()
			if n > len(b) {
				t.Fatalf("hadoop snappy: chunk of %d bytes, %d left", n, len(b))
			}
			d, err := s2.Decode(nil, b[:n])
			if err != nil {
				t.Fatalf("hadoop snappy: %v", err)
			}
			b = b[n:]
			got += len(d)
			out = append(out, d...)
		}
		if got != want {
			t.Fatalf("hadoop snappy: block of %d bytes decoded to %d", want, got)
		}
	}
	return out
}

func TestBackoffCappedWithJitter(t *testing.T) {
	lo, hi := 100*time.Millisecond, 2*time.Second
	for attempt := range 20 {
		want := min(lo<<min(attempt, 30), hi)
		for range 50 {
			d := Backoff(lo, hi, attempt)
			if d < want/2 || d > want {
				t.Fatalf("attempt %d: %v not in [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
}

// TestEncodersRoundTrip: every format, bodies across Hadoop's block size.
func TestEncodersRoundTrip(t *testing.T) {
	for _, format := range []string{Uncompressed, GZIP, ZIP, Snappy, HadoopSnappy} {
		for _, size := range []int{0, 1, hadoopBlock - 1, hadoopBlock, 3*hadoopBlock + 17} {
			recs := records(size/1000+1, 1000, format)
			want := bytes.Join(recs, nil)[:size]
			var body bytes.Buffer
			enc, err := encoder(format, "x", &body)
			if err != nil {
				t.Fatal(err)
			}
			for p := want; len(p) > 0; {
				k := min(len(p), 777)
				if _, err := enc.Write(p[:k]); err != nil {
					t.Fatal(err)
				}
				p = p[k:]
			}
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			if got := decompress(t, format, body.Bytes()); !bytes.Equal(got, want) {
				t.Fatalf("%s, %d bytes: %d back", format, size, len(got))
			}
		}
	}
}
