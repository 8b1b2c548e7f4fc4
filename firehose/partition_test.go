package firehose

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// partitionedDest is a destination with dynamic partitioning on
// customer_id and the device's id.
func partitionedDest(bucket string) S3Destination {
	d := dest(bucket, MinPartitionedSizeInMBs, 1, Uncompressed)
	d.Prefix = "customer=!{partitionKeyFromQuery:customer_id}/device=!{partitionKeyFromQuery:device}/"
	d.ErrorOutputPrefix = "errs/!{firehose:error-output-type}/"
	d.DynamicPartitioning = &DynamicPartitioning{Enabled: true, RetryDurationInSeconds: 300}
	d.Processing = &Processing{Enabled: true, Processors: []Processor{
		{Type: ProcessorMetadataExtraction, Parameters: []Parameter{
			{Name: "MetadataExtractionQuery", Value: "{customer_id: .customer_id, device: .device.id}"},
			{Name: "JsonParsingEngine", Value: "JQ-1.6"}}},
		{Type: ProcessorAppendDelimiter}}}
	return d
}

func TestPartitioningValidation(t *testing.T) {
	e := openEngine(t, openDB(t, ""), &memDest{}, nil)
	for name, tc := range map[string]struct {
		change func(d *S3Destination)
		want   string // "" valid
	}{
		"valid":                 {func(d *S3Destination) {}, ""},
		"keys without enabling": {func(d *S3Destination) { d.DynamicPartitioning.Enabled = false }, "not enabled"},
		"no error prefix":       {func(d *S3Destination) { d.ErrorOutputPrefix = "" }, "ErrorOutputPrefix cannot be null or empty"},
		"small buffer":          {func(d *S3Destination) { d.SizeInMBs = 63 }, "at least 64"},
		"zero buffering":        {func(d *S3Destination) { d.IntervalInSeconds = 0 }, "zero buffering"},
		"no keys in prefix":     {func(d *S3Destination) { d.Prefix = "flat/" }, "no partition key"},
		"undefined key":         {func(d *S3Destination) { d.Prefix += "!{partitionKeyFromQuery:city}/" }, "defines no key city"},
		"keys in error prefix":  {func(d *S3Destination) { d.ErrorOutputPrefix += "!{partitionKeyFromQuery:device}/" }, "ErrorOutputPrefix cannot contain"},
		"processing disabled":   {func(d *S3Destination) { d.Processing.Enabled = false }, "MetadataExtraction processor"},
		"lambda keys":           {func(d *S3Destination) { d.Prefix += "!{partitionKeyFromLambda:x}/" }, "Lambda processor that returns the keys"},
		"bad query":             {func(d *S3Destination) { d.Processing.Processors[0].Parameters[0].Value = "{a: .a | ascii}" }, "subset of jq"},
		"bad engine":            {func(d *S3Destination) { d.Processing.Processors[0].Parameters[1].Value = "JQ-1.7" }, "JQ-1.6"},
		"no query":              {func(d *S3Destination) { d.Processing.Processors[0].Parameters = nil }, "MetadataExtractionQuery"},
		"retry out of range":    {func(d *S3Destination) { d.DynamicPartitioning.RetryDurationInSeconds = 7201 }, "7200"},
		"extraction without partitioning": {func(d *S3Destination) {
			d.DynamicPartitioning, d.Prefix = nil, "flat/"
		}, "needs DynamicPartitioningConfiguration"},
	} {
		d := partitionedDest("bkt")
		tc.change(&d)
		_, err := e.Create(context.Background(), strings.ReplaceAll(name, " ", "-"), d)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.want != "" && (!errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want InvalidArgument with %q", name, err, tc.want)
		}
	}
	// Partitioning cannot be switched on an existing stream.
	if _, err := e.Create(context.Background(), "flat", dest("bkt", 64, 60, GZIP)); err != nil {
		t.Fatal(err)
	}
	_, err := e.Update(context.Background(), "flat", 1, func(d *S3Destination) { *d = partitionedDest("bkt") })
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "existing delivery stream") {
		t.Fatalf("enabling partitioning by update: %v", err)
	}
}

// custRecords returns n records of customers c0…c(k-1), devices 1 and 2,
// interleaved, and what each partition's object must hold (with the
// newline delimiter), by prefix.
func custRecords(n, k int, tag string) ([][]byte, map[string][]byte) {
	var recs [][]byte
	want := map[string][]byte{}
	for i := range n {
		c, dev := fmt.Sprintf("c%d", i%k), 1+i%2
		r := fmt.Appendf(nil, `{"customer_id": %q, "device": {"id": %d}, "seq": "%s-%d"}`, c, dev, tag, i)
		recs = append(recs, r)
		p := fmt.Sprintf("customer=%s/device=%d/", c, dev)
		want[p] = append(append(want[p], r...), '\n')
	}
	return recs, want
}

