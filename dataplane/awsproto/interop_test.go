package awsproto

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	kvtypes "github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
)

// TestKinesisVideoThroughMiddleware runs the real KVS control-plane client
// (restJson1: POST /listStreams, /describeStream) against Middleware with the
// service restricted to "kinesisvideo", and checks the error shape parses as
// the modeled ResourceNotFoundException.
func TestKinesisVideoThroughMiddleware(t *testing.T) {
	paths := make(chan string, 2)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if key, ok := AccessKeyFromContext(r.Context()); !ok || key != testKey {
			t.Errorf("access key %q, %v", key, ok)
		}
		paths <- r.URL.Path
		switch r.URL.Path {
		case "/listStreams":
			WriteResponse(w, JSON, RequestID(r.Context()), map[string]any{"StreamInfoList": []map[string]any{{
				"StreamName": "cam1", "Status": "ACTIVE", "CreationTime": Timestamp{time.UnixMilli(1700000000123)},
				"DataRetentionInHours": 24,
			}}})
		default:
			WriteError(w, JSON, RequestID(r.Context()), Errorf(ResourceNotFoundException, "The requested stream is not found or not active."))
		}
	})
	srv := httptest.NewServer(Middleware(&Verifier{
		Secret:  func(k string) (string, bool) { return testSecret, k == testKey },
		Service: "kinesisvideo",
	}, handler, 0))
	defer srv.Close()
	client := kinesisvideo.New(kinesisvideo.Options{
		BaseEndpoint: aws.String(srv.URL),
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
		Retryer:      aws.NopRetryer{},
	})
	out, err := client.ListStreams(context.Background(), &kinesisvideo.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.StreamInfoList) != 1 || aws.ToString(out.StreamInfoList[0].StreamName) != "cam1" || out.StreamInfoList[0].CreationTime.UnixMilli() != 1700000000123 {
		t.Fatalf("out = %+v", out.StreamInfoList)
	}
	_, err = client.DescribeStream(context.Background(), &kinesisvideo.DescribeStreamInput{StreamName: aws.String("nope")})
	var rnf *kvtypes.ResourceNotFoundException
	if !errors.As(err, &rnf) || rnf.ErrorMessage() != "The requested stream is not found or not active." {
		t.Fatalf("err = %T %v", err, err)
	}
	if p1, p2 := <-paths, <-paths; p1 != "/listStreams" || p2 != "/describeStream" {
		t.Fatalf("paths %s %s", p1, p2)
	}
}

// TestCBORJavaStyle decodes a PutRecord body the way Jackson's CBOR
// generator in the AWS Java SDK writes it: an indefinite-length map, text
// keys, the blob as a byte string and the timestamp as tag 1 + epoch
// milliseconds.
func TestCBORJavaStyle(t *testing.T) {
	var b []byte
	b = append(b, 0xbf) // map, indefinite length
	b = append(b, 0x6a)
	b = append(b, "StreamName"...)
	b = append(b, 0x7f, 0x62) // text, indefinite length: "ca" + "m1"
	b = append(b, "ca"...)
	b = append(b, 0x62)
	b = append(b, "m1"...)
	b = append(b, 0xff)
	b = append(b, 0x64)
	b = append(b, "Data"...)
	b = append(b, 0x43, 0, 1, 2) // bytes(3)
	b = append(b, 0x65)
	b = append(b, "Count"...)
	b = append(b, 0x3a, 0, 1, 0x86, 0x9f) // -100000
	b = append(b, 0x62)
	b = append(b, "At"...)
	b = append(b, 0xc1, 0x1b, 0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x7b) // tag 1, 1700000000123
	b = append(b, 0x67)
	b = append(b, "Unknown"...)
	b = append(b, 0xf6) // null, ignored
	b = append(b, 0xff)
	var v sample
	if err := Decode(CBOR, b, &v); err != nil {
		t.Fatal(err)
	}
	if aws.ToString(v.StreamName) != "cam1" || string(v.Data) != "\x00\x01\x02" || v.Count != -100000 || v.At.UnixMilli() != 1700000000123 {
		t.Fatalf("decoded %+v", v)
	}
}

// TestCBORThroughMiddleware sends CBOR requests signed by the real signer
// and checks the errors come back in CBOR.
func TestCBORThroughMiddleware(t *testing.T) {
	h := Middleware(testVerifier(testSignTime), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := CodecOf(r)
		if err != nil {
			t.Error(err)
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		var in sample
		if err := Decode(c, body, &in); err != nil {
			WriteError(w, c, RequestID(r.Context()), err)
			return
		}
		WriteError(w, c, RequestID(r.Context()), Errorf(ResourceNotFoundException, "Stream %s not found.", aws.ToString(in.StreamName)))
	}), 0)
	name := "cam9"
	body, err := Encode(CBOR, sample{StreamName: &name})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		tamper   func(r *http.Request)
		wantCode int
		wantType string
		wantMsg  string
	}{
		{"handler error", func(r *http.Request) {}, 400, ResourceNotFoundException, "Stream cam9 not found."},
		{"content type changed", func(r *http.Request) { r.Header.Set("Content-Type", "application/cbor") }, 403, InvalidSignatureException, msgSignatureInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, b := sign(t, string(body), signOpts{contentType: ContentTypeCBOR}).onServer(t)
			r.Body = io.NopCloser(strings.NewReader(string(b)))
			tt.tamper(r)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tt.wantCode || rec.Header().Get("X-Amzn-ErrorType") != tt.wantType+":" || rec.Header().Get("Content-Type") != ContentTypeCBOR {
				t.Fatalf("response %d %v", rec.Code, rec.Header())
			}
			var e map[string]string
			if err := Decode(CBOR, rec.Body.Bytes(), &e); err != nil || e["__type"] != tt.wantType || e["message"] != tt.wantMsg {
				t.Fatalf("CBOR error body %v %v", e, err)
			}
		})
	}
}

// TestCBOREncodingShapes pins the CBOR the Java SDKs expect in responses:
// a definite map with text keys, blobs as byte strings (major type 2),
// timestamps as tag 1 + integer epoch milliseconds.
func TestCBOREncodingShapes(t *testing.T) {
	type rec struct {
		Data []byte    `json:"Data"`
		At   Timestamp `json:"At"`
	}
	got, err := Encode(CBOR, rec{Data: []byte{0, 1, 2}, At: Timestamp{time.UnixMilli(1700000000123)}})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0xa2, // map(2)
		0x64, 'D', 'a', 't', 'a', 0x43, 0, 1, 2, // "Data": bytes(3)
		0x62, 'A', 't', 0xc1, 0x1b, 0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x7b, // "At": 1(1700000000123)
	}
	if string(got) != string(want) {
		t.Fatalf("CBOR\n% x\nwant\n% x", got, want)
	}
}
