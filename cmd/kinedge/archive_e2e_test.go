package main

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/firehose/archive"
	"github.com/kinedge/kinedge/testdata/s3test"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestArchiveAcrossOutageAndKill9: a camera records while the archive's
// S3 server is down; the appliance is killed with SIGKILL with the whole
// recording still to upload (its fragment events long gone from memory).
// After both are back every stored fragment is in the bucket exactly
// once, sealed (no plaintext of the clip), listed in the manifests with
// its SHA-256.
func TestArchiveAcrossOutageAndKill9(t *testing.T) {
	testtool.Need(t, "ffmpeg")
	s3 := s3test.Start(t)
	s3.MakeBucket("footage")
	s3.Stop()
	s := startServer(t, t.TempDir(), freeUDPPair(t),
		"KINEDGE_S3_ENDPOINT="+s3.Endpoint(), "KINEDGE_S3_ACCESS_KEY="+s3test.AccessKey, "KINEDGE_S3_SECRET_KEY="+s3test.SecretKey,
		"KINEDGE_ARCHIVE_BUCKET=footage", "KINEDGE_ARCHIVE_PREFIX=video/", "KINEDGE_APPLIANCE_ID=pi-7")
	if out, err := publish(t, s, "h264_aac.ts", "cam1", "tcp", "camera:camsecret").CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg publish: %v\n%s\nserver log:\n%s", err, out, s.logs())
	}
	var frags int
	waitFor(t, time.Minute, "the backlog and failed uploads", func() error {
		frags = len(s.fragments(t, "cam1"))
		m := s.scrape(t)
		if frags < 2 || m["kinedge_archive_upload_failures_total"] < 1 || m["kinedge_archive_backlog_fragments"] != float64(frags) {
			return fmt.Errorf("%d fragments, failures %v, backlog %v", frags, m["kinedge_archive_upload_failures_total"], m["kinedge_archive_backlog_fragments"])
		}
		return nil
	})
	s.kill()
	s3.Restart()
	s.start()
	listed := s.fragments(t, "cam1")
	waitFor(t, 2*time.Minute, "every fragment in the bucket", func() error {
		if m := s.scrape(t); m["kinedge_archive_backlog_fragments"] != 0 || m["kinedge_archive_objects_total"] < float64(len(listed)) {
			return fmt.Errorf("backlog %v, objects %v", m["kinedge_archive_backlog_fragments"], m["kinedge_archive_objects_total"])
		}
		return nil
	})
	objects := map[string][]byte{}
	entries := map[string]archive.Entry{}
	var all []byte
	for _, o := range s3.Objects("footage") {
		all = append(all, o.Body...)
		if strings.HasPrefix(o.Key, "video/pi-7/~keys/") {
			continue // the archived data keys (wrapped): scanned, not counted
		}
		if !strings.HasPrefix(o.Key, "video/pi-7/cam1/") {
			t.Fatalf("object %s outside the appliance's prefix", o.Key)
		}
		if strings.HasSuffix(o.Key, "/manifest.json") {
			m, err := archive.ParseManifest(o.Body)
			if err != nil {
				t.Fatalf("%s: %v", o.Key, err)
			}
			for _, e := range m.Fragments {
				entries[e.Number] = e
			}
			continue
		}
		objects[o.Key] = o.Body
	}
	if len(objects) != len(listed) || len(entries) != len(listed) {
		t.Fatalf("%d objects and %d manifest entries for %d fragments", len(objects), len(entries), len(listed))
	}
	for _, f := range listed {
		key := archive.ObjectKey("video/", "pi-7", "cam1", f.ServerTimestamp, mustUint(t, f.FragmentNumber))
		body, ok := objects[key]
		e := entries[f.FragmentNumber]
		if !ok || e.Key != key || e.Size != int64(len(body)) || e.Size != f.FragmentSizeInBytes || e.KeyID != f.KeyID {
			t.Fatalf("fragment %s: object %v, entry %+v", f.FragmentNumber, ok, e)
		}
	}
	for _, m := range bitstreamMarkers(t, "h264_aac.ts", "h264") {
		if bytes.Contains(all, m) {
			t.Fatalf("plaintext marker %x found in the bucket", m[:8])
		}
	}
}

// archivedRecording starts an appliance archiving to a fresh versitygw
// bucket "footage" (prefix video/, appliance id pi-7), has a camera
// publish a clip to cam1 and restarts it (the last fragment is stored at
// the stop; its upload may be abandoned and is redone after the start).
// It returns the S3 server, the appliance's archive environment, the
// running appliance and cam1's fragments.
func archivedRecording(t *testing.T) (*s3test.Server, []string, *server, []videoapi.FragmentJSON) {
	t.Helper()
	testtool.Need(t, "ffmpeg")
	s3 := s3test.Start(t)
	s3.MakeBucket("footage")
	env := []string{"KINEDGE_S3_ENDPOINT=" + s3.Endpoint(), "KINEDGE_S3_ACCESS_KEY=" + s3test.AccessKey, "KINEDGE_S3_SECRET_KEY=" + s3test.SecretKey,
		"KINEDGE_ARCHIVE_BUCKET=footage", "KINEDGE_ARCHIVE_PREFIX=video/", "KINEDGE_APPLIANCE_ID=pi-7"}
	s := startServer(t, t.TempDir(), freeUDPPair(t), env...)
	if out, err := publish(t, s, "h264_aac.ts", "cam1", "tcp", "camera:camsecret").CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg publish: %v\n%s", err, out)
	}
	s.stop()
	s.start()
	return s3, env, s, s.fragments(t, "cam1")
}

