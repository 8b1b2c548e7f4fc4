package awsproto

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"
)

const (
	testKey    = "AKIDEXAMPLE"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

var testSignTime = time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)

func testVerifier(now time.Time) *Verifier {
	return &Verifier{
		Secret: func(k string) (string, bool) {
			if k == testKey {
				return testSecret, true
			}
			return "", false
		},
		Now: func() time.Time { return now },
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// signedRequest is a client request, signed by the real v4 signer.
type signedRequest struct {
	req  *http.Request
	body []byte
}

// onServer writes the client request to the wire and reads it back as a
// server does, so the verifier sees exactly what an http.Server hands it.
func (s signedRequest) onServer(t testing.TB) (*http.Request, []byte) {
	t.Helper()
	var wire bytes.Buffer
	if err := s.req.Write(&wire); err != nil {
		t.Fatal(err)
	}
	r, err := http.ReadRequest(bufio.NewReader(&wire))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return r, body
}

type signOpts struct {
	service     string
	payloadHash string // "" = sha256 of body
	key, secret string
	presign     bool
	expires     string
	at          time.Time
	contentType string // "" = ContentTypeJSON
	path        string // "" = "/"
}

func sign(t testing.TB, body string, o signOpts) signedRequest {
	t.Helper()
	if o.service == "" {
		o.service = "kinesis"
	}
	if o.key == "" {
		o.key, o.secret = testKey, testSecret
	}
	if o.at.IsZero() {
		o.at = testSignTime
	}
	method, target := http.MethodPost, "http://127.0.0.1:4567/"+strings.TrimPrefix(o.path, "/")
	if o.presign {
		method, target = http.MethodGet, "http://127.0.0.1:4567/getMedia?Stream=cam1&X=a%20b"
	}
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	if o.contentType == "" {
		o.contentType = ContentTypeJSON
	}
	req.Header.Set("Content-Type", o.contentType)
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.ListStreams")
	req.Header.Set("User-Agent", "test/1.0")
	ph := o.payloadHash
	if ph == "" {
		ph = sha256Hex([]byte(body))
	} else if !o.presign {
		req.Header.Set("X-Amz-Content-Sha256", ph)
	}
	creds := aws.Credentials{AccessKeyID: o.key, SecretAccessKey: o.secret}
	if o.presign {
		if o.expires != "" {
			q := req.URL.Query()
			q.Set("X-Amz-Expires", o.expires)
			req.URL.RawQuery = q.Encode()
		}
		signed, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, ph, o.service, "eu-west-1", o.at)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(signed)
		if err != nil {
			t.Fatal(err)
		}
		req.URL = u
		for k, v := range hdr {
			if k != "Host" {
				req.Header[k] = v
			}
		}
	} else if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, ph, o.service, "eu-west-1", o.at); err != nil {
		t.Fatal(err)
	}
	return signedRequest{req: req, body: []byte(body)}
}

