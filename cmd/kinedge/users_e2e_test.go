package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"

	"github.com/kinedge/kinedge/dataplane/authz"
	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// cliUser runs `kinedge users <args>` (in process: it is a client of the
// running server's admin API) as the admin and returns its stdout.
func (s *server) cliUsers(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{"users", args[0], "--url", "http://" + s.httpAddr, "--user", "admin", "--pass", "adminsecret"}, args[1:]...)
	err := run(t.Context(), full, &out, &errb)
	if err != nil {
		err = fmt.Errorf("%w (stderr %s)", err, errb.String())
	}
	return out.String(), err
}

func (s *server) addUser(t *testing.T, name string, grants ...string) authz.User {
	t.Helper()
	out, err := s.cliUsers(t, append([]string{"add", "--json", name}, grants...)...)
	if err != nil {
		t.Fatalf("users add %s: %v", name, err)
	}
	var u authz.User
	if err := json.Unmarshal([]byte(out), &u); err != nil || u.Secret == "" || u.AccessKey == "" {
		t.Fatalf("users add %s: %q %v", name, out, err)
	}
	return u
}

// TestUsersCLI: add, list (no secrets), rotate (the old key stops
// working), remove (the key stops working), and the refusals.
func TestUsersCLI(t *testing.T) {
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	u := s.addUser(t, "viewer", "read:cam*")
	out, err := s.cliUsers(t, "list")
	if err != nil || !strings.Contains(out, "viewer") || !strings.Contains(out, "read:cam*") || !strings.Contains(out, u.AccessKey) ||
		!strings.Contains(out, "admin") || !strings.Contains(out, "camera") {
		t.Fatalf("users list: %v\n%s", err, out)
	}
	if strings.Contains(out, u.Secret) || strings.Contains(out, "adminsecret") || strings.Contains(out, "camsecret") {
		t.Fatalf("users list shows a secret:\n%s", out)
	}
	get := func(key, secret string) int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+s.httpAddr+"/v1/streams", nil)
		req.SetBasicAuth(key, secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get(u.AccessKey, u.Secret); c != 200 {
		t.Fatalf("new user: %d", c)
	}
	if _, err := s.cliUsers(t, "add", "viewer", "read:*"); err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("add twice: %v", err)
	}
	if _, err := s.cliUsers(t, "add", "x", "fly:*"); err == nil || !strings.Contains(err.Error(), "unknown action") {
		t.Fatalf("bad grant: %v", err)
	}
	if _, err := s.cliUsers(t, "remove", "admin"); err == nil || !strings.Contains(err.Error(), "configuration") {
		t.Fatalf("remove builtin: %v", err)
	}
	out, err = s.cliUsers(t, "rotate", "--json", "viewer")
	var r authz.User
	if err != nil || json.Unmarshal([]byte(out), &r) != nil || r.Secret == "" || r.Secret == u.Secret {
		t.Fatalf("rotate: %v %s", err, out)
	}
	if c := get(u.AccessKey, u.Secret); c != 401 {
		t.Fatalf("old key after rotate: %d", c)
	}
	if c := get(r.AccessKey, r.Secret); c != 200 {
		t.Fatalf("rotated key: %d", c)
	}
	// A non-admin may not manage users.
	var errb bytes.Buffer
	err = run(t.Context(), []string{"users", "list", "--url", "http://" + s.httpAddr, "--user", r.AccessKey, "--pass", r.Secret}, io.Discard, &errb)
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("list as viewer: %v", err)
	}
	// The users survive a restart (sealed file in the data dir).
	s.stop()
	s.start()
	if c := get(r.AccessKey, r.Secret); c != 200 {
		t.Fatalf("after restart: %d", c)
	}
	if _, err := s.cliUsers(t, "remove", "viewer"); err != nil {
		t.Fatal(err)
	}
	if c := get(r.AccessKey, r.Secret); c != 401 {
		t.Fatalf("removed user: %d", c)
	}
}

// awsErrCode returns the AWS error code of err, "" for none.
func awsErrCode(err error) string {
	var apiErr interface{ ErrorCode() string }
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return ""
}

