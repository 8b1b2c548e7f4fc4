package api

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// kclConsumer reads a stream over the wire the way the KCL does: a shard is
// leased only after all its parents were read to their end (GetRecords
// without NextShardIterator, with ChildShards).
type kclConsumer struct {
	t      *testing.T
	c      *kinesis.Client
	stream string
	done   map[string]bool
	its    map[string]*string
	data   []string // "key:n" in read order
}

func (k *kclConsumer) poll(ctx context.Context) bool {
	ls, err := k.c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(k.stream)})
	if err != nil {
		k.t.Fatal(err)
	}
	for _, s := range ls.Shards {
		id := aws.ToString(s.ShardId)
		if k.done[id] || k.its[id] != nil {
			continue
		}
		if p := aws.ToString(s.ParentShardId); p != "" && !k.done[p] {
			continue
		}
		if p := aws.ToString(s.AdjacentParentShardId); p != "" && !k.done[p] {
			continue
		}
		it, err := k.c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(k.stream), ShardId: s.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			k.t.Fatal(err)
		}
		k.its[id] = it.ShardIterator
	}
	progress := false
	for id, it := range k.its {
		gr, err := k.c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
		if err != nil {
			k.t.Fatal(err)
		}
		for _, r := range gr.Records {
			k.data = append(k.data, string(r.Data))
		}
		progress = progress || len(gr.Records) > 0
		if gr.NextShardIterator == nil {
			if len(gr.ChildShards) == 0 {
				k.t.Fatalf("%s ended without ChildShards", id)
			}
			delete(k.its, id)
			k.done[id] = true
			progress = true
		} else {
			k.its[id] = gr.NextShardIterator
		}
	}
	return progress
}

// TestLineageOverWire splits, merges and rescales a stream while writers
// put records through the SDK; a KCL-like consumer must read every
// acknowledged record exactly once, in per-key order.
func TestLineageOverWire(t *testing.T) {
	env := newEnv(t, nil)
	ctx := context.Background()
	c := env.client
	env.create(t, "lin", 2)
	const keys = 8
	var (
		mu    sync.Mutex
		acked = map[string]int{}
		stop  = make(chan struct{})
		wg    sync.WaitGroup
	)
	total := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, v := range acked {
			n += v
		}
		return n
	}
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
				var entries []types.PutRecordsRequestEntry
				var ks []string
				for k := w; k < keys; k += 2 {
					for range 5 {
						key := fmt.Sprint("key", k)
						entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(key), Data: []byte(fmt.Sprintf("%s:%d", key, next[k]))})
						ks = append(ks, key)
						next[k]++
					}
				}
				out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("lin"), Records: entries})
				if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
					t.Errorf("PutRecords: %v", err)
					return
				}
				mu.Lock()
				for _, k := range ks {
					acked[k]++
				}
				mu.Unlock()
			}
		}()
	}
	k := &kclConsumer{t: t, c: c, stream: "lin", done: map[string]bool{}, its: map[string]*string{}}
	ops := []func() error{
		func() error {
			_, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("lin"), ShardToSplit: aws.String("shardId-000000000001"), NewStartingHashKey: aws.String("255211775190703847597530955573826158592")})
			return err
		},
		func() error {
			_, err := c.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String("lin"), ShardToMerge: aws.String("shardId-000000000000"), AdjacentShardToMerge: aws.String("shardId-000000000002")})
			return err
		},
		func() error {
			_, err := c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("lin"), TargetShardCount: aws.Int32(4), ScalingType: types.ScalingTypeUniformScaling})
			return err
		},
	}
	for _, op := range ops {
		target := total() + 300
		deadline := time.Now().Add(30 * time.Second)
		for total() < target {
			k.poll(ctx)
			if time.Now().After(deadline) {
				t.Fatal("writers stalled")
			}
		}
		if err := op(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for k.poll(ctx) {
		if time.Now().After(deadline) {
			t.Fatal("consumer did not catch up")
		}
	}
	next := map[string]int{}
	for _, d := range k.data {
		var kn, n int
		if _, err := fmt.Sscanf(d, "key%d:%d", &kn, &n); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprint("key", kn)
		if n != next[name] {
			t.Fatalf("%s: read %d, want %d (lost, duplicated or out of order)", name, n, next[name])
		}
		next[name]++
	}
	for key, n := range acked {
		if next[key] != n {
			t.Errorf("%s: read %d, acknowledged %d", key, next[key], n)
		}
	}
	t.Logf("%d records through %d reshards, %d shards read to their end", total(), len(ops), len(k.done))
}
