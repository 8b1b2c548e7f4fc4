package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kinedge/kinedge/index/store"
)

func TestReshardErrors(t *testing.T) {
	e, _ := newEngine(t, func(o *Options) { o.MaxShards = 3 })
	mustCreate(t, e, "s", 2)
	mid := "170141183460469231731687303715884105728"
	tests := []struct {
		name string
		op   func() error
		kind error
	}{
		{"split missing shard", func() error { return e.SplitShard("s", "shardId-000000000007", "10") }, ErrNotFound},
		{"split missing stream", func() error { return e.SplitShard("x", "shardId-000000000000", "10") }, ErrNotFound},
		{"split at start", func() error { return e.SplitShard("s", "shardId-000000000000", "0") }, ErrInvalidArgument},
		{"split beyond end", func() error { return e.SplitShard("s", "shardId-000000000000", mid) }, ErrInvalidArgument},
		{"split bad key", func() error { return e.SplitShard("s", "shardId-000000000000", "abc") }, ErrInvalidArgument},
		{"merge self", func() error { return e.MergeShards("s", "shardId-000000000000", "shardId-000000000000") }, ErrInvalidArgument},
		{"split ok", func() error { return e.SplitShard("s", "shardId-000000000000", "1") }, nil},
		{"split closed", func() error { return e.SplitShard("s", "shardId-000000000000", "5") }, ErrInvalidArgument},
		{"merge not adjacent", func() error { return e.MergeShards("s", "shardId-000000000002", "shardId-000000000001") }, ErrInvalidArgument},
		{"merge ok", func() error { return e.MergeShards("s", "shardId-000000000003", "shardId-000000000001") }, nil},
		{"count too high", func() error { _, err := e.UpdateShardCount("s", 5); return err }, ErrInvalidArgument},
		{"count over limit", func() error { _, err := e.UpdateShardCount("s", 4); return err }, ErrLimitExceeded},
		{"count same", func() error { _, err := e.UpdateShardCount("s", 2); return err }, ErrInvalidArgument},
		{"count down", func() error { _, err := e.UpdateShardCount("s", 1); return err }, nil},
	}
	for _, tt := range tests {
		err := tt.op()
		if (tt.kind == nil) != (err == nil) || (tt.kind != nil && !isKind(err, tt.kind)) {
			t.Fatalf("%s: err = %v, want %v", tt.name, err, tt.kind)
		}
	}
	d, _ := e.DescribeStream("s")
	want := []struct{ id, parent, adj, start, end string }{
		{"shardId-000000000000", "", "", "0", "170141183460469231731687303715884105727"},
		{"shardId-000000000001", "", "", mid, "340282366920938463463374607431768211455"},
		{"shardId-000000000002", "shardId-000000000000", "", "0", "0"},
		{"shardId-000000000003", "shardId-000000000000", "", "1", "170141183460469231731687303715884105727"},
		{"shardId-000000000004", "shardId-000000000003", "shardId-000000000001", "1", "340282366920938463463374607431768211455"},
		{"shardId-000000000005", "shardId-000000000002", "shardId-000000000004", "0", "340282366920938463463374607431768211455"},
	}
	if len(d.Shards) != len(want) {
		t.Fatalf("%d shards: %+v", len(d.Shards), d.Shards)
	}
	for i, w := range want {
		s := d.Shards[i]
		if s.ShardID != w.id || s.ParentShardID != w.parent || s.AdjacentParentShardID != w.adj || s.StartingHashKey.String() != w.start || s.EndingHashKey.String() != w.end {
			t.Errorf("shard %d = %s p=%s a=%s [%s,%s], want %+v", i, s.ShardID, s.ParentShardID, s.AdjacentParentShardID, s.StartingHashKey, s.EndingHashKey, w)
		}
		if (i == 5) != s.Open() {
			t.Errorf("shard %s open = %v", s.ShardID, s.Open())
		}
	}
}