// TestArchiveVerifyCommand: "kinedge archive verify" passes on an intact
// archive and names a deleted and a corrupted object.
func TestArchiveVerifyCommand(t *testing.T) {
	s3, env, s, listed := archivedRecording(t)
	t.Setenv("KINEDGE_CONFIG", "")
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	verify := func() (string, error) {
		var out, errOut bytes.Buffer
		err := run(t.Context(), []string{"archive", "verify"}, &out, &errOut)
		return out.String() + errOut.String(), err
	}
	waitFor(t, time.Minute, "verify of the intact archive", func() error {
		out, err := verify()
		if err != nil || !strings.Contains(out, fmt.Sprintf(" %d fragments", len(listed))) || strings.Contains(out, "unlisted") {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	// Disaster recovery: an empty data dir, the master key and the
	// bucket replay the recording as the appliance does.
	start, end := listed[0].ServerTimestamp, listed[len(listed)-1].ServerTimestamp
	local := ffprobe(t, replayRange(t, s, "cam1", start, end)).packets(t)
	key, err := os.ReadFile(filepath.Join(s.dataDir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KINEDGE_MASTER_KEY", hex.EncodeToString(key))
	t.Setenv("KINEDGE_DATA_DIR", t.TempDir())
	fromBucket := filepath.Join(t.TempDir(), "dr.mkv")
	var drOut bytes.Buffer
	if err := run(t.Context(), []string{"archive", "replay", "--stream", "cam1", "--start", start.Format(time.RFC3339Nano),
		"--end", end.Format(time.RFC3339Nano), "--out", fromBucket}, &drOut, &drOut); err != nil {
		t.Fatalf("archive replay: %v\n%s", err, drOut.String())
	}
	if got := ffprobe(t, fromBucket).packets(t); got["video"] == 0 || got["video"] != local["video"] || got["audio"] != local["audio"] {
		t.Fatalf("replay from the bucket: %v packets, from the appliance: %v", got, local)
	}

	gone := archive.ObjectKey("video/", "pi-7", "cam1", listed[0].ServerTimestamp, mustUint(t, listed[0].FragmentNumber))
	bad := archive.ObjectKey("video/", "pi-7", "cam1", listed[1].ServerTimestamp, mustUint(t, listed[1].FragmentNumber))
	c := s3.Client()
	if err := c.RemoveObject(t.Context(), "footage", gone, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(t.Context(), "footage", bad, strings.NewReader("not the fragment"), -1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := verify()
	if err == nil || !strings.Contains(out, "MISSING "+gone) || !strings.Contains(out, "CORRUPT "+bad) || strings.Count(out, "MISSING")+strings.Count(out, "CORRUPT") != 2 {
		t.Fatalf("verify of a damaged archive: %v\n%s", err, out)
	}
}

// TestArchiveFreshApplianceBucketDown: a replacement appliance (empty data
// dir, the same master key, appliance id and bucket) starts while the S3
// server is down: it numbers its fragments from the clock, records, and
// once the server is back its archive adds objects and never rewrites one
// of its predecessor's; the manifests list both appliances' fragments.
func TestArchiveFreshApplianceBucketDown(t *testing.T) {
	s3, env, s, listed := archivedRecording(t)
	waitFor(t, time.Minute, "the first appliance's fragments archived", func() error {
		n := 0
		for _, f := range s.fragments(t, "cam1") {
			if f.Local && f.Archived {
				n++
			}
		}
		if n != len(listed) {
			return fmt.Errorf("%d of %d fragments archived", n, len(listed))
		}
		return nil
	})
	key, err := os.ReadFile(filepath.Join(s.dataDir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	s.stop()
	before := map[string][]byte{}
	for _, o := range s3.Objects("footage") {
		before[o.Key] = o.Body
	}
	s3.Stop()

	fresh := startServer(t, t.TempDir(), freeUDPPair(t), append(env, "KINEDGE_MASTER_KEY="+hex.EncodeToString(key))...)
	if grepLines(fresh.logs(), "numbers its fragments from the clock") == "" {
		t.Fatalf("fresh appliance with the bucket down did not number from the clock:\n%s", fresh.logs())
	}
	if out, err := publish(t, fresh, "h264_aac.ts", "cam1", "tcp", "camera:camsecret").CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg publish: %v\n%s", err, out)
	}
	s3.Restart()
	var mine []videoapi.FragmentJSON
	waitFor(t, 2*time.Minute, "the fresh appliance's fragments archived", func() error {
		mine = mine[:0]
		archived := 0
		for _, f := range fresh.fragments(t, "cam1") {
			if f.Local {
				mine = append(mine, f)
				if f.Archived {
					archived++
				}
			}
		}
		if len(mine) == 0 || archived != len(mine) {
			return fmt.Errorf("%d of %d local fragments archived", archived, len(mine))
		}
		return nil
	})
	last := mustUint(t, listed[len(listed)-1].FragmentNumber)
	if n := mustUint(t, mine[0].FragmentNumber); n <= last {
		t.Fatalf("fresh appliance numbered from %d, not past its predecessor's %d", n, last)
	}
	objs, listedInManifests := 0, 0
	for _, o := range s3.Objects("footage") {
		switch {
		case strings.HasSuffix(o.Key, ".mkv"):
			objs++
			if b, ok := before[o.Key]; ok && !bytes.Equal(b, o.Body) {
				t.Fatalf("predecessor's object %s rewritten", o.Key)
			}
		case strings.HasSuffix(o.Key, "/manifest.json"):
			m, err := archive.ParseManifest(o.Body)
			if err != nil {
				t.Fatalf("%s: %v", o.Key, err)
			}
			listedInManifests += len(m.Fragments)
		}
	}
	if objs != len(listed)+len(mine) || listedInManifests != objs {
		t.Fatalf("%d objects, %d in the manifests; want %d + %d", objs, listedInManifests, len(listed), len(mine))
	}
}
