package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/ingest/sources"
	"github.com/kinedge/kinedge/testdata/testtool"
	"github.com/pion/rtp"
)

// relayCamera is an RTSP server standing in for an IP camera: ffmpeg
// publishes a clip into it and it serves that stream to whoever plays it
// (gortsplib's relay pattern).
type relayCamera struct {
	server *gortsplib.Server
	mu     sync.Mutex
	stream *gortsplib.ServerStream
	pub    *gortsplib.ServerSession
}

func (c *relayCamera) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream != nil && ctx.Session == c.pub {
		c.stream.Close()
		c.stream = nil
	}
}

func (c *relayCamera) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

func (c *relayCamera) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &gortsplib.ServerStream{Server: c.server, Desc: ctx.Description}
	if err := st.Initialize(); err != nil {
		return &base.Response{StatusCode: base.StatusInternalServerError}, err
	}
	c.stream, c.pub = st, ctx.Session
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (c *relayCamera) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

func (c *relayCamera) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (c *relayCamera) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	ctx.Session.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
		c.mu.Lock()
		st := c.stream
		c.mu.Unlock()
		if st != nil {
			st.WritePacketRTP(m, pkt)
		}
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func startRelayCamera(t *testing.T) string {
	t.Helper()
	c := &relayCamera{}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c.server = &gortsplib.Server{Handler: c, RTSPAddress: addr}
	if err := c.server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.server.Close)
	return addr
}

// startFedCamera starts a relay camera that ffmpeg feeds with the
// h264_aac clip in a loop (until the test ends) and returns its address.
func startFedCamera(t *testing.T) string {
	t.Helper()
	addr := startRelayCamera(t)
	feed := testtool.Command(t, 5*time.Minute, testtool.Need(t, "ffmpeg"), "-hide_banner", "-v", "error", "-re", "-stream_loop", "-1", "-i", remuxed(t, "h264_aac.ts"),
		"-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", "rtsp://"+addr+"/live")
	if err := feed.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { feed.Process.Kill(); feed.Wait() })
	return addr
}

// pushCamera has ffmpeg publish the h264_aac clip to stream in a loop
// (until the test ends) and waits until the appliance records it.
func (s *server) pushCamera(t *testing.T, stream string) {
	t.Helper()
	feed := testtool.Command(t, 5*time.Minute, testtool.Need(t, "ffmpeg"), "-hide_banner", "-v", "error", "-re", "-stream_loop", "-1", "-i", remuxed(t, "h264_aac.ts"),
		"-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", fmt.Sprintf("rtsp://camera:camsecret@%s/%s", s.rtspAddr, stream))
	if err := feed.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { feed.Process.Kill(); feed.Wait() })
	waitFor(t, time.Minute, stream+" pushing", func() error {
		js, err := s.streamJSON(t, stream)
		if err != nil {
			return err
		}
		if js.State != videoapi.StatePushing {
			return fmt.Errorf("state %q", js.State)
		}
		return nil
	})
}

// pullCamera adds a pulled camera over the API and waits until it plays.
func (s *server) pullCamera(t *testing.T, name, source string) {
	t.Helper()
	if code, body := s.do(t, http.MethodPost, "/v1/streams", map[string]string{"name": name, "source": source}); code != http.StatusCreated {
		t.Fatalf("POST /v1/streams: %d %s", code, body)
	}
	waitFor(t, time.Minute, name+" pulling", func() error {
		js, err := s.streamJSON(t, name)
		if err != nil {
			return err
		}
		if js.State != videoapi.StatePulling {
			return fmt.Errorf("state %q", js.State)
		}
		return nil
	})
}

func (s *server) do(t *testing.T, method, path string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+s.httpAddr+path, rd)
	req.SetBasicAuth("admin", "adminsecret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPullCamera adds a camera by URL over the API: the appliance pulls it
// (DESCRIBE/SETUP/PLAY with digest-capable credentials in the URL), records
// what it plays, keeps the source across a restart, and stops on DELETE.
func TestPullCamera(t *testing.T) {
	testtool.Need(t, "ffmpeg")
	// The camera streams (ffmpeg publishes the clip into it).
	camAddr := startFedCamera(t)
	dataDir := t.TempDir()
	s := startServer(t, dataDir, freeUDPPair(t))

	source := "rtsp://viewer:s3cret@" + camAddr + "/live"
	if code, body := s.do(t, http.MethodPost, "/v1/streams", map[string]string{"name": "porch", "source": source}); code != http.StatusCreated || strings.Contains(body, "s3cret") {
		t.Fatalf("POST /v1/streams: %d %s", code, body)
	}
	if code, _ := s.do(t, http.MethodPost, "/v1/streams", map[string]string{"name": "porch", "source": source}); code != http.StatusConflict {
		t.Fatalf("adding porch twice: %d", code)
	}
	if code, _ := s.do(t, http.MethodPost, "/v1/streams", map[string]string{"name": "bad name", "source": "http://x"}); code != http.StatusBadRequest {
		t.Fatalf("bad source: %d", code)
	}
	waitFor(t, time.Minute, "pulled fragments", func() error {
		code, body := s.do(t, http.MethodGet, "/v1/streams/porch/fragments", nil)
		var page struct{ Fragments []json.RawMessage }
		if code != 200 || json.Unmarshal([]byte(body), &page) != nil || len(page.Fragments) < 2 {
			return fmt.Errorf("%d: %.200s", code, body)
		}
		return nil
	})
	if strings.Contains(s.logs(), "s3cret") {
		t.Fatalf("the camera password is in the log")
	}
	b, err := os.ReadFile(filepath.Join(dataDir, sources.SourcesFile))
	if err != nil || !strings.Contains(string(b), "porch") {
		t.Fatalf("source not saved: %v %s", err, b)
	}
	if st, err := os.Stat(filepath.Join(dataDir, sources.SourcesFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("sources file mode: %v", st)
	}

	// After a restart the appliance pulls the camera again by itself.
	s.stop()
	s.start()
	before := len(s.fragments(t, "porch"))
	waitFor(t, time.Minute, "fragments after restart", func() error {
		if n := len(s.fragments(t, "porch")); n < before+2 {
			return fmt.Errorf("%d fragments, %d before the restart", n, before)
		}
		return nil
	})

	// DELETE stops pulling; the recording stays.
	if code, body := s.do(t, http.MethodDelete, "/v1/streams/porch/source", nil); code != http.StatusNoContent {
		t.Fatalf("DELETE source: %d %s", code, body)
	}
	if code, _ := s.do(t, http.MethodDelete, "/v1/streams/porch/source", nil); code != http.StatusNotFound {
		t.Fatalf("DELETE twice: %d", code)
	}
	// DELETE returns once the puller is closed and its open fragment
	// stored: from now on the count must not move.
	n := len(s.fragments(t, "porch"))
	time.Sleep(3 * time.Second) // absence of activity: a pulled stream stores a fragment every 2 s
	if m := len(s.fragments(t, "porch")); m != n {
		t.Fatalf("still recording after DELETE: %d fragments, then %d", n, m)
	}
	replay := replayRange(t, s, "porch", time.Now().Add(-time.Hour), time.Now())
	decodeClean(t, replay)
}
