package rtsp

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinedge/kinedge/ingest/media"
)

// countWriter counts frames.
type countWriter struct{ frames *atomic.Int64 }

func (w countWriter) WriteFrame(*media.Frame) { w.frames.Add(1) }
func (w countWriter) Discontinuity(string)    {}
func (w countWriter) Close()                  {}

type countRouter struct{ frames atomic.Int64 }

func (r *countRouter) Publish(*PublishRequest) (media.Writer, error) {
	return countWriter{&r.frames}, nil
}

// BenchmarkPullClip pulls the 10 s h264_aac.ts clip (250 video + ~470 audio
// frames, ~360 kbit/s) over loopback TCP per iteration, as fast as the
// in-process camera sends it: both ends run in this process, so the figure
// bounds the puller's cost from above.
func BenchmarkPullClip(b *testing.B) {
	clip := loadClip(b, "h264_aac.ts")
	cam := startCamera(b, "127.0.0.1:0", cameraFormats(b, clip))
	r := &countRouter{}
	p := &Puller{Stream: "cam", URL: cam.url("pass"), Router: r, BackoffMin: 10 * time.Millisecond}
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	for deadline := time.Now().Add(10 * time.Second); !p.Status().Connected; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("not connected")
		}
	}
	want := int64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cam.offset = time.Duration(i) * clip.Period
		for _, n := range cam.send(clip.Frames, false) {
			want += int64(n)
		}
		for deadline := time.Now().Add(20 * time.Second); r.frames.Load() < want; time.Sleep(100 * time.Microsecond) {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d frames", r.frames.Load(), want)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(want), "ns/frame")
	b.ReportMetric(float64(b.N)*clip.Period.Seconds()/b.Elapsed().Seconds(), "x-realtime")
}
