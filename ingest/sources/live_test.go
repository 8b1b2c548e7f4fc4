package sources

import (
	"context"
	"testing"
	"time"

	"github.com/kinedge/kinedge/dataplane/video/live"
	"github.com/kinedge/kinedge/ingest/media"
)

// A live viewer that never reads loses frames in its own bounded queue,
// counted; the recording stores every fragment it would store without
// it; a viewer that reads gets the source's frames from a keyframe on.
func TestLiveTapBlockedViewer(t *testing.T) {
	e := newEnv(t)
	hub := &live.Hub{QueueFrames: 16}
	m := e.manager(t, func(m *Manager) {
		m.LiveTap = func(stream string, tracks []*media.Track) LiveFeed { return hub.Attach(stream, tracks) }
	})
	if _, err := hub.Subscribe("cam1"); err == nil {
		t.Fatal("a viewer subscribed before any source")
	}
	s, err := publish(t, m, "cam1")
	if err != nil {
		t.Fatal(err)
	}
	blocked, err := hub.Subscribe("cam1")
	if err != nil {
		t.Fatal(err)
	}
	defer blocked.Close()
	reader, err := hub.Subscribe("cam1")
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	got := make(chan int)
	go func() {
		n := 0
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			it, err := reader.Next(ctx)
			cancel()
			if err != nil {
				got <- n
				return
			}
			if n == 0 && !it.Frame.Key {
				t.Errorf("the reading viewer's first frame is not a keyframe")
			}
			n++
		}
	}()
	s.write(5 * time.Second)
	s.close()
	reader.Close()
	read := <-got

	frags := fragments(t, e.idx, "cam1")
	if len(frags) < 2 {
		t.Fatalf("%d fragments stored with a blocked viewer, want at least 2 of 5 s", len(frags))
	}
	rs := m.RecorderStats()["cam1"].Snapshot()
	if rs.FramesDropped != 0 {
		t.Fatalf("the recorder dropped %d frames", rs.FramesDropped)
	}
	st := hub.Stats()["cam1"]
	if st.Dropped == 0 || blocked.Dropped() == 0 {
		t.Fatalf("hub stats %+v, blocked viewer dropped %d: want drops counted", st, blocked.Dropped())
	}
	if st.Live {
		t.Fatal("the stream is still live after its source closed")
	}
	if read == 0 {
		t.Fatal("the reading viewer got nothing")
	}
}
