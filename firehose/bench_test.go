package firehose

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/kinedge/kinedge/testdata/s3test"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// The delivery benchmarks (issue 8, "Benchmark"): figures and commands in
// README.md. They need versitygw (testdata/s3test) and are never timed
// tests: they report, they do not assert on speed.

const (
	benchRecord  = 1024                      // bytes of one record
	benchObject  = 1 << 20                   // bytes of one object: SizeInMBs 1
	benchPerObj  = benchObject / benchRecord // records of one object
	benchObjects = 8                         // objects of one iteration
	benchBatch   = 500                       // records of one Put (PutRecordBatch's limit)
)

var benchFormats = []string{Uncompressed, GZIP, Snappy, ZIP, HadoopSnappy}

// jsonRecords returns n JSON-ish records of exactly benchRecord bytes
// (newline-terminated), from a fixed seed: field names repeat, values
// and a payload of hex digits vary, so they compress as telemetry does.
func jsonRecords(n int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	base := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	out := make([][]byte, n)
	for i := range out {
		r := fmt.Appendf(nil, `{"ts":"%s","device":"sensor-%03d","seq":%d,"temp":%.2f,"rssi":%d,"payload":"`,
			base.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), rng.IntN(200), i, 15+rng.Float64()*20, -40-rng.IntN(60))
		for len(r) < benchRecord-3 {
			r = append(r, "0123456789abcdef"[rng.IntN(16)])
		}
		out[i] = append(r, '"', '}', '\n')
	}
	return out
}

// benchServer starts versitygw with bucket and returns it and a
// Destination on it.
func benchServer(b *testing.B, bucket string) (*s3test.Server, *S3) {
	b.Helper()
	srv := s3test.Start(b)
	srv.MakeBucket(bucket)
	s3, err := NewS3(S3Config{Endpoint: srv.Endpoint(), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey})
	if err != nil {
		b.Fatal(err)
	}
	return srv, s3
}

