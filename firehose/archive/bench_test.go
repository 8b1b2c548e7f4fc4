package archive

import (
	"context"
	"crypto/rand"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/testdata/s3test"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// cpuTime returns the process's user plus system CPU time.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkArchive16Cameras: can the archive keep up with 16 cameras at
// 4 Mbit/s (8 MB/s in all)? Each iteration stores, untimed, 16 s of
// footage of 16 cameras (8 fragments of 2 s each, 1 MB sealed blobs of
// random bytes, as the recorder seals them) in an index on disk, then
// wakes the archiver (sealed mode, the appliance's manifest interval) and
// times it until every fragment is uploaded to versitygw. It reports the
// archive's MB/s, that rate over the 8 MB/s needed (x-realtime), and the
// process's CPU time over the timed wall time (cpu-cores: 1 is one core
// busy; versitygw's own CPU, in its process, is not counted) and per MB,
// whence the cores the archive needs at 8 MB/s.
func BenchmarkArchive16Cameras(b *testing.B) {
	const (
		cameras   = 16
		perCamera = 8                        // fragments per camera per iteration
		fragDur   = 2 * time.Second          // a fragment
		fragBytes = 4_000_000 / 8 * 2        // 4 Mbit/s × 2 s: 1 MB
		needed    = cameras * 4_000_000 / 8. // bytes/s of 16 cameras
	)
	srv := s3test.Start(b)
	srv.MakeBucket(bucket)
	bx := openBox(b, b.TempDir(), seal.NewMasterKey())
	ctx := b.Context()
	streams := make([]string, cameras)
	for c := range streams {
		streams[c] = "cam" + string(rune('a'+c))
		if _, err := bx.idx.CreateStream(ctx, index.Stream{Name: streams[c], RetentionHours: 24}); err != nil {
			b.Fatal(err)
		}
	}
	a := &Archiver{Index: bx.idx, Space: bx.sp, Bucket: s3Bucket(b, srv), Keys: bx.idx.Keys(), Opener: bx.kr, Sealed: true,
		ApplianceID: "pi-7", Prefix: "video/", MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
		Rescan: time.Hour, ManifestInterval: DefaultManifestInterval}
	if err := a.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })

	plain := make([]byte, fragBytes-64) // the seal adds its header, nonce and tag
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var wall, cpu time.Duration
	var archivedBytes uint64
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		for j := range perCamera {
			at := base.Add(time.Duration(i*perCamera+j) * fragDur)
			for _, s := range streams {
				rand.Read(plain)
				num, err := bx.idx.NextFragmentNumber(ctx)
				if err != nil {
					b.Fatal(err)
				}
				sealed, keyID, err := bx.kr.Seal(ctx, "", s, num, plain)
				if err != nil {
					b.Fatal(err)
				}
				f := index.Fragment{Number: num, Stream: s, ServerTime: at, Duration: fragDur, KeyID: keyID, Frames: 60}
				if err := bx.idx.PutFragment(ctx, f, sealed); err != nil {
					b.Fatal(err)
				}
			}
		}
		want := uint64((i + 1) * cameras * perCamera)
		before := a.Stats().Bytes
		b.StartTimer()
		c0, t0 := cpuTime(b), time.Now()
		a.Notify(index.Fragment{})
		deadline := t0.Add(testtool.WaitLimit)
		for st := a.Stats(); st.Objects < want || st.Backlog != 0; st = a.Stats() {
			if time.Now().After(deadline) {
				b.Fatalf("archive not done within %v: %+v", testtool.WaitLimit, st)
			}
			time.Sleep(time.Millisecond)
		}
		wall += time.Since(t0)
		cpu += cpuTime(b) - c0
		archivedBytes += a.Stats().Bytes - before
	}
	b.StopTimer()
	mbs := float64(archivedBytes) / 1e6 / wall.Seconds()
	b.ReportMetric(mbs, "MB/s")
	b.ReportMetric(mbs*1e6/needed, "x-realtime")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cpu-cores")
	cpuPerMB := cpu.Seconds() / (float64(archivedBytes) / 1e6)
	b.ReportMetric(cpuPerMB*1000, "cpu-ms/MB")
	b.ReportMetric(cpuPerMB*needed/1e6, "cores-at-8MB/s")
	if f := a.Stats().UploadFailures; f > 0 {
		b.ReportMetric(float64(f), "upload-failures")
	}
}

// putTimes records when each fragment object's PUT returned (S3 reads
// after writes: the object is visible from then on).
type putTimes struct {
	Bucket
	mu   sync.Mutex
	done map[uint64]time.Time
}

func (p *putTimes) Put(ctx context.Context, key string, body []byte, meta map[string]string) error {
	if err := p.Bucket.Put(ctx, key, body, meta); err != nil {
		return err
	}
	if name, ok := strings.CutSuffix(key[strings.LastIndex(key, "/")+1:], ".mkv"); ok {
		if n, err := strconv.ParseUint(name, 10, 64); err == nil {
			p.mu.Lock()
			p.done[n] = time.Now()
			p.mu.Unlock()
		}
	}
	return nil
}

// pacedRun is how long BenchmarkArchive16CamerasPaced records.
const pacedRun = 30 * time.Second

