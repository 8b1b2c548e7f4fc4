package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
	acks, order := readPutMediaAcks(t, s, resp.Body)
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

	// A cluster in the middle is corrupt: it gets the ERROR ack, the
	// later ones are PERSISTED, and the replay holds every other frame.
	broken, badTC, lost := breakCluster(t, clip, 2)
	if _, err := kv.CreateStream(t.Context(), &kinesisvideo.CreateStreamInput{StreamName: aws.String("pm2"), DataRetentionInHours: aws.Int32(24)}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	resp = putMedia(t, s, "pm2", emptySHA256, broken)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PutMedia: %s", resp.Status)
	}
	acks, order = readPutMediaAcks(t, s, resp.Body)
	if len(order) != clusters {
		t.Fatalf("%d clusters acknowledged, the clip has %d: %v", len(order), clusters, acks)
	}
	for _, tc := range order {
		want := "BUFFERING RECEIVED PERSISTED "
		if tc == badTC {
			want = "BUFFERING ERRORINVALID_MKV_DATA "
		}
		if acks[tc] != want {
			t.Errorf("cluster %d: %s, want %s", tc, acks[tc], want)
		}
	}
	frags = s.fragments(t, "pm2")
	media = replayRange(t, s, "pm2", frags[0].ServerTimestamp.Add(-time.Second), frags[len(frags)-1].ServerTimestamp.Add(10*time.Second))
	got = ffprobe(t, media).packets(t)
	// Audio of the next cluster before its keyframe may start the new
	// run or be dropped with the break: a few frames either way.
	if got["video"] != want["video"]-lost["video"] || got["audio"] > want["audio"]-lost["audio"] ||
		got["audio"] < want["audio"]-lost["audio"]-5 || lost["video"] == 0 {
		t.Errorf("replay of the clip with a broken cluster holds %v; the clip %v, the broken cluster %v", got, want, lost)
	}
	decodeClean(t, media)
}

// readPutMediaAcks reads a PutMedia response: each cluster's ack types
// (IDLE left out), and the clusters in the order of their first ack.
func readPutMediaAcks(t *testing.T, s *server, body io.Reader) (map[uint64]string, []uint64) {
	t.Helper()
	acks := map[uint64]string{}
	var order []uint64
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		var a struct {
			EventType        string
			FragmentTimecode *uint64
			FragmentNumber   string
			ErrorCode        string
		}
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("ack %q: %v", sc.Text(), err)
		}
		if a.EventType == "IDLE" {
			continue
		}
		if a.FragmentTimecode == nil {
			t.Fatalf("ack %s\n%s", sc.Text(), s.logs())
		}
		if a.EventType == "PERSISTED" && a.FragmentNumber == "" {
			t.Fatalf("PERSISTED without fragment number: %s", sc.Text())
		}
		tc := *a.FragmentTimecode
		if _, ok := acks[tc]; !ok {
			order = append(order, tc)
		}
		acks[tc] += a.EventType + a.ErrorCode + " "
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return acks, order
}

// breakCluster returns a copy of clip whose n-th cluster (from 0; moved
// on to the first one from n that a cluster starting with a video
// keyframe follows, so that nothing after it refers to what it held) has
// an invalid element ID where its first SimpleBlock starts, the cluster's
// timecode, and the video and audio blocks it held.
func breakCluster(t *testing.T, clip []byte, n int) ([]byte, uint64, map[string]int) {
	t.Helper()
	n = clusterBeforeKey(t, clip, n)
	// Cluster IDs followed by a size, ffmpeg's CRC-32 and a Timecode (the
	// SeekHead and Cues name the Cluster ID too).
	id := []byte{0x1F, 0x43, 0xB6, 0x75}
	tcAt, seen := -1, -1
	for p := 0; seen < n; p++ {
		j := bytes.Index(clip[p:], id)
		if j < 0 {
			t.Fatalf("clip has fewer than %d clusters", n+1)
		}
		p += j
		w := 1
		for w <= 8 && clip[p+4]&(0x80>>(w-1)) == 0 {
			w++
		}
		at := p + 4 + w
		if w <= 8 && clip[at] == 0xBF && clip[at+1] == 0x84 { // CRC-32 first
			at += 6
		}
		if w <= 8 && clip[at] == 0xE7 && clip[at+1]&0x80 != 0 {
			seen++
			tcAt = at
		}
	}
	blockAt := tcAt + 2 + int(clip[tcAt+1]&0x7F)
	if clip[blockAt] != 0xA3 {
		t.Fatalf("cluster %d: 0x%02X after the Timecode, want a SimpleBlock", n, clip[blockAt])
	}
	broken := bytes.Clone(clip)
	broken[blockAt] = 0x00
	// What the cluster held.
	var tc uint64
	lost := map[string]int{}
	r := mkv.NewReader(bytes.NewReader(clip), mkv.ReaderOptions{})
	kinds := map[uint64]string{}
	cl := -1
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		switch ev := ev.(type) {
		case mkv.Tracks:
			for _, tr := range ev.Tracks {
				kinds[tr.Number] = map[mkv.TrackType]string{mkv.TrackVideo: "video", mkv.TrackAudio: "audio"}[tr.Type]
			}
		case mkv.ClusterStart:
			cl++
			if cl == n {
				tc = ev.Timecode
			}
		case mkv.Block:
			if cl == n {
				lost[kinds[ev.Track]]++
			}
		}
	}
	return broken, tc, lost
}