// byPrefix groups m's objects of bucket by the prefix up to the object
// name (the last /).
func byPrefix(t *testing.T, objects map[string][]byte, bucket string) map[string][][]byte {
	t.Helper()
	out := map[string][][]byte{}
	for k, body := range objects {
		k = strings.TrimPrefix(k, bucket+"/")
		out[k[:strings.LastIndex(k, "/")+1]] = append(out[k[:strings.LastIndex(k, "/")+1]], body)
	}
	return out
}

// failedLines decodes a partitioning-failed object.
func failedLines(t *testing.T, body []byte) []partitionFailed {
	t.Helper()
	var out []partitionFailed
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		var f partitionFailed
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatalf("error object line %q: %v", sc.Bytes(), err)
		}
		out = append(out, f)
	}
	return out
}

// TestPartitionedDelivery: a batch becomes one object per partition
// holding its records in order, byte for byte, and one
// partitioning-failed object holding the records whose keys cannot be
// extracted, as AWS writes them.
func TestPartitionedDelivery(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 9, 10, 11, 12, 13, 0, time.UTC)}
	m := &memDest{}
	e := openEngine(t, openDB(t, ""), m, func(o *Options) { o.Now = clk.Now })
	if _, err := e.Create(context.Background(), "dp", partitionedDest("bkt")); err != nil {
		t.Fatal(err)
	}
	recs, want := custRecords(60, 3, "a")
	bad := [][]byte{[]byte("not json"), []byte(`{"customer_id": "c9"}`), []byte(`{"customer_id": {"x": 1}, "device": {"id": 1}}`),
		[]byte(`{"customer_id": "` + strings.Repeat("x", 600) + `", "device": {"id": 1}}`)}
	all := slices.Concat(recs[:30], bad, recs[30:])
	if _, err := e.Put(context.Background(), "dp", all); err != nil {
		t.Fatal(err)
	}
	clk.mu.Lock()
	clk.t = clk.t.Add(2 * time.Second) // the interval (1 s) by the injected clock; a put wakes the deliverer
	clk.mu.Unlock()
	testtool.WaitFor(t, "seven objects and an empty spool", func() bool { return m.count() == 7 && e.Stats().SpoolRecords == 0 })
	got := byPrefix(t, m.objects, "bkt")
	for p, body := range want {
		if len(got[p]) != 1 || !bytes.Equal(got[p][0], body) {
			t.Errorf("%s: %d objects, want one with %d bytes", p, len(got[p]), len(body))
		}
	}
	errs := got["errs/partitioning-failed/2026/09/10/11/"]
	if len(errs) != 1 {
		t.Fatalf("error objects by prefix: %v", slices.Collect(maps.Keys(got)))
	}
	lines := failedLines(t, errs[0])
	if len(lines) != len(bad) {
		t.Fatalf("%d failed records, want %d", len(lines), len(bad))
	}
	for i, l := range lines {
		if !bytes.Equal(l.RawData, bad[i]) || l.ErrorCode != "DynamicPartitioning.MetadataExtractionFailed" || l.ErrorMessage == "" ||
			l.ArrivalTimestamp != time.Date(2026, 9, 10, 11, 12, 13, 0, time.UTC).UnixMilli() {
			t.Errorf("failed record %d: %+v", i, l)
		}
	}
	for _, why := range []string{"not JSON", "null or missing", "object", "512"} {
		if !strings.Contains(string(errs[0]), why) {
			t.Errorf("no failure says %q", why)
		}
	}
	for k := range m.objects {
		if strings.HasPrefix(k, "bkt/customer=") && !strings.Contains(k, "/dp-1-2026-09-10-11-12-13-") {
			t.Errorf("key %q is not named at the oldest record's arrival", k)
		}
	}
	if st := e.Stats(); st.PartitioningFailed != uint64(len(bad)) || st.RecordsDelivered != uint64(len(recs)) || st.Objects != 7 {
		t.Fatalf("stats %+v", st)
	}
}

// flakyDest writes the first n objects of each round and then fails,
// recording every attempted key.
type flakyDest struct {
	memDest
	mu    sync.Mutex
	allow int
}

func (f *flakyDest) Put(ctx context.Context, bucket, key string, body []byte) error {
	f.mu.Lock()
	ok := f.allow > 0
	f.allow--
	f.mu.Unlock()
	if !ok {
		f.memDest.mu.Lock()
		f.keys = append(f.keys, key)
		f.memDest.mu.Unlock()
		return errors.New("flaky: down")
	}
	return f.memDest.Put(ctx, bucket, key, body)
}