// waitStats polls the engine's Stats every millisecond until cond holds
// (bounded by testtool.WaitLimit): the engine has no delivery event, and
// a millisecond is small beside an object write.
func waitStats(b *testing.B, e *Engine, what string, cond func(Stats) bool) {
	b.Helper()
	deadline := time.Now().Add(testtool.WaitLimit)
	for !cond(e.Stats()) {
		if time.Now().After(deadline) {
			b.Fatalf("%s: not reached within %v (stats %+v)", what, testtool.WaitLimit, e.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkDelivery puts benchObjects MiB of 1 KiB records per iteration,
// in Puts of 500 (PutRecordBatch), to a stream with SizeInMBs 1 and
// IntervalInSeconds 900, so every object holds exactly 1 MiB of records;
// an iteration ends when the engine's Stats count every record delivered.
// MB/s is of the records' (uncompressed) bytes. After each iteration,
// untimed, the same objects go through rawPut (BenchmarkRawPutObject's
// loop) to the same server: x-raw is the engine's rate over that raw
// loop's, paired iteration by iteration so a loaded machine slows both
// alike (the goal: x-raw >= 0.9 with GZIP).
func BenchmarkDelivery(b *testing.B) {
	srv, s3 := benchServer(b, "bench")
	c := srv.Client()
	recs := jsonRecords(benchObjects*benchPerObj, 1)
	bodies := objectBodies(recs)
	for _, format := range benchFormats {
		b.Run(format, func(b *testing.B) {
			e := openEngine(b, openDB(b, ""), s3, nil)
			name := "bench-" + strings.ToLower(format)
			d := dest("bench", 1, 900, format)
			d.Prefix = name + "/"
			if _, err := e.Create(context.Background(), name, d); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var raw, engine time.Duration // paired, under the same load
			var n int
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				for batch := range slices.Chunk(recs, benchBatch) {
					if _, err := e.Put(ctx, name, batch); err != nil {
						b.Fatal(err)
					}
				}
				want := uint64((i + 1) * len(recs))
				waitStats(b, e, "every record delivered", func(st Stats) bool { return st.RecordsDelivered >= want })
				engine += time.Since(t0)
				b.StopTimer()
				t1 := time.Now()
				rawPut(b, c, "bench", format, bodies, &n)
				raw += time.Since(t1)
				b.StartTimer()
			}
			elapsed := engine

			st := e.Stats()
			b.ReportMetric(float64(st.RecordsDelivered)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(st.BytesDelivered)/1e6/elapsed.Seconds(), "MB/s")
			b.ReportMetric(float64(st.Objects)/float64(b.N), "objects/op")
			b.ReportMetric(raw.Seconds()/engine.Seconds(), "x-raw")
			if st.UploadFailures > 0 {
				b.ReportMetric(float64(st.UploadFailures), "upload-failures")
			}
		})
	}
}

// objectBodies returns recs cut into objects of benchPerObj records.
func objectBodies(recs [][]byte) [][]byte {
	var bodies [][]byte
	for obj := range slices.Chunk(recs, benchPerObj) {
		bodies = append(bodies, bytes.Join(obj, nil))
	}
	return bodies
}

// rawPut compresses each body with the engine's encoder and writes it
// with a plain minio-go PutObject; n numbers the keys.
func rawPut(b *testing.B, c *minio.Client, bucket, format string, bodies [][]byte, n *int) {
	b.Helper()
	ctx := context.Background()
	var buf bytes.Buffer
	for _, body := range bodies {
		buf.Reset()
		w, err := encoder(format, "raw", &buf)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Write(body); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		key := "raw-" + strings.ToLower(format) + "/" + strconv.Itoa(*n) + extension(format)
		*n++
		_, err = c.PutObject(ctx, bucket, key, bytes.NewReader(buf.Bytes()), int64(buf.Len()),
			minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawPutObject is the reference of BenchmarkDelivery: a plain
// minio-go PutObject loop of the same bytes to the same kind of server,
// objects of 1 MiB of the same records, each compressed in the loop with
// the engine's encoder (as a client compressing its own uploads would);
// no spool, no key bookkeeping.
func BenchmarkRawPutObject(b *testing.B) {
	srv, _ := benchServer(b, "raw")
	c := srv.Client()
	recs := jsonRecords(benchObjects*benchPerObj, 1)
	bodies := objectBodies(recs)
	for _, format := range benchFormats {
		b.Run(format, func(b *testing.B) {
			var n int
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				rawPut(b, c, "raw", format, bodies, &n)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N*len(recs))/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(b.N*len(recs)*benchRecord)/1e6/elapsed.Seconds(), "MB/s")
		})
	}
}

// BenchmarkEndToEndLag measures, at BufferingHints 1 MiB / 1 s, the lag
// of each record from the return of its PutRecord (one record a Put,
// every 5 ms for 3 s: less than 1 MiB, so the interval cuts the objects)
// to the first listing of the bucket that shows the object holding it
// (the listing is polled every 10 ms: up to 10 ms more). p50 and p99 are
// over every record of every iteration.
func BenchmarkEndToEndLag(b *testing.B) {
	srv, s3 := benchServer(b, "lag")
	c := srv.Client()
	e := openEngine(b, openDB(b, ""), s3, nil)
	const name = "lag"
	if _, err := e.Create(context.Background(), name, dest("lag", 1, 1, Uncompressed)); err != nil {
		b.Fatal(err)
	}
	const (
		every = 5 * time.Millisecond
		span  = 3 * time.Second
		n     = int(span / every)
	)
	ctx := context.Background()
	var lags []time.Duration
	seen := map[string]bool{}
	for i := range b.N {
		var mu sync.Mutex // put: written by the putter, read by the lister
		put := make([]time.Time, n)
		got := make([]bool, n)
		left := n
		// The lister runs beside the putter: a record's object can be
		// visible before the last put.
		done := make(chan error, 1)
		go func() {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			deadline := time.After(testtool.WaitLimit)
			for left > 0 {
				select {
				case <-deadline:
					done <- fmt.Errorf("%d records of iteration %d not visible within %v", left, i, testtool.WaitLimit)
					return
				case <-tick.C:
				}
				for info := range c.ListObjects(ctx, "lag", minio.ListObjectsOptions{Recursive: true}) {
					if info.Err != nil {
						done <- info.Err
						return
					}
					if seen[info.Key] {
						continue
					}
					at := time.Now()
					seen[info.Key] = true
					o, err := c.GetObject(ctx, "lag", info.Key, minio.GetObjectOptions{})
					if err != nil {
						done <- err
						return
					}
					body, err := io.ReadAll(o)
					o.Close()
					if err != nil {
						done <- err
						return
					}
					for rec := range bytes.Lines(body) {
						var it, k int
						if _, err := fmt.Sscanf(string(rec), "lag-%d-%d|", &it, &k); err != nil || it != i || k < 0 || k >= n || got[k] {
							done <- fmt.Errorf("object %s: unexpected record %.20q", info.Key, rec)
							return
						}
						got[k] = true
						left--
						mu.Lock()
						lags = append(lags, at.Sub(put[k]))
						mu.Unlock()
					}
				}
			}
			done <- nil
		}()
		tick := time.NewTicker(every)
		for k := range n {
			rec := fmt.Appendf(nil, "lag-%d-%d|", i, k)
			rec = append(rec, bytes.Repeat([]byte{'x'}, benchRecord-1-len(rec))...)
			rec = append(rec, '\n')
			mu.Lock()
			put[k] = time.Now() // the lag includes the PutRecord's commit
			mu.Unlock()
			if _, err := e.Put(ctx, name, [][]byte{rec}); err != nil {
				b.Fatal(err)
			}
			<-tick.C
		}
		tick.Stop()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	slices.Sort(lags)
	pct := func(p float64) float64 {
		return float64(lags[min(int(p*float64(len(lags))), len(lags)-1)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	b.ReportMetric(float64(len(lags))/float64(b.N), "records/op")
}
