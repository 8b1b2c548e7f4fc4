package kvs

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testARN is the ARN of stream "f" created at testNow in the tests' index.
func testARN() string {
	return "arn:aws:kinesisvideo:eu-west-1:123456789012:stream/f/" + strconv.FormatInt(testNow.UnixMilli(), 10)
}

// requestCases is one valid request of each operation, in an order that
// succeeds on a fresh index: the table of TestRequests and the seeds of
// FuzzRequests. {ARN} is stream f's ARN, {V} its current version.
func requestCases() []struct{ path, body string } {
	ts := strconv.FormatInt(testNow.Add(-time.Hour).Unix(), 10)
	te := strconv.FormatInt(testNow.Unix(), 10)
	return []struct{ path, body string }{
		{PathCreateStream, `{"StreamName":"f","DeviceName":"d","MediaType":"video/h264","KmsKeyId":"k","DataRetentionInHours":2,"Tags":{"a":"b"}}`},
		{PathCreateStream, `{"StreamName":"g","DataRetentionInHours":0}`},
		{PathDescribeStream, `{"StreamName":"f"}`},
		{PathDescribeStream, `{"StreamARN":"{ARN}"}`},
		{PathListStreams, `{"MaxResults":1}`},
		{PathListStreams, `{"NextToken":"` + encodeStreamsToken("f") + `","StreamNameCondition":{"ComparisonOperator":"BEGINS_WITH","ComparisonValue":"g"}}`},
		{PathUpdateStream, `{"StreamName":"f","CurrentVersion":"{V}","DeviceName":"e","MediaType":"video/h265"}`},
		{PathUpdateDataRetention, `{"StreamARN":"{ARN}","CurrentVersion":"{V}","Operation":"INCREASE_DATA_RETENTION","DataRetentionChangeInHours":5}`},
		{PathUpdateDataRetention, `{"StreamName":"f","CurrentVersion":"{V}","Operation":"DECREASE_DATA_RETENTION","DataRetentionChangeInHours":1}`},
		{PathGetDataEndpoint, `{"StreamName":"f","APIName":"GET_CLIP"}`},
		{PathTagStream, `{"StreamName":"f","Tags":{"x":"y","site":"Ü 1"}}`},
		{PathUntagStream, `{"StreamARN":"{ARN}","TagKeyList":["x"]}`},
		{PathListTagsForStream, `{"StreamName":"f"}`},
		{PathListFragments, `{"StreamName":"f","MaxResults":10,"FragmentSelector":{"FragmentSelectorType":"SERVER_TIMESTAMP","TimestampRange":{"StartTimestamp":` + ts + `,"EndTimestamp":` + te + `}}}`},
		{PathListFragments, `{"StreamARN":"{ARN}","FragmentSelector":{"FragmentSelectorType":"PRODUCER_TIMESTAMP","TimestampRange":{"StartTimestamp":"` + testNow.Add(-time.Hour).Format(time.RFC3339) + `","EndTimestamp":` + te + `.5}}}`},
		{PathDeleteStream, `{"StreamARN":"{ARN}","CurrentVersion":"{V}"}`},
	}
}

// newBareMux registers a Handler without middleware over a fresh index.
func newBareMux(t testing.TB) (*http.ServeMux, *Handler) {
	t.Helper()
	h := &Handler{Index: openIndex(t)}
	mux := http.NewServeMux()
	h.Register(mux, nil)
	return mux, h
}

// call serves one POST through mux and checks what every response must
// be: JSON, with a request id, and an AWS error shape unless 200.
func call(t testing.TB, mux *http.ServeMux, path string, body []byte) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("POST %s %q: HTTP %d, body %q is not a JSON object", path, body, rec.Code, rec.Body.Bytes())
	}
	if rec.Header().Get("x-amzn-RequestId") == "" || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("POST %s %q: headers %v", path, body, rec.Header())
	}
	if rec.Code != http.StatusOK {
		typ, _ := out["__type"].(string)
		if typ == "" || rec.Header().Get("X-Amzn-ErrorType") != typ+":" {
			t.Fatalf("POST %s %q: HTTP %d without an error type: %v %s", path, body, rec.Code, rec.Header(), rec.Body.Bytes())
		}
	}
	return rec.Code, out
}

func TestRequests(t *testing.T) {
	mux, h := newBareMux(t)
	ctx := context.Background()
	for _, tc := range requestCases() {
		body := strings.ReplaceAll(tc.body, "{ARN}", testARN())
		if st, err := h.Index.Stream(ctx, "f"); err == nil {
			body = strings.ReplaceAll(body, "{V}", st.Version)
		}
		if code, out := call(t, mux, tc.path, []byte(body)); code != http.StatusOK {
			t.Errorf("POST %s %s: HTTP %d %v", tc.path, body, code, out)
		}
	}
	if _, err := h.Index.Stream(ctx, "f"); err == nil {
		t.Error("stream f not deleted by the last request")
	}
	if code, _ := call(t, mux, PathDescribeStream, []byte(`{"StreamName":"g"}`)); code != http.StatusOK {
		t.Errorf("stream g: HTTP %d", code)
	}
}

// FuzzRequests feeds arbitrary bodies to every operation of a live
// handler: every answer must be a JSON response or a typed AWS error,
// never a panic or an InternalFailure (HTTP 500).
func FuzzRequests(f *testing.F) {
	cases := requestCases()
	for i, c := range cases {
		body := strings.ReplaceAll(strings.ReplaceAll(c.body, "{ARN}", testARN()), "{V}", "1")
		f.Add(uint8(i), []byte(body))
	}
	f.Add(uint8(0), []byte(`{"StreamName":"f","Tags":{"aws:a":"\u0000"}}`))
	f.Add(uint8(13), []byte(`{"StreamName":"f","NextToken":"AQEDAAAAAAAAAAAAAAAAAAAAAAAA"}`))
	f.Add(uint8(4), []byte(`{"MaxResults":1e300}`))
	mux, h := newBareMux(f)
	// Stream f exists with fragments so that the operations reach the index.
	putFragments(f, h.Index, "f", 5)
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		path := cases[int(op)%len(cases)].path
		code, out := call(t, mux, path, body)
		switch code {
		case http.StatusOK, http.StatusBadRequest, http.StatusNotFound, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("POST %s %q: HTTP %d %v", path, body, code, out)
		}
	})
}
