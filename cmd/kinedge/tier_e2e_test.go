package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestArchiveTierFreshAppliance: a camera records on one appliance, whose
// archive uploads it; a replacement appliance with an empty data dir and
// the same master key, appliance id and bucket lists the stream and its
// fragments and replays the range through the normal API (/fragments,
// /media), with no manual step: the packets are the first appliance's.
func TestArchiveTierFreshAppliance(t *testing.T) {
	testtool.Need(t, "ffprobe")
	_, env, s, listed := archivedRecording(t)
	start, end := listed[0].ServerTimestamp, listed[len(listed)-1].ServerTimestamp
	local := ffprobe(t, replayRange(t, s, "cam1", start, end)).packets(t)
	// Archived: every fragment listed both local and archived (the
	// manifests lag the objects by up to their interval).
	waitFor(t, time.Minute, "every fragment in the manifests", func() error {
		frags, err := s.tryFragments("cam1")
		if err != nil {
			return err
		}
		n := 0
		for _, f := range frags {
			if f.Local && f.Archived {
				n++
			}
		}
		if n != len(listed) {
			return fmt.Errorf("%d of %d fragments local and archived", n, len(listed))
		}
		return nil
	})
	key, err := os.ReadFile(filepath.Join(s.dataDir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	s.stop() // the appliance is gone

	fresh := startServer(t, t.TempDir(), freeUDPPair(t), append(env, "KINEDGE_MASTER_KEY="+hex.EncodeToString(key))...)
	// It numbers its own fragments past its predecessor's archived ones
	// (their object keys hold the numbers).
	line := grepLines(fresh.logs(), "fragment numbers continue past the archive's")
	_, seeded, _ := strings.Cut(line, "last_archived=")
	last := mustUint(t, listed[len(listed)-1].FragmentNumber)
	if n, err := strconv.ParseUint(strings.TrimSpace(seeded), 10, 64); err != nil || n < last {
		t.Errorf("fresh appliance did not seed its numbers past %d: %q", last, line)
	}
	if st, err := fresh.streamJSON(t, "cam1"); err != nil || st.Status != videoapi.StatusArchived {
		t.Fatalf("fresh appliance: stream cam1 = %+v, %v", st, err)
	}
	resp, err := fresh.get("/v1/streams", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"cam1"`) {
		t.Fatalf("fresh appliance: /v1/streams: %s %s", resp.Status, body)
	}
	got := fresh.fragments(t, "cam1")
	if len(got) != len(listed) {
		t.Fatalf("fresh appliance lists %d fragments, the first listed %d", len(got), len(listed))
	}
	// The manifests came through the tier's cache.
	if m := fresh.scrape(t); m["kinedge_archive_cache_misses_total"] < 1 || m["kinedge_archive_cache_entries"] < 1 || m["kinedge_archive_cache_bytes"] < 1 {
		t.Fatalf("manifest cache metrics: misses %v, entries %v, bytes %v", m["kinedge_archive_cache_misses_total"], m["kinedge_archive_cache_entries"], m["kinedge_archive_cache_bytes"])
	}
	for i, f := range got {
		if f.Local || !f.Archived || f.FragmentNumber != listed[i].FragmentNumber || !f.ServerTimestamp.Equal(listed[i].ServerTimestamp) {
			t.Fatalf("fragment %d: %+v; the first appliance's: %+v", i, f, listed[i])
		}
	}
	resp, err = fresh.get("/v1/streams/cam1/media", url.Values{"start": {start.Format(time.RFC3339Nano)}, "end": {end.Format(time.RFC3339Nano)}, "format": {"mkv"}})
	if err != nil {
		t.Fatal(err)
	}
	mkv, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("fresh appliance: media: %s %v %.200s", resp.Status, err, mkv)
	}
	path := filepath.Join(t.TempDir(), "dr.mkv")
	if err := os.WriteFile(path, mkv, 0o600); err != nil {
		t.Fatal(err)
	}
	if p := ffprobe(t, path).packets(t); p["video"] == 0 || p["video"] != local["video"] || p["audio"] != local["audio"] {
		t.Fatalf("replay on the fresh appliance: %v packets; on the first: %v", p, local)
	}
}
