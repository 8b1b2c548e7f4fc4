package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestUpstreamForwarding: appliance A records a camera and forwards it
// with PutMedia to appliance B (auto-create on). B is stopped while A
// records more, and restarted on the same data dir and port: every
// frame of A arrives at B once, in order (the frame counts of both
// sides are equal, B's first fragment carries A's first producer time),
// and the media is byte-identical (the packets of both replays, by size
// and MD5).
func TestUpstreamForwarding(t *testing.T) {
	testtool.Need(t, "ffmpeg")
	testtool.Need(t, "ffprobe")
	b := startServer(t, t.TempDir(), freeUDPPair(t))
	cfg := filepath.Join(t.TempDir(), "a.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`upstreams:
  - stream: cam1
    upstream:
      endpoint: http://%s
      region: us-east-1
      access_key: admin
      secret_key: adminsecret
      stream: edge-cam1
`, b.httpAddr)), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startServer(t, t.TempDir(), freeUDPPair(t), "KINEDGE_CONFIG="+cfg)

	record := func() {
		t.Helper()
		before := strings.Count(a.logs(), "rtsp publish ended")
		if out, err := publish(t, a, "h264_aac.ts", "cam1", "tcp", "camera:camsecret").CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg publish: %v\n%s", err, out)
		}
		waitFor(t, time.Minute, "the publish to end", func() error {
			if strings.Count(a.logs(), "rtsp publish ended") == before {
				return errors.New(`no new "rtsp publish ended" line yet`)
			}
			return nil
		})
	}
	caughtUp := func(what string) []videoapi.FragmentJSON {
		t.Helper()
		var frags []videoapi.FragmentJSON
		waitFor(t, 2*time.Minute, what, func() error {
			frags = a.fragments(t, "cam1")
			n := a.metric(t, "kinedge_upstream_fragments_total", "cam1")
			if backlog := a.metric(t, "kinedge_upstream_backlog_fragments", "cam1"); n != len(frags) || backlog != 0 {
				return fmt.Errorf("%d of %d fragments forwarded, backlog %d", n, len(frags), backlog)
			}
			return nil
		})
		return frags
	}

	record()
	first := caughtUp("the first recording forwarded")
	if len(b.fragments(t, "edge-cam1")) == 0 {
		t.Fatalf("B has no fragment of edge-cam1\nA:\n%s", grepLines(a.logs(), "upstream"))
	}

	// B goes away; A records on and keeps a backlog.
	b.stop()
	record()
	waitFor(t, time.Minute, "A to notice B is down", func() error {
		if a.metric(t, "kinedge_upstream_failures_total", "cam1") == 0 || a.metric(t, "kinedge_upstream_backlog_fragments", "cam1") == 0 {
			return errors.New("no failure and backlog yet")
		}
		return nil
	})
	if got := a.metric(t, "kinedge_upstream_fragments_total", "cam1"); got != len(first) {
		t.Fatalf("%d fragments forwarded while B was down, want %d", got, len(first))
	}
	b.start()
	frags := caughtUp("the backlog forwarded after B's restart")
	if len(frags) <= len(first) {
		t.Fatalf("A has %d fragments after the second recording, %d after the first", len(frags), len(first))
	}

	// Every frame once: the appliance sends batches of fragments (the
	// clusters placed on one media timeline), which the upstream re-cuts
	// by its own target duration, so B's fragments need not be A's one
	// for one; their frames add up to A's, starting at A's first
	// producer time (the first cluster's ABSOLUTE timecode, in ms).
	got := b.fragments(t, "edge-cam1")
	framesOf := func(fs []videoapi.FragmentJSON) (n int) {
		for _, f := range fs {
			n += f.Frames
		}
		return n
	}
	if fa, fb := framesOf(frags), framesOf(got); fa != fb || fa == 0 {
		t.Fatalf("A recorded %d frames in %d fragments, B %d in %d", fa, len(frags), fb, len(got))
	}
	if pa, pb := frags[0].ProducerTimestamp.Truncate(time.Millisecond), got[0].ProducerTimestamp.Truncate(time.Millisecond); !pa.Equal(pb) {
		t.Errorf("B's first fragment at producer time %v, A's at %v", pb, pa)
	}
	t.Logf("A: %d frames in %d fragments; B: %d in %d; %d sessions", framesOf(frags), len(frags), framesOf(got), len(got),
		a.metric(t, "kinedge_upstream_sessions_total", "cam1"))

	// Byte-identical media: every packet of both replays, by size and MD5.
	ma := replayRange(t, a, "cam1", frags[0].ServerTimestamp.Add(-time.Second), frags[len(frags)-1].ServerTimestamp.Add(time.Second))
	mb := replayRange(t, b, "edge-cam1", got[0].ServerTimestamp.Add(-time.Second), got[len(got)-1].ServerTimestamp.Add(time.Second))
	pa, pb := packetHashes(t, ma), packetHashes(t, mb)
	if len(pa) < 100 || !slices.Equal(pa, pb) {
		for i := range min(len(pa), len(pb)) {
			if pa[i] != pb[i] {
				t.Errorf("packet %d: A %s, B %s", i, pa[i], pb[i])
				break
			}
		}
		t.Fatalf("replays differ: A %d packets, B %d", len(pa), len(pb))
	}
	if !strings.Contains(a.logs(), "upstream session failed") {
		t.Errorf("no log line about the failed sessions while B was down")
	}
}

// packetHashes returns stream, size and MD5 of every packet of an MKV
// file (ffmpeg -f framemd5 with -c copy), stream by stream, without the
// timestamps: the two appliances received the same media at different
// server times, and the replays' cluster times (server times) interleave
// the streams differently.
func packetHashes(t *testing.T, path string) []string {
	t.Helper()
	out, err := testtool.Command(t, time.Minute, "ffmpeg", "-v", "error", "-i", path, "-map", "0", "-c", "copy", "-f", "framemd5", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg framemd5 %s: %v", path, err)
	}
	var lines []string
	for _, l := range bytes.Split(out, []byte("\n")) {
		if len(l) == 0 || l[0] == '#' {
			continue
		}
		f := strings.Split(string(l), ",")
		if len(f) != 6 {
			t.Fatalf("framemd5 line %q", l)
		}
		lines = append(lines, strings.TrimSpace(f[0])+" "+strings.TrimSpace(f[4])+" "+strings.TrimSpace(f[5]))
	}
	slices.SortStableFunc(lines, func(a, b string) int {
		return strings.Compare(a[:strings.IndexByte(a, ' ')], b[:strings.IndexByte(b, ' ')])
	})
	return lines
}

// TestUpstreamAPI: an upstream set with PUT /v1/streams/{name}/upstream
// (admin only; the credentials never come back) forwards every frame to
// appliance B, and is still set after A restarts; DELETE stops it.
func TestUpstreamAPI(t *testing.T) {
	testtool.Need(t, "ffmpeg")
	b := startServer(t, t.TempDir(), freeUDPPair(t))
	a := startServer(t, t.TempDir(), freeUDPPair(t))
	call := func(method, body string, auth bool, want int) string {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, "http://"+a.httpAddr+"/v1/streams/cam1/upstream", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if auth {
			req.SetBasicAuth("admin", "adminsecret")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s upstream: %d %s, want %d", method, resp.StatusCode, out, want)
		}
		if strings.Contains(string(out), "adminsecret") {
			t.Fatalf("%s upstream returned the secret: %s", method, out)
		}
		return string(out)
	}
	target := fmt.Sprintf(`{"endpoint":"http://%s","region":"us-east-1","access_key":"admin","secret_key":"adminsecret","stream":"edge-cam1"}`, b.httpAddr)
	call("PUT", target, false, http.StatusUnauthorized)
	call("GET", "", true, http.StatusNotFound)
	call("PUT", target, true, http.StatusOK)

	before := strings.Count(a.logs(), "rtsp publish ended")
	if out, err := publish(t, a, "h264_aac.ts", "cam1", "tcp", "camera:camsecret").CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg publish: %v\n%s", err, out)
	}
	waitFor(t, time.Minute, "the publish to end", func() error {
		if strings.Count(a.logs(), "rtsp publish ended") == before {
			return errors.New(`no new "rtsp publish ended" line yet`)
		}
		return nil
	})
	frames := func(fs []videoapi.FragmentJSON) (n int) {
		for _, f := range fs {
			n += f.Frames
		}
		return n
	}
	waitFor(t, 2*time.Minute, "cam1 forwarded to B", func() error {
		fa, fb := frames(a.fragments(t, "cam1")), frames(b.fragments(t, "edge-cam1"))
		if fa == 0 || fa != fb || a.metric(t, "kinedge_upstream_backlog_fragments", "cam1") != 0 {
			return fmt.Errorf("A %d frames, B %d", fa, fb)
		}
		return nil
	})

	a.stop()
	a.start()
	if got := call("GET", "", true, http.StatusOK); !strings.Contains(got, `"stream":"edge-cam1"`) || !strings.Contains(got, `"config_file":false`) {
		t.Fatalf("GET after a restart: %s", got)
	}
	call("DELETE", "", true, http.StatusNoContent)
	call("GET", "", true, http.StatusNotFound)
}
