package whep

import (
	"slices"
	"testing"
	"time"

	"github.com/kinedge/kinedge/dataplane/video/whep/wheptest"
)

// BenchmarkFrameToPlayer measures the appliance's share of live view's
// glass-to-glass delay: from a frame handed to the hub (what ingest does
// once an access unit is complete) to its last RTP packet read by a pion
// player over loopback (queue, packetization, SRTP, UDP, SRTP, the
// player's read), one frame at a time so that no queueing adds to it.
// ns/op is the mean; p50-µs and p99-µs are reported too.
func BenchmarkFrameToPlayer(b *testing.B) {
	frames := h264Frames(b)
	fx := newFixture(b)
	stop := feed(fx.hub, "cam1", h264Track, frames)
	p := wheptest.New(b)
	p.Play(b, fx.srv.URL+"/whep/cam1", nil)
	p.WaitUntil(b, time.Minute, "the first frames", func() bool { return p.Keyframe && p.Frames > 0 })
	stop()

	f := fx.hub.Attach("cam1", h264Track) // a new source: the viewer waits for its keyframe
	delays := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fr := *frames[i%len(frames)]
		fr.PTS = time.Duration(i) * 40 * time.Millisecond
		fr.DTS = fr.PTS
		p.Lock()
		n := p.Frames
		p.Unlock()
		start := time.Now()
		f.WriteFrame(&fr)
		if i == 0 && !fr.Key {
			b.Fatal("the first frame is not a keyframe")
		}
		p.WaitUntil(b, 10*time.Second, "the frame", func() bool { return p.Frames > n })
		delays = append(delays, time.Since(start))
	}
	b.StopTimer()
	f.Close()
	slices.Sort(delays)
	b.ReportMetric(float64(delays[len(delays)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(delays[len(delays)*99/100].Microseconds()), "p99-µs")
}
