package index

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinedge/kinedge/index/store"
)

// BenchmarkPutFragment stores 1 MiB sealed fragments with fsync on
// (durable on return), from one writer and from 8 concurrent writers
// (group commit). Count the fsyncs with
//
//	go test -c -o /tmp/index.test ./index
//	strace -f -c -e trace=fsync,fdatasync /tmp/index.test -test.run '^$' -test.bench PutFragment -test.benchtime 200x
func BenchmarkPutFragment(b *testing.B) {
	const size = 1 << 20
	for _, bc := range []struct {
		name    string
		writers int
	}{{"serial", 1}, {"writers=8", 8}} {
		b.Run(bc.name, func(b *testing.B) {
			x := openT(b, Options{Dir: b.TempDir()})
			mustStream(b, x, "cam1", 24)
			ctx := context.Background()
			blob := blobFor(1, size)
			b.SetBytes(size)
			b.SetParallelism(bc.writers) // times GOMAXPROCS
			var failed atomic.Value
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n, err := x.NextFragmentNumber(ctx)
					if err == nil {
						err = x.PutFragment(ctx, Fragment{Number: n, Stream: "cam1"}, blob)
					}
					if err != nil {
						failed.Store(err)
						return
					}
				}
			})
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// load1Week writes the index of one week of one camera (a fragment every
// 2 s: 302,400 fragments, empty blobs) through the same entries as
// PutFragment, in write batches.
func load1Week(b *testing.B, x *Index) (start time.Time, n int) {
	b.Helper()
	mustStream(b, x, "cam1", 24*8)
	var srec streamRecord
	if err := x.view(func(txn *store.Txn) (err error) { srec, err = getStream(txn, "cam1"); return err }); err != nil {
		b.Fatal(err)
	}
	now := x.opts.Now()
	start = now.Add(-7 * 24 * time.Hour)
	n = 7 * 24 * 3600 / 2
	const chunk = 2000
	srec.MaxFragment = int64(2 * time.Second) // as PutFragment keeps it
	for lo := 0; lo < n; lo += chunk {
		err := x.update(context.Background(), store.Data, func(txn *store.Txn) error {
			if lo == 0 {
				if err := putStream(txn, &srec); err != nil {
					return err
				}
			}
			for i := lo; i < min(lo+chunk, n); i++ {
				at := start.Add(time.Duration(i) * 2 * time.Second)
				rec := fragmentRecord{
					Number: uint64(i + 1), SID: srec.ID, Stream: "cam1",
					Server: at.UnixNano(), Producer: at.Add(-time.Second).UnixNano(),
					Duration: int64(2 * time.Second), KeyID: "key-0001", Frames: 60,
					Tracks: []TrackInfo{{Codec: "H264", Kind: "video", Frames: 50}, {Codec: "AAC", Kind: "audio", Frames: 94}},
					SHA256: make([]byte, 32), Bucket: bucketEnd(at, x.opts.BucketWidth),
				}
				es, err := x.entries(&srec, &rec, nil, now)
				if err != nil {
					return err
				}
				for _, e := range es {
					if err := txn.SetEntry(e); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return start, n
}

// BenchmarkList1Week lists one page of 100 fragments from the middle of a
// week-long index (one seek, on disk).
func BenchmarkList1Week(b *testing.B) {
	clk := newClock()
	x := openT(b, Options{Dir: b.TempDir(), NoSync: true, Now: clk.Now})
	start, n := load1Week(b, x)
	ctx := context.Background()
	for _, by := range []TimestampType{ServerTime, ProducerTime} {
		b.Run(by.String(), func(b *testing.B) {
			mid := start.Add(time.Duration(n/2) * 2 * time.Second)
			for b.Loop() {
				fs, tok, err := x.List(ctx, "cam1", Query{By: by, Start: mid, End: mid.Add(time.Hour), Limit: 100})
				if err != nil || len(fs) != 100 || tok == "" {
					b.Fatalf("List: %d fragments, token %q, %v", len(fs), tok, err)
				}
			}
		})
	}
}

// BenchmarkTimeline1Week reads the whole week's timeline (302,400
// fragments, on disk) at a minute and at an hour a step, and at 10 s
// (where the walk reads every fragment), and reports the entries read.
func BenchmarkTimeline1Week(b *testing.B) {
	clk := newClock()
	x := openT(b, Options{Dir: b.TempDir(), NoSync: true, Now: clk.Now})
	start, n := load1Week(b, x)
	end := start.Add(time.Duration(n) * 2 * time.Second)
	ctx := context.Background()
	for _, step := range []time.Duration{10 * time.Second, time.Minute, time.Hour} {
		b.Run(step.String(), func(b *testing.B) {
			var reads int
			for b.Loop() {
				spans, r, err := x.timeline(ctx, "cam1", TimelineQuery{Start: start, End: end, Step: step})
				if err != nil || len(spans) == 0 {
					b.Fatalf("timeline: %d spans, %v", len(spans), err)
				}
				reads = r
			}
			b.ReportMetric(float64(reads), "entries-read")
			b.ReportMetric(float64(n), "fragments")
		})
	}
}

// BenchmarkRetentionSpace simulates cameras writing for hours with
// retention and GC on the injected clock and reports bytes written to
// disk per byte of video and the value log on disk.
func BenchmarkRetentionSpace(b *testing.B) {
	for _, bc := range []struct {
		name    string
		streams []simStream
		ratio   float64
	}{
		{"one-retention", []simStream{{"cam1", 1}}, 0},
		{"one-retention-ratio0.5", []simStream{{"cam1", 1}}, 0.5},
		{"mixed-retention", []simStream{{"cam1", 1}, {"cam2", 2}}, 0},
		{"mixed-retention-ratio0.5", []simStream{{"cam1", 1}, {"cam2", 2}}, 0.5},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var res simResult
			for b.Loop() {
				opts := Options{Dir: b.TempDir(), NoSync: true, ValueLogFileSize: 4 << 20, GCDiscardRatio: bc.ratio}
				res = simulate(b, opts, bc.streams, 4*time.Hour, 10*time.Second, 64<<10)
			}
			b.ReportMetric(res.amplification(), "disk-bytes/video-byte")
			b.ReportMetric(float64(res.vlogWritten)/float64(res.video), "vlog-bytes/video-byte")
			b.ReportMetric(mib(res.maxVlogOnDisk), "max-vlog-MiB")
			b.Logf("%v", res)
		})
	}
}
