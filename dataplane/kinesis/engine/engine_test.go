package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinedge/kinedge/index/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Badger's caches run goroutines that outlive DB.Close briefly.
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*defaultPolicy[...]).processItems"),
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*Cache[...]).processItems"),
		goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
	)
}

// fakeClock is a settable clock for tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// openSpace opens a database in dir (in memory when "") without fsync on
// commit (the engine's syncer syncs) and returns its "d/" space.
func openSpace(t testing.TB, dir string) *store.Space {
	t.Helper()
	db, err := store.Open(store.Options{Dir: dir, InMemory: dir == "", NoSync: true,
		MemTableSize: 8 << 20, BlockCacheSize: 1 << 20, IndexCacheSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := db.Space("d/")
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// newEngine opens an engine on a fresh in-memory DB, closed at cleanup.
func newEngine(t testing.TB, mod func(*Options)) (*Engine, *fakeClock) {
	t.Helper()
	sp := openSpace(t, t.TempDir())
	clk := newFakeClock()
	o := Options{Space: sp, Now: clk.Now, IteratorSecret: []byte("test secret")}
	if mod != nil {
		mod(&o)
	}
	e, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.Close()
		_ = sp.DB().Close()
	})
	return e, clk
}

func mustCreate(t testing.TB, e *Engine, name string, shards int) {
	t.Helper()
	if err := e.CreateStream(CreateStreamInput{Name: name, ShardCount: shards}); err != nil {
		t.Fatal(err)
	}
}

func isKind(err, kind error) bool { return errors.Is(err, kind) }

func TestOptionsValidate(t *testing.T) {
	_, err := Open(Options{Limits: Limits{RecordsPerSecond: -1}, TrimInterval: -1})
	if !errors.Is(err, ErrOptions) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"Space is required", "negative limit", "TrimInterval must be positive"} {
		if !contains(err.Error(), want) {
			t.Errorf("error %q does not report %q", err, want)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestStreamLifecycle(t *testing.T) {
	e, _ := newEngine(t, func(o *Options) { o.MaxStreams = 3; o.MaxShards = 10 })
	tests := []struct {
		name string
		op   func() error
		kind error
		msg  string
	}{
		{"create", func() error { return e.CreateStream(CreateStreamInput{Name: "a", ShardCount: 2}) }, nil, ""},
		{"create again", func() error { return e.CreateStream(CreateStreamInput{Name: "a", ShardCount: 2}) }, ErrInUse, "Stream a under account 000000000000 already exists."},
		{"zero shards", func() error { return e.CreateStream(CreateStreamInput{Name: "b"}) }, ErrInvalidArgument, ""},
		{"on demand", func() error { return e.CreateStream(CreateStreamInput{Name: "od", Mode: ModeOnDemand}) }, nil, ""},
		{"shard limit", func() error { return e.CreateStream(CreateStreamInput{Name: "big", ShardCount: 5}) }, ErrLimitExceeded, ""},
		{"third", func() error { return e.CreateStream(CreateStreamInput{Name: "c", ShardCount: 1}) }, nil, ""},
		{"stream limit", func() error { return e.CreateStream(CreateStreamInput{Name: "d", ShardCount: 1}) }, ErrLimitExceeded, ""},
		{"delete missing", func() error { return e.DeleteStream("zz", false) }, ErrNotFound, "Stream zz under account 000000000000 not found."},
		{"delete", func() error { return e.DeleteStream("c", false) }, nil, ""},
		{"describe deleted", func() error { _, err := e.DescribeStream("c"); return err }, ErrNotFound, ""},
		{"retention too long", func() error { return e.IncreaseRetention("a", 8761) }, ErrInvalidArgument, ""},
		{"retention increase", func() error { return e.IncreaseRetention("a", 48) }, nil, ""},
		{"retention increase smaller", func() error { return e.IncreaseRetention("a", 30) }, ErrInvalidArgument, ""},
		{"retention decrease", func() error { return e.DecreaseRetention("a", 24) }, nil, ""},
		{"retention too short", func() error { return e.DecreaseRetention("a", 23) }, ErrInvalidArgument, ""},
		{"tags", func() error { return e.AddTags("a", map[string]string{"k": "v", "x": "y"}) }, nil, ""},
		{"untag", func() error { return e.RemoveTags("a", []string{"x", "missing"}) }, nil, ""},
		{"encrypt", func() error { return e.StartEncryption("a", EncryptionKMS, "alias/aws/kinesis") }, nil, ""},
		{"encrypt bad type", func() error { return e.StartEncryption("a", "AES", "k") }, ErrInvalidArgument, ""},
	}
	for _, tt := range tests {
		err := tt.op()
		if tt.kind == nil {
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			continue
		}
		if !isKind(err, tt.kind) {
			t.Fatalf("%s: err = %v, want %v", tt.name, err, tt.kind)
		}
		var ee *Error
		if !errors.As(err, &ee) {
			t.Fatalf("%s: not an *Error: %v", tt.name, err)
		}
		if tt.msg != "" && ee.Message != tt.msg {
			t.Errorf("%s: message %q, want %q", tt.name, ee.Message, tt.msg)
		}
	}
	d, err := e.DescribeStream("a")
	if err != nil {
		t.Fatal(err)
	}
	if d.Status != StatusActive || len(d.Shards) != 2 || d.OpenShardCount != 2 || d.RetentionHours != 24 || d.EncryptionType != EncryptionKMS || d.ARN != "arn:aws:kinesis:us-east-1:000000000000:stream/a" {
		t.Errorf("describe = %+v", d)
	}
	if d.Shards[0].ShardID != "shardId-000000000000" || d.Shards[1].StartingHashKey.String() != "170141183460469231731687303715884105728" {
		t.Errorf("shards = %+v", d.Shards)
	}
	tags, _ := e.Tags("a")
	if len(tags) != 1 || tags["k"] != "v" {
		t.Errorf("tags = %v", tags)
	}
	var names []string
	for _, s := range e.ListStreams() {
		names = append(names, s.Name)
	}
	if fmt.Sprint(names) != "[a od]" {
		t.Errorf("streams = %v", names)
	}
	if l := e.DescribeLimits(); l.OpenShardCount != 6 || l.OnDemandStreamCount != 1 || l.ShardLimit != 10 {
		t.Errorf("limits = %+v", l)
	}
}

func putN(t testing.TB, e *Engine, name string, n int, pk func(i int) string) []PutResult {
	t.Helper()
	var out []PutResult
	for i := 0; i < n; i += MaxPutRecordsEntries {
		var batch []PutEntry
		for j := i; j < min(n, i+MaxPutRecordsEntries); j++ {
			batch = append(batch, PutEntry{PartitionKey: pk(j), Data: []byte(fmt.Sprintf("rec-%d", j))})
		}
		res, err := e.PutRecords(context.Background(), name, batch)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
		out = append(out, res...)
	}
	return out
}

// readAll reads a shard from iterator it until no records are left (or the
// shard ends).
func readAll(t testing.TB, e *Engine, it string) ([]Record, GetRecordsResult) {
	t.Helper()
	var recs []Record
	for {
		res, err := e.GetRecords(it, 100)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, res.Records...)
		if res.NextShardIterator == "" || len(res.Records) == 0 {
			return recs, res
		}
		it = res.NextShardIterator
	}
}

func TestPutGet(t *testing.T) {
	e, clk := newEngine(t, nil)
	mustCreate(t, e, "s", 1)
	res := putN(t, e, "s", 250, func(i int) string { return fmt.Sprint("pk", i%7) })
	for i := 1; i < len(res); i++ {
		if res[i].SequenceNumber <= res[i-1].SequenceNumber {
			t.Fatalf("sequence numbers not increasing: %s then %s", res[i-1].SequenceNumber, res[i].SequenceNumber)
		}
	}
	clk.Add(time.Second)
	late, err := e.PutRecord(context.Background(), "s", PutEntry{PartitionKey: "late", Data: []byte("late")}, res[0].SequenceNumber)
	if err != nil {
		t.Fatal(err)
	}
	tsLate := clk.Now()
	tests := []struct {
		name  string
		typ   IteratorType
		seq   string
		ts    time.Time
		first string // data of first record, "" for none
		count int
	}{
		{"trim horizon", TrimHorizon, "", time.Time{}, "rec-0", 251},
		{"latest", Latest, "", time.Time{}, "", 0},
		{"at seq", AtSequenceNumber, res[10].SequenceNumber, time.Time{}, "rec-10", 241},
		{"after seq", AfterSequenceNumber, res[10].SequenceNumber, time.Time{}, "rec-11", 240},
		{"after last", AfterSequenceNumber, late.SequenceNumber, time.Time{}, "", 0},
		{"at timestamp", AtTimestamp, "", tsLate, "late", 1},
		{"at old timestamp", AtTimestamp, "", tsLate.Add(-time.Hour), "rec-0", 251},
		{"at future timestamp", AtTimestamp, "", tsLate.Add(time.Hour), "", 0},
	}
	for _, tt := range tests {
		it, err := e.GetShardIterator("s", "shardId-000000000000", tt.typ, tt.seq, tt.ts)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		recs, last := readAll(t, e, it)
		if len(recs) != tt.count {
			t.Errorf("%s: %d records, want %d", tt.name, len(recs), tt.count)
		}
		if tt.first != "" && (len(recs) == 0 || string(recs[0].Data) != tt.first) {
			t.Errorf("%s: first record %v", tt.name, recs)
		}
		if last.NextShardIterator == "" {
			t.Errorf("%s: open shard ended", tt.name)
		}
		if last.MillisBehindLatest != 0 {
			t.Errorf("%s: caught up but %d ms behind", tt.name, last.MillisBehindLatest)
		}
	}
	// LATEST then put: the new record is read.
	it, _ := e.GetShardIterator("s", "shardId-000000000000", Latest, "", time.Time{})
	if _, err := e.PutRecord(context.Background(), "s", PutEntry{PartitionKey: "x", Data: []byte("new")}, ""); err != nil {
		t.Fatal(err)
	}
	recs, _ := readAll(t, e, it)
	if len(recs) != 1 || string(recs[0].Data) != "new" || recs[0].PartitionKey != "x" {
		t.Errorf("after LATEST: %+v", recs)
	}
	// Errors.
	errTests := []struct {
		name  string
		shard string
		typ   IteratorType
		seq   string
		kind  error
	}{
		{"missing shard", "shardId-000000000009", TrimHorizon, "", ErrNotFound},
		{"bad shard id", "shard-1", TrimHorizon, "", ErrNotFound},
		{"bad seq", "shardId-000000000000", AtSequenceNumber, "123", ErrInvalidArgument},
		{"seq of other shard", "shardId-000000000000", AtSequenceNumber, seqNum{shard: 4, counter: 1}.String(), ErrInvalidArgument},
		{"bad type", "shardId-000000000000", "SOMETIMES", "", ErrInvalidArgument},
	}
	for _, tt := range errTests {
		if _, err := e.GetShardIterator("s", tt.shard, tt.typ, tt.seq, time.Time{}); !isKind(err, tt.kind) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.kind)
		}
	}
	// Expiry after 5 minutes.
	it, _ = e.GetShardIterator("s", "shardId-000000000000", TrimHorizon, "", time.Time{})
	clk.Add(IteratorTTL + time.Millisecond)
	if _, err := e.GetRecords(it, 1); !isKind(err, ErrExpiredIterator) {
		t.Errorf("expired iterator: err = %v", err)
	}
	if _, err := e.GetRecords("forged", 1); !isKind(err, ErrInvalidArgument) {
		t.Errorf("forged iterator: err = %v", err)
	}
}

