package firehose

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestPrefixRules: AWS's rules for Prefix, ErrorOutputPrefix,
// FileExtension and CustomTimeZone.
func TestPrefixRules(t *testing.T) {
	for _, c := range []struct {
		prefix, errPrefix, ext, tz string
		bad                        string // in the message; "" valid
	}{
		{"logs/", "", "", "", ""},
		{"logs/", "errors/", ".json", "Asia/Tokyo", ""},
		{"y=!{timestamp:yyyy}/m=!{timestamp:MM}/", "err/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/", "", "", ""},
		{"!{timestamp:yyyy-MM-dd'T'HH:mm:ss}/!{firehose:random-string}/", "e/!{firehose:error-output-type}/", "", "", ""},
		{"a/!{timestamp:yyyy}/", "", "", "", "ErrorOutputPrefix cannot be null"},
		{"a/!{firehose:error-output-type}/", "e/", "", "", "Prefix cannot contain !{firehose:error-output-type}"},
		{"a/", "e/!{timestamp:yyyy}/", "", "", "must contain !{firehose:error-output-type}"},
		{"a/!{timestamp:yyyy", "e/", "", "", "!{ can only appear"},
		{"a/!{timestamp:YYYY}/", "e/!{firehose:error-output-type}", "", "", "not supported"},
		{"a/!{timestamp:yyyy'x}/", "e/!{firehose:error-output-type}", "", "", "unterminated quote"},
		{"a/!{firehose:nope}/", "e/!{firehose:error-output-type}", "", "", "error-output-type and random-string"},
		{"a/!{foo:bar}/", "e/!{firehose:error-output-type}", "", "", "unknown namespace"},
		{"a/!{partitionKeyFromQuery:id}/", "e/!{firehose:error-output-type}", "", "", "DynamicPartitioningConfiguration is not enabled"},
		{"a/", "", "json", "", "FileExtension"},
		{"a/", "", ".JSON", "", "FileExtension"},
		{"a/", "", "", "Mars/Base", "CustomTimeZone"},
	} {
		d := dest("bkt", 1, 0, GZIP)
		d.Prefix, d.ErrorOutputPrefix, d.FileExtension, d.CustomTimeZone = c.prefix, c.errPrefix, c.ext, c.tz
		err := d.normalize()
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("%+v: %v", c, err)
		case c.bad != "" && (!errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), c.bad)):
			t.Errorf("%+v: got %v, want %q", c, err, c.bad)
		}
	}
}

// TestObjectKeyExpressions: timestamp expressions, random strings, the
// time zone, the file extension and the error prefix forms.
func TestObjectKeyExpressions(t *testing.T) {
	at := time.Date(2026, 1, 2, 23, 4, 5, 0, time.UTC)
	key := func(d S3Destination, errType string) string {
		t.Helper()
		if err := d.normalize(); err != nil {
			t.Fatal(err)
		}
		s := Stream{Name: "ds", VersionID: 3, Destination: d}
		if errType != "" {
			return s.ErrorObjectKey(at, "u", errType)
		}
		return s.ObjectKey(at, "u")
	}
	d := dest("bkt", 1, 0, GZIP)
	d.Prefix = "y=!{timestamp:yyyy}/m=!{timestamp:MM}/d=!{timestamp:dd}/h=!{timestamp:HH}-!{timestamp:mm}!{timestamp:ss}/"
	d.ErrorOutputPrefix = "err/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"
	if got, want := key(d, ""), "y=2026/m=01/d=02/h=23-0405/ds-3-2026-01-02-23-04-05-u.gz"; got != want {
		t.Errorf("key %q, want %q", got, want)
	}
	if got, want := key(d, ErrorProcessingFailed), "err/processing-failed/2026/01/02/ds-3-2026-01-02-23-04-05-u.gz"; got != want {
		t.Errorf("error key %q, want %q", got, want)
	}
	// The zone moves the default prefix and the key's time; the
	// extension replaces .gz.
	d = dest("bkt", 1, 0, GZIP)
	d.Prefix, d.CustomTimeZone, d.FileExtension = "logs/", "Asia/Tokyo", ".json.gz"
	if got, want := key(d, ""), "logs/2026/01/03/08/ds-3-2026-01-03-08-04-05-u.json.gz"; got != want {
		t.Errorf("key %q, want %q", got, want)
	}
	if got, want := key(d, ErrorS3Failed), "logs/s3-failed/2026/01/03/08/ds-3-2026-01-03-08-04-05-u.json.gz"; got != want {
		t.Errorf("error key without ErrorOutputPrefix %q, want %q", got, want)
	}
	d.ErrorOutputPrefix = "failures/"
	if got, want := key(d, ErrorProcessingFailed), "failures/processing-failed/2026/01/03/08/ds-3-2026-01-03-08-04-05-u.json.gz"; got != want {
		t.Errorf("error key %q, want %q", got, want)
	}
	// A prefix with expressions but no timestamp gets the default one.
	d = dest("bkt", 1, 0, Uncompressed)
	d.Prefix, d.ErrorOutputPrefix = "r/!{firehose:random-string}/", "e/!{firehose:error-output-type}/"
	got := key(d, "")
	if !regexp.MustCompile(`^r/[0-9a-f]{8}-[0-9a-f]{2}/2026/01/02/23/ds-3-2026-01-02-23-04-05-u$`).MatchString(got) {
		t.Errorf("random-string key %q", got)
	}
	if got2 := key(d, ""); got2 == got {
		t.Errorf("two random strings alike: %q", got)
	}
	if got, want := key(d, ErrorS3Failed), "e/s3-failed/2026/01/02/23/ds-3-2026-01-02-23-04-05-u"; got != want {
		t.Errorf("error key %q, want %q", got, want)
	}
}