func TestUpdateShardCountUniform(t *testing.T) {
	tests := []struct{ from, to int }{{4, 8}, {8, 4}, {4, 2}, {2, 3}, {3, 2}, {5, 3}}
	for _, tt := range tests {
		e, _ := newEngine(t, nil)
		mustCreate(t, e, "s", tt.from)
		if _, err := e.UpdateShardCount("s", tt.to); err != nil {
			t.Fatalf("%d->%d: %v", tt.from, tt.to, err)
		}
		d, _ := e.DescribeStream("s")
		if d.OpenShardCount != tt.to {
			t.Errorf("%d->%d: %d open", tt.from, tt.to, d.OpenShardCount)
		}
		// Open shards cover the key space without gaps; every new shard has
		// parents that exist.
		ids := map[string]bool{}
		for _, s := range d.Shards {
			ids[s.ShardID] = true
		}
		var open []Shard
		for _, s := range d.Shards {
			if s.Open() {
				open = append(open, s)
			}
			if s.ParentShardID != "" && !ids[s.ParentShardID] || s.AdjacentParentShardID != "" && !ids[s.AdjacentParentShardID] {
				t.Errorf("%d->%d: %s has unknown parents", tt.from, tt.to, s.ShardID)
			}
		}
		sortShardsByStartPublic(open)
		if open[0].StartingHashKey != (HashKey{}) || open[len(open)-1].EndingHashKey != maxHashKey() {
			t.Errorf("%d->%d: open shards do not cover the space", tt.from, tt.to)
		}
		for i := 1; i < len(open); i++ {
			if open[i-1].EndingHashKey.add1() != open[i].StartingHashKey {
				t.Errorf("%d->%d: gap", tt.from, tt.to)
			}
		}
		if tt.to == 2*tt.from || 2*tt.to == tt.from {
			u := uniformRanges(tt.to)
			for i, s := range open {
				if s.StartingHashKey != u[i][0] || s.EndingHashKey != u[i][1] {
					t.Errorf("%d->%d: shard %d not uniform", tt.from, tt.to, i)
				}
			}
		}
	}
}

func sortShardsByStartPublic(v []Shard) {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j].StartingHashKey.Cmp(v[j-1].StartingHashKey) < 0; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
}

// lineageConsumer reads a stream the way the KCL does: a shard is read only
// after all its parents were read to their end; it returns every record
// read, in the order read.
type lineageConsumer struct {
	t    *testing.T
	e    *Engine
	name string
	done map[string]bool   // shards read to their end
	its  map[string]string // shards being read → iterator
	recs []Record
}

// poll reads every readable shard once; it reports whether any record came.
func (c *lineageConsumer) poll() bool {
	shards, err := c.e.ListShards(c.name)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, s := range shards {
		if c.done[s.ShardID] || c.its[s.ShardID] != "" {
			continue
		}
		if (s.ParentShardID != "" && !c.done[s.ParentShardID]) || (s.AdjacentParentShardID != "" && !c.done[s.AdjacentParentShardID]) {
			continue
		}
		it, err := c.e.GetShardIterator(c.name, s.ShardID, TrimHorizon, "", time.Time{})
		if err != nil {
			c.t.Fatal(err)
		}
		c.its[s.ShardID] = it
	}
	got := false
	for id, it := range c.its {
		res, err := c.e.GetRecords(it, 1000)
		if err != nil {
			c.t.Fatal(err)
		}
		c.recs = append(c.recs, res.Records...)
		got = got || len(res.Records) > 0
		if res.NextShardIterator == "" {
			if len(res.ChildShards) == 0 {
				c.t.Fatalf("%s ended without child shards", id)
			}
			delete(c.its, id)
			c.done[id] = true
			got = true
		} else {
			c.its[id] = res.NextShardIterator
		}
	}
	return got
}

func TestLineageConsumerUnderWrites(t *testing.T) {
	e, _ := newEngine(t, func(o *Options) { o.Now = time.Now })
	mustCreate(t, e, "s", 2)
	const keys = 16
	var (
		mu    sync.Mutex
		acked = map[string]int{} // key → records acknowledged
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := make([]int, keys)
			for {
				select {
				case <-stop:
					return
				default:
				}
				var batch []PutEntry
				for k := w; k < keys; k += 2 {
					batch = append(batch, PutEntry{PartitionKey: fmt.Sprint("key", k), Data: []byte(fmt.Sprint(next[k]))})
					next[k]++
				}
				res, err := e.PutRecords(context.Background(), "s", batch)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for i, r := range res {
					if r.Err != nil {
						t.Error(r.Err)
						mu.Unlock()
						return
					}
					acked[batch[i].PartitionKey]++
				}
				mu.Unlock()
			}
		}()
	}
	c := &lineageConsumer{t: t, e: e, name: "s", done: map[string]bool{}, its: map[string]string{}}
	ops := []func() error{
		func() error {
			return e.SplitShard("s", "shardId-000000000000", "85070591730234615865843651857942052864")
		},
		func() error { return e.MergeShards("s", "shardId-000000000003", "shardId-000000000001") },
		func() error { _, err := e.UpdateShardCount("s", 4); return err },
		func() error { _, err := e.UpdateShardCount("s", 2); return err },
	}
	ackedTotal := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, v := range acked {
			n += v
		}
		return n
	}
	for _, op := range ops {
		// Let the writers put at least 500 more records, reading meanwhile.
		target := ackedTotal() + 500
		deadline := time.Now().Add(20 * time.Second)
		for ackedTotal() < target {
			c.poll()
			if time.Now().After(deadline) {
				t.Fatal("writers stalled")
			}
		}
		if err := op(); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		c.poll()
	}
	close(stop)
	wg.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for c.poll() {
		if time.Now().After(deadline) {
			t.Fatal("consumer did not catch up")
		}
	}
	// Every acknowledged record exactly once, per key in order.
	next := map[string]int{}
	for _, r := range c.recs {
		var v int
		fmt.Sscan(string(r.Data), &v)
		if v != next[r.PartitionKey] {
			t.Fatalf("key %s: read %d, want %d", r.PartitionKey, v, next[r.PartitionKey])
		}
		next[r.PartitionKey]++
	}
	total := 0
	for k, n := range acked {
		total += n
		if next[k] != n {
			t.Errorf("key %s: read %d, acknowledged %d", k, next[k], n)
		}
	}
	if total == 0 {
		t.Fatal("nothing written")
	}
	t.Logf("%d records through %d reshards", total, len(ops))
}

