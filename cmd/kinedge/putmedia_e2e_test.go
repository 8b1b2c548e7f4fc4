package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// emptySHA256 is the payload hash the KVS producer SDKs sign PutMedia
// with: the body streams, so it is not hashed.
var emptySHA256 = func() string { h := sha256.Sum256(nil); return hex.EncodeToString(h[:]) }()

// putMedia POSTs body to /putMedia signed as a producer SDK signs it
// (SigV4 over the headers; payloadHash as the signed payload, sent in
// X-Amz-Content-Sha256 only when it is UNSIGNED-PAYLOAD) and streams the
// body chunked, in 4 KiB writes.
func putMedia(t *testing.T, s *server, stream, payloadHash string, body []byte) *http.Response {
	t.Helper()
	pr, pw := io.Pipe()
	go func() {
		for p := body; len(p) > 0; {
			n := min(len(p), 4096)
			if _, err := pw.Write(p[:n]); err != nil {
				return
			}
			p = p[n:]
		}
		pw.Close()
	}()
	t.Cleanup(func() { pr.Close() })
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+s.httpAddr+"/putMedia", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-amzn-stream-name", stream)
	req.Header.Set("x-amzn-fragment-timecode-type", "RELATIVE")
	req.Header.Set("x-amzn-producer-start-timestamp", strconv.FormatFloat(float64(time.Now().UnixMilli())/1000, 'f', 3, 64))
	req.Header.Set("x-amzn-fragment-acknowledgment-required", "1")
	if payloadHash == "UNSIGNED-PAYLOAD" {
		req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	}
	creds := aws.Credentials{AccessKeyID: "admin", SecretAccessKey: "adminsecret"}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, payloadHash, "kinesisvideo", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestPutMediaEndToEnd sends a clip made by ffmpeg's Matroska muxer (H.264
// with B-frames, AAC, a cluster a second) to `kinedge serve` with a
// signed, chunked PutMedia; every cluster is acknowledged PERSISTED, and
// the replay holds every frame sent.
func TestPutMediaEndToEnd(t *testing.T) {
	clipPath := filepath.Join(t.TempDir(), "clip.mkv")
	out, err := testtool.Command(t, time.Minute, "ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "5", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "25", "-keyint_min", "25", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-f", "matroska", "-cluster_time_limit", "1000", "-live", "1", "-y", clipPath).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	clip, err := os.ReadFile(clipPath)
	if err != nil {
		t.Fatal(err)
	}
	want := ffprobe(t, clipPath).packets(t)
	clusters := 0
	for r := mkv.NewReader(bytes.NewReader(clip), mkv.ReaderOptions{}); ; {
		ev, err := r.Next()
		if err != nil {
			break
		}
		if _, ok := ev.(mkv.ClusterStart); ok {
			clusters++
		}
	}

	s := startServer(t, t.TempDir(), freeUDPPair(t), "KINEDGE_VIDEO_AUTO_CREATE=false")
	kv := kinesisvideo.New(kinesisvideo.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + s.httpAddr),
		Credentials:  credentials.NewStaticCredentialsProvider("admin", "adminsecret", ""),
	})
	if _, err := kv.CreateStream(t.Context(), &kinesisvideo.CreateStreamInput{StreamName: aws.String("pm1"), DataRetentionInHours: aws.Int32(24)}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	ep, err := kv.GetDataEndpoint(t.Context(), &kinesisvideo.GetDataEndpointInput{StreamName: aws.String("pm1"), APIName: "PUT_MEDIA"})
	if err != nil || aws.ToString(ep.DataEndpoint) != "http://"+s.httpAddr {
		t.Fatalf("GetDataEndpoint PUT_MEDIA: %+v %v", ep, err)
	}

	// An unknown stream: KVS's 404, with the signature accepted
	// (UNSIGNED-PAYLOAD).
	resp := putMedia(t, s, "nosuch", "UNSIGNED-PAYLOAD", clip[:4096])
	var e struct {
		Type string `json:"__type"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != http.StatusNotFound || e.Type != "ResourceNotFoundException" {
		t.Fatalf("unknown stream: %d %q, want 404 ResourceNotFoundException", resp.StatusCode, e.Type)
	}
	// A wrong signature: 403.
	bad := putMedia(t, s, "pm1", strings.Repeat("0", 64), clip[:200])
	if bad.StatusCode != http.StatusForbidden {
		t.Fatalf("wrong payload hash signed: HTTP %d, want 403", bad.StatusCode)
	}
	bad.Body.Close()

	resp = putMedia(t, s, "pm1", emptySHA256, clip)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("PutMedia: %s %s\n%s", resp.Status, b, s.logs())
	}
	acks := map[uint64]string{}
	var order []uint64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var a struct {
			EventType        string
			FragmentTimecode *uint64
			FragmentNumber   string
			ErrorId          int
		}
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("ack %q: %v", sc.Text(), err)
		}
		if a.EventType == "IDLE" {
			continue
		}
		if a.FragmentTimecode == nil || a.ErrorId != 0 {
			t.Fatalf("ack %s\n%s", sc.Text(), s.logs())
		}
		if a.EventType == "PERSISTED" && a.FragmentNumber == "" {
			t.Fatalf("PERSISTED without fragment number: %s", sc.Text())
		}
		tc := *a.FragmentTimecode
		if _, ok := acks[tc]; !ok {
			order = append(order, tc)
		}
		acks[tc] += a.EventType + " "
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(order) != clusters || clusters < 5 {
		t.Fatalf("%d clusters acknowledged, the clip has %d: %v", len(order), clusters, acks)
	}
	for _, tc := range order {
		if acks[tc] != "BUFFERING RECEIVED PERSISTED " {
			t.Errorf("cluster %d: %s", tc, acks[tc])
		}
	}

	frags := s.fragments(t, "pm1")
	if len(frags) < 2 {
		t.Fatalf("%d fragments stored", len(frags))
	}
	first, last := frags[0], frags[len(frags)-1]
	media := replayRange(t, s, "pm1", first.ServerTimestamp.Add(-time.Second), last.ServerTimestamp.Add(10*time.Second))
	got := ffprobe(t, media).packets(t)
	if got["video"] != want["video"] || got["audio"] != want["audio"] {
		t.Errorf("replay holds %v, the clip sent %v", got, want)
	}
	decodeClean(t, media)
	if n := plainMetric(t, s, "kinedge_putmedia_fragments_total"); n != float64(clusters) {
		t.Errorf("kinedge_putmedia_fragments_total = %v, want %d", n, clusters)
	}
	if !bytes.Contains([]byte(s.logs()), []byte("putmedia session")) {
		t.Errorf("no putmedia session in the logs")
	}
}
