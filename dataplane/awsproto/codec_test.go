package awsproto

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

type sample struct {
	StreamName *string    `json:"StreamName,omitempty"`
	Data       []byte     `json:"Data"`
	Count      int64      `json:"Count"`
	At         Timestamp  `json:"At"`
	Optional   *Timestamp `json:"Optional,omitempty"`
	Tags       []string   `json:"Tags,omitempty"`
}

func TestRoundTrip(t *testing.T) {
	name := "cam1"
	at := time.UnixMilli(1700000000123).UTC()
	tests := []struct {
		name string
		in   sample
	}{
		{"full", sample{StreamName: &name, Data: []byte{0, 1, 2, 0xff}, Count: -1 << 62, At: Timestamp{at}, Optional: &Timestamp{at.Add(time.Hour)}, Tags: []string{"a", "b"}}},
		{"zero", sample{At: Timestamp{time.UnixMilli(0).UTC()}}},
		{"negative time", sample{At: Timestamp{time.UnixMilli(-1500).UTC()}, Data: []byte{}}},
	}
	for _, c := range []Codec{JSON, JSON10, CBOR} {
		for _, tt := range tests {
			t.Run(c.String()+"/"+tt.name, func(t *testing.T) {
				b, err := Encode(c, tt.in)
				if err != nil {
					t.Fatal(err)
				}
				var out sample
				if err := Decode(c, b, &out); err != nil {
					t.Fatalf("decode %q: %v", b, err)
				}
				want := tt.in
				if len(want.Data) == 0 && len(out.Data) == 0 {
					want.Data, out.Data = nil, nil
				}
				if !want.At.Equal(out.At.Time) {
					t.Fatalf("At = %v, want %v", out.At, want.At)
				}
				want.At, out.At = Timestamp{}, Timestamp{}
				if (want.Optional == nil) != (out.Optional == nil) || want.Optional != nil && !want.Optional.Equal(out.Optional.Time) {
					t.Fatalf("Optional = %v, want %v", out.Optional, want.Optional)
				}
				want.Optional, out.Optional = nil, nil
				if !reflect.DeepEqual(want, out) {
					t.Fatalf("got %+v, want %+v", out, want)
				}
			})
		}
	}
}

func TestTimestampJSON(t *testing.T) {
	tests := []struct {
		ms   int64
		want string
	}{
		{1700000000123, "1700000000.123"},
		{1700000000100, "1700000000.1"},
		{1700000000000, "1700000000"},
		{0, "0"},
		{-1500, "-1.5"}, {-500, "-0.5"},
	}
	for _, tt := range tests {
		b, err := Timestamp{time.UnixMilli(tt.ms)}.MarshalJSON()
		if err != nil || string(b) != tt.want {
			t.Errorf("MarshalJSON(%d) = %s, %v; want %s", tt.ms, b, err, tt.want)
		}
		var ts Timestamp
		if err := ts.UnmarshalJSON(b); err != nil || ts.UnixMilli() != tt.ms {
			t.Errorf("UnmarshalJSON(%s) = %d, %v; want %d", b, ts.UnixMilli(), err, tt.ms)
		}
	}
	// What other clients send.
	inputs := []struct {
		in string
		ms int64
	}{
		{"1.700000000123E9", 1700000000123},
		{`"1700000000.5"`, 1700000000500},
		{`"2023-11-14T22:13:20.123Z"`, 1700000000123},
	}
	for _, tt := range inputs {
		var ts Timestamp
		if err := ts.UnmarshalJSON([]byte(tt.in)); err != nil || ts.UnixMilli() != tt.ms {
			t.Errorf("UnmarshalJSON(%s) = %d, %v; want %d", tt.in, ts.UnixMilli(), err, tt.ms)
		}
	}
}

func TestTimestampCBOR(t *testing.T) {
	b, err := Timestamp{time.UnixMilli(1700000000123)}.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	// Tag 1 (0xc1), uint64 (0x1b) 1700000000123 = 0x18BCFE5687B.
	want := []byte{0xc1, 0x1b, 0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x7b}
	if !bytes.Equal(b, want) {
		t.Fatalf("MarshalCBOR = % x, want % x", b, want)
	}
	inputs := []struct {
		name string
		in   []byte
		ms   int64
	}{
		{"java tag 1 ms", want, 1700000000123},
		{"untagged int", want[1:], 1700000000123},
		{"negative", []byte{0xc1, 0x39, 0x05, 0xdb}, -1500},
		{"float", []byte{0xfb, 0x42, 0x78, 0xbc, 0xfe, 0x56, 0x87, 0xb0, 0x00}, 1700000000123},
		{"tag 0 string", append([]byte{0xc0, 0x78, 24}, "2023-11-14T22:13:20.123Z"...), 1700000000123},
	}
	for _, tt := range inputs {
		var ts Timestamp
		if err := ts.UnmarshalCBOR(tt.in); err != nil || ts.UnixMilli() != tt.ms {
			t.Errorf("%s: UnmarshalCBOR = %d, %v; want %d", tt.name, ts.UnixMilli(), err, tt.ms)
		}
	}
}

