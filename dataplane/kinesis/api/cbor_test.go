package api

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
	"github.com/kinedge/kinedge/index/store"
)

// newBareHandler returns a Handler on an in-memory DB, without Middleware.
func newBareHandler(t testing.TB) *Handler {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true, MemTableSize: 8 << 20, BlockCacheSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	e := openEngine(t, db, engine.Options{})
	h := &Handler{Engine: e}
	t.Cleanup(func() {
		_ = h.Close()
		_ = e.Close()
		_ = db.Close()
	})
	return h
}

// cborCall posts a CBOR request the way the AWS Java SDK does
// (Content-Type application/x-amz-cbor-1.1) and decodes the CBOR answer.
func cborCall(t *testing.T, srv *httptest.Server, op string, body map[string]any) (int, map[string]any) {
	t.Helper()
	b, err := cbor.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/x-amz-cbor-1.1")
	req.Header.Set("X-Amz-Target", TargetPrefix+op)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-cbor-1.1" {
		t.Fatalf("%s: Content-Type %q", op, ct)
	}
	dm, err := cbor.DecOptions{DefaultMapType: reflect.TypeFor[map[string]any]()}.DecMode()
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := dm.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: response is not CBOR: %v", op, err)
	}
	return resp.StatusCode, out
}

func TestCBORClient(t *testing.T) {
	h := newBareHandler(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	before := time.Now().Add(-time.Second)

	if st, out := cborCall(t, srv, "CreateStream", map[string]any{"StreamName": "java", "ShardCount": 1}); st != 200 {
		t.Fatalf("CreateStream: %d %v", st, out)
	}
	st, out := cborCall(t, srv, "PutRecord", map[string]any{"StreamName": "java", "PartitionKey": "pk", "Data": []byte{0, 1, 2, 0xff}})
	if st != 200 || out["ShardId"] != "shardId-000000000000" {
		t.Fatalf("PutRecord: %d %v", st, out)
	}
	// AT_TIMESTAMP with CBOR tag 1 + epoch milliseconds, as the Java SDK sends.
	st, out = cborCall(t, srv, "GetShardIterator", map[string]any{
		"StreamName": "java", "ShardId": "shardId-000000000000", "ShardIteratorType": "AT_TIMESTAMP",
		"Timestamp": cbor.Tag{Number: 1, Content: before.UnixMilli()},
	})
	if st != 200 {
		t.Fatalf("GetShardIterator: %d %v", st, out)
	}
	st, out = cborCall(t, srv, "GetRecords", map[string]any{"ShardIterator": out["ShardIterator"]})
	if st != 200 {
		t.Fatalf("GetRecords: %d %v", st, out)
	}
	recs, _ := out["Records"].([]any)
	if len(recs) != 1 {
		t.Fatalf("records = %v", out)
	}
	r := recs[0].(map[string]any)
	if d, ok := r["Data"].([]byte); !ok || !bytes.Equal(d, []byte{0, 1, 2, 0xff}) {
		t.Errorf("Data = %#v, want a CBOR byte string", r["Data"])
	}
	// fxamacker/cbor decodes tag 1 as a time.Time of epoch SECONDS; AWS
	// (and kinedge) put epoch MILLISECONDS under tag 1, so the "seconds"
	// read back are the milliseconds of now.
	ts, ok := r["ApproximateArrivalTimestamp"].(time.Time)
	if !ok {
		t.Fatalf("ApproximateArrivalTimestamp = %#v, want tag 1", r["ApproximateArrivalTimestamp"])
	}
	if ms := ts.Unix(); ms < before.UnixMilli() || ms > time.Now().UnixMilli() {
		t.Errorf("arrival = %d, want epoch milliseconds of now", ms)
	}
	st, out = cborCall(t, srv, "DescribeStream", map[string]any{"StreamName": "missing"})
	if st != 400 || out["__type"] != "ResourceNotFoundException" || out["message"] != "Stream missing under account 000000000000 not found." {
		t.Errorf("error: %d %v", st, out)
	}
}

func TestMatches(t *testing.T) {
	tests := []struct {
		method, target string
		want           bool
	}{
		{http.MethodPost, "Kinesis_20131202.PutRecord", true},
		{http.MethodPost, "Firehose_20150804.PutRecord", false},
		{http.MethodGet, "Kinesis_20131202.PutRecord", false},
		{http.MethodPost, "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "/", nil)
		if tt.target != "" {
			r.Header.Set("X-Amz-Target", tt.target)
		}
		if got := Matches(r); got != tt.want {
			t.Errorf("%s %q: %v", tt.method, tt.target, got)
		}
	}
}

func TestUnknownRequests(t *testing.T) {
	h := newBareHandler(t)
	tests := []struct {
		method, target, ctype string
		status                int
		typ                   string
	}{
		{http.MethodPost, "Kinesis_20131202.Frobnicate", "application/x-amz-json-1.1", 400, "UnknownOperationException"},
		{http.MethodPost, "Nope.PutRecord", "application/x-amz-json-1.1", 400, "UnknownOperationException"},
		{http.MethodGet, "Kinesis_20131202.ListStreams", "application/x-amz-json-1.1", 405, "UnknownOperationException"},
		{http.MethodPost, "Kinesis_20131202.ListStreams", "text/plain", 400, "SerializationException"},
		{http.MethodPost, "Kinesis_20131202.ListStreams", "application/x-amz-json-1.1", 200, ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "/", strings.NewReader("{}"))
		r.Header.Set("X-Amz-Target", tt.target)
		r.Header.Set("Content-Type", tt.ctype)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.status || w.Header().Get("X-Amzn-Requestid") == "" {
			t.Errorf("%s %s: %d %v", tt.method, tt.target, w.Code, w.Header())
		}
		if tt.typ != "" && w.Header().Get("X-Amzn-Errortype") != tt.typ+":" {
			t.Errorf("%s %s: error type %q", tt.method, tt.target, w.Header().Get("X-Amzn-Errortype"))
		}
	}
}

func TestBodyTooLarge(t *testing.T) {
	h := newBareHandler(t)
	for _, known := range []bool{true, false} {
		r := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(bytes.NewReader(make([]byte, maxBody+1))))
		if !known {
			r.ContentLength = -1
		}
		r.Header.Set("X-Amz-Target", TargetPrefix+"PutRecords")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("length known %v: status %d", known, w.Code)
		}
	}
}
