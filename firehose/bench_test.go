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
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/kinedge/kinedge/index/store"
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

// BenchmarkDelivery measures delivery: reading the spool, compressing,
// writing the objects and deleting the delivered records, durably. Each
// iteration spools benchObjects MiB of 1 KiB records (Puts of 500,
// PutRecordBatch's limit) to a stream with SizeInMBs 1 and
// IntervalInSeconds 900 with the engine open without a destination
// (untimed: the put rate is reported as put-MB/s), then opens it with
// the destination (Open counts the spooled records, a restart's cost,
// untimed: open-ms; starting the stream's goroutine is its last step)
// and times it from there until every record is delivered and deleted
// from the spool (Stats: RecordsDelivered and SpoolRecords).
// Every object holds exactly 1 MiB of records. The database is on disk
// with the appliance's defaults: fsync on commit.
//
// Each iteration also runs rawPut (BenchmarkRawPutObject's loop: the
// same 1 MiB objects, compressed with the same format and level, written
// by a plain minio-go PutObject loop) to the same server, before the
// engine in even iterations and after it in odd ones, with no engine
// open, so a changing load slows both alike. MB/s and x-raw (the
// engine's rate over the raw loop's, the goal being x-raw >= 0.9
// with GZIP) are computed from those measured times. cpu-ms/MB and
// raw-cpu-ms/MB are the CPU time of this process (not versitygw's) per
// MB of records while the engine delivered (its goroutines, Badger's,
// the polling of Stats) and while the raw loop ran: on a saturated
// machine the rates follow them.
func BenchmarkDelivery(b *testing.B) {
	srv, s3 := benchServer(b, "bench")
	c := srv.Client()
	recs := jsonRecords(benchObjects*benchPerObj, 1)
	bodies := objectBodies(recs)
	var size int64
	for _, r := range recs {
		size += int64(len(r))
	}
	for _, format := range benchFormats {
		b.Run(format, func(b *testing.B) {
			sp := benchDB(b)
			name := "bench-" + strings.ToLower(format)
			d := dest("bench", 1, 900, format)
			d.Prefix = name + "/"
			ctx := context.Background()
			e := benchEngine(b, sp, s3)
			if _, err := e.Create(ctx, name, d); err != nil {
				b.Fatal(err)
			}
			e.Close()
			var raw, engine, put, open, rawCPU, engineCPU time.Duration
			var n int
			var objects, delivered, bytesOut uint64
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				if i%2 == 0 {
					t, cpu := time.Now(), cpuTime(b)
					rawPut(b, c, "bench", format, bodies, &n)
					raw += time.Since(t)
					rawCPU += cpuTime(b) - cpu
				}
				e := benchEngine(b, sp, nil) // spools, delivers nothing
				t := time.Now()
				for batch := range slices.Chunk(recs, benchBatch) {
					if _, err := e.Put(ctx, name, batch); err != nil {
						b.Fatal(err)
					}
				}
				put += time.Since(t)
				e.Close()
				t = time.Now()
				e = benchEngine(b, sp, s3) // counts the spool, starts delivering last
				open += time.Since(t)
				b.StartTimer()
				t, cpu := time.Now(), cpuTime(b)
				waitStats(b, e, "every record delivered and deleted", func(st Stats) bool {
					return st.RecordsDelivered == uint64(len(recs)) && st.SpoolRecords == 0
				})
				engine += time.Since(t)
				engineCPU += cpuTime(b) - cpu
				b.StopTimer()
				st := e.Stats()
				e.Close()
				objects += st.Objects
				delivered += st.RecordsDelivered
				bytesOut += st.BytesDelivered
				if st.UploadFailures > 0 {
					b.Fatalf("%d failed uploads", st.UploadFailures)
				}
				if i%2 == 1 {
					t, cpu := time.Now(), cpuTime(b)
					rawPut(b, c, "bench", format, bodies, &n)
					raw += time.Since(t)
					rawCPU += cpuTime(b) - cpu
				}
				b.StartTimer()
			}
			b.StopTimer()
			if bytesOut != uint64(b.N)*uint64(size) {
				b.Fatalf("delivered %d bytes, want %d", bytesOut, uint64(b.N)*uint64(size))
			}
			// raw covers the same number of objects as engine.
			rawRate := float64(b.N) * float64(size) / raw.Seconds()
			engineRate := float64(bytesOut) / engine.Seconds()
			b.ReportMetric(float64(delivered)/engine.Seconds(), "records/s")
			b.ReportMetric(engineRate/1e6, "MB/s")
			b.ReportMetric(rawRate/1e6, "raw-MB/s")
			b.ReportMetric(engineRate/rawRate, "x-raw")
			b.ReportMetric(float64(objects)/float64(b.N), "objects/op")
			b.ReportMetric(float64(b.N)*float64(size)/1e6/put.Seconds(), "put-MB/s")
			b.ReportMetric(float64(open.Milliseconds())/float64(b.N), "open-ms")
			mb := float64(b.N) * float64(size) / 1e6
			b.ReportMetric(float64(engineCPU.Microseconds())/1e3/mb, "cpu-ms/MB")
			b.ReportMetric(float64(rawCPU.Microseconds())/1e3/mb, "raw-cpu-ms/MB")
		})
	}
}

// cpuTime returns the CPU time (user and system) of the process so far:
// the benchmark's own process, not versitygw's.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchDB opens a database on disk with the appliance's defaults (fsync
// on commit), closed at the end, and returns its "f/" space.
func benchDB(b *testing.B) *store.Space {
	b.Helper()
	db, err := store.Open(store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	sp, err := db.Space("f/")
	if err != nil {
		b.Fatal(err)
	}
	return sp
}

// benchEngine opens an engine on sp with destination dest (nil: records
// are spooled and kept). The caller closes it.
func benchEngine(b *testing.B, sp *store.Space, dest Destination) *Engine {
	b.Helper()
	e, err := Open(Options{Space: sp, Destination: dest, RetryMin: 10 * time.Millisecond, RetryMax: 200 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// objectBodies returns recs cut into objects of benchPerObj records.
func objectBodies(recs [][]byte) [][]byte {
	var bodies [][]byte
	for obj := range slices.Chunk(recs, benchPerObj) {
		bodies = append(bodies, bytes.Join(obj, nil))
	}
	return bodies
}

// rawPut compresses each body in format, at the engine's level but in one
// stream on the calling goroutine (encoderOn with one worker: for GZIP
// klauspost's plain gzip.Writer, where the engine uses every core), and
// writes it with a plain minio-go PutObject; n numbers the keys.
func rawPut(b *testing.B, c *minio.Client, bucket, format string, bodies [][]byte, n *int) {
	b.Helper()
	ctx := context.Background()
	var buf bytes.Buffer
	for _, body := range bodies {
		buf.Reset()
		w, err := encoderOn(format, "raw", &buf, 1)
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
// objects of 1 MiB of the same records, each compressed in the loop
// (rawPut: the engine's format and level, one stream, as a client
// compressing its own uploads would); no spool, no key bookkeeping.
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