// decodeErrorTests are bad bodies and the start of the message each must
// produce; they also seed the fuzz tests.
var decodeErrorTests = []struct {
	name  string
	codec Codec
	body  string
	msg   string
}{
	{"syntax", JSON, `{"Count":`, "Unexpected end of the request body"},
	{"garbage", JSON, `{x}`, "Malformed JSON request body at offset 2"},
	{"object for string", JSON, `{"StreamName":{}}`, "Start of structure or map found where not expected."},
	{"array for int", JSON, `{"Count":[1]}`, "Start of list found where not expected."},
	{"string for int", JSON, `{"Count":"1"}`, "Unexpected string value for member 'Count', expected an integer"},
	{"float for int", JSON, `{"Count":1.5}`, "Unexpected number 1.5 value for member 'Count', expected an integer"},
	{"bad base64", JSON, `{"Data":"!!!"}`, "Base64 encoded value is invalid at input byte 0"},
	{"bad timestamp", JSON, `{"At":true}`, "Invalid timestamp value"},
	{"trailing", JSON, `{} {}`, "Unexpected content after the end of the request body"},
	{"cbor truncated", CBOR, "\xa1\x65Count", "Unexpected end of the request body"},
	{"cbor text for int", CBOR, "\xa1\x65Count\x61x", "Unexpected CBOR UTF-8 text string value for member of another type"},
	{"cbor trailing", CBOR, "\xa0\xa0", "Unexpected content after the end of the request body"},
	{"cbor bad timestamp", CBOR, "\xa1\x62At\xf5", "Invalid timestamp value"},
}

func TestDecodeErrors(t *testing.T) {
	for _, tt := range decodeErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			var v sample
			err := Decode(tt.codec, []byte(tt.body), &v)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Type != SerializationException || e.HTTPStatus() != 400 || e.Message != tt.msg {
				t.Fatalf("err = %q/%d %q, want SerializationException/400 %q", e.Type, e.HTTPStatus(), e.Message, tt.msg)
			}
		})
	}
}

func TestDecodeEmptyBody(t *testing.T) {
	for _, c := range []Codec{JSON, CBOR} {
		var v sample
		if err := Decode(c, nil, &v); err != nil {
			t.Errorf("%v: %v", c, err)
		}
	}
}

func TestCodecOf(t *testing.T) {
	tests := []struct {
		ct      string
		want    Codec
		wantErr bool
	}{
		{"", JSON, false},
		{"application/x-amz-json-1.1", JSON, false},
		{"application/x-amz-json-1.1; charset=utf-8", JSON, false},
		{"application/x-amz-json-1.0", JSON10, false},
		{"application/json", JSON, false},
		{"application/x-amz-cbor-1.1", CBOR, false},
		{"APPLICATION/X-AMZ-CBOR-1.1", CBOR, false},
		{"text/plain", JSON, true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		if tt.ct != "" {
			r.Header.Set("Content-Type", tt.ct)
		}
		got, err := CodecOf(r)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("CodecOf(%q) = %v, %v; want %v, err %v", tt.ct, got, err, tt.want, tt.wantErr)
		}
		if err != nil && TypeOf(err) != SerializationException {
			t.Errorf("CodecOf(%q) error type = %q", tt.ct, TypeOf(err))
		}
	}
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		name       string
		codec      Codec
		err        error
		wantStatus int
		wantType   string
		wantMsg    string
	}{
		{"aws error", JSON, Errorf(ResourceNotFoundException, "Stream s under account 1 not found."), 400, ResourceNotFoundException, "Stream s under account 1 not found."},
		{"wrapped", JSON, errors.Join(errors.New("ctx"), Errorf(ServiceUnavailableException, "Slow down.")), 503, ServiceUnavailableException, "Slow down."},
		{"auth", CBOR, Errorf(UnrecognizedClientException, "The security token included in the request is invalid."), 403, UnrecognizedClientException, "The security token included in the request is invalid."},
		{"internal", JSON, errors.New("badger: disk full at /secret/path"), 500, InternalFailure, "An internal error occurred."},
		{"internal cbor", CBOR, errors.New("boom"), 500, InternalFailure, "An internal error occurred."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteError(rec, tt.codec, "req-1", tt.err)
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			h := rec.Header()
			if h.Get("X-Amzn-ErrorType") != tt.wantType+":" || h.Get("x-amzn-RequestId") != "req-1" || h.Get("Content-Type") != tt.codec.ContentType() {
				t.Errorf("headers = %v", h)
			}
			var body map[string]string
			if err := Decode(tt.codec, rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body["__type"] != tt.wantType || body["message"] != tt.wantMsg {
				t.Errorf("body = %v", body)
			}
		})
	}
}

func TestNewRequestID(t *testing.T) {
	a, b := NewRequestID(), NewRequestID()
	if len(a) != 36 || a == b || a[14] != '4' || a[8] != '-' || a[23] != '-' {
		t.Fatalf("ids %q %q", a, b)
	}
}