func TestPutValidation(t *testing.T) {
	e, _ := newEngine(t, nil)
	mustCreate(t, e, "s", 2)
	big := make([]byte, MaxRecordSize)
	tests := []struct {
		name    string
		entries []PutEntry
		kind    error
	}{
		{"empty", nil, ErrInvalidArgument},
		{"no key", []PutEntry{{Data: []byte("x")}}, ErrInvalidArgument},
		{"long key", []PutEntry{{PartitionKey: string(make([]byte, 257))}}, ErrInvalidArgument},
		{"too big", []PutEntry{{PartitionKey: "k", Data: big}}, ErrInvalidArgument},
		{"bad hash", []PutEntry{{PartitionKey: "k", ExplicitHashKey: "340282366920938463463374607431768211456"}}, ErrInvalidArgument},
		{"total too big", []PutEntry{{PartitionKey: "k", Data: big[:1<<20-1]}, {PartitionKey: "k", Data: big[:1<<20-1]}, {PartitionKey: "k", Data: big[:1<<20-1]}, {PartitionKey: "k", Data: big[:1<<20-1]}, {PartitionKey: "k", Data: big[:1<<20-1]}, {PartitionKey: "k", Data: big[:100]}}, ErrInvalidArgument},
		{"too many", make([]PutEntry, 501), ErrInvalidArgument},
	}
	for _, tt := range tests {
		if _, err := e.PutRecords(context.Background(), "s", tt.entries); !isKind(err, tt.kind) {
			t.Errorf("%s: err = %v", tt.name, err)
		}
	}
	if _, err := e.PutRecords(context.Background(), "nope", []PutEntry{{PartitionKey: "k"}}); !isKind(err, ErrNotFound) {
		t.Errorf("missing stream: %v", err)
	}
	// Explicit hash keys route to the shard holding them.
	for _, tt := range []struct{ hash, shard string }{
		{"0", "shardId-000000000000"},
		{"170141183460469231731687303715884105727", "shardId-000000000000"},
		{"170141183460469231731687303715884105728", "shardId-000000000001"},
		{"340282366920938463463374607431768211455", "shardId-000000000001"},
	} {
		r, err := e.PutRecord(context.Background(), "s", PutEntry{PartitionKey: "k", ExplicitHashKey: tt.hash}, "")
		if err != nil || r.ShardID != tt.shard {
			t.Errorf("hash %s: %+v %v, want %s", tt.hash, r, err, tt.shard)
		}
	}
}

