package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

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
