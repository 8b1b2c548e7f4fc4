package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/kinedge/kinedge/firehose/archive"
)

// kvsCall posts body to a KVS control-plane path, SigV4-signed as the AWS
// SDK signs it, and returns the status and the answer.
func (s *server) kvsCall(t *testing.T, path, body string) (int, []byte) {
	t.Helper()
	status, _, b := s.kvsPost(t, "admin", "adminsecret", path, json.RawMessage(body))
	return status, b
}

// TestArchiveDeleteStreamShreds: after KVS DeleteStream, the stream's data
// keys are shredded in the bucket too (tombstoned, their objects gone),
// and "kinedge archive replay" from an empty data dir with the master key
// refuses the stream's archived objects with the destroyed-key error.
func TestArchiveDeleteStreamShreds(t *testing.T) {
	s3, env, s, listed := archivedRecording(t)
	waitFor(t, time.Minute, "the fragments archived", func() error {
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
	ids := map[string]bool{}
	for _, f := range listed {
		ids[f.KeyID] = true
	}
	c := s3.Client()
	for id := range ids {
		if _, err := c.StatObject(t.Context(), "footage", archive.KeyObjectKey("video/", "pi-7", id), minio.StatObjectOptions{}); err != nil {
			t.Fatalf("data key %s not archived: %v", id, err)
		}
	}
	key, err := os.ReadFile(filepath.Join(s.dataDir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}

	code, b := s.kvsCall(t, "/describeStream", `{"StreamName":"cam1"}`)
	var desc struct{ StreamInfo struct{ StreamARN string } }
	if code != http.StatusOK || json.Unmarshal(b, &desc) != nil || desc.StreamInfo.StreamARN == "" {
		t.Fatalf("DescribeStream: %d %s", code, b)
	}
	if code, b := s.kvsCall(t, "/deleteStream", fmt.Sprintf(`{"StreamARN":%q}`, desc.StreamInfo.StreamARN)); code != http.StatusOK {
		t.Fatalf("DeleteStream: %d %s", code, b)
	}
	waitFor(t, time.Minute, "the stream's data keys shredded in the bucket", func() error {
		for id := range ids {
			if _, err := c.StatObject(t.Context(), "footage", archive.KeyObjectKey("video/", "pi-7", id), minio.StatObjectOptions{}); err == nil {
				return fmt.Errorf("data key %s still archived", id)
			}
			if _, err := c.StatObject(t.Context(), "footage", archive.TombstoneKey("video/", "pi-7", id), minio.StatObjectOptions{}); err != nil {
				return fmt.Errorf("no tombstone of %s: %v", id, err)
			}
		}
		return nil
	})

	// A replacement's view: an empty data dir, the master key, the bucket.
	t.Setenv("KINEDGE_CONFIG", "")
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("KINEDGE_MASTER_KEY", hex.EncodeToString(key))
	t.Setenv("KINEDGE_DATA_DIR", t.TempDir())
	start, end := listed[0].ServerTimestamp, listed[len(listed)-1].ServerTimestamp
	var out bytes.Buffer
	err = run(t.Context(), []string{"archive", "replay", "--stream", "cam1", "--start", start.Format(time.RFC3339Nano),
		"--end", end.Format(time.RFC3339Nano), "--out", filepath.Join(t.TempDir(), "dr.mkv")}, &out, &out)
	msg := fmt.Sprint(err) + out.String()
	if err == nil || !strings.Contains(msg, "was destroyed") || !strings.Contains(msg, "deleted") {
		t.Fatalf("archive replay of a deleted stream: %v\n%s", err, out.String())
	}
}