// TestPartitionedRestartNoDuplicates: a partitioned batch whose writes
// stop half way (some partitions written, the rest failing), then a
// crash and a reopen of the database: every object goes to the key fixed
// before the first attempt, each partition once with all its records,
// and no other object appears.
func TestPartitionedRestartNoDuplicates(t *testing.T) {
	dir := t.TempDir()
	f := &flakyDest{allow: 2}
	db := openDB(t, dir)
	clk := &fakeClock{t: time.Date(2026, 9, 10, 11, 12, 13, 0, time.UTC)}
	e := openEngine(t, db, f, func(o *Options) { o.Now = clk.Now })
	if _, err := e.Create(context.Background(), "crash", partitionedDest("bkt")); err != nil {
		t.Fatal(err)
	}
	recs, want := custRecords(40, 4, "k") // four partitions
	recs = append(recs, []byte("broken"))
	if _, err := e.Put(context.Background(), "crash", recs); err != nil {
		t.Fatal(err)
	}
	clk.mu.Lock()
	clk.t = clk.t.Add(2 * time.Second)
	clk.mu.Unlock()
	testtool.WaitFor(t, "two objects written and failed attempts after them", func() bool { return f.count() == 2 && len(f.attempts()) >= 3 })
	e.Close()
	db.Close()
	before := map[string]bool{} // every key written or tried before the crash
	for k := range f.objects {
		before[strings.TrimPrefix(k, "bkt/")] = true
	}
	for _, k := range f.attempts() {
		before[k] = true
	}

	m := &memDest{}
	e2 := openEngine(t, openDB(t, dir), m, nil)
	testtool.WaitFor(t, "the batch after the restart", func() bool { return e2.Stats().SpoolRecords == 0 && m.count() == 5 })
	for k := range before {
		if _, ok := m.objects["bkt/"+k]; !ok {
			t.Errorf("%q, written or tried before the crash, was not written again after it: its key changed", k)
		}
	}
	all := maps.Clone(m.objects)
	for k, v := range f.objects {
		all[k] = v // what was written before the crash stays
	}
	if len(all) != 5 {
		t.Fatalf("%d distinct objects across the crash, want 4 partitions and 1 error object: %v", len(all), slices.Collect(maps.Keys(all)))
	}
	got := byPrefix(t, all, "bkt")
	for p, body := range want {
		if len(got[p]) != 1 || !bytes.Equal(got[p][0], body) {
			t.Errorf("%s: %d objects, want one with its %d bytes", p, len(got[p]), len(body))
		}
	}
}

// TestPartitionsPerBatchBounded: a batch opens at most maxPartitions
// objects; the records of the partitions past it wait for the next
// batch.
func TestPartitionsPerBatchBounded(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 9, 10, 11, 12, 13, 0, time.UTC)}
	m := &memDest{}
	e := openEngine(t, openDB(t, ""), m, func(o *Options) { o.Now = clk.Now })
	if _, err := e.Create(context.Background(), "many", partitionedDest("bkt")); err != nil {
		t.Fatal(err)
	}
	// 503 customers, each with devices 1 and 2: 1006 partitions of one
	// record.
	const n = 2 * (maxPartitions + 3)
	recs, want := custRecords(n, maxPartitions+3, "m")
	if _, err := e.Put(context.Background(), "many", recs); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "every partition's object", func() bool {
		clk.mu.Lock()
		clk.t = clk.t.Add(2 * time.Second) // each batch's interval, by the injected clock
		clk.mu.Unlock()
		return e.Stats().SpoolRecords == 0
	})
	if len(want) != n || m.count() != n || len(m.attempts()) != n {
		t.Fatalf("%d partitions, %d objects, %d attempts", len(want), m.count(), len(m.attempts()))
	}
	got := byPrefix(t, m.objects, "bkt")
	for p, body := range want {
		if len(got[p]) != 1 || !bytes.Equal(got[p][0], body) {
			t.Fatalf("%s: %d objects", p, len(got[p]))
		}
	}
	// The objects of one batch share its arrival time: none has more
	// than maxPartitions.
	perBatch := map[string]int{}
	for _, k := range m.attempts() {
		at := strings.Index(k, "-1-2026-")
		perBatch[k[at:at+len("-1-2026-09-10-11-12-13")]]++
	}
	largest := 0
	for _, c := range perBatch {
		largest = max(largest, c)
	}
	if largest != maxPartitions || len(perBatch) < 3 {
		t.Fatalf("objects per batch %v: want at most %d, and three batches", perBatch, maxPartitions)
	}
}