// clusterBeforeKey returns the first cluster from n whose next cluster's
// first video frame is a keyframe.
func clusterBeforeKey(t *testing.T, clip []byte, n int) int {
	t.Helper()
	r := mkv.NewReader(bytes.NewReader(clip), mkv.ReaderOptions{})
	video := uint64(0)
	cl, first := -1, false
	for {
		ev, err := r.Next()
		if err != nil {
			t.Fatalf("no cluster from %d is followed by one starting with a keyframe", n)
		}
		switch ev := ev.(type) {
		case mkv.Tracks:
			for _, tr := range ev.Tracks {
				if tr.Type == mkv.TrackVideo {
					video = tr.Number
				}
			}
		case mkv.ClusterStart:
			cl++
			first = true
		case mkv.Block:
			if ev.Track != video {
				continue
			}
			if first && cl > n && ev.Key {
				return cl - 1
			}
			first = false
		}
	}
}

// TestPutMediaGStreamerCurl is a producer made of stock tools: GStreamer's
// matroskamux (streamable) piped into curl, which signs with --aws-sigv4
// and uploads chunked (-T -). The stream is created by the first
// PutMedia (auto-create), every cluster is PERSISTED, and the replay
// holds every frame GStreamer encoded.
func TestPutMediaGStreamerCurl(t *testing.T) {
	gst := testtool.Need(t, "gst-launch-1.0")
	curl := testtool.Need(t, "curl")
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	const videoFrames = 100
	producer := testtool.Command(t, 2*time.Minute, gst, "-q",
		"videotestsrc", fmt.Sprintf("num-buffers=%d", videoFrames), "!", "video/x-raw,width=320,height=240,framerate=25/1",
		"!", "x264enc", "key-int-max=25", "bframes=2", "!", "h264parse", "!", "matroskamux", "streamable=true", "!", "fdsink", "fd=1")
	upload := testtool.Command(t, 2*time.Minute, curl, "-sS", "-N", "--fail-with-body",
		"--aws-sigv4", "aws:amz:us-east-1:kinesisvideo", "--user", "admin:adminsecret",
		"-H", "x-amzn-stream-name: gst1", "-H", "x-amzn-fragment-timecode-type: RELATIVE",
		"-H", "x-amzn-producer-start-timestamp: "+strconv.FormatInt(time.Now().Unix(), 10),
		"-X", "POST", "-T", "-", "http://"+s.httpAddr+"/putMedia")
	pipe, err := producer.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var gstErr, curlErr bytes.Buffer
	producer.Stderr = &gstErr
	upload.Stdin = pipe
	upload.Stderr = &curlErr
	var acks bytes.Buffer
	upload.Stdout = &acks
	if err := producer.Start(); err != nil {
		t.Fatal(err)
	}
	if err := upload.Start(); err != nil {
		t.Fatal(err)
	}
	if err := producer.Wait(); err != nil {
		t.Fatalf("gst-launch: %v\n%s", err, gstErr.String())
	}
	if err := upload.Wait(); err != nil {
		t.Fatalf("curl: %v\n%s\n%s\n%s", err, curlErr.String(), acks.String(), s.logs())
	}
	byCluster, order := readPutMediaAcks(t, s, &acks)
	if len(order) < 4 {
		t.Fatalf("%d clusters acknowledged: %s", len(order), acks.String())
	}
	for _, tc := range order {
		if byCluster[tc] != "BUFFERING RECEIVED PERSISTED " {
			t.Errorf("cluster %d: %s", tc, byCluster[tc])
		}
	}
	frags := s.fragments(t, "gst1")
	if len(frags) == 0 {
		t.Fatal("no fragments")
	}
	media := replayRange(t, s, "gst1", frags[0].ServerTimestamp.Add(-time.Second), frags[len(frags)-1].ServerTimestamp.Add(10*time.Second))
	if got := ffprobe(t, media).packets(t); got["video"] != videoFrames {
		t.Errorf("replay holds %v, GStreamer encoded %d video frames", got, videoFrames)
	}
	decodeClean(t, media)
}

// TestPutMediaShutdown stops the server (SIGTERM) in the middle of an
// upload: the session is ended, its open fragment stored, and every
// cluster it RECEIVED is acknowledged PERSISTED before the connection
// closes; the server exits cleanly.
func TestPutMediaShutdown(t *testing.T) {
	clipPath := filepath.Join(t.TempDir(), "clip.mkv")
	out, err := testtool.Command(t, time.Minute, "ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-t", "6", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
		"-pix_fmt", "yuv420p", "-f", "matroska", "-cluster_time_limit", "1000", "-live", "1", "-y", clipPath).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	clip, err := os.ReadFile(clipPath)
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	// Half the clip, then the producer stalls with the body open.
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write(clip[:len(clip)/2]) }()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+s.httpAddr+"/putMedia", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-amzn-stream-name", "shut1")
	req.Header.Set("x-amzn-fragment-timecode-type", "RELATIVE")
	if err := v4.NewSigner().SignHTTP(t.Context(), aws.Credentials{AccessKeyID: "admin", SecretAccessKey: "adminsecret"}, req, emptySHA256, "kinesisvideo", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	var seen []string
	for received := 0; received < 2; {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("acks before the stop: %v %v", err, seen)
		}
		seen = append(seen, strings.TrimSpace(line))
		if strings.Contains(line, `"RECEIVED"`) {
			received++
		}
	}
	s.stop()
	rest, _ := io.ReadAll(br)
	all := append(seen, strings.Split(strings.TrimSpace(string(rest)), "\n")...)
	byCluster, order := readPutMediaAcks(t, s, strings.NewReader(strings.Join(all, "\n")))
	persisted := 0
	for _, tc := range order {
		if strings.Contains(byCluster[tc], "RECEIVED") {
			if !strings.HasSuffix(byCluster[tc], "PERSISTED ") {
				t.Errorf("cluster %d: %s, want PERSISTED after the stop", tc, byCluster[tc])
			}
			persisted++
		}
	}
	if persisted < 2 {
		t.Fatalf("%d clusters persisted: %v", persisted, all)
	}
}
