package firehose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// fakeSource is a data stream in memory.
type fakeSource struct {
	mu      sync.Mutex
	n       int
	shards  []SourceShard
	records map[string][]SourceRecord
	closed  map[string]bool
	changed chan struct{}
}

func newFakeSource(shards ...SourceShard) *fakeSource {
	return &fakeSource{shards: shards, records: map[string][]SourceRecord{}, closed: map[string]bool{}, changed: make(chan struct{})}
}

func (f *fakeSource) add(shard string, data ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range data {
		f.n++
		f.records[shard] = append(f.records[shard], SourceRecord{Seq: fmt.Sprintf("%020d", f.n), Data: []byte(d)})
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeSource) split(parent string, children ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed[parent] = true
	for _, c := range children {
		f.shards = append(f.shards, SourceShard{ID: c, Parents: []string{parent}})
	}
}

func (f *fakeSource) Shards(name string) ([]SourceShard, error) {
	if name != "ks" {
		return nil, errors.New("no such stream")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]SourceShard(nil), f.shards...), nil
}

func (f *fakeSource) Read(name, shard, after string, limit int) (SourceBatch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b SourceBatch
	recs := f.records[shard]
	i := 0
	for i < len(recs) && recs[i].Seq <= after {
		i++
	}
	j := min(len(recs), i+limit)
	b.Records = append(b.Records, recs[i:j]...)
	b.Next = after
	if j > i {
		b.Next = recs[j-1].Seq
	}
	b.End = f.closed[shard] && j == len(recs)
	return b, nil
}

func (f *fakeSource) Latest(name, shard string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	recs := f.records[shard]
	if len(recs) == 0 {
		return "", nil
	}
	return recs[len(recs)-1].Seq, nil
}

func (f *fakeSource) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

func sourceConf(pos string) KinesisSource {
	return KinesisSource{StreamARN: "arn:aws:kinesis:us-east-1:000000000000:stream/ks", StartingPosition: pos}
}

// delivered returns the records in m's objects, in key order.
func delivered(m *memDest) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var all [][]byte
	for _, b := range m.objects {
		all = append(all, b)
	}
	return string(bytes.Join(all, nil))
}

// TestKinesisSourceTrimHorizon: a delivery stream reading a data stream
// from TRIM_HORIZON delivers what was there and what comes, parents
// before children after a split, and after a restart repeats nothing.
func TestKinesisSourceTrimHorizon(t *testing.T) {
	dir := t.TempDir()
	src := newFakeSource(SourceShard{ID: "s0"})
	src.add("s0", "a,", "b,", "c,")
	m := &memDest{}
	db := openDB(t, dir)
	e := openEngine(t, db, m, func(o *Options) { o.Source = src })
	ctx := context.Background()
	d := dest("bkt", 128, 0, Uncompressed)
	s, err := e.CreateFromSource(ctx, "fromks", sourceConf(TrimHorizon), d, nil)
	if err != nil || s.Type != TypeKinesisSource {
		t.Fatalf("%+v %v", s, err)
	}
	if _, err := e.Put(ctx, "fromks", [][]byte{[]byte("x")}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("put to a source stream: %v", err)
	}
	testtool.WaitFor(t, "the first records", func() bool { return strings.Count(delivered(m), ",") == 3 })
	src.add("s0", "d,")
	src.split("s0", "s1")
	src.add("s1", "e,")
	testtool.WaitFor(t, "the records after the split", func() bool { return strings.Count(delivered(m), ",") == 5 })
	e.Close()
	db.Close()

	src.add("s1", "f,")
	e2 := openEngine(t, openDB(t, dir), m, func(o *Options) { o.Source = src })
	// Records leave the spool after their object is written.
	testtool.WaitFor(t, "the record after the restart and an empty spool", func() bool {
		return strings.Count(delivered(m), ",") == 6 && e2.Stats().SpoolRecords == 0
	})
	got := delivered(m)
	for _, r := range []string{"a,", "b,", "c,", "d,", "e,", "f,"} {
		if strings.Count(got, r) != 1 {
			t.Fatalf("record %s delivered %d times: %q", r, strings.Count(got, r), got)
		}
	}
	if strings.Index(got, "d,") > strings.Index(got, "e,") && m.count() == 1 {
		t.Fatalf("child before parent: %q", got)
	}
}

// TestKinesisSourceLatest: from LATEST, what the stream held at create
// is not delivered, what comes after is.
func TestKinesisSourceLatest(t *testing.T) {
	src := newFakeSource(SourceShard{ID: "s0"}, SourceShard{ID: "s1"})
	src.add("s0", "old0,")
	src.add("s1", "old1,")
	m := &memDest{}
	e := openEngine(t, openDB(t, ""), m, func(o *Options) { o.Source = src })
	ctx := context.Background()
	if _, err := e.CreateFromSource(ctx, "late", sourceConf(""), dest("bkt", 128, 0, Uncompressed), nil); err != nil {
		t.Fatal(err)
	}
	src.add("s0", "new0,")
	src.add("s1", "new1,")
	testtool.WaitFor(t, "the new records", func() bool { return strings.Count(delivered(m), ",") == 2 })
	if got := delivered(m); strings.Contains(got, "old") {
		t.Fatalf("delivered %q", got)
	}
	for _, bad := range []KinesisSource{
		{StreamARN: "arn:aws:kinesis:us-east-1:000000000000:stream/nope"},
		{StreamARN: "ks"},
		{StreamARN: "arn:aws:kinesis:us-east-1:000000000000:stream/ks", StartingPosition: "AT_TIMESTAMP"},
	} {
		if _, err := e.CreateFromSource(ctx, "bad", bad, dest("bkt", 1, 0, Uncompressed), nil); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	e2 := openEngine(t, openDB(t, ""), m, nil)
	if _, err := e2.CreateFromSource(ctx, "x", sourceConf(""), dest("bkt", 1, 0, Uncompressed), nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("without a Source: %v", err)
	}
}
