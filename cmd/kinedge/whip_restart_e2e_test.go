package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/kinedge/kinedge/ingest/webrtc/whiptest"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestWHIPICERestart: a pion publisher restarts ICE (RFC 9725 section
// 4.4) halfway through 4 s of H.264; the session goes on, its fragments
// follow each other in one recording and the replay holds every frame.
func TestWHIPICERestart(t *testing.T) {
	testtool.Need(t, "ffprobe")
	video, _ := whipSamples(t, "4")
	s := startServer(t, t.TempDir(), freeUDPPair(t), "KINEDGE_FRAGMENT_TARGET=1s")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := whiptest.Publish(ctx, whiptest.Options{URL: "http://" + s.httpAddr + "/whip/camice", Token: "camsecret", Video: webrtc.MimeTypeH264})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	half := len(video) / 2
	if err := whiptest.Send(ctx, p.Video, video[:half]); err != nil {
		t.Fatal(err)
	}
	etag := p.ETag
	if err := p.RestartICE(ctx); err != nil {
		t.Fatal(err)
	}
	if p.ETag == etag {
		t.Fatalf("ETag %s unchanged by the restart", etag)
	}
	if err := whiptest.Send(ctx, p.Video, video[half:]); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Delete(ctx); err != nil || code != http.StatusOK {
		t.Fatalf("DELETE: %d %v", code, err)
	}
	var n int
	waitFor(t, time.Minute, "the session's fragments", func() error {
		frames := 0
		frags := s.fragments(t, "camice")
		for _, f := range frags {
			frames += f.Frames
		}
		n = len(frags)
		if frames < len(video)-1 {
			return errors.New("not all frames stored yet")
		}
		return nil
	})
	if n < 3 {
		t.Errorf("%d fragments for 4 s with a 1 s target", n)
	}
	mkvPath := fetchMKV(t, s, "camice", start.Add(-time.Minute), time.Now().Add(time.Minute))
	// The last frame may be lost to the DELETE.
	if got := ffprobe(t, mkvPath).packets(t)["video"]; got > len(video) || got < len(video)-1 {
		t.Fatalf("replayed %d video frames, sent %d", got, len(video))
	}
	decodeClean(t, mkvPath)
	// One session, ended by the DELETE: the restart kept it.
	resp, err := s.get("/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got := grepLines(string(m), "kinedge_whip_sessions_total{"); got != `kinedge_whip_sessions_total{result="deleted"} 1` {
		t.Errorf("WHIP sessions ended: %q, want the one deleted", got)
	}
}