func TestLimits(t *testing.T) {
	e, clk := newEngine(t, func(o *Options) { o.Limits = DefaultLimits() })
	mustCreate(t, e, "s", 1)
	var entries []PutEntry
	for range 500 {
		entries = append(entries, PutEntry{PartitionKey: "k", Data: []byte("x")})
	}
	ok, throttled := 0, 0
	for range 3 {
		res, err := e.PutRecords(context.Background(), "s", entries)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err == nil {
				ok++
			} else if isKind(r.Err, ErrThroughputExceeded) {
				throttled++
			} else {
				t.Fatal(r.Err)
			}
		}
	}
	if ok != 1000 || throttled != 500 {
		t.Errorf("ok=%d throttled=%d, want 1000/500", ok, throttled)
	}
	if _, err := e.PutRecord(context.Background(), "s", PutEntry{PartitionKey: "k"}, ""); !isKind(err, ErrThroughputExceeded) {
		t.Errorf("PutRecord over limit: %v", err)
	}
	clk.Add(time.Second)
	if _, err := e.PutRecord(context.Background(), "s", PutEntry{PartitionKey: "k"}, ""); err != nil {
		t.Errorf("after a second: %v", err)
	}
	// 1 MiB/s in: one near-1MiB record passes, the next is throttled.
	clk.Add(time.Second)
	big := make([]byte, MaxRecordSize-1)
	if _, err := e.PutRecord(context.Background(), "s", PutEntry{PartitionKey: "k", Data: big}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.PutRecord(context.Background(), "s", PutEntry{PartitionKey: "k", Data: big}, ""); !isKind(err, ErrThroughputExceeded) {
		t.Errorf("bytes over limit: %v", err)
	}
	// 5 GetRecords per second.
	it, _ := e.GetShardIterator("s", "shardId-000000000000", Latest, "", time.Time{})
	n := 0
	for ; n < 10; n++ {
		if _, err := e.GetRecords(it, 1); err != nil {
			if !isKind(err, ErrThroughputExceeded) {
				t.Fatal(err)
			}
			break
		}
	}
	if n != 5 {
		t.Errorf("%d GetRecords before throttling, want 5", n)
	}
}

