package engine

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/seal"
)

// BenchmarkEnginePutRecords measures the engine alone (no HTTP, no JSON):
// 8 writers putting 500 records of 1 KiB per call into 4 shards of a
// durable on-disk DB, limits off. One op is one PutRecords call.
//
//	go test -run '^$' -bench EnginePutRecords -benchtime 400x ./dataplane/kinesis/engine/
func BenchmarkEnginePutRecords(b *testing.B) { benchEnginePutRecords(b, false) }

// BenchmarkEnginePutRecordsSealed is BenchmarkEnginePutRecords on a stream
// with encryption on: every record is sealed (AES-256-GCM) by the
// appliance's keyring.
func BenchmarkEnginePutRecordsSealed(b *testing.B) { benchEnginePutRecords(b, true) }

func benchEnginePutRecords(b *testing.B, sealed bool) {
	sp := openSpace(b, b.TempDir())
	defer sp.DB().Close()
	o := Options{Space: sp}
	if sealed {
		o.Sealer = &seal.Keyring{Store: &seal.MemKeyStore{}, Master: seal.NewMasterKey()}
	}
	e, err := Open(o)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	mustCreate(b, e, "bench", 4)
	if sealed {
		if err := e.StartEncryption("bench", EncryptionKMS, "alias/aws/kinesis"); err != nil {
			b.Fatal(err)
		}
	}
	payload := make([]byte, 1024)
	_, _ = rand.Read(payload)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range 8 {
		entries := make([]PutEntry, 500)
		for i := range entries {
			entries[i] = PutEntry{PartitionKey: fmt.Sprintf("w%d-%d", w, i), Data: payload}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := e.PutRecords(context.Background(), "bench", entries); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N*500)/time.Since(start).Seconds(), "records/s")
	st := e.Stats()
	b.ReportMetric(float64(st.PutCalls)/float64(max(st.Syncs, 1)), "calls/sync")
	b.ReportMetric(float64(st.RecordsPut)/float64(max(st.Syncs, 1)), "records/sync")
}
