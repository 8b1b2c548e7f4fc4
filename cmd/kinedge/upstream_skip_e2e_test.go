package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/dataplane/video/upstream"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// publishFile publishes a media file (not a testdata clip) to stream on s
// over RTSP/TCP in real time and waits for the publish to end.
func publishFile(t *testing.T, s *server, file, stream string) {
	t.Helper()
	before := strings.Count(s.logs(), "rtsp publish ended")
	u := fmt.Sprintf("rtsp://camera:camsecret@%s/%s", s.rtspAddr, stream)
	if out, err := testtool.Command(t, 2*time.Minute, testtool.Need(t, "ffmpeg"), "-hide_banner", "-v", "error", "-re", "-i", file,
		"-c", "copy", "-max_delay", "1000", "-f", "rtsp", "-rtsp_transport", "tcp", u).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg publish: %v\n%s", err, out)
	}
	waitFor(t, time.Minute, "the publish to end", func() error {
		if strings.Count(s.logs(), "rtsp publish ended") == before {
			return errors.New(`no new "rtsp publish ended" line yet`)
		}
		return nil
	})
}

func framesOf(fs []videoapi.FragmentJSON) (n int) {
	for _, f := range fs {
		n += f.Frames
	}
	return n
}

// TestUpstreamSilentAudio: a camera whose audio is silent for 4 s (no
// audio frame at all, as an RTSP camera sends it) is recorded by A, whose
// fragments in between hold video alone; B applies KVS's rule that every
// cluster holds frames of every declared track (4011
// FRAMES_MISSING_FOR_TRACK). A forwards every fragment, none refused or
// skipped, and B stores every frame: the silent fragments were sent in
// sessions declaring the video alone (B has fragments of H.264 alone).
func TestUpstreamSilentAudio(t *testing.T) {
	ffmpeg := testtool.Need(t, "ffmpeg")
	clip := filepath.Join(t.TempDir(), "silent.mkv")
	if out, err := testtool.Command(t, time.Minute, ffmpeg, "-v", "error", "-y", "-i", repoFile("h264_aac.ts"),
		"-c:v", "copy", "-c:a", "aac", "-af", "aselect='not(between(t,2,6))'", clip).CombinedOutput(); err != nil {
		t.Fatalf("making the clip: %v\n%s", err, out)
	}
	b := startServer(t, t.TempDir(), freeUDPPair(t), "KINEDGE_KVS_PUT_MEDIA_REQUIRE_ALL_TRACKS=true")
	cfg := filepath.Join(t.TempDir(), "a.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `upstreams:
  - stream: cam1
    upstream: {endpoint: "http://%s", region: us-east-1, access_key: admin, secret_key: adminsecret, stream: edge-cam1}
`, b.httpAddr), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startServer(t, t.TempDir(), freeUDPPair(t), "KINEDGE_CONFIG="+cfg)
	publishFile(t, a, clip, "cam1")
	var frags []videoapi.FragmentJSON
	waitFor(t, 2*time.Minute, "cam1 forwarded", func() error {
		frags = a.fragments(t, "cam1")
		n := a.metric(t, "kinedge_upstream_fragments_total", "cam1")
		if backlog := a.metric(t, "kinedge_upstream_backlog_fragments", "cam1"); n != len(frags) || backlog != 0 || len(frags) == 0 {
			return fmt.Errorf("%d of %d fragments forwarded, backlog %d, %d skipped", n, len(frags), backlog,
				a.metric(t, "kinedge_upstream_skipped_total", "cam1"))
		}
		return nil
	})
	if n := a.metric(t, "kinedge_upstream_skipped_total", "cam1"); n != 0 {
		t.Errorf("%d fragments skipped", n)
	}
	if n := a.metric(t, "kinedge_upstream_failures_total", "cam1"); n != 0 {
		t.Errorf("%d failed sessions\n%s", n, grepLines(a.logs(), "upstream"))
	}
	got := b.fragments(t, "edge-cam1")
	if fa, fb := framesOf(frags), framesOf(got); fa != fb || fa == 0 {
		t.Fatalf("A recorded %d frames in %d fragments, B %d in %d\n%s", fa, len(frags), fb, len(got), grepLines(b.logs(), "putmedia"))
	}
	var videoOnly, both int
	for _, f := range got {
		switch len(f.Codecs) {
		case 1:
			videoOnly++
		case 2:
			both++
		}
	}
	if videoOnly == 0 || both == 0 {
		t.Errorf("B has %d fragments of video alone and %d of both tracks: the silence did not reach it as such", videoOnly, both)
	}
	t.Logf("A: %d frames in %d fragments; B: %d fragments (%d video alone); %d sessions", framesOf(frags), len(frags), len(got), videoOnly,
		a.metric(t, "kinedge_upstream_sessions_total", "cam1"))
}

// dbValuesHolding opens a stopped appliance's Badger directory read-only
// and counts the records (every version, keys and values) that hold a
// and those that hold b.
func dbValuesHolding(t *testing.T, dir string, a, b []byte) (na, nb int) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithReadOnly(true).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{AllVersions: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if bytes.Contains(k, a) || bytes.Contains(v, a) {
				na++
			}
			if bytes.Contains(k, b) || bytes.Contains(v, b) {
				nb++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return na, nb
}

// TestUpstreamSkipsAndSealsSecret: B refuses A's largest fragment as too
// big (kvs.put_media_max_fragment_size below it: 4001
// MAX_FRAGMENT_SIZE_REACHED, each time); A skips it after three refusals
// in a row, forwards the rest, and lists the skip in GET
// /v1/streams/cam1/upstream. The target was set with PUT, signed with a
// user of B made for it: no file of A's data dir holds its secret, nor
// any record of its database read back (its access key, in the same
// record, is found there), and after a restart A forwards a new
// recording with it.
func TestUpstreamSkipsAndSealsSecret(t *testing.T) {
	ffmpeg := testtool.Need(t, "ffmpeg")
	needEncoders(t, "libx264", "aac")
	// 8 s of H.264 (a keyframe a second) and AAC, with noise from 4.2 s
	// to 4.7 s: the fragment holding it is many times larger than the
	// others.
	clip := filepath.Join(t.TempDir(), "noisy.mkv")
	if out, err := testtool.Command(t, time.Minute, ffmpeg, "-v", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=8", "-f", "lavfi", "-i", "sine=frequency=440:duration=8",
		"-vf", "noise=alls=100:allf=t:enable='between(t,4.2,4.7)'", "-c:v", "libx264", "-preset", "veryfast", "-g", "25",
		"-keyint_min", "25", "-sc_threshold", "0", "-bf", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", clip).CombinedOutput(); err != nil {
		t.Fatalf("making the clip: %v\n%s", err, out)
	}
	aDir := t.TempDir()
	a := startServer(t, aDir, freeUDPPair(t))
	publishFile(t, a, clip, "cam1")
	frags := a.fragments(t, "cam1")
	sizes := make([]int64, len(frags))
	for i, f := range frags {
		sizes[i] = f.FragmentSizeInBytes
	}
	sorted := slices.Clone(sizes)
	slices.Sort(sorted)
	if len(sorted) < 3 || sorted[len(sorted)-1]-sorted[len(sorted)-2] < 64<<10 {
		t.Fatalf("fragment sizes %v: the test needs one larger than all others by 64 KiB", sizes)
	}
	// Below the largest's frame bytes (its size less the Tracks, the seal
	// and the block headers, a few KiB), above every other's size.
	limit := sorted[len(sorted)-2] + 1
	big := frags[slices.Index(sizes, sorted[len(sorted)-1])]

	b := startServer(t, t.TempDir(), freeUDPPair(t), "KINEDGE_KVS_PUT_MEDIA_MAX_FRAGMENT_SIZE="+strconv.FormatInt(limit, 10))
	st, body := b.do(t, "POST", "/v1/users", map[string]any{"name": "site-a", "grants": []map[string]string{{"action": "publish", "streams": "*"}}})
	if st != 201 {
		t.Fatalf("POST /v1/users on B: %d %s", st, body)
	}
	var user struct {
		AccessKey string `json:"access_key"`
		Secret    string `json:"secret"`
	}
	if err := json.Unmarshal([]byte(body), &user); err != nil || user.AccessKey == "" || len(user.Secret) < 16 {
		t.Fatalf("user %s: %v", body, err)
	}
	if st, body := a.do(t, "PUT", "/v1/streams/cam1/upstream", map[string]any{"endpoint": "http://" + b.httpAddr, "region": "us-east-1",
		"access_key": user.AccessKey, "secret_key": user.Secret, "stream": "edge-cam1"}); st != 200 || strings.Contains(body, user.Secret) {
		t.Fatalf("PUT upstream on A: %d %s", st, body)
	}
	waitFor(t, 2*time.Minute, "cam1 forwarded but the big fragment", func() error {
		n, sk := a.metric(t, "kinedge_upstream_fragments_total", "cam1"), a.metric(t, "kinedge_upstream_skipped_total", "cam1")
		if backlog := a.metric(t, "kinedge_upstream_backlog_fragments", "cam1"); n != len(frags)-1 || sk != 1 || backlog != 0 {
			return fmt.Errorf("%d of %d fragments forwarded, %d skipped, backlog %d", n, len(frags), sk, backlog)
		}
		return nil
	})
	st, body = a.do(t, "GET", "/v1/streams/cam1/upstream", nil)
	var got upstream.TargetJSON
	if err := json.Unmarshal([]byte(body), &got); st != 200 || err != nil {
		t.Fatalf("GET upstream: %d %s %v", st, body, err)
	}
	if got.Skipped != 1 || len(got.LastSkips) != 1 || strconv.FormatUint(got.LastSkips[0].Number, 10) != big.FragmentNumber ||
		got.LastSkips[0].ErrorID != 4001 || got.LastSkips[0].ErrorCode != "MAX_FRAGMENT_SIZE_REACHED" || got.LastSkips[0].At.IsZero() {
		t.Errorf("GET upstream: %s; want the skip of fragment %s with 4001", body, big.FragmentNumber)
	}
	if strings.Contains(body, user.Secret) || strings.Contains(body, user.AccessKey) {
		t.Errorf("GET upstream returned credentials: %s", body)
	}
	if !strings.Contains(a.logs(), "upstream fragment skipped") {
		t.Errorf("no warning of the skip:\n%s", grepLines(a.logs(), "upstream"))
	}
	if fb, want := framesOf(b.fragments(t, "edge-cam1")), framesOf(frags)-big.Frames; fb < want {
		t.Errorf("B has %d frames, want at least the %d of the fragments not refused", fb, want)
	}

	// The secret is sealed on disk, and opens after a restart.
	a.stop()
	if testtool.DirHolds(t, aDir, []byte(user.Secret)) {
		t.Fatal("A's data dir holds the upstream secret key in clear")
	}
	// Badger compresses its tables, so the bytes alone prove little:
	// every version of every record, read back, must not hold it either,
	// while the target's record holds its access key.
	if values, secret := dbValuesHolding(t, filepath.Join(aDir, "db"), []byte(user.AccessKey), []byte(user.Secret)); values == 0 || secret != 0 {
		t.Fatalf("A's database: %d records hold the access key (want some), %d the secret (want none)", values, secret)
	}
	a.start()
	publishFile(t, a, clip, "cam1")
	all := a.fragments(t, "cam1")
	waitFor(t, 2*time.Minute, "the new recording forwarded after a restart", func() error {
		n, sk := a.metric(t, "kinedge_upstream_fragments_total", "cam1"), a.metric(t, "kinedge_upstream_skipped_total", "cam1")
		if backlog := a.metric(t, "kinedge_upstream_backlog_fragments", "cam1"); n == 0 || n+sk-1 != len(all)-len(frags) || backlog != 0 {
			return fmt.Errorf("%d of %d new fragments forwarded, %d skipped in all, backlog %d", n, len(all)-len(frags), sk, backlog)
		}
		return nil
	})
}
