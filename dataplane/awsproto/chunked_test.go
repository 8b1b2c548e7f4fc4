package awsproto

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The example of "Transferring Payload in Multiple Chunks" in the Amazon S3
// API reference: 66560 bytes of 'a' sent as 64 KiB + 1 KiB + the final
// empty chunk, with the seed and chunk signatures AWS publishes.
const (
	docKey    = "AKIAIOSFODNN7EXAMPLE"
	docSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	docSeed   = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
	docSigned = "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class"
)

var (
	docTime   = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	docChunks = []struct {
		size int
		sig  string
	}{
		{65536, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"},
		{1024, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"},
		{0, "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"},
	}
)

func docChunkedBody() []byte {
	var b bytes.Buffer
	for _, c := range docChunks {
		fmt.Fprintf(&b, "%x;chunk-signature=%s\r\n%s\r\n", c.size, c.sig, strings.Repeat("a", c.size))
	}
	return b.Bytes()
}

// docRequest is the example request as a server reads it, with body.
func docRequest(t testing.TB, body []byte) *http.Request {
	t.Helper()
	head := "PUT /examplebucket/chunkObject.txt HTTP/1.1\r\n" +
		"Host: s3.amazonaws.com\r\n" +
		"x-amz-date: 20130524T000000Z\r\n" +
		"x-amz-storage-class: REDUCED_REDUNDANCY\r\n" +
		"Authorization: AWS4-HMAC-SHA256 Credential=" + docKey + "/20130524/us-east-1/s3/aws4_request,SignedHeaders=" + docSigned + ",Signature=" + docSeed + "\r\n" +
		"x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD\r\n" +
		"Content-Encoding: aws-chunked\r\n" +
		"x-amz-decoded-content-length: 66560\r\n" +
		"Content-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n"
	r, err := http.ReadRequest(bufio.NewReader(io.MultiReader(strings.NewReader(head), bytes.NewReader(body))))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func docVerifier() *Verifier {
	return &Verifier{
		Secret: func(k string) (string, bool) { return docSecret, k == docKey },
		Now:    func() time.Time { return docTime },
	}
}

func TestChunkedAWSExample(t *testing.T) {
	body := docChunkedBody()
	if len(body) != 66824 {
		t.Fatalf("encoded length %d, the AWS example says 66824", len(body))
	}
	r := docRequest(t, body)
	v := docVerifier()
	if key, err := v.VerifyStreaming(r); err != nil || key != docKey {
		t.Fatalf("seed signature: %q, %v", key, err)
	}
	cr, err := v.ChunkedReader(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(cr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.Repeat([]byte("a"), 66560)) {
		t.Fatalf("payload of %d bytes", len(got))
	}
	if err := cr.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestChunkedReaderErrors(t *testing.T) {
	good := docChunkedBody()
	edit := func(f func(s string) string) []byte { return []byte(f(string(good))) }
	tests := []struct {
		name     string
		body     []byte
		wantType string
		wantRead int // payload bytes released before the error
	}{
		{"first chunk tampered", edit(func(s string) string { return strings.Replace(s, "aaaa", "aaab", 1) }), InvalidSignatureException, 0},
		{"second chunk tampered", edit(func(s string) string { return s[:len(s)-200] + "b" + s[len(s)-199:] }), InvalidSignatureException, 65536},
		{"signatures swapped", edit(func(s string) string {
			s = strings.Replace(s, docChunks[0].sig, "SIG0", 1)
			s = strings.Replace(s, docChunks[1].sig, docChunks[0].sig, 1)
			return strings.Replace(s, "SIG0", docChunks[1].sig, 1)
		}), InvalidSignatureException, 0},
		{"signature not hex", edit(func(s string) string { return strings.Replace(s, docChunks[0].sig, strings.Repeat("z", 64), 1) }), SerializationException, 0},
		{"final chunk missing", good[:len(good)-len("0;chunk-signature=")-64-4], SerializationException, 66560},
		{"cut inside a chunk", good[:1000], SerializationException, 0},
		{"no signature", edit(func(s string) string { return strings.Replace(s, ";chunk-signature="+docChunks[0].sig, "", 1) }), SerializationException, 0},
		{"bad size", edit(func(s string) string { return strings.Replace(s, "10000;", "zz;", 1) }), SerializationException, 0},
		{"huge size", edit(func(s string) string { return strings.Replace(s, "10000;", "7fffffff;", 1) }), SerializationException, 0},
		{"long header", append([]byte(strings.Repeat("1", 300)+"\r\n"), good...), SerializationException, 0},
		{"missing crlf", edit(func(s string) string { return strings.Replace(s, "a\r\n400;", "a400;", 1) }), SerializationException, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := docRequest(t, tt.body)
			cr, err := docVerifier().ChunkedReader(r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(cr)
			if TypeOf(err) != tt.wantType || len(got) != tt.wantRead {
				t.Fatalf("read %d bytes, err %v; want %d bytes then %s", len(got), err, tt.wantRead, tt.wantType)
			}
		})
	}
}

func TestChunkedDecodedLength(t *testing.T) {
	r := docRequest(t, docChunkedBody())
	r.Header.Set("X-Amz-Decoded-Content-Length", "66559")
	cr, err := docVerifier().ChunkedReader(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(cr); TypeOf(err) != SerializationException {
		t.Fatalf("err = %v", err)
	}
}

// TestMiddlewareDecodesChunked runs the AWS example through both
// middlewares: next reads the decoded payload.
func TestMiddlewareDecodesChunked(t *testing.T) {
	for name, mw := range map[string]func(*Verifier, http.Handler) http.Handler{
		"Middleware":          func(v *Verifier, h http.Handler) http.Handler { return Middleware(v, h, 1024) },
		"StreamingMiddleware": StreamingMiddleware,
	} {
		t.Run(name, func(t *testing.T) {
			var got []byte
			var readErr error
			var length int64
			h := mw(docVerifier(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, readErr = io.ReadAll(r.Body)
				length = r.ContentLength
			}))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, docRequest(t, docChunkedBody()))
			if rec.Code != http.StatusOK || readErr != nil || len(got) != 66560 || length != 66560 {
				t.Fatalf("status %d, read %d bytes (ContentLength %d), err %v", rec.Code, len(got), length, readErr)
			}
		})
	}
}

func FuzzChunkedReader(f *testing.F) {
	f.Add(docChunkedBody())
	f.Add([]byte("0;chunk-signature=" + docChunks[2].sig + "\r\n\r\n"))
	f.Add([]byte("400;chunk-signature=00\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := docRequest(t, body)
		r.Header.Del("X-Amz-Decoded-Content-Length")
		cr, err := docVerifier().ChunkedReader(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(cr)
		if err == nil && !bytes.Equal(body, docChunkedBody()) && len(got) > 0 {
			// Only correctly signed chunks may come out: a forgery would
			// need a SHA-256 HMAC collision.
			if !bytes.HasPrefix(bytes.Repeat([]byte("a"), 66560), got) {
				t.Fatalf("unsigned payload released: %q", got[:min(len(got), 32)])
			}
		}
		if err != nil && TypeOf(err) == "" {
			t.Fatalf("error %v is not an *Error", err)
		}
	})
}