// newKinesisClient returns a real aws-sdk-go-v2 Kinesis client talking to
// url with static credentials and no retries.
func newKinesisClient(url, accessKey, secret string) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		BaseEndpoint: aws.String(url),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secret, ""),
		Retryer:      aws.NopRetryer{},
	})
}

func TestWriteErrorParsedBySDK(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		check  func(error) bool
		code   string
		status int
	}{
		{"not found", Errorf(ResourceNotFoundException, "Stream cam1 under account 000000000000 not found."),
			func(err error) bool { var e *types.ResourceNotFoundException; return errors.As(err, &e) }, ResourceNotFoundException, 400},
		{"throughput", Errorf(ProvisionedThroughputExceededException, "Rate exceeded for shard shardId-000000000000."),
			func(err error) bool { var e *types.ProvisionedThroughputExceededException; return errors.As(err, &e) }, ProvisionedThroughputExceededException, 400},
		{"expired iterator", Errorf(ExpiredIteratorException, "Iterator expired."),
			func(err error) bool { var e *types.ExpiredIteratorException; return errors.As(err, &e) }, ExpiredIteratorException, 400},
		{"internal", errors.New("secret detail"),
			func(err error) bool { return true }, InternalFailure, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				WriteError(w, JSON, NewRequestID(), tt.err)
			}))
			defer srv.Close()
			client := newKinesisClient(srv.URL, "AKID", "SECRET")
			_, err := client.DescribeStream(context.Background(), &kinesis.DescribeStreamInput{StreamName: aws.String("cam1")})
			if err == nil {
				t.Fatal("no error")
			}
			if !tt.check(err) {
				t.Fatalf("err %T %v is not the modeled type", err, err)
			}
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != tt.code {
				t.Fatalf("err = %v, want code %s", err, tt.code)
			}
			var e *Error
			if errors.As(tt.err, &e) && api.ErrorMessage() != e.Message {
				t.Fatalf("message = %q, want %q", api.ErrorMessage(), e.Message)
			}
			if tt.code == InternalFailure && api.ErrorMessage() != "An internal error occurred." {
				t.Fatalf("message leaked: %q", api.ErrorMessage())
			}
			var re interface{ HTTPStatusCode() int }
			if !errors.As(err, &re) || re.HTTPStatusCode() != tt.status {
				t.Fatalf("status: %v", err)
			}
		})
	}
}

func TestWriteResponseParsedBySDK(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		type summary struct {
			StreamName              string    `json:"StreamName"`
			StreamARN               string    `json:"StreamARN"`
			StreamStatus            string    `json:"StreamStatus"`
			RetentionPeriodHours    int       `json:"RetentionPeriodHours"`
			StreamCreationTimestamp Timestamp `json:"StreamCreationTimestamp"`
			OpenShardCount          int       `json:"OpenShardCount"`
		}
		WriteResponse(w, JSON, NewRequestID(), map[string]any{"StreamDescriptionSummary": summary{
			StreamName: "cam1", StreamARN: "arn:aws:kinesis:us-east-1:000000000000:stream/cam1", StreamStatus: "ACTIVE",
			RetentionPeriodHours: 24, StreamCreationTimestamp: Timestamp{time.UnixMilli(1700000000123)}, OpenShardCount: 1,
		}})
	}))
	defer srv.Close()
	out, err := newKinesisClient(srv.URL, "AKID", "SECRET").DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("cam1")})
	if err != nil {
		t.Fatal(err)
	}
	s := out.StreamDescriptionSummary
	if aws.ToString(s.StreamName) != "cam1" || s.StreamCreationTimestamp.UnixMilli() != 1700000000123 || aws.ToInt32(s.RetentionPeriodHours) != 24 {
		t.Fatalf("summary = %+v", s)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"StreamName":"s","Data":"AAEC","Count":1,"At":1700000000.123,"Optional":"2023-11-14T22:13:20Z"}`))
	for _, tt := range decodeErrorTests {
		if tt.codec != CBOR {
			f.Add([]byte(tt.body))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v sample
		err := Decode(JSON, body, &v)
		if err != nil && TypeOf(err) != SerializationException {
			t.Fatalf("error %v is not a SerializationException", err)
		}
		if err == nil {
			if _, err := Encode(JSON, v); err != nil {
				t.Fatalf("re-encode: %v", err)
			}
		}
	})
}

func FuzzDecodeCBOR(f *testing.F) {
	name := "s"
	b, err := Encode(CBOR, sample{StreamName: &name, Data: []byte{1, 2}, Count: 3, At: Timestamp{time.UnixMilli(1)}, Optional: &Timestamp{time.UnixMilli(2)}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	for _, tt := range decodeErrorTests {
		if tt.codec == CBOR {
			f.Add([]byte(tt.body))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v sample
		err := Decode(CBOR, body, &v)
		if err != nil && TypeOf(err) != SerializationException {
			t.Fatalf("error %v is not a SerializationException", err)
		}
		if err == nil {
			if _, err := Encode(CBOR, v); err != nil {
				t.Fatalf("re-encode: %v", err)
			}
		}
	})
}
