package archive

import (
	"crypto/rand"
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
