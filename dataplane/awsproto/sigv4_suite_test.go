package awsproto

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// awsSuiteVectors are requests of AWS's published Signature Version 4 test
// suite (aws-sig-v4-test-suite: AKIDEXAMPLE, us-east-1, service "service",
// 20150830T123600Z) with their expected signatures. They check the verifier
// against AWS's own answers rather than against the SDK that it uses.
var awsSuiteVectors = []struct {
	name    string
	request string // without Authorization
	signed  string
	sig     string
}{
	{"get-vanilla", "GET / HTTP/1.1\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n\r\n",
		"host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
	{"get-vanilla-query-order-key-case", "GET /?Param2=value2&Param1=value1 HTTP/1.1\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n\r\n",
		"host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
	{"get-vanilla-query-order-value", "GET /?Param1=value2&Param1=value1 HTTP/1.1\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n\r\n",
		"host;x-amz-date", "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"},
	{"get-vanilla-utf8-query", "GET /?%E1%88%B4=bar HTTP/1.1\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n\r\n",
		"host;x-amz-date", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
	{"get-unreserved", "GET /-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz HTTP/1.1\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n\r\n",
		"host;x-amz-date", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
	{"get-utf8", "GET /%E1%88%B4 HTTP/1.1\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n\r\n",
		"host;x-amz-date", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
	{"get-space", "GET /example%20space/ HTTP/1.1\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n\r\n",
		"host;x-amz-date", "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
	{"get-header-key-duplicate", "GET / HTTP/1.1\r\nHost: example.amazonaws.com\r\nMy-Header1: value2\r\nMy-Header1: value2\r\nMy-Header1: value1\r\nX-Amz-Date: 20150830T123600Z\r\n\r\n",
		"host;my-header1;x-amz-date", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
	{"get-header-value-order", "GET / HTTP/1.1\r\nHost: example.amazonaws.com\r\nMy-Header1: value4\r\nMy-Header1: value1\r\nMy-Header1: value3\r\nMy-Header1: value2\r\nX-Amz-Date: 20150830T123600Z\r\n\r\n",
		"host;my-header1;x-amz-date", "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
	{"get-header-value-trim", "GET / HTTP/1.1\r\nHost: example.amazonaws.com\r\nMy-Header1: value1\r\nMy-Header2: \"a   b   c\"\r\nX-Amz-Date: 20150830T123600Z\r\n\r\n",
		"host;my-header1;my-header2;x-amz-date", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
	{"post-vanilla", "POST / HTTP/1.1\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n\r\n",
		"host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
	{"post-vanilla-query", "POST /?Param1=value1 HTTP/1.1\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\n\r\n",
		"host;x-amz-date", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
	{"post-header-value-case", "POST / HTTP/1.1\r\nHost: example.amazonaws.com\r\nMy-Header1: VALUE1\r\nX-Amz-Date: 20150830T123600Z\r\n\r\n",
		"host;my-header1;x-amz-date", "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
	{"post-sts-header-before", "POST / HTTP/1.1\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\nX-Amz-Security-Token: AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==\r\n\r\n",
		"host;x-amz-date;x-amz-security-token", "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
	{"post-x-www-form-urlencoded", "POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\nContent-Length: 13\r\n\r\nParam1=value1",
		"content-type;host;x-amz-date", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
	{"post-x-www-form-urlencoded-parameters", "POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded; charset=utf8\r\nHost: example.amazonaws.com\r\nX-Amz-Date: 20150830T123600Z\r\nContent-Length: 13\r\n\r\nParam1=value1",
		"content-type;host;x-amz-date", "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"},
}

var suiteTime = time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)

// suiteRequest parses a raw request and adds the Authorization header.
func suiteRequest(t testing.TB, raw, signed, sig string) (*http.Request, []byte) {
	t.Helper()
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders="+signed+", Signature="+sig)
	return r, body
}

func TestVerifyAWSTestSuite(t *testing.T) {
	for _, tt := range awsSuiteVectors {
		t.Run(tt.name, func(t *testing.T) {
			v := testVerifier(suiteTime)
			r, body := suiteRequest(t, tt.request, tt.signed, tt.sig)
			if key, err := v.Verify(r, body); err != nil || key != testKey {
				t.Fatalf("Verify = %q, %v", key, err)
			}
			// The independent reference signer used by the other tests
			// agrees with AWS too.
			if got := referenceSignature(t, r, tt.signed, sha256Hex(body), testSecret); got != tt.sig {
				t.Fatalf("reference signature %s, want %s", got, tt.sig)
			}
			// And one flipped bit of the signature is rejected.
			bad := tt.sig[:63] + string("10"[tt.sig[63]&1])
			r, body = suiteRequest(t, tt.request, tt.signed, bad)
			if _, err := v.Verify(r, body); TypeOf(err) != InvalidSignatureException {
				t.Fatalf("flipped signature: %v", err)
			}
		})
	}
}

// referenceSignature computes a SigV4 signature by the steps of the AWS
// documentation ("Create a canonical request", "Create a string to sign",
// "Calculate the signature"), independently of aws-sdk-go-v2. It only
// handles what the tests need: paths and queries already in canonical
// form apart from query ordering, single-line header values.
func referenceSignature(t testing.TB, r *http.Request, signed, payloadHash, secret string) string {
	t.Helper()
	q := r.URL.Query()
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, uriEncode(k)+"="+uriEncode(v))
		}
	}
	sortStrings(pairs)
	var ch strings.Builder
	for _, h := range strings.Split(signed, ";") {
		var vals []string
		switch h {
		case "host":
			vals = []string{r.Host}
		case "transfer-encoding":
			vals = r.TransferEncoding
		default:
			vals = r.Header.Values(h)
		}
		for i, v := range vals {
			vals[i] = strings.Join(strings.Fields(v), " ")
		}
		fmt.Fprintf(&ch, "%s:%s\n", h, strings.Join(vals, ","))
	}
	path := r.URL.EscapedPath()
	canonical := strings.Join([]string{r.Method, path, strings.Join(pairs, "&"), ch.String(), signed, payloadHash}, "\n")
	_, rest, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	cred, _, _ := strings.Cut(rest, ",")
	parts := strings.Split(cred, "/")
	amzDate := r.Header.Get("X-Amz-Date")
	sum := sha256.Sum256([]byte(canonical))
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + strings.Join(parts[1:], "/") + "\n" + hex.EncodeToString(sum[:])
	mac := func(key []byte, s string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return m.Sum(nil)
	}
	k := mac([]byte("AWS4"+secret), parts[1])
	k = mac(k, parts[2])
	k = mac(k, parts[3])
	k = mac(k, "aws4_request")
	return hex.EncodeToString(mac(k, toSign))
}

func uriEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// kvsProducerHeaders are the headers the KVS producer SDK (AWS-SDK-KVS,
// C/C++) signs on PutMedia, including User-Agent, Connection and
// Transfer-Encoding, with the payload hash of an EMPTY body although the
// body is a chunked MKV stream.
const kvsProducerSigned = "connection;content-type;host;transfer-encoding;user-agent;x-amz-date;x-amzn-fragment-acknowledgment-required;x-amzn-fragment-timecode-type;x-amzn-producer-start-timestamp;x-amzn-stream-name"

func TestStreamingMiddlewareKVSProducer(t *testing.T) {
	type result struct {
		body      string
		key       string
		readError error
	}
	got := make(chan result, 1)
	srv := httptest.NewServer(StreamingMiddleware(testVerifier(time.Now()), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		key, _ := AccessKeyFromContext(r.Context())
		got <- result{body: string(b), key: key, readError: err}
		w.WriteHeader(http.StatusOK)
	})))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	amzDate := time.Now().UTC().Format(amzDateFormat)

	build := func(t *testing.T, userAgentSent string, hashHeader string, body string) string {
		head := "POST /putMedia HTTP/1.1\r\n" +
			"Host: " + host + "\r\n" +
			"Accept: */*\r\n" +
			"connection: keep-alive\r\n" +
			"content-type: application/json\r\n" +
			"transfer-encoding: chunked\r\n" +
			"user-agent: AWS-SDK-KVS/2.0.2 GCC/7.4.0 Linux/4.15.0-46-generic x86_64\r\n" +
			"x-amz-date: " + amzDate + "\r\n" +
			"x-amzn-fragment-acknowledgment-required: 1\r\n" +
			"x-amzn-fragment-timecode-type: ABSOLUTE\r\n" +
			"x-amzn-producer-start-timestamp: 1700000000.123\r\n" +
			"x-amzn-stream-name: cam1\r\n"
		signed, payloadHash := kvsProducerSigned, emptySHA256Hex
		if hashHeader != "" {
			head += "x-amz-content-sha256: " + hashHeader + "\r\n"
			signed = strings.Replace(signed, "x-amz-date;", "x-amz-content-sha256;x-amz-date;", 1)
			payloadHash = hashHeader
		}
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head + "\r\n0\r\n\r\n")))
		if err != nil {
			t.Fatal(err)
		}
		date := amzDate[:8]
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testKey+"/"+date+"/us-west-2/kinesisvideo/aws4_request")
		sig := referenceSignature(t, r, signed, payloadHash, testSecret)
		head = strings.Replace(head, "AWS-SDK-KVS/2.0.2", userAgentSent, 1)
		auth := "Authorization: AWS4-HMAC-SHA256 Credential=" + testKey + "/" + date + "/us-west-2/kinesisvideo/aws4_request, SignedHeaders=" + signed + ", Signature=" + sig + "\r\n"
		var chunked strings.Builder
		for _, part := range []string{body[:len(body)/2], body[len(body)/2:]} {
			fmt.Fprintf(&chunked, "%x\r\n%s\r\n", len(part), part)
		}
		chunked.WriteString("0\r\n\r\n")
		return head + auth + "\r\n" + chunked.String()
	}
	send := func(t *testing.T, raw string) int {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, raw); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode
	}
	const media = "\x1a\x45\xdf\xa3 pretend this is a long MKV stream"
	tests := []struct {
		name       string
		userAgent  string
		hashHeader string
		body       string
		wantStatus int
		wantErr    string // error type of the handler's body read
	}{
		{"as signed", "AWS-SDK-KVS/2.0.2", "", media, 200, ""},
		{"user agent changed", "AWS-SDK-KVS/2.0.3", "", media, 403, ""},
		{"declared hash matches", "AWS-SDK-KVS/2.0.2", sha256Hex([]byte(media)), media, 200, ""},
		{"declared hash differs", "AWS-SDK-KVS/2.0.2", sha256Hex([]byte("other")), media, 200, InvalidSignatureException},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := send(t, build(t, tt.userAgent, tt.hashHeader, tt.body))
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d", status, tt.wantStatus)
			}
			if status != 200 {
				return
			}
			res := <-got
			if res.key != testKey || res.body != tt.body {
				t.Fatalf("handler saw key %q body %q", res.key, res.body)
			}
			if TypeOf(res.readError) != tt.wantErr || (tt.wantErr == "" && res.readError != nil) {
				t.Fatalf("body read error %v, want type %q", res.readError, tt.wantErr)
			}
		})
	}
}

func TestStreamingMiddlewareErrors(t *testing.T) {
	h := StreamingMiddleware(testVerifier(testSignTime), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("handler ran")
	}))
	tests := []struct {
		name     string
		req      func(t testing.TB) *http.Request
		wantType string
	}{
		{"no auth", func(t testing.TB) *http.Request { return httptest.NewRequest(http.MethodPost, "/putMedia", nil) }, MissingAuthenticationTokenException},
		{"signed over a body hash", func(t testing.TB) *http.Request {
			r, _ := sign(t, "body", signOpts{service: "kinesisvideo"}).onServer(t)
			return r
		}, InvalidSignatureException},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tt.req(t))
			if rec.Code != http.StatusForbidden || rec.Header().Get("X-Amzn-ErrorType") != tt.wantType+":" {
				t.Fatalf("%d %v", rec.Code, rec.Header())
			}
		})
	}
}