// refuseDest fails every key not under a prefix, and counts attempts.
type refuseDest struct {
	memDest
	allow string
}

func (r *refuseDest) Put(ctx context.Context, bucket, key string, body []byte) error {
	if !strings.HasPrefix(key, r.allow) {
		r.memDest.mu.Lock()
		r.keys = append(r.keys, key)
		r.memDest.mu.Unlock()
		return errors.New("refused")
	}
	return r.memDest.Put(ctx, bucket, key, body)
}

// TestRetryForThenErrorPrefix: a batch S3 refuses for RetryFor (by the
// injected clock) is fixed again under the error prefix, s3-failed, and
// written there; its records then leave the spool.
func TestRetryForThenErrorPrefix(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)}
	m := &refuseDest{allow: "errs/"}
	e := openEngine(t, openDB(t, ""), m, func(o *Options) { o.Now = clk.Now; o.RetryFor = time.Hour })
	d := dest("bkt", 1, 0, Uncompressed)
	d.Prefix, d.ErrorOutputPrefix = "ok/", "errs/"
	if _, err := e.Create(context.Background(), "rf", d); err != nil {
		t.Fatal(err)
	}
	recs := records(3, 10, "z")
	if _, err := e.Put(context.Background(), "rf", recs); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "three refused attempts", func() bool { return len(m.attempts()) >= 3 })
	if m.count() != 0 || e.Stats().SpoolRecords != 3 {
		t.Fatalf("before RetryFor: %d objects, %+v", m.count(), e.Stats())
	}
	first := m.attempts()[0]
	for _, k := range m.attempts() {
		if k != first {
			t.Fatalf("retries wrote %q and %q", first, k)
		}
	}
	clk.mu.Lock()
	clk.t = clk.t.Add(time.Hour + time.Second)
	clk.mu.Unlock()
	testtool.WaitFor(t, "the error object", func() bool { return m.count() == 1 && e.Stats().SpoolRecords == 0 })
	for k, body := range m.objects {
		// The time is still the records' arrival, not the failure's.
		if want := "bkt/errs/s3-failed/2026/05/06/07/rf-1-2026-05-06-07-08-09-"; !strings.HasPrefix(k, want) {
			t.Errorf("error key %q, want %s…", k, want)
		}
		if string(body) != string(recs[0])+string(recs[1])+string(recs[2]) {
			t.Errorf("error object %q", body)
		}
	}
}