// kvsPost signs a KVS REST call with key and secret ("" sends none) and
// returns its status and X-Amzn-ErrorType.
func (s *server) kvsPost(t *testing.T, key, secret, path string, body any) (int, string, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+s.httpAddr+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		sum := sha256.Sum256(b)
		if err := v4.NewSigner().SignHTTP(t.Context(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, req,
			hex.EncodeToString(sum[:]), "kinesisvideo", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), rb
}

// rtspStatus sends one RTSP request (Basic credentials when user is not
// "") and returns the status code.
func rtspStatus(t *testing.T, addr, method, stream, user, pass string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	sdp := "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n" +
		"a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0IAKeNQFAe2AtwEBAaQeJEV,aM48gA==\r\na=control:trackID=0\r\n"
	req := fmt.Sprintf("%s rtsp://%s/%s RTSP/1.0\r\nCSeq: 1\r\n", method, addr, stream)
	if user != "" {
		req += "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)) + "\r\n"
	}
	if method == "ANNOUNCE" {
		req += fmt.Sprintf("Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", len(sdp), sdp)
	} else {
		req += "Accept: application/sdp\r\n\r\n"
	}
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("rtsp %s: %v", method, err)
	}
	var code int
	if _, err := fmt.Sscanf(line, "RTSP/1.0 %d", &code); err != nil {
		t.Fatalf("rtsp status line %q", line)
	}
	return code
}