// BenchmarkArchive16CamerasPaced: 16 cameras at 4 Mbit/s recording at
// real rate (a 2-s, 1 MB sealed fragment per camera every 2 s, the
// cameras staggered: one fragment every 125 ms) for pacedRun, the
// archiver (sealed, the appliance's manifest interval) uploading to
// versitygw as they come. It reports the upload lag (fragment stored →
// its PUT returned) p50/p99/max, the most fragments waiting at once,
// whether it kept up (kept-up 1: p99 lag under one fragment's duration and
// nothing waiting at the end beyond one fragment per camera), and the
// process's CPU share: with the archiver (cpu-cores), recording alone
// (the same run without an archiver first: cpu-cores-recording), and the
// difference, the archiver's (cpu-cores-archive). versitygw's CPU, in its
// own process, is not counted. Run it with -benchtime 1x: each iteration
// takes 2 × pacedRun of wall time.
func BenchmarkArchive16CamerasPaced(b *testing.B) {
	for _, p := range []Priority{Oldest, Newest} {
		b.Run(string(p), func(b *testing.B) { benchPaced(b, p) })
	}
}

func benchPaced(b *testing.B, priority Priority) {
	const (
		cameras   = 16
		fragDur   = 2 * time.Second
		fragBytes = 4_000_000 / 8 * 2 // 4 Mbit/s × 2 s: 1 MB
	)
	srv := s3test.Start(b)
	srv.MakeBucket(bucket)
	bx := openBox(b, b.TempDir(), seal.NewMasterKey())
	ctx := b.Context()
	streams := make([]string, cameras)
	for c := range streams {
		streams[c] = "cam" + string(rune('a'+c))
		if _, err := bx.idx.CreateStream(ctx, index.Stream{Name: streams[c], RetentionHours: 24}); err != nil {
			b.Fatal(err)
		}
	}
	plain := make([]byte, fragBytes-64) // the seal adds its header, nonce and tag
	// record stores a fragment per tick for d, the cameras in turn, and
	// returns when each was stored.
	record := func(d time.Duration, notify func()) map[uint64]time.Time {
		stored := map[uint64]time.Time{}
		tick := time.NewTicker(fragDur / cameras)
		defer tick.Stop()
		end := time.Now().Add(d)
		for i := 0; time.Now().Before(end); i++ {
			<-tick.C
			s := streams[i%cameras]
			rand.Read(plain)
			num, err := bx.idx.NextFragmentNumber(ctx)
			if err != nil {
				b.Fatal(err)
			}
			sealed, keyID, err := bx.kr.Seal(ctx, "", s, num, plain)
			if err != nil {
				b.Fatal(err)
			}
			at := time.Now().UTC()
			f := index.Fragment{Number: num, Stream: s, ServerTime: at.Add(-fragDur), Duration: fragDur, KeyID: keyID, Frames: 60}
			if err := bx.idx.PutFragment(ctx, f, sealed); err != nil {
				b.Fatal(err)
			}
			stored[num] = time.Now()
			notify()
		}
		return stored
	}
	var recCPU, cpu, recWall, wall time.Duration
	var lags []time.Duration
	var maxWaiting int64
	keptUp := true
	for range b.N {
		// Recording alone, then with the archiver.
		c0, t0 := cpuTime(b), time.Now()
		record(pacedRun, func() {})
		recCPU += cpuTime(b) - c0
		recWall += time.Since(t0)

		// What the first run stored is archived before the measure.
		bk := &putTimes{Bucket: s3Bucket(b, srv), done: map[uint64]time.Time{}}
		a := &Archiver{Index: bx.idx, Space: bx.sp, Bucket: bk, Keys: bx.idx.Keys(), Opener: bx.kr, Sealed: true, Priority: priority,
			ApplianceID: "pi-7", Prefix: "video/", MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
			Rescan: DefaultRescan, ManifestInterval: DefaultManifestInterval}
		if err := a.Start(); err != nil {
			b.Fatal(err)
		}
		testtool.WaitFor(b, "the recording alone archived", func() bool { st := a.Stats(); return st.Passes > 0 && st.Backlog == 0 && st.Objects > 0 })
		c0, t0 = cpuTime(b), time.Now()
		stored := record(pacedRun, func() {
			a.Notify(index.Fragment{})
			maxWaiting = max(maxWaiting, a.Stats().Backlog)
		})
		cpu += cpuTime(b) - c0
		wall += time.Since(t0)
		waiting := a.Stats().Backlog
		if waiting > cameras {
			keptUp = false
		}
		testtool.WaitFor(b, "the paced recording archived", func() bool {
			bk.mu.Lock()
			defer bk.mu.Unlock()
			for n := range stored {
				if _, ok := bk.done[n]; !ok {
					return false
				}
			}
			return true
		})
		a.Close()
		for n, at := range stored {
			lags = append(lags, bk.done[n].Sub(at))
		}
	}
	slices.Sort(lags)
	q := func(p float64) time.Duration { return lags[min(len(lags)-1, int(p*float64(len(lags))))] }
	if q(0.99) >= fragDur {
		keptUp = false
	}
	b.ReportMetric(float64(q(0.5).Milliseconds()), "lag-p50-ms")
	b.ReportMetric(float64(q(0.99).Milliseconds()), "lag-p99-ms")
	b.ReportMetric(float64(lags[len(lags)-1].Milliseconds()), "lag-max-ms")
	b.ReportMetric(float64(maxWaiting), "max-waiting")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cpu-cores")
	b.ReportMetric(recCPU.Seconds()/recWall.Seconds(), "cpu-cores-recording")
	b.ReportMetric(cpu.Seconds()/wall.Seconds()-recCPU.Seconds()/recWall.Seconds(), "cpu-cores-archive")
	kept := 0.
	if keptUp {
		kept = 1
	}
	b.ReportMetric(kept, "kept-up")
	b.ReportMetric(float64(len(lags)), "fragments")
}