func TestVerify(t *testing.T) {
	const body = `{"Limit":10}`
	tests := []struct {
		name     string
		req      func(t testing.TB) (*http.Request, []byte)
		verifier func(v *Verifier)
		wantType string
		wantMsg  string // prefix; "" = any
	}{
		{"header ok", func(t testing.TB) (*http.Request, []byte) { return sign(t, body, signOpts{}).onServer(t) }, nil, "", ""},
		{"empty body ok", func(t testing.TB) (*http.Request, []byte) { return sign(t, "", signOpts{}).onServer(t) }, nil, "", ""},
		{"service restricted ok", func(t testing.TB) (*http.Request, []byte) { return sign(t, body, signOpts{}).onServer(t) },
			func(v *Verifier) { v.Service = "kinesis" }, "", ""},
		{"presigned ok", func(t testing.TB) (*http.Request, []byte) {
			return sign(t, "", signOpts{presign: true, service: "kinesisvideo"}).onServer(t)
		}, nil, "", ""},
		{"presigned unsigned payload ok", func(t testing.TB) (*http.Request, []byte) {
			return sign(t, "", signOpts{presign: true, payloadHash: UnsignedPayload}).onServer(t)
		}, nil, "", ""},
		{"presigned with expires ok", func(t testing.TB) (*http.Request, []byte) {
			return sign(t, "", signOpts{presign: true, expires: "3600", at: testSignTime.Add(-50 * time.Minute)}).onServer(t)
		}, nil, "", ""},
		{"unsigned payload ok despite body change", func(t testing.TB) (*http.Request, []byte) {
			r, _ := sign(t, body, signOpts{payloadHash: UnsignedPayload}).onServer(t)
			return r, []byte("other")
		}, nil, "", ""},
		{"streaming seed ok", func(t testing.TB) (*http.Request, []byte) {
			r, _ := sign(t, body, signOpts{payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", service: "kinesisvideo"}).onServer(t)
			return r, nil
		}, nil, "", ""},
		{"declared hash ok", func(t testing.TB) (*http.Request, []byte) {
			return sign(t, body, signOpts{payloadHash: sha256Hex([]byte(body))}).onServer(t)
		}, nil, "", ""},
		{"escaped path ok", func(t testing.TB) (*http.Request, []byte) {
			return sign(t, body, signOpts{path: "/streams/caméra%201/x"}).onServer(t)
		}, nil, "", ""},
		{"unsigned header changed ok", func(t testing.TB) (*http.Request, []byte) {
			r, b := sign(t, body, signOpts{}).onServer(t)
			r.Header.Set("User-Agent", "proxy")
			r.Header.Set("X-Forwarded-For", "127.0.0.1")
			return r, b
		}, nil, "", ""},
		{"skew inside window ok", func(t testing.TB) (*http.Request, []byte) {
			return sign(t, body, signOpts{at: testSignTime.Add(-14 * time.Minute)}).onServer(t)
		}, nil, "", ""},

		{"no auth", func(t testing.TB) (*http.Request, []byte) {
			r, b := sign(t, body, signOpts{}).onServer(t)
			r.Header.Del("Authorization")
			return r, b
		}, nil, MissingAuthenticationTokenException, "Missing Authentication Token"},
		{"body tampered", func(t testing.TB) (*http.Request, []byte) {
			r, _ := sign(t, body, signOpts{}).onServer(t)
			return r, []byte(`{"Limit":11}`)
		}, nil, InvalidSignatureException, msgSignatureInvalid},
		{"declared hash does not match body", func(t testing.TB) (*http.Request, []byte) {
			r, _ := sign(t, body, signOpts{payloadHash: sha256Hex([]byte(body))}).onServer(t)
			return r, []byte(`{"Limit":11}`)
		}, nil, InvalidSignatureException, "The provided 'x-amz-content-sha256' header does not match what was computed."},
		{"bogus declared hash", func(t testing.TB) (*http.Request, []byte) {
			return sign(t, body, signOpts{payloadHash: "whatever"}).onServer(t)
		}, nil, InvalidSignatureException, "x-amz-content-sha256 must be"},
		{"signed header tampered", func(t testing.TB) (*http.Request, []byte) {
			r, b := sign(t, body, signOpts{}).onServer(t)
			r.Header.Set("X-Amz-Target", "Kinesis_20131202.DeleteStream")
			return r, b
		}, nil, InvalidSignatureException, msgSignatureInvalid},
		{"escaped path tampered", func(t testing.TB) (*http.Request, []byte) {
			r, b := sign(t, body, signOpts{path: "/streams/caméra%201/x"}).onServer(t)
			r.URL.RawPath = "/streams/cam%C3%A9ra%202/x"
			r.URL.Path = "/streams/caméra 2/x"
			return r, b
		}, nil, InvalidSignatureException, msgSignatureInvalid},
		{"host tampered", func(t testing.TB) (*http.Request, []byte) {
			r, b := sign(t, body, signOpts{}).onServer(t)
			r.Host = "127.0.0.2:4567"
			return r, b
		}, nil, InvalidSignatureException, msgSignatureInvalid},
		{"path tampered", func(t testing.TB) (*http.Request, []byte) {
			r, b := sign(t, body, signOpts{}).onServer(t)
			r.URL.Path = "/deleteStream"
			return r, b
		}, nil, InvalidSignatureException, msgSignatureInvalid},
		{"time tampered", func(t testing.TB) (*http.Request, []byte) {
			r, b := sign(t, body, signOpts{}).onServer(t)
			r.Header.Set("X-Amz-Date", "20261125T200001Z")
			return r, b
		}, nil, InvalidSignatureException, msgSignatureInvalid},
		{"date tampered", func(t testing.TB) (*http.Request, []byte) {
			r, b := sign(t, body, signOpts{}).onServer(t)
			r.Header.Set("X-Amz-Date", "20261124T235959Z")
			return r, b
		}, nil, InvalidSignatureException, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261125' != '20261124', from '20261124T235959Z'."},
		{"bad date format", func(t testing.TB) (*http.Request, []byte) {
			r, b := sign(t, body, signOpts{}).onServer(t)
			r.Header.Set("X-Amz-Date", "2026-11-25T20:00:00Z")
			return r, b
		}, nil, IncompleteSignatureException, "Date must be in ISO-8601 'basic format'."},
		{"signature tampered", func(t testing.TB) (*http.Request, []byte) {
			r, b := sign(t, body, signOpts{}).onServer(t)
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-1]+string("01"[(a[len(a)-1]-'0'+1)%2]))
			return r, b
		}, nil, InvalidSignatureException, msgSignatureInvalid},
		{"wrong secret", func(t testing.TB) (*http.Request, []byte) {
			return sign(t, body, signOpts{key: testKey, secret: "nope"}).onServer(t)
		}, nil, InvalidSignatureException, msgSignatureInvalid},
		{"unknown key", func(t testing.TB) (*http.Request, []byte) {
			return sign(t, body, signOpts{key: "AKIDUNKNOWN", secret: testSecret}).onServer(t)
		}, nil, UnrecognizedClientException, msgInvalidToken},
		{"no secret func", func(t testing.TB) (*http.Request, []byte) { return sign(t, body, signOpts{}).onServer(t) },
			func(v *Verifier) { v.Secret = nil }, UnrecognizedClientException, msgInvalidToken},
		{"expired", func(t testing.TB) (*http.Request, []byte) {
			return sign(t, body, signOpts{at: testSignTime.Add(-16 * time.Minute)}).onServer(t)
		}, nil, InvalidSignatureException, "Signature expired: 20261125T194400Z is now earlier than 20261125T194500Z (20261125T200000Z - 15 min.)"},
		{"not yet current", func(t testing.TB) (*http.Request, []byte) {
			return sign(t, body, signOpts{at: testSignTime.Add(16 * time.Minute)}).onServer(t)
		}, nil, InvalidSignatureException, "Signature not yet current: 20261125T201600Z is still later than 20261125T201500Z (20261125T200000Z + 15 min.)"},
		{"custom skew", func(t testing.TB) (*http.Request, []byte) {
			return sign(t, body, signOpts{at: testSignTime.Add(-6 * time.Minute)}).onServer(t)
		}, func(v *Verifier) { v.MaxSkew = 5 * time.Minute }, InvalidSignatureException, "Signature expired: 20261125T195400Z is now earlier than 20261125T195500Z (20261125T200000Z - 5 min.)"},
		{"wrong service", func(t testing.TB) (*http.Request, []byte) {
			return sign(t, body, signOpts{service: "firehose"}).onServer(t)
		}, func(v *Verifier) { v.Service = "kinesis" }, InvalidSignatureException, "Credential should be scoped to correct service: 'kinesis'. "},
		{"presigned query tampered", func(t testing.TB) (*http.Request, []byte) {
			r, b := sign(t, "", signOpts{presign: true}).onServer(t)
			q := r.URL.Query()
			q.Set("Stream", "cam2")
			r.URL.RawQuery = q.Encode()
			return r, b
		}, nil, InvalidSignatureException, msgSignatureInvalid},
		{"presigned body added", func(t testing.TB) (*http.Request, []byte) {
			r, _ := sign(t, "", signOpts{presign: true}).onServer(t)
			return r, []byte("x")
		}, nil, InvalidSignatureException, msgSignatureInvalid},
		{"presigned expired", func(t testing.TB) (*http.Request, []byte) {
			return sign(t, "", signOpts{presign: true, expires: "60", at: testSignTime.Add(-2 * time.Minute)}).onServer(t)
		}, nil, InvalidSignatureException, "Signature expired: 20261125T195800Z is now earlier than 20261125T195900Z (20261125T200000Z - 1 min.)"},
		{"presigned bad expires", func(t testing.TB) (*http.Request, []byte) {
			return sign(t, "", signOpts{presign: true, expires: "604801"}).onServer(t)
		}, nil, IncompleteSignatureException, "X-Amz-Expires must be"},
		{"presigned missing signature", func(t testing.TB) (*http.Request, []byte) {
			r, b := sign(t, "", signOpts{presign: true}).onServer(t)
			q := r.URL.Query()
			q.Del("X-Amz-Signature")
			r.URL.RawQuery = q.Encode()
			return r, b
		}, nil, IncompleteSignatureException, "AWS query-string parameters must include 'X-Amz-Signature'."},
		{"unsupported algorithm", func(t testing.TB) (*http.Request, []byte) {
			r, b := sign(t, body, signOpts{}).onServer(t)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1))
			return r, b
		}, nil, IncompleteSignatureException, "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'."},
		{"incomplete header", func(t testing.TB) (*http.Request, []byte) {
			r, b := sign(t, body, signOpts{}).onServer(t)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/eu-west-1/kinesis/aws4_request")
			return r, b
		}, nil, IncompleteSignatureException, "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."},
		{"short credential", func(t testing.TB) (*http.Request, []byte) {
			r, b := sign(t, body, signOpts{}).onServer(t)
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125, SignedHeaders=host, Signature=00")
			return r, b
		}, nil, IncompleteSignatureException, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIDEXAMPLE/20261125'"},
		{"bad terminator", func(t testing.TB) (*http.Request, []byte) {
			r, b := sign(t, body, signOpts{}).onServer(t)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "aws4_request", "aws5_request", 1))
			return r, b
		}, nil, InvalidSignatureException, "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'. "},
		{"host not signed", func(t testing.TB) (*http.Request, []byte) {
			r, b := sign(t, body, signOpts{}).onServer(t)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=", "SignedHeaders=x;", 1))
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "host;", "", 1))
			return r, b
		}, nil, InvalidSignatureException, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, body := tt.req(t)
			v := testVerifier(testSignTime)
			if tt.verifier != nil {
				tt.verifier(v)
			}
			key, err := v.Verify(r, body)
			if tt.wantType == "" {
				if err != nil || key != testKey {
					t.Fatalf("Verify = %q, %v; want %q", key, err, testKey)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Verify = %q, %v; want *Error %s", key, err, tt.wantType)
			}
			if e.Type != tt.wantType || e.HTTPStatus() != http.StatusForbidden || !strings.HasPrefix(e.Message, tt.wantMsg) {
				t.Fatalf("Verify error = %s/%d %q; want %s/403 %q", e.Type, e.HTTPStatus(), e.Message, tt.wantType, tt.wantMsg)
			}
		})
	}
}

