package camsim

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

// discardServer accepts any publisher and only counts packets.
type discardServer struct{ packets atomic.Int64 }

func (d *discardServer) OnAnnounce(*gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (d *discardServer) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil, nil
}

func (d *discardServer) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	ctx.Session.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) { d.packets.Add(1) })
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCamsim64 publishes 64 cameras for 2 s of media each to an
// in-process discarding gortsplib server, with each pacing. It reports the
// process CPU (simulator and server together) per second of one camera's
// media. KINEDGE_BENCH_CLIP names another clip (e.g. the 1080p one from
// testdata/gen.sh --bench); the default is the committed h264_aac.ts. The
// simulator alone is measured with /usr/bin/time around `kinedge camsim`
// (see README.md).
func BenchmarkCamsim64(b *testing.B) {
	path := os.Getenv("KINEDGE_BENCH_CLIP")
	if path == "" {
		path = filepath.Join("..", "..", "testdata", "h264_aac.ts")
	}
	clip, err := ReadClip(path)
	if err != nil {
		b.Fatal(err)
	}
	const cameras = 64
	const media = 2 * time.Second
	for _, p := range []Pacing{PacingShared, PacingPerCamera} {
		b.Run(p.String(), func(b *testing.B) {
			sink := &discardServer{}
			var addr string
			srv := &gortsplib.Server{
				Handler: sink, RTSPAddress: "127.0.0.1:0", WriteQueueSize: 4096,
				Listen: func(network, address string) (net.Listener, error) {
					l, err := net.Listen(network, address)
					if err == nil {
						addr = l.Addr().String()
					}
					return l, err
				},
			}
			if err := srv.Start(); err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			var cpu time.Duration
			var frames, dropped int64
			b.ResetTimer()
			for range b.N {
				c0 := cpuTime()
				st, err := Run(context.Background(), Config{
					URL: "rtsp://" + addr + "/", Cameras: cameras, Source: clip,
					Duration: media, Pacing: p,
				})
				if err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - c0
				frames += st.Total().Frames
				dropped += st.Total().Dropped
			}
			cameraSeconds := float64(b.N) * cameras * media.Seconds()
			b.ReportMetric(float64(cpu.Milliseconds())/cameraSeconds, "cpu-ms/camera-s")
			b.ReportMetric(float64(frames)/float64(b.N), "frames/op")
			b.ReportMetric(float64(dropped)/float64(b.N), "dropped/op")
		})
	}
}
