package api

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
)

// TestPutRecordsWhileRetentionDrops checks the one seam of the database:
// while the video index drops expired retention buckets (Badger's
// DropPrefix, which refuses writes meanwhile) in the database the data
// streams share, PutRecords calls from the official SDK, with retries off,
// never fail: their writes wait out each drop.
func TestPutRecordsWhileRetentionDrops(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(store.Options{Dir: t.TempDir(), NoSync: true, MemTableSize: 8 << 20, ValueLogFileSize: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	clk := &stepClock{t: t0}
	set := func(t time.Time) { clk.Add(t.Sub(clk.Now())) }
	idx, err := index.Open(index.Options{DB: db, Now: clk.Now, BucketWidth: time.Second, GCInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idx.CreateStream(ctx, index.Stream{Name: "cam1", RetentionHours: 1}); err != nil {
		t.Fatal(err)
	}
	// One fragment per one-second bucket.
	const buckets = 40
	for i := range buckets {
		n, err := idx.NextFragmentNumber(ctx)
		if err != nil {
			t.Fatal(err)
		}
		at := t0.Add(time.Duration(i)*time.Second + 100*time.Millisecond)
		blob := []byte(strings.Repeat(fmt.Sprint(i%10), 4096))
		if err := idx.PutFragment(ctx, index.Fragment{Number: n, Stream: "cam1", ServerTime: at, Duration: time.Second}, blob); err != nil {
			t.Fatal(err)
		}
	}

	e := openEngine(t, db, engine.Options{})
	h := &Handler{Engine: e}
	v := &awsproto.Verifier{Secret: func(k string) (string, bool) { return testSecret, k == testKey }, Service: "kinesis"}
	srv := httptest.NewServer(awsproto.Middleware(v, h, 0))
	t.Cleanup(func() {
		_ = h.Close()
		srv.Close()
		_ = e.Close()
		_ = idx.Close()
		_ = db.Close()
	})
	client := kinesis.New(kinesis.Options{
		BaseEndpoint: aws.String(srv.URL),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
		// Every failure of the server shows; only aws-sdk-go-v2's own
		// client-side race with net/http is retried ("use of closed
		// network connection" reading a 200, aws/aws-sdk-go-v2#2737).
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
				return aws.BoolTernary(strings.Contains(err.Error(), "use of closed network connection"))
			})}
		}),
	})
	if _, err := client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("load"), ShardCount: aws.Int32(4)}); err != nil {
		t.Fatal(err)
	}

	var calls, failed atomic.Int64
	var firstErr atomic.Value
	progress := make(chan struct{}, 1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			entries := make([]types.PutRecordsRequestEntry, 100)
			for i := range entries {
				entries[i] = types.PutRecordsRequestEntry{Data: make([]byte, 1024), PartitionKey: aws.String(fmt.Sprintf("w%d-%d", w, i))}
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				out, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("load"), Records: entries})
				calls.Add(1)
				if err == nil && aws.ToInt32(out.FailedRecordCount) > 0 {
					err = fmt.Errorf("%d records failed: %s", aws.ToInt32(out.FailedRecordCount), aws.ToString(out.Records[0].ErrorMessage))
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	// Expire the buckets a few at a time; between drops, wait for a call
	// to complete so that drops and puts interleave.
	dropped := 0
	for i := 2; i <= buckets; i += 2 {
		set(t0.Add(time.Hour + time.Duration(i)*time.Second))
		<-progress
		rep, err := idx.RunGC(ctx)
		if err != nil {
			t.Fatalf("RunGC: %v", err)
		}
		dropped += rep.BucketsDropped
	}
	<-progress
	close(stop)
	wg.Wait()
	if dropped < buckets-2 {
		t.Errorf("%d buckets dropped, want at least %d", dropped, buckets-2)
	}
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d PutRecords calls failed during %d bucket drops; first: %v", n, calls.Load(), dropped, firstErr.Load())
	}
	t.Logf("%d PutRecords calls, %d failed, across %d bucket drops", calls.Load(), failed.Load(), dropped)
}
