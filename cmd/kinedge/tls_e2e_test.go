package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/pion/webrtc/v4"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/firmware/tlscert"
	"github.com/kinedge/kinedge/ingest/webrtc/whiptest"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// pinnedClient trusts only the certificate in certFile (and speaks HTTP/2
// to it, as the SDKs' default transports do).
func pinnedClient(t *testing.T, certFile string) *http.Client {
	t.Helper()
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("%s holds no certificate", certFile)
	}
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
}

// TestTLS runs the appliance with a self-signed certificate: ffmpeg
// publishes over RTSPS and the fragments replay over HTTPS; /healthz shows
// the fingerprint; the official
// Kinesis client puts and gets records over HTTPS with the certificate
// pinned; curl speaks HTTP/2 to it with --cacert and --pinnedpubkey; the
// fingerprint printed is the file's. Restarted with plain HTTP and RTSP
// off, the same certificate is reused, the plain ports refuse
// connections, kinedge doctor reports the certificate and reaches the
// appliance over HTTPS, and a pion peer publishes over WHIP on HTTPS.
func TestTLS(t *testing.T) {
	curl := testtool.Need(t, "curl")
	dir := t.TempDir()
	httpsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	rtspsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s := startServer(t, dir, freeUDPPair(t), "KINEDGE_TLS_SELF_SIGNED=true", "KINEDGE_TLS_HTTPS="+httpsAddr,
		"KINEDGE_TLS_RTSPS="+rtspsAddr, "KINEDGE_TLS_NAMES=kinedge.test")
	ctx := t.Context()
	certFile := filepath.Join(dir, "tls-cert.pem")
	pem1, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := tlscert.ParseCertificate(pem1)
	if err != nil {
		t.Fatal(err)
	}
	fp := tlscert.Fingerprint(leaf.Raw)
	if logs := s.logs(); !strings.Contains(logs, "SHA-256 fingerprint: "+fp) || !strings.Contains(logs, "TLS certificate generated") {
		t.Fatalf("the start did not print the certificate's fingerprint %s:\n%s", fp, logs)
	}
	if st, err := os.Stat(filepath.Join(dir, "tls-key.pem")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v, want mode 0600", st, err)
	}
	hc := pinnedClient(t, certFile)
	base := "https://" + httpsAddr

	// /healthz over HTTPS shows the certificate.
	resp, err := hc.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h health
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil || h.TLS == nil || h.TLS.Fingerprint != fp || resp.ProtoMajor != 2 {
		t.Fatalf("/healthz over %s: %v %+v", resp.Proto, err, h.TLS)
	}

	// An untrusting client fails the handshake.
	if _, err := http.Get(base + "/healthz"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("GET without trusting the certificate: %v", err)
	}

	// curl: HTTP/2 over TLS, the certificate pinned as a CA file, as a
	// public key, and under the extra name.
	pin := tlscert.PublicKeyPin(leaf)
	port := httpsAddr[strings.LastIndex(httpsAddr, ":")+1:]
	for _, args := range [][]string{
		{"--cacert", certFile, base + "/healthz"},
		{"--cacert", certFile, "--pinnedpubkey", pin, base + "/healthz"},
		{"--cacert", certFile, "--resolve", "kinedge.test:" + port + ":127.0.0.1", "https://kinedge.test:" + port + "/healthz"},
	} {
		out, err := testtool.Command(t, time.Minute, curl, append([]string{"-sS", "--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}"}, args...)...).CombinedOutput()
		if err != nil || string(out) != "2 200" {
			t.Fatalf("curl %q: %v, %q; want HTTP/2 200", args, err, out)
		}
	}
	if out, err := testtool.Command(t, time.Minute, curl, "-sS", "-o", "/dev/null", "--cacert", certFile, "--pinnedpubkey",
		"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", base+"/healthz").CombinedOutput(); err == nil {
		t.Fatalf("curl with a wrong public-key pin succeeded: %s", out)
	}

	// The Kinesis client over HTTPS, the certificate pinned.
	kc := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(base), HTTPClient: hc,
		Credentials: credentials.NewStaticCredentialsProvider("admin", "adminsecret", "")})
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("tls"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "stream active", func() error {
		d, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("tls")})
		if err != nil {
			return err
		}
		if d.StreamDescriptionSummary.StreamStatus != types.StreamStatusActive {
			return fmt.Errorf("status %s", d.StreamDescriptionSummary.StreamStatus)
		}
		return nil
	})
	put, err := kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("tls"), PartitionKey: aws.String("k"), Data: []byte("over TLS")})
	if err != nil {
		t.Fatal(err)
	}
	it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("tls"), ShardId: put.ShardId,
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil || len(recs.Records) != 1 || string(recs.Records[0].Data) != "over TLS" {
		t.Fatalf("GetRecords over HTTPS: %v %+v", err, recs)
	}

	// ffmpeg publishes over RTSPS (its RTSP muxer forces TCP, and does
	// not pass -tls_verify/-ca_file on: it does not verify); the fragments
	// replay over HTTPS.
	clip := "h264_aac.ts"
	out, err := testtool.Command(t, 2*time.Minute, testtool.Need(t, "ffmpeg"), "-hide_banner", "-v", "error", "-re", "-i", remuxed(t, clip),
		"-c", "copy", "-max_delay", "1000", "-f", "rtsp", "-rtsp_transport", "tcp", "rtsps://camera:camsecret@"+rtspsAddr+"/tlscam").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg over RTSPS: %v\n%s", err, out)
	}
	want := clipFrames(t, clip)
	var frags []videoapi.FragmentJSON
	waitFor(t, time.Minute, "every frame stored", func() error {
		frags = s.fragments(t, "tlscam")
		n := 0
		for _, f := range frags {
			n += f.Frames
		}
		if n != want["video"]+want["audio"] {
			return fmt.Errorf("%d frames in %d fragments", n, len(frags))
		}
		return nil
	})
	last := frags[len(frags)-1]
	q := url.Values{"start": {frags[0].ServerTimestamp.Format(time.RFC3339Nano)}, "format": {"mkv"},
		"end": {last.ServerTimestamp.Add(time.Duration(last.FragmentLengthInMilliseconds+1000) * time.Millisecond).Format(time.RFC3339Nano)}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/streams/tlscam/media?"+q.Encode(), nil)
	req.SetBasicAuth("admin", "adminsecret")
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	mkvFile := filepath.Join(t.TempDir(), "replay.mkv")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("replay over HTTPS: %s %s %.300s", resp.Proto, resp.Status, b)
	}
	if err := os.WriteFile(mkvFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := ffprobe(t, mkvFile).packets(t)["video"]; got != want["video"] {
		t.Fatalf("replayed %d video frames over HTTPS, published %d", got, want["video"])
	}

	// Plain HTTP and RTSP off: the same certificate, plain ports closed.
	plainHTTP, plainRTSP := s.httpAddr, s.rtspAddr
	s.stop()
	cfgFile := filepath.Join(t.TempDir(), "kinedge.yaml")
	if err := os.WriteFile(cfgFile, []byte("http: \"\"\nrtsp: \"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.httpAddr, s.rtspAddr = "", ""
	s.env = append(s.env, "KINEDGE_CONFIG="+cfgFile)
	s.healthGet = func() (*http.Response, error) { return hc.Get(base + "/healthz") }
	s.start()
	if pem2, err := os.ReadFile(certFile); err != nil || string(pem2) != string(pem1) {
		t.Fatalf("certificate not reused across restarts (%v)", err)
	}
	if logs := s.logs(); !strings.Contains(logs, "SHA-256 fingerprint: "+fp) {
		t.Fatalf("restart did not print the fingerprint %s", fp)
	}
	for _, addr := range []string{plainHTTP, plainRTSP} {
		if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
			c.Close()
			t.Fatalf("plain port %s accepts connections with http and rtsp off", addr)
		}
	}
	// Nor are RTSP's UDP ports open: RTSPS carries its media inside TLS.
	for _, port := range []int{s.udpPort, s.udpPort + 1} {
		c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("UDP port %d still taken with plain RTSP off: %v", port, err)
		}
		c.Close()
	}
	// kinedge doctor shows the certificate and reaches the appliance over
	// HTTPS.
	doc := testtool.Command(t, time.Minute, kinedgeBin, "doctor", "--data-dir", dir)
	doc.Env = append(os.Environ(), s.env...)
	out, _ = doc.CombinedOutput()
	if !strings.Contains(string(out), "OK   tls: "+certFile+" expires ") || !strings.Contains(string(out), "SHA-256 fingerprint "+fp) ||
		!strings.Contains(string(out), "appliance: "+base+" is ") { // healthy, or degraded by an unsynchronised clock
		t.Fatalf("kinedge doctor:\n%s", out)
	}
	// kinedge replay over HTTPS trusts the data dir's certificate.
	replayed := filepath.Join(t.TempDir(), "replayed.mkv")
	rcmd := testtool.Command(t, 2*time.Minute, kinedgeBin, "replay", "--url", base, "--data-dir", dir, "--user", "admin", "--pass", "adminsecret",
		"--stream", "tlscam", "--start", q.Get("start"), "--end", q.Get("end"), "-o", replayed)
	if b, err := rcmd.CombinedOutput(); err != nil {
		t.Fatalf("kinedge replay over HTTPS: %v\n%s", err, b)
	}
	if got := ffprobe(t, replayed).packets(t)["video"]; got != want["video"] {
		t.Fatalf("kinedge replay over HTTPS: %d video frames, published %d", got, want["video"])
	}

	// WHIP over HTTPS (the bearer is the publish pass): a browser or OBS
	// publishing to the appliance with plain HTTP off.
	video, _ := whipSamples(t, "2")
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer wcancel()
	if _, err := whiptest.Publish(wctx, whiptest.Options{URL: base + "/whip/tlswhip", Token: "camsecret", Video: webrtc.MimeTypeH264}); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Fatalf("WHIP without trusting the certificate: %v", err)
	}
	p, err := whiptest.Publish(wctx, whiptest.Options{URL: base + "/whip/tlswhip", Token: "camsecret", Video: webrtc.MimeTypeH264, Client: hc})
	if err != nil {
		t.Fatalf("WHIP over HTTPS: %v", err)
	}
	if err := p.WaitConnected(wctx); err != nil {
		t.Fatal(err)
	}
	if err := whiptest.Send(wctx, p.Video, video); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Delete(wctx); err != nil || code != http.StatusOK {
		t.Fatalf("WHIP DELETE over HTTPS: %d %v", code, err)
	}
	waitFor(t, time.Minute, "the WHIP session's fragments over HTTPS", func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/streams/tlswhip/fragments?start=2000-01-01T00:00:00Z&end=2100-01-01T00:00:00Z", nil)
		req.SetBasicAuth("admin", "adminsecret")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var page struct{ Fragments []videoapi.FragmentJSON }
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
			return err
		}
		n := 0
		for _, f := range page.Fragments {
			n += f.Frames
		}
		// The last frame may be lost to the DELETE (see TestWHIPOverICETCP).
		if n < len(video)-1 || n > len(video) {
			return fmt.Errorf("%d of %d frames stored", n, len(video))
		}
		return nil
	})
	// RTSPS still answers, with the pinned certificate.
	conn, err := tls.Dial("tcp", rtspsAddr, &tls.Config{RootCAs: hc.Transport.(*http.Transport).TLSClientConfig.RootCAs, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("RTSPS with plain RTSP off: %v", err)
	}
	conn.Close()

	// The AWS CLI with --ca-bundle (here ca_bundle in its profile): the
	// Kinesis API, and a KVS HLS session whose URL is https, its playlist
	// read with the certificate pinned. Last: it skips without aws.
	cli := testtool.AWSCLI{Path: testtool.Need(t, "aws"), Endpoint: base, Region: "us-east-1", Key: "admin", Secret: "adminsecret"}
	if _, stderr, err := cli.Run(t, "kinesis", "list-streams"); err == nil {
		t.Fatal("aws without the CA bundle trusted the self-signed certificate")
	} else if !strings.Contains(stderr, "SSL") && !strings.Contains(stderr, "certificate") {
		t.Fatalf("aws without the CA bundle: %v %s", err, stderr)
	}
	cli.Config = []string{"ca_bundle = " + certFile}
	stdout, stderr, err := cli.Run(t, "kinesis", "list-streams")
	if err != nil || !strings.Contains(stdout, `"tls"`) {
		t.Fatalf("aws --ca-bundle kinesis list-streams: %v %s %s", err, stdout, stderr)
	}
	stdout, stderr, err = cli.Run(t, "kinesis-video-archived-media", "get-hls-streaming-session-url", "--stream-name", "tlscam", "--playback-mode", "ON_DEMAND",
		"--hls-fragment-selector", `FragmentSelectorType=SERVER_TIMESTAMP,TimestampRange={StartTimestamp=`+q.Get("start")+`,EndTimestamp=`+q.Get("end")+`}`)
	var hls struct{ HLSStreamingSessionURL string }
	if err != nil || json.Unmarshal([]byte(stdout), &hls) != nil || !strings.HasPrefix(hls.HLSStreamingSessionURL, base+"/hls/") {
		t.Fatalf("get-hls-streaming-session-url over HTTPS: %v %s %s", err, stdout, stderr)
	}
	resp, err = hc.Get(hls.HLSStreamingSessionURL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "#EXTM3U") {
		t.Fatalf("HLS master playlist over HTTPS: %s %s", resp.Status, b)
	}
}