// keysEndpoint is a transformation endpoint that upper-cases records and
// returns the record's "c" member as partition key customer; "fail"
// records are ProcessingFailed, "nokey" ones are Ok without keys.
func keysEndpoint(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req transformRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad", 400)
			return
		}
		var resp struct {
			Records []transformResult `json:"records"`
		}
		for _, rec := range req.Records {
			res := transformResult{RecordID: rec.RecordID, Result: resultOk, Data: bytes.ToUpper(rec.Data)}
			var v struct{ C string }
			switch {
			case string(rec.Data) == "fail":
				res.Result = resultProcessingFailed
			case json.Unmarshal(rec.Data, &v) == nil:
				res.Metadata = &transformMetadata{PartitionKeys: map[string]string{"customer": v.C}}
			}
			resp.Records = append(resp.Records, res)
		}
		json.NewEncoder(w).Encode(&resp)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestLambdaPartitionKeys: !{partitionKeyFromLambda:customer} takes the
// keys the transformation returns (metadata.partitionKeys): one object
// per customer of the transformed records; a record without the key
// goes under partitioning-failed, a ProcessingFailed one under
// processing-failed; after a crash half way the objects are written
// again under the same keys (derived from the batch), none added.
func TestLambdaPartitionKeys(t *testing.T) {
	ep := keysEndpoint(t)
	dir := t.TempDir()
	f := &flakyDest{allow: 3}
	db := openDB(t, dir)
	clk := &fakeClock{t: time.Date(2026, 9, 10, 11, 12, 13, 0, time.UTC)}
	e := openEngine(t, db, f, func(o *Options) { o.Now = clk.Now })
	d := partitionedDest("bkt")
	d.Prefix = "customer=!{partitionKeyFromLambda:customer}/"
	d.Processing = lambdaProcessing(ep.URL)
	if _, err := e.Create(context.Background(), "lk", d); err != nil {
		t.Fatal(err)
	}
	var recs [][]byte
	want := map[string][]byte{}
	for i := range 30 {
		r := fmt.Appendf(nil, `{"c":"c%d","n":%d}`, i%3, i)
		recs = append(recs, r)
		p := fmt.Sprintf("customer=c%d/", i%3)
		want[p] = append(append(want[p], bytes.ToUpper(r)...), '\n')
	}
	recs = append(recs, []byte("fail"), []byte("nokey"))
	if _, err := e.Put(context.Background(), "lk", recs); err != nil {
		t.Fatal(err)
	}
	clk.mu.Lock()
	clk.t = clk.t.Add(2 * time.Second)
	clk.mu.Unlock()
	testtool.WaitFor(t, "three objects and failed attempts after them", func() bool { return f.count() == 3 && len(f.attempts()) >= 2 })
	e.Close()
	db.Close()
	before := map[string]bool{}
	for k := range f.objects {
		before[strings.TrimPrefix(k, "bkt/")] = true
	}
	for _, k := range f.attempts() {
		before[k] = true
	}

	m := &memDest{}
	e2 := openEngine(t, openDB(t, dir), m, func(o *Options) { o.Now = clk.Now })
	testtool.WaitFor(t, "the batch after the restart", func() bool { return e2.Stats().SpoolRecords == 0 })
	for k := range before {
		if _, ok := m.objects["bkt/"+k]; !ok {
			t.Errorf("%q, written or tried before the crash, was not written again after it", k)
		}
	}
	if m.count() != 5 {
		t.Fatalf("%d objects after the restart, want 3 partitions and 2 error objects: %v", m.count(), slices.Collect(maps.Keys(m.objects)))
	}
	got := byPrefix(t, m.objects, "bkt")
	for p, body := range want {
		if len(got[p]) != 1 || !bytes.Equal(got[p][0], body) {
			t.Errorf("%s: %d objects, want one with %d bytes", p, len(got[p]), len(body))
		}
	}
	pf := got["errs/partitioning-failed/2026/09/10/11/"]
	if len(pf) != 1 || len(failedLines(t, pf[0])) != 1 || !bytes.Equal(failedLines(t, pf[0])[0].RawData, []byte("NOKEY")) {
		t.Errorf("partitioning-failed objects %q", pf)
	}
	if proc := got["errs/processing-failed/2026/09/10/11/"]; len(proc) != 1 || !bytes.Contains(proc[0], []byte(`"rawData":"ZmFpbA=="`)) {
		t.Errorf("processing-failed objects %q", proc)
	}
}