// TestAppendDelimiter: the AppendDelimiterToRecord processor writes a
// newline (or its Delimiter) after every record; disabled, nothing.
func TestAppendDelimiter(t *testing.T) {
	m := &memDest{}
	e := openEngine(t, openDB(t, ""), m, nil)
	var wg sync.WaitGroup
	for name, p := range map[string]*Processing{
		"nl":       {Enabled: true, Processors: []Processor{{Type: ProcessorAppendDelimiter}}},
		"pipe":     {Enabled: true, Processors: []Processor{{Type: ProcessorAppendDelimiter, Parameters: []Parameter{{Name: "Delimiter", Value: `|\t`}}}}},
		"disabled": {Enabled: false, Processors: []Processor{{Type: ProcessorAppendDelimiter}}},
	} {
		d := dest("bkt", 1, 0, Uncompressed)
		d.Prefix, d.Processing = name+"/", p
		if _, err := e.Create(context.Background(), name, d); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if _, err := e.Put(context.Background(), name, [][]byte{[]byte("a"), []byte("b")}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	testtool.WaitFor(t, "three objects", func() bool { return m.count() == 3 })
	want := map[string]string{"nl": "a\nb\n", "pipe": "a|\tb|\t", "disabled": "ab"}
	for k, body := range m.objects {
		name := strings.Split(k, "/")[1]
		if string(body) != want[name] {
			t.Errorf("%s: %q, want %q", k, body, want[name])
		}
	}
	d := dest("bkt", 1, 0, Uncompressed)
	d.Processing = &Processing{Enabled: true, Processors: []Processor{{Type: "Decompression"}}}
	if _, err := e.Create(context.Background(), "x", d); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("unsupported processor: %v", err)
	}
}

// TestKeyTimeIsOldestArrival: an object's prefix and name carry the
// approximate arrival of its oldest record (AWS's rule), not the time
// its batch is fixed: records put at 10:59 and delivered after 12:00 go
// under 10/.
func TestKeyTimeIsOldestArrival(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 7, 8, 10, 59, 58, 0, time.UTC)}
	m := &memDest{}
	e := openEngine(t, openDB(t, ""), m, func(o *Options) { o.Now = clk.Now })
	d := dest("bkt", 1, 900, Uncompressed)
	d.Prefix, d.ErrorOutputPrefix = "h=!{timestamp:HH}/", "err/!{firehose:error-output-type}/"
	if _, err := e.Create(context.Background(), "arr", d); err != nil {
		t.Fatal(err)
	}
	old := records(2, 100, "old")
	if _, err := e.Put(context.Background(), "arr", old); err != nil {
		t.Fatal(err)
	}
	clk.mu.Lock()
	clk.t = clk.t.Add(75 * time.Minute) // 12:14:58
	clk.mu.Unlock()
	// Past the size: the batch (the oldest records up to 1 MiB) is fixed now.
	if _, err := e.Put(context.Background(), "arr", records(2, 600<<10, "new")); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "the first object", func() bool { return m.count() >= 1 })
	var keys []string
	for k := range m.objects {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := "bkt/h=10/arr-1-2026-07-08-10-59-58-"; !strings.HasPrefix(keys[0], want) {
		t.Fatalf("first object %q, want %s… (the oldest record's arrival)", keys[0], want)
	}
	if body := m.objects[keys[0]]; !bytes.HasPrefix(body, bytes.Join(old, nil)) {
		t.Fatalf("first object does not start with the old records")
	}
}

// TestPrefixLengthLimit: an evaluated Prefix or ErrorOutputPrefix past
// AWS's 512 characters is refused at create (without partition keys
// their length does not depend on the records).
func TestPrefixLengthLimit(t *testing.T) {
	e := openEngine(t, openDB(t, ""), &memDest{}, nil)
	long := strings.Repeat("p", 500)
	for name, tc := range map[string]struct {
		prefix, errPrefix string
		ok                bool
	}{
		"literal 512":             {prefix: strings.Repeat("p", 512-len("yyyy/MM/dd/HH/")), errPrefix: "e/", ok: true},
		"literal 513":             {prefix: strings.Repeat("p", 513-len("yyyy/MM/dd/HH/")), errPrefix: "e/"},
		"timestamp pushes it out": {prefix: long + "!{timestamp:yyyy-MM-dd-HH}", errPrefix: "e/"},
		"random pushes it out":    {prefix: long + "!{timestamp:HH}!{firehose:random-string}", errPrefix: "e/"},
		"random fits":             {prefix: long[:499] + "!{timestamp:HH}!{firehose:random-string}", errPrefix: "e/", ok: true},
		"error prefix too long":   {prefix: "ok/", errPrefix: long},
		"error prefix with type":  {prefix: "ok/", errPrefix: long[:498] + "!{firehose:error-output-type}/!{timestamp:yyyy}/"},
		"error prefix fits":       {prefix: "ok/", errPrefix: long[:497] + "!{firehose:error-output-type}/!{timestamp:yyyy}/", ok: true}, // s3-failed: 512
	} {
		d := dest("bkt", 1, 60, Uncompressed)
		d.Prefix, d.ErrorOutputPrefix = tc.prefix, tc.errPrefix
		_, err := e.Create(context.Background(), strings.ReplaceAll(name, " ", "-"), d)
		if tc.ok != (err == nil) {
			t.Errorf("%s: %v", name, err)
		}
		if err != nil && (!errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "512")) {
			t.Errorf("%s: %v, want InvalidArgument naming the 512 limit", name, err)
		}
	}
}
