package rtpclock_test

import (
	"fmt"
	"time"

	"github.com/kinedge/kinedge/ingest/rtpclock"
)

// A WebRTC or RTSP track reader: one Mapper per sender, one Track per RTP
// stream; sender reports in, frames' RTP timestamps and arrivals in,
// producer times out.
func Example() {
	var m rtpclock.Mapper
	video := m.Track(90000)

	captured := time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)
	// the sender's clock is 2 s ahead of ours: its report says so.
	video.SenderReport(rtpclock.NTPTimestamp(captured.Add(2*time.Second)), 1000)

	// the frame with RTP timestamp 1000+3600 was captured 40 ms later and
	// arrived 10 ms after that.
	arrival := captured.Add(50 * time.Millisecond)
	wall, ev := video.Wall(1000+3600, arrival)
	fmt.Println(wall.Sub(captured), ev&rtpclock.EventAhead != 0, m.Stats().Correction)
	// Output: 50ms true 1.99s
}
