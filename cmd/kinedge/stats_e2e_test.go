package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// scrape returns every series of /metrics by its text (name{labels}, the
// labels sorted by name as Prometheus writes them).
func (s *server) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := s.get("/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		var v float64
		if _, err := fmt.Sscan(line[i+1:], &v); err != nil {
			t.Fatalf("metric line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// streamJSON reads GET /v1/streams/<name>.
func (s *server) streamJSON(t *testing.T, name string) (videoapi.StreamJSON, error) {
	code, body := s.do(t, http.MethodGet, "/v1/streams/"+name, nil)
	var js videoapi.StreamJSON
	if code != http.StatusOK {
		return js, fmt.Errorf("GET /v1/streams/%s: %d %s", name, code, body)
	}
	return js, json.Unmarshal([]byte(body), &js)
}

// TestStatsReachMetricsAndAPI: what ingest and the fragmenter count shows
// on /metrics, and a pulled camera's state in /v1/streams. A camera with a
// keyframe a second against fragment.max 500 ms makes fragments cut at the
// cap; a client sending garbage RTP with a sequence gap makes decode errors
// and lost packets; a pulled camera that does not answer shows why.
func TestStatsReachMetricsAndAPI(t *testing.T) {
	ffmpeg := testtool.Need(t, "ffmpeg")
	s := startServer(t, t.TempDir(), freeUDPPair(t), "KINEDGE_FRAGMENT_TARGET=500ms", "KINEDGE_FRAGMENT_MAX=500ms")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	// A publish whose GOP (1 s) exceeds fragment.max.
	u := fmt.Sprintf("rtsp://camera:camsecret@%s/longgop", s.rtspAddr)
	if out, err := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-v", "error", "-re", "-i", remuxed(t, "h264_aac.ts"),
		"-c", "copy", "-max_delay", "1000", "-f", "rtsp", "-rtsp_transport", "tcp", u).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg publish: %v\n%s", err, out)
	}
	waitFor(t, 10*time.Second, "longgop counted", func() error {
		m := s.scrape(t)
		for _, series := range []string{
			`kinedge_stream_fragments_over_max_total{stream="longgop"}`,
			`kinedge_stream_fragmenter_frames_dropped_total{reason="over_max",stream="longgop"}`,
			`kinedge_rtsp_packets_received_total{stream="longgop"}`,
		} {
			if m[series] <= 0 {
				return fmt.Errorf("%s = %v", series, m[series])
			}
		}
		for _, series := range []string{
			`kinedge_stream_fragmenter_frames_dropped_total{reason="no_keyframe",stream="longgop"}`,
			`kinedge_stream_fragmenter_frames_dropped_total{reason="backwards",stream="longgop"}`,
			`kinedge_rtsp_packets_lost_total{stream="longgop"}`,
			`kinedge_rtsp_decode_errors_total{stream="longgop"}`,
			`kinedge_rtsp_frames_dropped_total{stream="longgop"}`,
			`kinedge_rtsp_discontinuities_total{stream="longgop"}`,
		} {
			if _, ok := m[series]; !ok {
				return fmt.Errorf("no series %s", series)
			}
		}
		// Over TCP from a clean clip nothing is lost or undecodable.
		if lost, bad := m[`kinedge_rtsp_packets_lost_total{stream="longgop"}`], m[`kinedge_rtsp_decode_errors_total{stream="longgop"}`]; lost != 0 || bad != 0 {
			t.Fatalf("a clean TCP publish: %v packets lost, %v decode errors", lost, bad)
		}
		return nil
	})
	if !strings.Contains(s.logs(), "no keyframe within fragment.max") {
		t.Errorf("no log line about fragments cut at fragment.max")
	}
	// Its publisher left: idle, and the last fragment describes the
	// camera (the clip is 320x240 H.264 at 25 fps with AAC).
	waitFor(t, 30*time.Second, "longgop idle with its last fragment", func() error {
		js, err := s.streamJSON(t, "longgop")
		if err != nil {
			return err
		}
		lf := js.LastFragment
		if js.State != videoapi.StateIdle || js.Session != nil || lf == nil {
			return fmt.Errorf("state %q session %+v last fragment %+v", js.State, js.Session, lf)
		}
		if !slices.Equal(lf.Codecs, []string{"H264", "AAC"}) || lf.Width != 320 || lf.Height != 240 || lf.FPS < 20 || lf.FPS > 30 ||
			lf.BitrateBPS <= 0 || lf.DurationMS <= 0 || lf.ServerTimestamp.IsZero() {
			t.Fatalf("longgop last fragment %+v", lf)
		}
		return nil
	})

	// A publisher sending garbage and skipping sequence numbers.
	desc := &description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{
		&format.H264{PayloadTyp: 96, PacketizationMode: 1,
			SPS: []byte{0x67, 0x64, 0x00, 0x0c, 0xac, 0x3b, 0x50, 0xb0, 0x4b, 0x42, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x3d, 0x08},
			PPS: []byte{0x68, 0xee, 0x3c, 0x80}},
	}}}}
	tcp := gortsplib.TransportTCP
	c := &gortsplib.Client{Transport: &tcp}
	if err := c.StartRecording(fmt.Sprintf("rtsp://camera:camsecret@%s/hostile", s.rtspAddr), desc); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range []struct {
		seq     uint16
		payload []byte
	}{
		{1, []byte{0x65, 0x88, 0x84, 0x00, 0x33, 0xff}}, // IDR
		{2, []byte{0x1f, 1, 2, 3}},                      // NAL type 31: undecodable
		{3, []byte{0x18, 0x00, 0x50, 1}},                // STAP-A with a bad size
		{9, []byte{0x41, 0x9a, 0x21, 0x6c, 0x45, 0xff}}, // after five lost packets
	} {
		if err := c.WritePacketRTP(desc.Medias[0], &rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: p.seq, Timestamp: uint32(p.seq) * 3000, Marker: true},
			Payload: p.payload,
		}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "hostile publisher counted", func() error {
		m := s.scrape(t)
		lost, bad := m[`kinedge_rtsp_packets_lost_total{stream="hostile"}`], m[`kinedge_rtsp_decode_errors_total{stream="hostile"}`]
		if lost != 5 || bad < 1 {
			return fmt.Errorf("%v packets lost (want 5), %v decode errors (want 1 or more)", lost, bad)
		}
		return nil
	})
	// It is still connected: pushing, as the camera user, over TCP.
	if js, err := s.streamJSON(t, "hostile"); err != nil || js.State != videoapi.StatePushing || js.Session == nil ||
		js.Session.User != "camera" || js.Session.Transport != "tcp" || !strings.HasPrefix(js.Session.Remote, "127.0.0.1:") || js.Session.Pulled {
		t.Fatalf("hostile while connected: %+v session %+v (%v)", js, js.Session, err)
	}

	// A pulled camera that does not answer: retrying, with the reason.
	deadAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	if code, body := s.do(t, http.MethodPost, "/v1/streams", map[string]string{"name": "gone", "source": "rtsp://viewer:s3cret@" + deadAddr + "/live"}); code != http.StatusCreated {
		t.Fatalf("POST /v1/streams: %d %s", code, body)
	}
	waitFor(t, 20*time.Second, "gone's pull state", func() error {
		js, err := s.streamJSON(t, "gone")
		if err != nil {
			return err
		}
		if js.Status != videoapi.StatusNotCreated || js.State != videoapi.StateRetrying || js.Pull == nil || js.Pull.State != videoapi.PullStateRetrying ||
			js.Pull.Attempts == 0 || !strings.Contains(js.Pull.LastError, "refused") || strings.Contains(js.Pull.Source, "s3cret") {
			return fmt.Errorf("%+v pull %+v", js, js.Pull)
		}
		return nil
	})
	m := s.scrape(t)
	if v, ok := m[`kinedge_pull_connected{stream="gone"}`]; !ok || v != 0 || m[`kinedge_pull_attempts_total{stream="gone"}`] < 1 {
		t.Fatalf("gone: connected %v (%v), attempts %v", v, ok, m[`kinedge_pull_attempts_total{stream="gone"}`])
	}
	code, body := s.do(t, http.MethodGet, "/v1/streams", nil)
	var list struct{ Streams []videoapi.StreamJSON }
	if err := json.Unmarshal([]byte(body), &list); code != http.StatusOK || err != nil {
		t.Fatalf("GET /v1/streams: %d %v %s", code, err, body)
	}
	listed := false
	for _, js := range list.Streams {
		listed = listed || js.Name == "gone" && js.Pull != nil && js.Pull.LastError != ""
	}
	if !listed {
		t.Fatalf("GET /v1/streams does not list gone with its last error: %s", body)
	}

	// A pulled camera that plays.
	camAddr := startFedCamera(t)
	if code, body := s.do(t, http.MethodPost, "/v1/streams", map[string]string{"name": "porch", "source": "rtsp://viewer:s3cret@" + camAddr + "/live"}); code != http.StatusCreated {
		t.Fatalf("POST /v1/streams: %d %s", code, body)
	}
	waitFor(t, 20*time.Second, "porch pulling", func() error {
		js, err := s.streamJSON(t, "porch")
		if err != nil {
			return err
		}
		if js.Status != "ACTIVE" || js.State != videoapi.StatePulling || js.Session == nil || !js.Session.Pulled ||
			js.Pull == nil || js.Pull.State != videoapi.PullStatePulling || js.Pull.Connects < 1 {
			return fmt.Errorf("%+v pull %+v", js, js.Pull)
		}
		m := s.scrape(t)
		if m[`kinedge_pull_connected{stream="porch"}`] != 1 || m[`kinedge_pull_connects_total{stream="porch"}`] < 1 ||
			m[`kinedge_rtsp_packets_received_total{stream="porch"}`] <= 0 {
			return fmt.Errorf("porch metrics: connected %v, connects %v, packets %v", m[`kinedge_pull_connected{stream="porch"}`],
				m[`kinedge_pull_connects_total{stream="porch"}`], m[`kinedge_rtsp_packets_received_total{stream="porch"}`])
		}
		return nil
	})
}
