package kvs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/smithy-go"
	"go.uber.org/goleak"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/index"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*defaultPolicy[...]).processItems"),
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*Cache[...]).processItems"),
	)
}

const (
	testKey    = "AKIDKINEDGEKVSTEST"
	testSecret = "kinedge-kvs-test-secret"
	testRegion = "eu-west-1"
)

// testNow is the index's clock in the tests: fragments are stored and
// listed relative to it.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type testEnv struct {
	idx     *index.Index
	handler *Handler
	srv     *httptest.Server
	client  *kinesisvideo.Client
}

// openIndex opens an in-memory index whose clock stands at testNow.
func openIndex(t testing.TB) *index.Index {
	t.Helper()
	idx, err := index.Open(index.Options{InMemory: true, NoSync: true, Region: testRegion, Account: "123456789012",
		Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idx.Close() })
	return idx
}

// newEnv serves a Handler behind awsproto's SigV4 Middleware on 127.0.0.1
// and returns an aws-sdk-go-v2 Kinesis Video Streams client for it.
func newEnv(t testing.TB, mod func(*Handler)) *testEnv {
	t.Helper()
	idx := openIndex(t)
	h := &Handler{Index: idx}
	if mod != nil {
		mod(h)
	}
	v := &awsproto.Verifier{Secret: func(k string) (string, bool) { return testSecret, k == testKey }, Service: "kinesisvideo"}
	mux := http.NewServeMux()
	h.Register(mux, func(next http.Handler) http.Handler { return awsproto.Middleware(v, next, 0) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := kinesisvideo.New(kinesisvideo.Options{
		BaseEndpoint: aws.String(srv.URL),
		Region:       testRegion,
		Credentials:  credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
	})
	return &testEnv{idx: idx, handler: h, srv: srv, client: client}
}

// create creates a stream through the SDK and returns its ARN.
func (env *testEnv) create(t testing.TB, in *kinesisvideo.CreateStreamInput) string {
	t.Helper()
	out, err := env.client.CreateStream(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateStream %s: %v", aws.ToString(in.StreamName), err)
	}
	return aws.ToString(out.StreamARN)
}

// describe returns the stream's StreamInfo through the SDK.
func (env *testEnv) describe(t testing.TB, name string) *kinesisvideo.DescribeStreamOutput {
	t.Helper()
	out, err := env.client.DescribeStream(context.Background(), &kinesisvideo.DescribeStreamInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatalf("DescribeStream %s: %v", name, err)
	}
	return out
}

// wantErr checks that err is the typed SDK error T and has HTTP status.
func wantErr[T smithy.APIError](t *testing.T, what string, err error, status int) {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Errorf("%s: err = %v (%T), want %T", what, err, err, target)
		return
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) {
		t.Errorf("%s: no HTTP response in %v", what, err)
		return
	}
	if re.HTTPStatusCode() != status {
		t.Errorf("%s: HTTP %d, want %d", what, re.HTTPStatusCode(), status)
	}
}

// rawResponse is a response to a hand-built request.
type rawResponse struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// post sends a SigV4-signed POST path with body (marshalled to JSON
// unless it is a []byte) to env's server, as an SDK without a typed
// client (Kinesis Video Streams Archived Media) would.
func (env *testEnv) post(t testing.TB, path string, body any) rawResponse {
	t.Helper()
	b, ok := body.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(http.MethodPost, env.srv.URL+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(b)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	creds := aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, "kinesisvideo", testRegion, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := env.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	out := rawResponse{status: resp.StatusCode, header: resp.Header, raw: buf.Bytes()}
	dec := json.NewDecoder(bytes.NewReader(out.raw))
	dec.UseNumber()
	if err := dec.Decode(&out.body); err != nil {
		t.Fatalf("POST %s: HTTP %d, body %q is not a JSON object: %v", path, resp.StatusCode, out.raw, err)
	}
	return out
}