func TestConcurrentPuts(t *testing.T) {
	e, _ := newEngine(t, nil)
	mustCreate(t, e, "s", 4)
	const writers, perWriter = 8, 600
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i += 100 {
				var batch []PutEntry
				for j := i; j < i+100; j++ {
					batch = append(batch, PutEntry{PartitionKey: fmt.Sprintf("w%d", w), Data: []byte(fmt.Sprintf("%d", j))})
				}
				res, err := e.PutRecords(context.Background(), "s", batch)
				if err != nil {
					errs <- err
					return
				}
				for _, r := range res {
					if r.Err != nil {
						errs <- r.Err
						return
					}
				}
			}
		}()
	}
	// A reader polls concurrently; it must see each writer's records in order.
	d, _ := e.DescribeStream("s")
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := 0
	for _, sh := range d.Shards {
		it, err := e.GetShardIterator("s", sh.ShardID, TrimHorizon, "", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		recs, _ := readAll(t, e, it)
		next := map[string]int{}
		for _, r := range recs {
			var j int
			fmt.Sscan(string(r.Data), &j)
			if j != next[r.PartitionKey] {
				t.Fatalf("key %s: got %d, want %d", r.PartitionKey, j, next[r.PartitionKey])
			}
			next[r.PartitionKey]++
		}
		total += len(recs)
	}
	if total != writers*perWriter {
		t.Errorf("read %d records, want %d", total, writers*perWriter)
	}
}