// sdkClientRecorder serves the Kinesis API behind Middleware and records
// what the handler saw.
type sdkResult struct {
	accessKey string
	body      []byte
	target    string
}

func TestMiddlewareWithSDK(t *testing.T) {
	seen := make(chan sdkResult, 1)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, _ := AccessKeyFromContext(r.Context())
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		seen <- sdkResult{accessKey: key, body: b, target: r.Header.Get("X-Amz-Target")}
		WriteResponse(w, JSON, RequestID(r.Context()), map[string]any{"StreamNames": []string{"cam1"}, "HasMoreStreams": false})
	})
	srv := httptest.NewServer(Middleware(&Verifier{
		Secret: func(k string) (string, bool) { return testSecret, k == testKey },
	}, handler, 0))
	defer srv.Close()

	out, err := newKinesisClient(srv.URL, testKey, testSecret).ListStreams(context.Background(), &kinesis.ListStreamsInput{Limit: aws.Int32(5)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.StreamNames) != 1 || out.StreamNames[0] != "cam1" {
		t.Fatalf("out = %+v", out)
	}
	got := <-seen
	if got.accessKey != testKey || got.target != "Kinesis_20131202.ListStreams" || !strings.Contains(string(got.body), `"Limit":5`) {
		t.Fatalf("handler saw %+v (%s)", got, got.body)
	}

	errTests := []struct {
		name, key, secret, code string
	}{
		{"wrong secret", testKey, "wrong", InvalidSignatureException},
		{"unknown key", "AKIDOTHER", testSecret, UnrecognizedClientException},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newKinesisClient(srv.URL, tt.key, tt.secret).ListStreams(context.Background(), &kinesis.ListStreamsInput{})
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != tt.code {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
			var re interface{ HTTPStatusCode() int }
			if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusForbidden {
				t.Fatalf("err = %v, want HTTP 403", err)
			}
		})
	}
	select {
	case got := <-seen:
		t.Fatalf("handler ran for a rejected request: %+v", got)
	default:
	}
}

