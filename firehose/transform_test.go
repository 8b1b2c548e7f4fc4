package firehose

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinedge/kinedge/testdata/s3test"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// endpoint is a transformation endpoint: records whose data starts with
// "drop" are Dropped, "fail" ProcessingFailed, "skip" left out of the
// answer; the others are Ok, upper-cased.
func endpoint(t *testing.T, calls *atomic.Int32) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var req transformRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.InvocationID == "" || !strings.HasPrefix(req.DeliveryStreamArn, "arn:aws:firehose:") || req.Region == "" {
			t.Errorf("request %+v %v", req, err)
			http.Error(w, "bad", 400)
			return
		}
		var resp struct {
			Records []transformResult `json:"records"`
		}
		for _, rec := range req.Records {
			if rec.ApproximateArrivalTimestamp == 0 {
				t.Errorf("record %s without arrival", rec.RecordID)
			}
			res := transformResult{RecordID: rec.RecordID, Result: resultOk, Data: bytes.ToUpper(rec.Data)}
			switch {
			case bytes.HasPrefix(rec.Data, []byte("drop")):
				res = transformResult{RecordID: rec.RecordID, Result: resultDropped}
			case bytes.HasPrefix(rec.Data, []byte("fail")):
				res = transformResult{RecordID: rec.RecordID, Result: resultProcessingFailed, Data: rec.Data}
			case bytes.HasPrefix(rec.Data, []byte("skip")):
				continue
			}
			resp.Records = append(resp.Records, res)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(&resp)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func lambdaProcessing(url string, params ...Parameter) *Processing {
	return &Processing{Enabled: true, Processors: []Processor{
		{Type: ProcessorLambda, Parameters: append([]Parameter{{Name: "LambdaArn", Value: url}}, params...)},
		{Type: ProcessorAppendDelimiter},
	}}
}

// readFailed parses a processing-failed object.
func readFailed(t *testing.T, body []byte) []failedRecord {
	t.Helper()
	var out []failedRecord
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var f failedRecord
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatalf("error line %q: %v", sc.Bytes(), err)
		}
		out = append(out, f)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLambdaTransformS3: Ok records are delivered transformed, Dropped
// ones removed, ProcessingFailed and missing ones written under the
// error prefix as AWS writes them; objects read back from versitygw.
func TestLambdaTransformS3(t *testing.T) {
	var calls atomic.Int32
	ep := endpoint(t, &calls)
	srv := s3test.Start(t)
	srv.MakeBucket("lambda")
	s3, err := NewS3(S3Config{Endpoint: srv.Endpoint(), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	e := openEngine(t, openDB(t, ""), s3, nil)
	d := dest("lambda", 1, 0, GZIP)
	d.Prefix, d.ErrorOutputPrefix = "ok/", "errors/!{firehose:error-output-type}/!{timestamp:yyyy}/"
	d.Processing = lambdaProcessing(ep.URL, Parameter{Name: "BufferSizeInMBs", Value: "0.2"})
	if _, err := e.Create(context.Background(), "tf", d); err != nil {
		t.Fatal(err)
	}
	var recs [][]byte
	for _, tag := range []string{"keep1", "drop1", "fail1", "keep2", "skip1", "keep3", "fail2"} {
		// 6 records an invocation (BufferSizeInMBs 0.2), all 7 in one
		// spool commit (maxCommitBytes): one batch.
		recs = append(recs, []byte(tag+"-"+strings.Repeat("x", 30<<10)))
	}
	if _, err := e.Put(context.Background(), "tf", recs); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "an empty spool", func() bool { return e.Stats().SpoolRecords == 0 })
	if n := calls.Load(); n != 2 {
		t.Errorf("%d invocations, want 2 (BufferSizeInMBs 0.2)", n)
	}
	objs := srv.Objects("lambda")
	if len(objs) != 2 {
		t.Fatalf("%d objects", len(objs))
	}
	year := time.Now().UTC().Format("2006")
	for _, o := range objs {
		body := decompress(t, GZIP, o.Body)
		switch {
		case strings.HasPrefix(o.Key, "ok/"):
			want := bytes.ToUpper(bytes.Join([][]byte{recs[0], recs[3], recs[5]}, []byte("\n")))
			if !bytes.Equal(body, append(want, '\n')) {
				t.Errorf("object %s: %d bytes, want the three Ok records upper-cased", o.Key, len(body))
			}
		case strings.HasPrefix(o.Key, "errors/processing-failed/"+year+"/tf-1-") && strings.HasSuffix(o.Key, ".gz"):
			failed := readFailed(t, body)
			var got []string
			for _, f := range failed {
				if f.AttemptsMade != 1 || f.ArrivalTimestamp == 0 || f.AttemptEndingTimestamp < f.ArrivalTimestamp || f.LambdaArn != ep.URL || f.ErrorMessage == "" {
					t.Errorf("failed record %+v", f)
				}
				got = append(got, string(f.RawData[:5])+" "+f.ErrorCode)
			}
			slices.Sort(got)
			if want := []string{"fail1 Lambda.ProcessingFailedStatus", "fail2 Lambda.ProcessingFailedStatus", "skip1 Lambda.MissingRecordId"}; !slices.Equal(got, want) {
				t.Errorf("failed records %q, want %q", got, want)
			}
		default:
			t.Errorf("key %q", o.Key)
		}
	}
	if st := e.Stats(); st.ProcessingFailed != 3 || st.Dropped != 1 || st.RecordsDelivered != 3 {
		t.Errorf("stats %+v", st)
	}
}

// TestLambdaEndpointDown: an endpoint that keeps failing is retried
// NumberOfRetries times, then every record goes under the error prefix
// with the attempts made; the engine keeps no record.
func TestLambdaEndpointDown(t *testing.T) {
	var calls atomic.Int32
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	t.Cleanup(down.Close)
	m := &memDest{}
	e := openEngine(t, openDB(t, ""), m, nil)
	d := dest("bkt", 1, 0, Uncompressed)
	d.Processing = lambdaProcessing(down.URL, Parameter{Name: "NumberOfRetries", Value: "2"})
	if _, err := e.Create(context.Background(), "dn", d); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Put(context.Background(), "dn", [][]byte{[]byte("a"), []byte("b")}); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "an empty spool", func() bool { return e.Stats().SpoolRecords == 0 })
	if n := calls.Load(); n != 3 {
		t.Errorf("%d calls, want 3", n)
	}
	if m.count() != 1 {
		t.Fatalf("%d objects, want only the error object", m.count())
	}
	for k, body := range m.objects {
		if !strings.HasPrefix(k, "bkt/processing-failed/") {
			t.Errorf("key %q", k)
		}
		failed := readFailed(t, body)
		if len(failed) != 2 || failed[0].AttemptsMade != 3 || failed[0].ErrorCode != "Lambda.FunctionError" || string(failed[1].RawData) != "b" {
			t.Errorf("failed %+v", failed)
		}
	}
}

// TestLambdaParameters: AWS's parameter rules, and the URL in LambdaArn.
func TestLambdaParameters(t *testing.T) {
	for _, c := range []struct {
		params []Parameter
		bad    string
	}{
		{[]Parameter{{Name: "LambdaArn", Value: "http://127.0.0.1:9/t"}, {Name: "NumberOfRetries", Value: "0"}, {Name: "BufferIntervalInSeconds", Value: "60"}, {Name: "RoleArn", Value: "arn:aws:iam::1:role/r"}}, ""},
		{nil, "needs the parameter LambdaArn"},
		{[]Parameter{{Name: "LambdaArn", Value: "arn:aws:lambda:us-east-1:1:function:f"}}, "http(s) URL"},
		{[]Parameter{{Name: "LambdaArn", Value: "https://x/"}, {Name: "NumberOfRetries", Value: "301"}}, "NumberOfRetries"},
		{[]Parameter{{Name: "LambdaArn", Value: "https://x/"}, {Name: "BufferSizeInMBs", Value: "4"}}, "BufferSizeInMBs"},
		{[]Parameter{{Name: "LambdaArn", Value: "https://x/"}, {Name: "Nope", Value: "1"}}, "no parameter Nope"},
	} {
		d := dest("bkt", 1, 0, Uncompressed)
		d.Processing = &Processing{Enabled: true, Processors: []Processor{{Type: ProcessorLambda, Parameters: c.params}}}
		err := d.normalize()
		if (c.bad == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.bad)) {
			t.Errorf("%+v: %v", c.params, err)
		}
	}
}