func TestRestart(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock()
	sp := openSpace(t, dir)
	e, err := Open(Options{Space: sp, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, e, "s", 2)
	res := putN(t, e, "s", 100, func(i int) string { return fmt.Sprint(i) })
	it, _ := e.GetShardIterator("s", res[0].ShardID, TrimHorizon, "", time.Time{})
	if err := e.SplitShard("s", "shardId-000000000000", "1000"); err != nil {
		t.Fatal(err)
	}
	e.Close()
	sp.DB().Close()

	clk.t = clk.t.Add(-time.Hour) // the clock stepped back across the restart
	sp = openSpace(t, dir)
	defer sp.DB().Close()
	e, err = Open(Options{Space: sp, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	d, err := e.DescribeStream("s")
	if err != nil || len(d.Shards) != 4 || d.OpenShardCount != 3 {
		t.Fatalf("after restart: %+v %v", d, err)
	}
	// The iterator made before the restart still works (secret kept in DB).
	recs, _ := readAll(t, e, it)
	n := 0
	for _, r := range res {
		if r.ShardID == res[0].ShardID {
			n++
		}
	}
	if len(recs) != n {
		t.Errorf("read %d records of %s, want %d", len(recs), res[0].ShardID, n)
	}
	r2 := putN(t, e, "s", 50, func(i int) string { return fmt.Sprint(i) })
	for _, r := range r2 {
		for _, old := range res {
			if r.ShardID == old.ShardID && r.SequenceNumber <= old.SequenceNumber {
				t.Fatalf("sequence went back after restart: %s <= %s", r.SequenceNumber, old.SequenceNumber)
			}
		}
	}
}

func TestEnsureStream(t *testing.T) {
	e, _ := newEngine(t, nil)
	for range 2 {
		if err := e.EnsureStream("kinedge-fragments", 1); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(e.ListStreams()); got != 1 {
		t.Errorf("%d streams", got)
	}
}

// TestCloseUnderLoad closes the engine while writers are busy: every call
// returns (stored or ErrClosed) and no goroutine is left behind.
func TestCloseUnderLoad(t *testing.T) {
	sp := openSpace(t, t.TempDir())
	defer sp.DB().Close()
	e, err := Open(Options{Space: sp, WriteQueue: 2})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, e, "s", 2)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, err := e.PutRecords(context.Background(), "s", []PutEntry{{PartitionKey: fmt.Sprint(w), Data: []byte("x")}})
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Error(err)
					}
					return
				}
			}
		}()
	}
	it, _ := e.GetShardIterator("s", "shardId-000000000000", TrimHorizon, "", time.Time{})
	deadline := time.Now().Add(20 * time.Second)
	for n := 0; n < 50; {
		res, err := e.GetRecords(it, 100)
		if err != nil {
			t.Fatal(err)
		}
		n += len(res.Records)
		it = res.NextShardIterator
		if time.Now().After(deadline) {
			t.Fatal("no progress")
		}
	}
	e.Close()
	wg.Wait()
}