func TestMiddleware(t *testing.T) {
	tests := []struct {
		name       string
		verifier   *Verifier
		req        func(t testing.TB) *http.Request
		maxBody    int64
		wantStatus int
		wantType   string
		wantBody   string
	}{
		{"anonymous", nil, func(t testing.TB) *http.Request {
			return httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))
		}, 0, 200, "", `{}`},
		{"too large by length", nil, func(t testing.TB) *http.Request {
			return httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"a":1}`))
		}, 4, 413, RequestEntityTooLarge, ""},
		{"too large chunked", nil, func(t testing.TB) *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", io.MultiReader(strings.NewReader(`{"a":1}`)))
			r.ContentLength = -1
			return r
		}, 4, 413, RequestEntityTooLarge, ""},
		{"exact limit", nil, func(t testing.TB) *http.Request {
			return httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))
		}, 2, 200, "", `{}`},
		{"missing auth", testVerifier(time.Now()), func(t testing.TB) *http.Request {
			return httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))
		}, 0, 403, MissingAuthenticationTokenException, ""},
		{"cbor error", testVerifier(time.Now()), func(t testing.TB) *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))
			r.Header.Set("Content-Type", ContentTypeCBOR)
			return r
		}, 0, 403, MissingAuthenticationTokenException, ""},
		{"signed", testVerifier(testSignTime), func(t testing.TB) *http.Request {
			r, b := sign(t, `{"x":1}`, signOpts{}).onServer(t)
			r.Body = io.NopCloser(bytes.NewReader(b))
			return r
		}, 0, 200, "", `{"x":1}`},
		{"unsigned payload passes body unread", testVerifier(testSignTime), func(t testing.TB) *http.Request {
			r, _ := sign(t, "", signOpts{payloadHash: UnsignedPayload}).onServer(t)
			r.Body = io.NopCloser(strings.NewReader("chunked stream larger than the limit"))
			return r
		}, 4, 200, "", "chunked stream larger than the limit"},
		{"streaming bad seed", testVerifier(testSignTime), func(t testing.TB) *http.Request {
			r, _ := sign(t, "", signOpts{payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", secret: "bad", key: testKey}).onServer(t)
			return r
		}, 0, 403, InvalidSignatureException, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotBody []byte
			var gotID string
			h := Middleware(tt.verifier, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var err error
				if gotBody, err = io.ReadAll(r.Body); err != nil {
					t.Error(err)
				}
				gotID = RequestID(r.Context())
				w.WriteHeader(http.StatusOK)
			}), tt.maxBody)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tt.req(t))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantType != "" {
				if got := rec.Header().Get("X-Amzn-ErrorType"); got != tt.wantType+":" {
					t.Fatalf("error type = %q, want %q", got, tt.wantType)
				}
				if rec.Header().Get("x-amzn-RequestId") == "" {
					t.Fatal("no request id")
				}
				return
			}
			if string(gotBody) != tt.wantBody || len(gotID) != 36 {
				t.Fatalf("handler body %q id %q, want %q", gotBody, gotID, tt.wantBody)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	s := sign(f, `{}`, signOpts{})
	f.Add(s.req.Header.Get("Authorization"), s.req.Header.Get("X-Amz-Date"), "", `{}`)
	p := sign(f, "", signOpts{presign: true, expires: "60"})
	f.Add("", "", p.req.URL.RawQuery, "")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=", "20261125T200000Z", "", "")
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/r/s/aws4_request,SignedHeaders=host;;HOST,Signature=zz", "20261125T200000Z", "X-Amz-Signature=1", "x")
	f.Add("AWS4-HMAC-SHA256", "x", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%2F%2F%2F%2F&X-Amz-Date=0&X-Amz-SignedHeaders=host&X-Amz-Signature=0&X-Amz-Expires=-1", "")
	v := testVerifier(testSignTime)
	f.Fuzz(func(t *testing.T, auth, date, query, body string) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		r.URL.RawQuery = query
		if auth != "" {
			r.Header["Authorization"] = []string{auth}
		}
		if date != "" {
			r.Header["X-Amz-Date"] = []string{date}
		}
		r.Header.Set("Content-Type", ContentTypeJSON)
		key, err := v.Verify(r, []byte(body))
		if err == nil {
			if key != testKey {
				t.Fatalf("verified unknown key %q", key)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.HTTPStatus() != http.StatusForbidden {
			t.Fatalf("error %v is not a 403 *Error", err)
		}
	})
}