// TestUsersPermissionsEverySurface is the table over every route and
// protocol: no credentials, a wrong secret, a user without the permission
// are refused in the peer's terms; the right user is let through.
func TestUsersPermissionsEverySurface(t *testing.T) {
	// The table's wrong secrets, all from 127.0.0.1, would lock the
	// address out (TestFailedAuthLockoutE2E tests that): the brake is off.
	// The token clocks read their skew from a file (tokenClockEnv): the
	// expired-token rows move them past the tokens' lifetime.
	skew := filepath.Join(t.TempDir(), "token-clock-skew")
	s := startServer(t, t.TempDir(), freeUDPPair(t), "KINEDGE_AUTH_FAILURES_MAX=0", tokenClockEnv+"="+skew)
	ctx := t.Context()
	cam := s.addUser(t, "cam1", "publish:cam1")
	viewer := s.addUser(t, "viewer", "read:cam*")
	script := s.addUser(t, "script", "put-records:orders")
	reader := s.addUser(t, "reader", "get-records:orders")
	logs := s.addUser(t, "logs", "firehose:logs")

	// A camera publishes with its own credentials (RTSP, camsim).
	out, err := testtool.Command(t, 2*time.Minute, kinedgeBin, "camsim", "--url", "rtsp://cam1:"+cam.Secret+"@"+s.rtspAddr+"/",
		"--cameras", "1", "--prefix", "cam", "--duration", "3s").CombinedOutput()
	if err != nil {
		t.Fatalf("camsim as cam1: %v\n%s", err, out)
	}

	t.Run("RTSP", func(t *testing.T) {
		for _, c := range []struct {
			name, method, stream, user, pass string
			want                             int
		}{
			{"publish none", "ANNOUNCE", "cam1", "", "", 401},
			{"publish wrong secret", "ANNOUNCE", "cam1", "cam1", "wrong", 401},
			{"publish other stream", "ANNOUNCE", "cam2", "cam1", cam.Secret, 403},
			{"publish reader", "ANNOUNCE", "cam1", viewer.AccessKey, viewer.Secret, 403},
			{"publish right", "ANNOUNCE", "cam1", cam.AccessKey, cam.Secret, 200},
			{"publish builtin", "ANNOUNCE", "cam3", "camera", "camsecret", 200},
			{"read none", "DESCRIBE", "cam1", "", "", 401},
			{"read wrong secret", "DESCRIBE", "cam1", "viewer", "wrong", 401},
			{"read no permission", "DESCRIBE", "cam1", "script", script.Secret, 403},
			{"read right (not live)", "DESCRIBE", "cam1", "viewer", viewer.Secret, 404},
		} {
			if got := rtspStatus(t, s.rtspAddr, c.method, c.stream, c.user, c.pass); got != c.want {
				t.Errorf("%s: %s %s as %q: %d, want %d", c.name, c.method, c.stream, c.user, got, c.want)
			}
		}
	})

	t.Run("Kinesis", func(t *testing.T) {
		kc := func(key, secret string) *kinesis.Client {
			return kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + s.httpAddr),
				Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""), RetryMaxAttempts: 1})
		}
		if _, err := kc("admin", "adminsecret").CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("orders"), ShardCount: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
		put := func(c *kinesis.Client, stream string) error {
			_, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("k"), Data: []byte("x")})
			return err
		}
		iter := func(c *kinesis.Client) error {
			_, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("orders"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: "TRIM_HORIZON"})
			return err
		}
		for _, c := range []struct {
			name string
			err  error
			want string
		}{
			{"put wrong secret", put(kc(script.AccessKey, "wrong"), "orders"), "InvalidSignatureException"},
			{"put unknown key", put(kc("AKIANOBODY", "x"), "orders"), "UnrecognizedClientException"},
			{"put other stream", put(kc(script.AccessKey, script.Secret), "other"), "AccessDeniedException"},
			{"put reader", put(kc(reader.AccessKey, reader.Secret), "orders"), "AccessDeniedException"},
			{"put right", put(kc(script.AccessKey, script.Secret), "orders"), ""},
			{"iterator as writer", iter(kc(script.AccessKey, script.Secret)), "AccessDeniedException"},
			{"iterator right", iter(kc(reader.AccessKey, reader.Secret)), ""},
			{"create as script", func() error {
				_, err := kc(script.AccessKey, script.Secret).CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("x"), ShardCount: aws.Int32(1)})
				return err
			}(), "AccessDeniedException"},
		} {
			if got := awsErrCode(c.err); got != c.want {
				t.Errorf("%s: %q (%v), want %q", c.name, got, c.err, c.want)
			}
		}
		// A body past any peek window (PutRecords, 100 KiB) is still read
		// for its stream name.
		recs := make([]ktypes.PutRecordsRequestEntry, 10)
		for i := range recs {
			recs[i] = ktypes.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: bytes.Repeat([]byte("x"), 10<<10)}
		}
		if _, err := kc(script.AccessKey, script.Secret).PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("orders"), Records: recs}); err != nil {
			t.Errorf("PutRecords of 100 KiB: %v", err)
		}
		// CBOR, as the Java SDK sends it.
		cb, err := awsproto.Encode(awsproto.CBOR, map[string]any{"StreamName": "orders", "PartitionKey": "k", "Data": []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			u    authz.User
			want int
		}{{script, 200}, {reader, 400}} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.httpAddr+"/", bytes.NewReader(cb))
			req.Header.Set("Content-Type", "application/x-amz-cbor-1.1")
			req.Header.Set("X-Amz-Target", "Kinesis_20131202.PutRecord")
			sum := sha256.Sum256(cb)
			if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: c.u.AccessKey, SecretAccessKey: c.u.Secret}, req,
				hex.EncodeToString(sum[:]), "kinesis", "us-east-1", time.Now()); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("CBOR PutRecord as %s: %d %s, want %d", c.u.Name, resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), c.want)
			}
		}
		// IAM's words and HTTP 400.
		err = put(kc(reader.AccessKey, reader.Secret), "orders")
		if !strings.Contains(fmt.Sprint(err), "User: arn:aws:iam::000000000000:user/reader is not authorized to perform: kinesis:PutRecord on resource: arn:aws:kinesis:") ||
			!strings.Contains(fmt.Sprint(err), "StatusCode: 400") {
			t.Errorf("AccessDenied message: %v", err)
		}
	})

	t.Run("Firehose", func(t *testing.T) {
		fc := func(key, secret string) *fh.Client {
			return fh.New(fh.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + s.httpAddr),
				Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""), RetryMaxAttempts: 1})
		}
		put := func(c *fh.Client, stream string) error {
			_, err := c.PutRecord(ctx, &fh.PutRecordInput{DeliveryStreamName: aws.String(stream), Record: &fhtypes.Record{Data: []byte("x")}})
			return err
		}
		for _, c := range []struct {
			name string
			err  error
			want string
		}{
			{"wrong secret", put(fc(logs.AccessKey, "wrong"), "logs"), "InvalidSignatureException"},
			{"other stream", put(fc(logs.AccessKey, logs.Secret), "other"), "AccessDeniedException"},
			{"kinesis user", put(fc(script.AccessKey, script.Secret), "logs"), "AccessDeniedException"},
			// Authorized: the stream does not exist, the engine says so.
			{"right", put(fc(logs.AccessKey, logs.Secret), "logs"), "ResourceNotFoundException"},
		} {
			if got := awsErrCode(c.err); got != c.want {
				t.Errorf("%s: %q (%v), want %q", c.name, got, c.err, c.want)
			}
		}
	})

	t.Run("KVS", func(t *testing.T) {
		kv := func(key, secret string) *kinesisvideo.Client {
			return kinesisvideo.New(kinesisvideo.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + s.httpAddr),
				Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""), RetryMaxAttempts: 1})
		}
		describe := func(c *kinesisvideo.Client) error {
			_, err := c.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("cam1")})
			return err
		}
		del := func(c *kinesisvideo.Client) error {
			_, err := c.DeleteStream(ctx, &kinesisvideo.DeleteStreamInput{StreamARN: aws.String("arn:aws:kinesisvideo:us-east-1:000000000000:stream/cam1/1")})
			return err
		}
		for _, c := range []struct {
			name string
			err  error
			want string
		}{
			{"describe wrong secret", describe(kv(viewer.AccessKey, "wrong")), "InvalidSignatureException"},
			{"describe no permission", describe(kv(script.AccessKey, script.Secret)), "AccessDeniedException"},
			{"describe right", describe(kv(viewer.AccessKey, viewer.Secret)), ""},
			{"delete as viewer", del(kv(viewer.AccessKey, viewer.Secret)), "AccessDeniedException"},
		} {
			if got := awsErrCode(c.err); got != c.want {
				t.Errorf("%s: %q (%v), want %q", c.name, got, c.err, c.want)
			}
		}
		now := time.Now()
		hlsReq := map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND", "HLSFragmentSelector": map[string]any{
			"FragmentSelectorType": "PRODUCER_TIMESTAMP", "TimestampRange": map[string]any{"StartTimestamp": now.Add(-time.Hour).Unix(), "EndTimestamp": now.Unix()}}}
		listReq := map[string]any{"StreamName": "cam1"}
		for _, c := range []struct {
			name, key, secret, path string
			body                    any
			status                  int
			typ                     string
		}{
			{"ListFragments none", "", "", "/listFragments", listReq, 403, "MissingAuthenticationTokenException"},
			{"ListFragments wrong", viewer.AccessKey, "wrong", "/listFragments", listReq, 403, "InvalidSignatureException"},
			{"ListFragments no permission", cam.AccessKey, cam.Secret, "/listFragments", listReq, 400, "AccessDeniedException"},
			{"ListFragments right", viewer.AccessKey, viewer.Secret, "/listFragments", listReq, 200, ""},
			{"GetMedia no permission", script.AccessKey, script.Secret, "/getMedia", map[string]any{"StreamName": "cam1", "StartSelector": map[string]any{"StartSelectorType": "EARLIEST"}}, 400, "AccessDeniedException"},
			{"HLS URL no permission", cam.AccessKey, cam.Secret, "/getHLSStreamingSessionURL", hlsReq, 400, "AccessDeniedException"},
		} {
			status, typ, body := s.kvsPost(t, c.key, c.secret, c.path, c.body)
			if status != c.status || !strings.HasPrefix(typ, c.typ) {
				t.Errorf("%s: %d %q, want %d %q: %s", c.name, status, typ, c.status, c.typ, body)
			}
		}
		// The viewer's HLS session URL plays without credentials (its
		// token is the credential).
		status, typ, body := s.kvsPost(t, viewer.AccessKey, viewer.Secret, "/getHLSStreamingSessionURL", hlsReq)
		var hls struct{ HLSStreamingSessionURL string }
		if status != 200 || json.Unmarshal(body, &hls) != nil || hls.HLSStreamingSessionURL == "" {
			t.Fatalf("HLS URL as viewer: %d %s %s", status, typ, body)
		}
		resp, err := http.Get(hls.HLSStreamingSessionURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("HLS master playlist: %d", resp.StatusCode)
		}
		// PutMedia needs publish on the stream.
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.httpAddr+"/putMedia", strings.NewReader(""))
		req.Header.Set("X-Amzn-Stream-Name", "cam1")
		req.Header.Set("X-Amzn-Fragment-Timecode-Type", "ABSOLUTE")
		req.Header.Set("X-Amzn-Producer-Start-Timestamp", "0")
		if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: viewer.AccessKey, SecretAccessKey: viewer.Secret}, req,
			"UNSIGNED-PAYLOAD", "kinesisvideo", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-ErrorType") == "" || !strings.HasPrefix(resp.Header.Get("X-Amzn-ErrorType"), "AccessDeniedException") {
			t.Errorf("PutMedia as viewer: %d %q", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
		}
	})

	t.Run("HTTP", func(t *testing.T) {
		// A user lists only the video streams it may read.
		if status, typ, body := s.kvsPost(t, "admin", "adminsecret", "/createStream", map[string]any{"StreamName": "door", "DataRetentionInHours": 1}); status != 200 {
			t.Fatalf("createStream door: %d %s %s", status, typ, body)
		}
		list := func(key, secret string) string {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.httpAddr+"/v1/streams", nil)
			req.SetBasicAuth(key, secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return string(b)
		}
		if l := list(viewer.AccessKey, viewer.Secret); !strings.Contains(l, `"cam1"`) || strings.Contains(l, `"door"`) {
			t.Errorf("viewer's stream list: %s", l)
		}
		if l := list("admin", "adminsecret"); !strings.Contains(l, `"cam1"`) || !strings.Contains(l, `"door"`) {
			t.Errorf("admin's stream list: %s", l)
		}
		for _, c := range []struct {
			name, method, path, key, secret string
			want                            int
		}{
			{"page (login form)", "GET", "/", "", "", 200},
			{"page wrong (login form)", "GET", "/", viewer.AccessKey, "wrong", 200},
			{"page viewer", "GET", "/", viewer.AccessKey, viewer.Secret, 200},
			{"fragments none", "GET", "/v1/streams/cam1/fragments", "", "", 401},
			{"fragments wrong", "GET", "/v1/streams/cam1/fragments", viewer.AccessKey, "wrong", 401},
			{"fragments no permission", "GET", "/v1/streams/cam1/fragments", script.AccessKey, script.Secret, 403},
			{"fragments right", "GET", "/v1/streams/cam1/fragments", viewer.AccessKey, viewer.Secret, 200},
			{"stream list viewer", "GET", "/v1/streams", viewer.AccessKey, viewer.Secret, 200},
			{"media token viewer", "GET", "/v1/streams/cam1/token", viewer.AccessKey, viewer.Secret, 200},
			{"publish token viewer", "POST", "/v1/streams/cam1/publish-token", viewer.AccessKey, viewer.Secret, 403},
			{"add source viewer", "POST", "/v1/streams", viewer.AccessKey, viewer.Secret, 403},
			{"users viewer", "GET", "/v1/users", viewer.AccessKey, viewer.Secret, 403},
			{"users admin", "GET", "/v1/users", "admin", "adminsecret", 200},
			{"metrics none", "GET", "/metrics", "", "", 401},
			{"metrics viewer", "GET", "/metrics", viewer.AccessKey, viewer.Secret, 403},
			{"metrics admin", "GET", "/metrics", "admin", "adminsecret", 200},
			{"whep no permission", "POST", "/whep/cam1", cam.AccessKey, cam.Secret, 403},
		} {
			req, _ := http.NewRequestWithContext(ctx, c.method, "http://"+s.httpAddr+c.path, nil)
			if c.key != "" {
				req.SetBasicAuth(c.key, c.secret)
			}
			if c.path == "/" {
				req.Header.Set("Accept", "text/html")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("%s: %s %s: %d, want %d: %s", c.name, c.method, c.path, resp.StatusCode, c.want, b)
			}
			if login := strings.Contains(string(b), "log in</title>"); c.path == "/" && login != strings.Contains(c.name, "login form") {
				t.Errorf("%s: login form %v", c.name, login)
			}
			if c.want == 403 && !strings.Contains(string(b), `"message"`) {
				t.Errorf("%s: 403 without a JSON message: %s", c.name, b)
			}
		}
	})

	// A signature older than AWS's 15 minutes of skew is refused as AWS
	// does, even with the right secret and permission: 403
	// InvalidSignatureException, "Signature expired".
	t.Run("expired signature", func(t *testing.T) {
		signed := func(path, target, service string, u authz.User, body []byte, at time.Time) (int, string, string) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.httpAddr+path, bytes.NewReader(body))
			if target != "" {
				req.Header.Set("Content-Type", "application/x-amz-json-1.1")
				req.Header.Set("X-Amz-Target", target)
			} else {
				req.Header.Set("Content-Type", "application/json")
			}
			sum := sha256.Sum256(body)
			if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: u.AccessKey, SecretAccessKey: u.Secret}, req,
				hex.EncodeToString(sum[:]), service, "us-east-1", at); err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), string(b)
		}
		put := []byte(`{"StreamName":"orders","PartitionKey":"k","Data":"eA=="}`)
		list := []byte(`{"StreamName":"cam1"}`)
		for _, c := range []struct {
			name, path, target, service string
			u                           authz.User
			body                        []byte
			age                         time.Duration
			status                      int
			typ                         string
		}{
			{"Kinesis PutRecord now", "/", "Kinesis_20131202.PutRecord", "kinesis", script, put, 0, 200, ""},
			{"Kinesis PutRecord 20 min old", "/", "Kinesis_20131202.PutRecord", "kinesis", script, put, 20 * time.Minute, 403, "InvalidSignatureException"},
			{"KVS ListFragments now", "/listFragments", "", "kinesisvideo", viewer, list, 0, 200, ""},
			{"KVS ListFragments 20 min old", "/listFragments", "", "kinesisvideo", viewer, list, 20 * time.Minute, 403, "InvalidSignatureException"},
		} {
			status, typ, body := signed(c.path, c.target, c.service, c.u, c.body, time.Now().Add(-c.age))
			if status != c.status || !strings.HasPrefix(typ, c.typ) {
				t.Errorf("%s: %d %q, want %d %q: %s", c.name, status, typ, c.status, c.typ, body)
			}
			if c.age > 0 && !strings.Contains(body, "Signature expired") {
				t.Errorf("%s: %s, want AWS's \"Signature expired\"", c.name, body)
			}
		}
	})

	t.Run("WHIP", func(t *testing.T) {
		for _, c := range []struct {
			name, stream, bearer string
			want                 int
		}{
			{"none", "cam1", "", 401},
			{"wrong", "cam1", "wrong", 401},
			// Only users with a publish grant of their own are bearers.
			{"reader's secret", "cam1", viewer.Secret, 401},
			{"admin secret", "cam1", "adminsecret", 401},
			{"other stream", "cam2", cam.Secret, 403},
			// Authorized; the offer is empty, so WHIP refuses it as such.
			{"right", "cam1", cam.Secret, 400},
			{"publish pass", "cam1", "camsecret", 400},
		} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.httpAddr+"/whip/"+c.stream, strings.NewReader(""))
			req.Header.Set("Content-Type", "application/sdp")
			if c.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+c.bearer)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("%s: %d, want %d: %s", c.name, resp.StatusCode, c.want, b)
			}
		}
	})

	// ListStreams lists a user only the streams it holds a grant on, as
	// GET /v1/streams does; a user without any such grant gets an empty
	// list (docs/users.md says why not IAM's all or nothing).
	t.Run("ListStreams", func(t *testing.T) {
		kc := func(u authz.User) *kinesis.Client {
			return kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + s.httpAddr),
				Credentials: credentials.NewStaticCredentialsProvider(u.AccessKey, u.Secret, ""), RetryMaxAttempts: 1})
		}
		kv := func(u authz.User) *kinesisvideo.Client {
			return kinesisvideo.New(kinesisvideo.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + s.httpAddr),
				Credentials: credentials.NewStaticCredentialsProvider(u.AccessKey, u.Secret, ""), RetryMaxAttempts: 1})
		}
		admin := authz.User{Name: "admin", AccessKey: "admin", Secret: "adminsecret"}
		for _, name := range []string{"orders", "payments"} {
			if _, err := kc(admin).CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil && awsErrCode(err) != "ResourceInUseException" {
				t.Fatal(err)
			}
		}
		for _, name := range []string{"cam1", "door"} {
			if _, err := kv(admin).CreateStream(ctx, &kinesisvideo.CreateStreamInput{StreamName: aws.String(name), DataRetentionInHours: aws.Int32(1)}); err != nil && awsErrCode(err) != "ResourceInUseException" {
				t.Fatal(err)
			}
		}
		kinesisNames := func(u authz.User) ([]string, error) {
			var names []string
			p := kinesis.NewListStreamsPaginator(kc(u), &kinesis.ListStreamsInput{Limit: aws.Int32(1)})
			for p.HasMorePages() {
				out, err := p.NextPage(ctx)
				if err != nil {
					return nil, err
				}
				names = append(names, out.StreamNames...)
			}
			return names, nil
		}
		kvsNames := func(u authz.User) ([]string, error) {
			var names []string
			p := kinesisvideo.NewListStreamsPaginator(kv(u), &kinesisvideo.ListStreamsInput{MaxResults: aws.Int32(1)})
			for p.HasMorePages() {
				out, err := p.NextPage(ctx)
				if err != nil {
					return nil, err
				}
				for _, si := range out.StreamInfoList {
					names = append(names, aws.ToString(si.StreamName))
				}
			}
			return names, nil
		}
		for _, c := range []struct {
			name      string
			list      func(authz.User) ([]string, error)
			u         authz.User
			want, not []string
		}{
			{"Kinesis writer", kinesisNames, script, []string{"orders"}, []string{"payments"}},
			{"Kinesis reader", kinesisNames, reader, []string{"orders"}, []string{"payments"}},
			{"Kinesis no grant", kinesisNames, viewer, nil, []string{"orders", "payments"}},
			{"Kinesis admin", kinesisNames, admin, []string{"orders", "payments"}, nil},
			{"KVS viewer", kvsNames, viewer, []string{"cam1"}, []string{"door"}},
			{"KVS camera", kvsNames, cam, []string{"cam1"}, []string{"door"}},
			{"KVS no grant", kvsNames, script, nil, []string{"cam1", "door"}},
			{"KVS admin", kvsNames, admin, []string{"cam1", "door"}, nil},
		} {
			got, err := c.list(c.u)
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			for _, w := range c.want {
				if !slices.Contains(got, w) {
					t.Errorf("%s: %q lacks %s", c.name, got, w)
				}
			}
			for _, n := range c.not {
				if slices.Contains(got, n) {
					t.Errorf("%s: %q shows %s", c.name, got, n)
				}
			}
		}
		// Signatures are still checked.
		if _, err := kinesisNames(authz.User{AccessKey: script.AccessKey, Secret: "wrong"}); awsErrCode(err) != "InvalidSignatureException" {
			t.Errorf("ListStreams with a wrong secret: %v", err)
		}
	})

	// Media tokens and HLS session tokens: expired (the token clocks moved
	// past their lifetime) or for another stream → 403 on every surface
	// that takes them; a fresh one still opens the same URL.
	t.Run("expired token", func(t *testing.T) {
		setSkew := func(d time.Duration) {
			if err := os.WriteFile(skew, []byte(d.String()), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		setSkew(0)
		get := func(method, url string) (int, string) {
			t.Helper()
			req, _ := http.NewRequestWithContext(ctx, method, url, nil)
			if method == http.MethodPost {
				req.Header.Set("Content-Type", "application/sdp")
			}
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		basic := func(path string, out any) {
			t.Helper()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.httpAddr+path, nil)
			req.SetBasicAuth(viewer.AccessKey, viewer.Secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
			}
		}
		var frags struct {
			Fragments []struct {
				ServerTimestamp time.Time `json:"server_timestamp"`
			} `json:"fragments"`
		}
		basic("/v1/streams/cam1/fragments", &frags)
		if len(frags.Fragments) == 0 {
			t.Fatal("cam1 has no fragments")
		}
		at := frags.Fragments[0].ServerTimestamp
		start, end := at.Add(-time.Minute).UTC().Format(time.RFC3339), time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
		token := func(stream string) string {
			t.Helper()
			var tj struct{ Token string }
			basic("/v1/streams/"+stream+"/token?start="+url.QueryEscape(start)+"&end="+url.QueryEscape(end), &tj)
			return tj.Token
		}
		// The URLs of the page's media links and of WHEP, with token tok.
		urls := func(tok string) map[string]string {
			base, q := "http://"+s.httpAddr, "token="+url.QueryEscape(tok)
			return map[string]string{
				"media":     base + "/v1/streams/cam1/media?format=mkv&start=" + url.QueryEscape(start) + "&end=" + url.QueryEscape(end) + "&" + q,
				"image":     base + "/v1/streams/cam1/image?at=" + url.QueryEscape(at.UTC().Format(time.RFC3339Nano)) + "&" + q,
				"live.m3u8": base + "/v1/streams/cam1/live.m3u8?" + q,
				"WHEP":      base + "/whep/cam1?" + q,
			}
		}
		// What a fresh token gets (authorized: live.m3u8 redirects to its
		// live HLS session, WHEP refuses the empty offer).
		fresh := map[string]int{"media": 200, "image": 200, "live.m3u8": 302, "WHEP": 400}
		method := func(what string) string {
			if what == "WHEP" {
				return http.MethodPost
			}
			return http.MethodGet
		}
		// An HLS session of the viewer: its master playlist, media
		// playlist and first segment.
		hlsURLs := func() map[string]string {
			t.Helper()
			now := time.Now()
			req := map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND", "HLSFragmentSelector": map[string]any{
				"FragmentSelectorType": "SERVER_TIMESTAMP", "TimestampRange": map[string]any{"StartTimestamp": at.Add(-time.Minute).Unix(), "EndTimestamp": now.Unix()}}}
			status, typ, body := s.kvsPost(t, viewer.AccessKey, viewer.Secret, "/getHLSStreamingSessionURL", req)
			var out struct{ HLSStreamingSessionURL string }
			if status != 200 || json.Unmarshal(body, &out) != nil {
				t.Fatalf("HLS URL: %d %s %s", status, typ, body)
			}
			master := out.HLSStreamingSessionURL
			media := master
			for i, next := range []string{"media playlist", "segment"} {
				status, body := get(http.MethodGet, media)
				if status != 200 {
					t.Fatalf("HLS %d: %d %s", i, status, body)
				}
				ref := ""
				for _, line := range strings.Split(body, "\n") {
					if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
						ref = line
						break
					}
				}
				if ref == "" {
					t.Fatalf("HLS: no %s in %s", next, body)
				}
				u, err := url.Parse(media)
				if err != nil {
					t.Fatal(err)
				}
				r, err := u.Parse(ref)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					media = r.String()
				} else {
					return map[string]string{"HLS master playlist": master, "HLS media playlist": media, "HLS segment": r.String()}
				}
			}
			return nil
		}
		old, other, oldHLS := token("cam1"), token("cam3"), hlsURLs()
		for what, u := range urls(old) {
			if status, body := get(method(what), u); status != fresh[what] {
				t.Errorf("%s with a fresh token: %d, want %d: %s", what, status, fresh[what], body)
			}
		}
		for what, u := range urls(other) {
			if status, body := get(method(what), u); status != 403 || !strings.Contains(body, `not \"cam1\"`) {
				t.Errorf("%s with cam3's token: %d, want 403 naming the stream: %s", what, status, body)
			}
		}
		// Outside the token's range (its stream, its lifetime).
		early := at.Add(-2 * time.Minute).UTC().Format(time.RFC3339)
		for what, u := range map[string]string{
			"media before the range": "http://" + s.httpAddr + "/v1/streams/cam1/media?format=mkv&start=" + url.QueryEscape(early) + "&end=" + url.QueryEscape(end) + "&token=" + url.QueryEscape(old),
			"image before the range": "http://" + s.httpAddr + "/v1/streams/cam1/image?at=" + url.QueryEscape(early) + "&token=" + url.QueryEscape(old),
		} {
			if status, body := get(http.MethodGet, u); status != 403 || !strings.Contains(body, "it opens") {
				t.Errorf("%s: %d, want 403 naming the token's range: %s", what, status, body)
			}
		}
		// A session token altered by one byte opens nothing.
		for what, u := range oldHLS {
			bad := strings.Replace(u, "SessionToken=", "SessionToken=A", 1)
			if status, body := get(http.MethodGet, bad); status != 403 {
				t.Errorf("%s with an altered token: %d, want 403: %s", what, status, body)
			}
		}

		// 20 minutes later: past the media tokens' 10 minutes and the
		// session's 300 s; tokens minted then live from the moved clock.
		setSkew(20 * time.Minute)
		for what, u := range urls(old) {
			if status, body := get(method(what), u); status != 403 || !strings.Contains(body, "expired") {
				t.Errorf("%s with an expired token: %d, want 403 expired: %s", what, status, body)
			}
		}
		for what, u := range oldHLS {
			if status, body := get(http.MethodGet, u); status != 403 || !strings.Contains(body, "expired") {
				t.Errorf("%s with an expired session: %d, want 403 expired: %s", what, status, body)
			}
		}
		for what, u := range urls(token("cam1")) {
			if status, body := get(method(what), u); status != fresh[what] {
				t.Errorf("%s with a token minted after: %d, want %d: %s", what, status, fresh[what], body)
			}
		}
		for what, u := range hlsURLs() {
			if status, body := get(http.MethodGet, u); status != 200 {
				t.Errorf("%s of a session opened after: %d: %s", what, status, body)
			}
		}
	})

}