func TestRetention(t *testing.T) {
	e, clk := newEngine(t, nil)
	mustCreate(t, e, "s", 1)
	old := putN(t, e, "s", 10, func(int) string { return "a" })
	clk.Add(23 * time.Hour)
	putN(t, e, "s", 5, func(int) string { return "a" })
	if err := e.SplitShard("s", "shardId-000000000000", "100"); err != nil {
		t.Fatal(err)
	}
	putN(t, e, "s", 3, func(int) string { return "a" })
	tests := []struct {
		advance    time.Duration
		parentRecs int
		shards     int
	}{
		{0, 15, 3},
		{90 * time.Minute, 5, 3}, // the first 10 are 24.5 h old
		{23 * time.Hour, 0, 2},   // the closed parent is gone
	}
	for i, tt := range tests {
		clk.Add(tt.advance)
		if err := e.Trim(); err != nil {
			t.Fatal(err)
		}
		d, err := e.DescribeStream("s")
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Shards) != tt.shards {
			t.Errorf("step %d: %d shards, want %d", i, len(d.Shards), tt.shards)
		}
		n := 0
		_ = e.sp.View(func(txn *store.Txn) error {
			n = countKeys(txn, e.shardPrefix(1, 0))
			return nil
		})
		if n != tt.parentRecs {
			t.Errorf("step %d: %d records stored in the parent, want %d", i, n, tt.parentRecs)
		}
	}
	if _, err := e.GetShardIterator("s", old[0].ShardID, AtSequenceNumber, old[0].SequenceNumber, time.Time{}); !isKind(err, ErrNotFound) {
		t.Errorf("iterator on a forgotten shard: %v", err)
	}
	// Deleting a stream erases its records.
	if err := e.DeleteStream("s", false); err != nil {
		t.Fatal(err)
	}
	if err := e.Trim(); err != nil {
		t.Fatal(err)
	}
	_ = e.sp.View(func(txn *store.Txn) error {
		if n := countKeys(txn, e.key(keyRecord)); n != 0 {
			t.Errorf("%d records left after delete", n)
		}
		return nil
	})
}

func TestAutoscaleOnDemand(t *testing.T) {
	e, clk := newEngine(t, nil)
	if err := e.CreateStream(CreateStreamInput{Name: "od", Mode: ModeOnDemand}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, e, "prov", 1)
	hot := "shardId-000000000000"
	hotKey := "0" // explicit hash key 0: the first shard
	put := func(stream string, n int, explicit string) {
		t.Helper()
		var batch []PutEntry
		for range n {
			batch = append(batch, PutEntry{PartitionKey: "k", ExplicitHashKey: explicit, Data: make([]byte, 10)})
		}
		if _, err := e.PutRecords(context.Background(), stream, batch); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		records   int
		wantSplit string
		wantOpen  int
	}{
		{"first pass only measures", 0, "[]", 4},
		{"cold", 100, "[]", 4},              // 100 records/s < 500
		{"hot", 500, "[od/" + hot + "]", 5}, // 500+1 records/s > half of 1000
		{"cold again", 10, "[]", 5},
	}
	for _, tt := range tests {
		if tt.records > 0 {
			put("od", tt.records, hotKey)
			put("prov", tt.records, "0")
		}
		if tt.name == "hot" {
			put("od", 1, hotKey)
		}
		split, err := e.Autoscale()
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(split) != tt.wantSplit {
			t.Errorf("%s: split %v, want %s", tt.name, split, tt.wantSplit)
		}
		d, _ := e.DescribeStream("od")
		if d.OpenShardCount != tt.wantOpen {
			t.Errorf("%s: %d open shards, want %d", tt.name, d.OpenShardCount, tt.wantOpen)
		}
		clk.Add(time.Second)
	}
	if d, _ := e.DescribeStream("prov"); d.OpenShardCount != 1 {
		t.Errorf("provisioned stream scaled: %d shards", d.OpenShardCount)
	}
}
