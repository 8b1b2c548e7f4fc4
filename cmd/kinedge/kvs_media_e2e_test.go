package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestKVSMediaEndToEnd reads a camera recorded by `kinedge serve` with
// the AWS CLI's kinesis-video-media get-media (a real KVS consumer) and
// decodes the file it wrote; a signed call of an operation the appliance
// does not serve gets AWS's 404, not the web page's Basic challenge.
func TestKVSMediaEndToEnd(t *testing.T) {
	awsPath := testtool.Need(t, "aws")
	s := startServer(t, t.TempDir(), freeUDPPair(t), "KINEDGE_KVS_GET_MEDIA_IDLE=1s")
	out, err := testtool.Command(t, 2*time.Minute, kinedgeBin, "camsim", "--url", "rtsp://camera:camsecret@"+s.rtspAddr+"/", "--cameras", "1",
		"--prefix", "gm", "--duration", "5s").CombinedOutput()
	if err != nil {
		t.Fatalf("camsim: %v\n%s", err, out)
	}
	stream := "gm1"
	var want int
	waitFor(t, time.Minute, stream+" fragments", func() error {
		if want = len(s.fragments(t, stream)); want < 2 {
			return errNoFragments
		}
		return nil
	})
	cli := testtool.AWSCLI{Path: awsPath, Endpoint: "http://" + s.httpAddr, Region: "us-east-1", Key: "admin", Secret: "adminsecret"}
	file := filepath.Join(t.TempDir(), "media.mkv")
	if _, stderr, err := cli.Run(t, "kinesis-video-media", "get-media", "--stream-name", stream,
		"--start-selector", "StartSelectorType=EARLIEST", file); err != nil {
		t.Fatalf("aws get-media: %v\n%s\n%s", err, stderr, s.logs())
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := mkv.NewReader(f, mkv.ReaderOptions{})
	fragments, tokens := 0, 0
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		if tags, ok := ev.(mkv.Tags); ok {
			if _, ok := tags.Get(mkv.TagFragmentNumber); ok {
				fragments++
			}
			if _, ok := tags.Get(mkv.TagContinuationToken); ok {
				tokens++
			}
		}
	}
	if fragments < want || tokens != fragments+1 {
		t.Errorf("get-media wrote %d fragments and %d tokens, want at least %d fragments, each with a token, and the idle end's", fragments, tokens, want)
	}
	if n := ffprobe(t, file).packets(t); n["video"] == 0 || n["audio"] == 0 {
		t.Errorf("ffprobe found %v in what get-media wrote", n)
	}

	if n := plainMetric(t, s, "kinedge_kvs_getmedia_started_total"); n != 1 {
		t.Errorf("kinedge_kvs_getmedia_started_total = %v, want 1", n)
	}
	if n := plainMetric(t, s, "kinedge_kvs_media_bytes_sent_total"); n < 1000 {
		t.Errorf("kinedge_kvs_media_bytes_sent_total = %v", n)
	}

	// An operation the appliance does not serve, signed: AWS's 404.
	_, stderr, err := cli.Run(t, "kinesisvideo", "describe-edge-configuration", "--stream-name", stream)
	if err == nil || !strings.Contains(stderr, "UnknownOperationException") || !strings.Contains(stderr, "/describeEdgeConfiguration") {
		t.Errorf("aws kinesisvideo describe-edge-configuration: %v %s, want UnknownOperationException naming /describeEdgeConfiguration", err, stderr)
	}
	// Unsigned, the same path is the web page's, behind its login.
	resp, err := http.Post("http://"+s.httpAddr+"/describeEdgeConfiguration", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned POST /describeEdgeConfiguration: HTTP %d, want 401", resp.StatusCode)
	}

	// GetImages: a JPEG of the recording, decoded by ffmpeg.
	frags := s.fragments(t, stream)
	// Whole seconds: botocore may send timestamps as integer seconds.
	from := frags[0].ServerTimestamp.Truncate(time.Second).Add(time.Second)
	stdout, stderr, err := cli.Run(t, "kinesis-video-archived-media", "get-images", "--stream-name", stream,
		"--image-selector-type", "SERVER_TIMESTAMP", "--start-timestamp", from.UTC().Format(time.RFC3339Nano),
		"--end-timestamp", from.Add(time.Second).UTC().Format(time.RFC3339Nano), "--sampling-interval", "500", "--format", "JPEG", "--width-pixels", "160")
	if err != nil {
		t.Fatalf("aws get-images: %v %s", err, stderr)
	}
	var images struct {
		Images []struct{ ImageContent, Error string }
	}
	if err := json.Unmarshal([]byte(stdout), &images); err != nil || len(images.Images) != 3 {
		t.Fatalf("get-images: %v %s", err, stdout)
	}
	for i, img := range images.Images {
		b, err := base64.StdEncoding.DecodeString(img.ImageContent)
		if err != nil || len(b) < 2 || b[0] != 0xFF || b[1] != 0xD8 {
			t.Errorf("image %d: %v %q, want a JPEG", i, err, img.Error)
		}
	}
}

// plainMetric returns the value of a metric without labels.
func plainMetric(t *testing.T, s *server, name string) float64 {
	t.Helper()
	resp, err := s.get("/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric line %q", line)
			}
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
