package rtsp_test

import (
	"fmt"
	"time"

	"github.com/kinedge/kinedge/ingest/rtsp"
)

// A camera that only serves RTSP is pulled: each connection becomes one
// publishing session of stream "cam1" for the Router, and the Puller
// reconnects until Close.
func ExamplePuller() {
	p := &rtsp.Puller{
		Stream:     "cam1",
		URL:        "rtsp://admin:secret@127.0.0.1:1/Streaming/Channels/101", // nothing listens on port 1
		Transport:  "tcp",                                                    // or "udp", "auto"
		Router:     router{},
		BackoffMin: time.Second,
		BackoffMax: 30 * time.Second,
	}
	if err := p.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	fmt.Println(p.Status().URL)
	// Output: rtsp://admin:***@127.0.0.1:1/Streaming/Channels/101
}