// FuzzTransformResponse: the parser takes any bytes without panicking,
// and what it accepts names only records sent, once each, with a known
// result.
func FuzzTransformResponse(f *testing.F) {
	for _, seed := range []string{
		`{"records":[{"recordId":"a","result":"Ok","data":"aGk="},{"recordId":"b","result":"Dropped"},{"recordId":"c","result":"ProcessingFailed","data":""}]}`,
		`{"records":[]}`,
		`{"records":[{"recordId":"a","result":"Ok","data":"aGk="},{"recordId":"a","result":"Ok","data":"aGk="}]}`,
		`{"records":[{"recordId":"z","result":"Ok"}]}`,
		`{"records":[{"recordId":"a","result":"Ok","data":"aGk=","metadata":{"partitionKeys":{"customer":"c1","year":"2026"}}}]}`,
		`{"records":[{"recordId":"a","result":"Ok","metadata":{"partitionKeys":{"customer":1}}}]}`,
		`{"records":[{"recordId":"a","result":"Maybe"}]}`,
		`{"records":[{"recordId":"a","result":"Ok","data":"!!"}]}`,
		`{}`, `null`, `[`, ``,
	} {
		f.Add([]byte(seed))
	}
	sent := []string{"a", "b", "c"}
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := parseTransformResponse(body, sent)
		if err != nil {
			return
		}
		for id, r := range res {
			if !slices.Contains(sent, id) || r.RecordID != id {
				t.Fatalf("accepted record %q", id)
			}
			if r.Result != resultOk && r.Result != resultDropped && r.Result != resultProcessingFailed {
				t.Fatalf("accepted result %q", r.Result)
			}
		}
	})
}
