package api

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index/store"
)

// BenchmarkPutRecordsSDK is the benchmark: the aws-sdk-go-v2
// client, PutRecords of 500 records of 1 KiB, 8 concurrent writers, a
// 4-shard stream, limits off, through SigV4 Middleware over HTTP/1.1 to a
// durable (synced) Badger DB on disk. One op is one PutRecords call. It
// reports records/s, p50/p99 call latency, the GetRecords drain rate of
// everything written, and the process's peak RSS (client and server).
//
//	go test -run '^$' -bench PutRecordsSDK -benchtime 400x ./dataplane/kinesis/api/
func BenchmarkPutRecordsSDK(b *testing.B) { benchPutRecordsSDK(b, false) }

// BenchmarkPutRecordsSDKSealed is BenchmarkPutRecordsSDK on a stream with
// encryption on (StartStreamEncryption): every record is sealed by the
// appliance's keyring on the way in and opened on the way out.
func BenchmarkPutRecordsSDKSealed(b *testing.B) { benchPutRecordsSDK(b, true) }

func benchPutRecordsSDK(b *testing.B, sealed bool) {
	// The appliance's database: the default profile's Badger sizes (the
	// store's defaults), fsync on commit. Limits.Enabled is false by
	// default.
	var mod func(*engine.Options)
	if sealed {
		mod = func(o *engine.Options) {
			o.Sealer = &seal.Keyring{Store: &seal.MemKeyStore{}, Master: seal.NewMasterKey()}
		}
	}
	env := newEnvStore(b, mod, "http/1.1", store.Options{Dir: b.TempDir()})
	env.create(b, "bench", 4)
	ctx := context.Background()
	if sealed {
		if _, err := env.client.StartStreamEncryption(ctx, &kinesis.StartStreamEncryptionInput{StreamName: aws.String("bench"), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis")}); err != nil {
			b.Fatal(err)
		}
	}
	const writers, perCall, size = 8, 500, 1024
	payload := make([]byte, size)
	_, _ = rand.Read(payload)
	batches := make([][]types.PutRecordsRequestEntry, writers)
	for w := range batches {
		for i := range perCall {
			batches[w] = append(batches[w], types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprintf("w%d-%d", w, i)), Data: payload})
		}
	}
	var (
		next  atomic.Int64
		mu    sync.Mutex
		lat   []time.Duration
		wg    sync.WaitGroup
		fails atomic.Int64
	)
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				out, err := env.client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("bench"), Records: batches[w]})
				if err != nil {
					b.Error(err)
					return
				}
				fails.Add(int64(aws.ToInt32(out.FailedRecordCount)))
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if fails.Load() != 0 {
		b.Fatalf("%d records failed", fails.Load())
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	written := int64(b.N) * perCall
	b.ReportMetric(float64(written)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
	st := env.engine.Stats()
	b.ReportMetric(float64(st.PutCalls)/float64(max(st.Syncs, 1)), "calls/sync")

	if kb := procStatusKiB("VmHWM:"); kb > 0 {
		b.ReportMetric(float64(kb)/1024, "put-peak-RSS-MiB")
	}

	// Drain everything with GetRecords (10,000 records per call), shard by shard.
	t0 := time.Now()
	read := 0
	for i := range 4 {
		it, err := env.client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("bench"), ShardId: aws.String(fmt.Sprintf("shardId-%012d", i)), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			b.Fatal(err)
		}
		iter := it.ShardIterator
		for {
			gr, err := env.client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				b.Fatal(err)
			}
			read += len(gr.Records)
			if len(gr.Records) == 0 {
				break
			}
			iter = gr.NextShardIterator
		}
	}
	if int64(read) != written {
		b.Fatalf("drained %d records, wrote %d", read, written)
	}
	b.ReportMetric(float64(read)/time.Since(t0).Seconds(), "drain-records/s")
	// RSS of the whole test process (SDK client, HTTP, server, Badger):
	// the peak, and after the drain its anonymous part and its file-backed
	// part (Badger's memory-mapped tables and logs).
	for _, m := range []struct{ field, unit string }{{"VmHWM:", "peak-RSS-MiB"}, {"RssAnon:", "anon-RSS-MiB"}, {"RssFile:", "file-RSS-MiB"}} {
		if kb := procStatusKiB(m.field); kb > 0 {
			b.ReportMetric(float64(kb)/1024, m.unit)
		}
	}
}

// procStatusKiB returns a kB field of /proc/self/status, or 0.
func procStatusKiB(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), field); ok {
			var kb int64
			_, _ = fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb
		}
	}
	return 0
}