func TestShardLevelMetrics(t *testing.T) {
	e, _ := newEngine(t, nil)
	mustCreate(t, e, "s", 1)
	tests := []struct {
		metrics []string
		enable  bool
		want    string
		kind    error
	}{
		{[]string{"IncomingBytes"}, true, "[IncomingBytes]", nil},
		{[]string{"ALL"}, true, "[IncomingBytes IncomingRecords OutgoingBytes OutgoingRecords WriteProvisionedThroughputExceeded ReadProvisionedThroughputExceeded IteratorAgeMilliseconds]", nil},
		{[]string{"IncomingBytes", "OutgoingBytes"}, false, "[IncomingRecords OutgoingRecords WriteProvisionedThroughputExceeded ReadProvisionedThroughputExceeded IteratorAgeMilliseconds]", nil},
		{[]string{"Bogus"}, true, "", ErrInvalidArgument},
		{[]string{"ALL"}, false, "[]", nil},
	}
	for i, tt := range tests {
		_, desired, err := e.SetShardLevelMetrics("s", tt.metrics, tt.enable)
		if tt.kind != nil {
			if !errors.Is(err, tt.kind) {
				t.Errorf("%d: err = %v", i, err)
			}
			continue
		}
		if err != nil || fmt.Sprint(desired) != tt.want {
			t.Errorf("%d: desired %v %v, want %s", i, desired, err, tt.want)
		}
		d, _ := e.DescribeStream("s")
		if fmt.Sprint(d.ShardLevelMetrics) != tt.want {
			t.Errorf("%d: described %v", i, d.ShardLevelMetrics)
		}
	}
}

func TestStats(t *testing.T) {
	e, _ := newEngine(t, func(o *Options) { o.Limits = DefaultLimits() })
	mustCreate(t, e, "s", 1)
	putN(t, e, "s", 10, func(int) string { return "k" })
	it, _ := e.GetShardIterator("s", "shardId-000000000000", TrimHorizon, "", time.Time{})
	readAll(t, e, it)
	for range 6 {
		_, _ = e.GetRecords(it, 1)
	}
	st := e.Stats()
	if st.RecordsPut != 10 || st.BytesPut != 50 || st.PutCalls != 1 || st.Batches != 1 || st.Syncs != 1 || st.RecordsRead < 10 || st.ThrottledReads == 0 {
		t.Errorf("stats = %+v", st)
	}
}

// TestRestartClosedShardEnds: a shard closed at a counter whose record was
// never stored (lost in a crash) still ends for readers after a restart.
func TestRestartClosedShardEnds(t *testing.T) {
	dir := t.TempDir()
	clk := newFakeClock()
	sp := openSpace(t, dir)
	e, err := Open(Options{Space: sp, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, e, "s", 1)
	putN(t, e, "s", 3, func(int) string { return "k" })
	if err := e.SplitShard("s", "shardId-000000000000", "100"); err != nil {
		t.Fatal(err)
	}
	e.Close()
	// Move the parent's end past its last record, as a lost batch would.
	var m streamMeta
	if err := sp.Update(context.Background(), store.Reclaim, func(txn *store.Txn) error {
		it, err := txn.Get([]byte("d/s/s"))
		if err != nil {
			return err
		}
		b, _ := it.ValueCopy(nil)
		if m, err = decodeMeta(b); err != nil {
			return err
		}
		m.Shards[0].EndCounter += 5
		nb, _ := json.Marshal(m)
		return txn.Set([]byte("d/s/s"), nb)
	}); err != nil {
		t.Fatal(err)
	}
	sp.DB().Close()
	sp = openSpace(t, dir)
	defer sp.DB().Close()
	e, err = Open(Options{Space: sp, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	it, _ := e.GetShardIterator("s", "shardId-000000000000", TrimHorizon, "", time.Time{})
	recs, last := readAll(t, e, it)
	if len(recs) != 3 || last.NextShardIterator != "" || len(last.ChildShards) != 2 {
		t.Errorf("read %d records, next %q, children %v", len(recs), last.NextShardIterator, last.ChildShards)
	}
}
