package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"go.uber.org/goleak"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
	"github.com/kinedge/kinedge/index/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*defaultPolicy[...]).processItems"),
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*Cache[...]).processItems"),
	)
}

const (
	testKey    = "AKIDKINEDGETEST"
	testSecret = "kinedge-test-secret"
)

type testEnv struct {
	engine  *engine.Engine
	space   *store.Space // the engine's, for tests that alter stored bytes
	handler *Handler
	srv     *httptest.Server
	client  *kinesis.Client
}

// newEnv runs a Handler behind awsproto's SigV4 Middleware on 127.0.0.1 and
// returns an aws-sdk-go-v2 Kinesis client for it.
func newEnv(t testing.TB, mod func(*engine.Options)) *testEnv {
	t.Helper()
	return newEnvProto(t, mod, "http/1.1")
}

// newEnvProto is newEnv over proto: "http/1.1", "h2" (HTTPS, as the SDKs
// reach Kinesis for SubscribeToShard) or "h2c" (HTTP/2 without TLS).
func newEnvProto(t testing.TB, mod func(*engine.Options), proto string) *testEnv {
	t.Helper()
	// Records go to the value log (ValueThreshold 256): with 1 KiB values in
	// the LSM tree, compaction rewrites every record and Badger's table
	// builders double the process's memory (see README).
	return newEnvStore(t, mod, proto, store.Options{Dir: t.TempDir(), NoSync: true, MemTableSize: 16 << 20,
		BlockCacheSize: 1 << 20, IndexCacheSize: 4 << 20, ValueThreshold: 256})
}

// openEngine opens a data-streams engine with o on db's "d/" space, as
// the appliance does.
func openEngine(t testing.TB, db *store.DB, o engine.Options) *engine.Engine {
	t.Helper()
	e, _ := openEngineSpace(t, db, o)
	return e
}

// openEngineSpace is openEngine that also returns the engine's space.
func openEngineSpace(t testing.TB, db *store.DB, o engine.Options) (*engine.Engine, *store.Space) {
	t.Helper()
	sp, err := db.Space("d/")
	if err != nil {
		t.Fatal(err)
	}
	o.Space = sp
	e, err := engine.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return e, sp
}

// newEnvStore is newEnvProto on a database opened with so.
func newEnvStore(t testing.TB, mod func(*engine.Options), proto string, so store.Options) *testEnv {
	t.Helper()
	db, err := store.Open(so)
	if err != nil {
		t.Fatal(err)
	}
	o := engine.Options{Region: "eu-west-1", AccountID: "123456789012"}
	if mod != nil {
		mod(&o)
	}
	e, sp := openEngineSpace(t, db, o)
	h := &Handler{Engine: e, SubscriptionPoll: 50 * time.Millisecond}
	v := &awsproto.Verifier{Secret: func(k string) (string, bool) { return testSecret, k == testKey }, Service: "kinesis"}
	srv := httptest.NewUnstartedServer(awsproto.Middleware(v, h, 0))
	var httpClient *http.Client
	switch proto {
	case "h2":
		srv.EnableHTTP2 = true
		srv.StartTLS()
		httpClient = srv.Client()
	case "h2c":
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
		srv.Start()
		tr := &http.Transport{Protocols: new(http.Protocols)}
		tr.Protocols.SetUnencryptedHTTP2(true)
		httpClient = &http.Client{Transport: tr}
	default:
		srv.Start()
	}
	t.Cleanup(func() {
		_ = h.Close()
		srv.Close()
		_ = e.Close()
		_ = db.Close()
	})
	client := kinesis.New(kinesis.Options{
		BaseEndpoint: aws.String(srv.URL),
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
		// The SDK's standard retryer: it also retries the client-side
		// "use of closed network connection" race of aws-sdk-go-v2 with
		// net/http (aws/aws-sdk-go-v2#2737, fixed by retrying in #2949).
		Retryer: retry.NewStandard(),
	}, func(o *kinesis.Options) {
		if httpClient != nil {
			o.HTTPClient = httpClient
		}
	})
	return &testEnv{engine: e, space: sp, handler: h, srv: srv, client: client}
}

func (env *testEnv) create(t testing.TB, name string, shards int32) {
	t.Helper()
	if _, err := env.client.CreateStream(context.Background(), &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatal(err)
	}
}

// errCase checks an error against a typed SDK error and its message.
func errCase[T smithy.APIError](t *testing.T, name string, err error, msg string) {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Errorf("%s: err = %v (%T), want %T", name, err, err, target)
		return
	}
	if msg != "" && target.ErrorMessage() != msg {
		t.Errorf("%s: message %q, want %q", name, target.ErrorMessage(), msg)
	}
}

func TestStreamOperations(t *testing.T) {
	env := newEnv(t, nil)
	ctx := context.Background()
	c := env.client
	env.create(t, "orders", 4)
	arn := "arn:aws:kinesis:eu-west-1:123456789012:stream/orders"

	d, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("orders"), Limit: aws.Int32(3)})
	if err != nil {
		t.Fatal(err)
	}
	sd := d.StreamDescription
	if aws.ToString(sd.StreamARN) != arn || sd.StreamStatus != types.StreamStatusActive || len(sd.Shards) != 3 || !aws.ToBool(sd.HasMoreShards) || aws.ToInt32(sd.RetentionPeriodHours) != 24 {
		t.Fatalf("describe = %+v", sd)
	}
	if aws.ToString(sd.Shards[0].HashKeyRange.EndingHashKey) != "85070591730234615865843651857942052863" || sd.Shards[0].SequenceNumberRange.EndingSequenceNumber != nil {
		t.Errorf("shard 0 = %+v", sd.Shards[0])
	}
	d, err = c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamARN: aws.String(arn), ExclusiveStartShardId: sd.Shards[2].ShardId})
	if err != nil || len(d.StreamDescription.Shards) != 1 || aws.ToBool(d.StreamDescription.HasMoreShards) {
		t.Fatalf("describe page 2 = %+v %v", d, err)
	}
	sum, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: aws.String(arn)})
	if err != nil || aws.ToInt32(sum.StreamDescriptionSummary.OpenShardCount) != 4 || sum.StreamDescriptionSummary.StreamModeDetails.StreamMode != types.StreamModeProvisioned {
		t.Fatalf("summary = %+v %v", sum, err)
	}
	// ListStreams pagination.
	for _, n := range []string{"b1", "b2"} {
		env.create(t, n, 1)
	}
	var names []string
	var token *string
	for range 5 {
		ls, err := c.ListStreams(ctx, &kinesis.ListStreamsInput{Limit: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, ls.StreamNames...)
		if len(ls.StreamSummaries) != len(ls.StreamNames) {
			t.Errorf("summaries %d != names %d", len(ls.StreamSummaries), len(ls.StreamNames))
		}
		if !aws.ToBool(ls.HasMoreStreams) {
			break
		}
		token = ls.NextToken
	}
	if fmt.Sprint(names) != "[b1 b2 orders]" {
		t.Errorf("ListStreams = %v", names)
	}
	// Tags, retention, encryption, mode, limits.
	steps := []struct {
		name string
		call func() error
	}{
		{"add tags", func() error {
			_, err := c.AddTagsToStream(ctx, &kinesis.AddTagsToStreamInput{StreamName: aws.String("orders"), Tags: map[string]string{"a": "1", "b": "2", "c": "3"}})
			return err
		}},
		{"remove tag", func() error {
			_, err := c.RemoveTagsFromStream(ctx, &kinesis.RemoveTagsFromStreamInput{StreamARN: aws.String(arn), TagKeys: []string{"b"}})
			return err
		}},
		{"increase retention", func() error {
			_, err := c.IncreaseStreamRetentionPeriod(ctx, &kinesis.IncreaseStreamRetentionPeriodInput{StreamName: aws.String("orders"), RetentionPeriodHours: aws.Int32(168)})
			return err
		}},
		{"decrease retention", func() error {
			_, err := c.DecreaseStreamRetentionPeriod(ctx, &kinesis.DecreaseStreamRetentionPeriodInput{StreamName: aws.String("orders"), RetentionPeriodHours: aws.Int32(48)})
			return err
		}},
		{"start encryption", func() error {
			_, err := c.StartStreamEncryption(ctx, &kinesis.StartStreamEncryptionInput{StreamName: aws.String("orders"), EncryptionType: types.EncryptionTypeKms, KeyId: aws.String("alias/aws/kinesis")})
			return err
		}},
		{"enhanced monitoring", func() error {
			out, err := c.EnableEnhancedMonitoring(ctx, &kinesis.EnableEnhancedMonitoringInput{StreamName: aws.String("orders"), ShardLevelMetrics: []types.MetricsName{types.MetricsNameIncomingBytes, types.MetricsNameIteratorAgeMilliseconds}})
			if err == nil && (len(out.CurrentShardLevelMetrics) != 0 || len(out.DesiredShardLevelMetrics) != 2) {
				err = fmt.Errorf("monitoring output %+v", out)
			}
			return err
		}},
		{"update mode", func() error {
			_, err := c.UpdateStreamMode(ctx, &kinesis.UpdateStreamModeInput{StreamARN: aws.String("arn:aws:kinesis:eu-west-1:123456789012:stream/b1"), StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}})
			return err
		}},
	}
	for _, s := range steps {
		if err := s.call(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	if _, err := c.TagResource(ctx, &kinesis.TagResourceInput{ResourceARN: aws.String(arn), Tags: map[string]string{"z": "26"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &kinesis.UntagResourceInput{ResourceARN: aws.String(arn), TagKeys: []string{"c"}}); err != nil {
		t.Fatal(err)
	}
	rt, err := c.ListTagsForResource(ctx, &kinesis.ListTagsForResourceInput{ResourceARN: aws.String(arn)})
	if err != nil || len(rt.Tags) != 2 || aws.ToString(rt.Tags[1].Key) != "z" || aws.ToString(rt.Tags[1].Value) != "26" {
		t.Fatalf("ListTagsForResource = %+v %v", rt, err)
	}
	tags, err := c.ListTagsForStream(ctx, &kinesis.ListTagsForStreamInput{StreamName: aws.String("orders"), Limit: aws.Int32(1)})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "a" || !aws.ToBool(tags.HasMoreTags) {
		t.Errorf("tags = %+v %v", tags, err)
	}
	sum, _ = c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("orders")})
	if s := sum.StreamDescriptionSummary; len(s.EnhancedMonitoring) != 1 || len(s.EnhancedMonitoring[0].ShardLevelMetrics) != 2 || aws.ToInt32(s.RetentionPeriodHours) != 48 || s.EncryptionType != types.EncryptionTypeKms || aws.ToString(s.KeyId) != "alias/aws/kinesis" {
		t.Errorf("summary after updates = %+v", s)
	}
	lim, err := c.DescribeLimits(ctx, &kinesis.DescribeLimitsInput{})
	if err != nil || aws.ToInt32(lim.OpenShardCount) != 6 || aws.ToInt32(lim.OnDemandStreamCount) != 1 || aws.ToInt32(lim.ShardLimit) != 500 {
		t.Errorf("limits = %+v %v", lim, err)
	}
	if _, err := c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamARN: aws.String("arn:aws:kinesis:eu-west-1:123456789012:stream/b2")}); err != nil {
		t.Fatal(err)
	}
}

func TestTypedErrors(t *testing.T) {
	env := newEnv(t, func(o *engine.Options) { o.MaxShards = 6 })
	ctx := context.Background()
	c := env.client
	env.create(t, "s", 2)
	_, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("nope")})
	errCase[*types.ResourceNotFoundException](t, "describe missing", err, "Stream nope under account 123456789012 not found.")
	_, err = c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(1)})
	errCase[*types.ResourceInUseException](t, "create twice", err, "Stream s under account 123456789012 already exists.")
	_, err = c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("bad name!"), ShardCount: aws.Int32(1)})
	errCase[*types.ValidationException](t, "bad name", err, "1 validation error detected: Value 'bad name!' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
	_, err = c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("big"), ShardCount: aws.Int32(5)})
	errCase[*types.LimitExceededException](t, "shard limit", err, "")
	_, err = c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String("1")})
	errCase[*types.InvalidArgumentException](t, "bad sequence", err, "")
	_, err = c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")})
	errCase[*types.InvalidArgumentException](t, "forged iterator", err, "Invalid ShardIterator.")
	_, err = c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String(""), Data: []byte("x")})
	errCase[*types.ValidationException](t, "empty key", err, "1 validation error detected: Value '' at 'partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1")
	_, err = c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: []types.PutRecordsRequestEntry{{PartitionKey: aws.String("k"), Data: []byte("x"), ExplicitHashKey: aws.String("-1")}}})
	errCase[*types.ValidationException](t, "bad hash key", err, "1 validation error detected: Value '-1' at 'records.1.member.explicitHashKey' failed to satisfy constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})")
	_, err = c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("0")})
	errCase[*types.InvalidArgumentException](t, "split at start", err, "")
	_, err = c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamARN: aws.String("arn:aws:kinesis:eu-west-1:999999999999:stream/s")})
	errCase[*types.ResourceNotFoundException](t, "other account", err, "Stream s under account 999999999999 not found.")
	_, err = c.ListShards(ctx, &kinesis.ListShardsInput{NextToken: aws.String("garbage")})
	errCase[*types.InvalidArgumentException](t, "bad next token", err, "")
	_, err = c.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String("arn:aws:kinesis:eu-west-1:123456789012:stream/s/consumer/x:1")})
	errCase[*types.ResourceNotFoundException](t, "missing consumer", err, "")
}

func TestPutAndGet(t *testing.T) {
	env := newEnv(t, nil)
	ctx := context.Background()
	c := env.client
	env.create(t, "s", 2)
	pr, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("a"), Data: []byte("first"), ExplicitHashKey: aws.String("0")})
	if err != nil || aws.ToString(pr.ShardId) != "shardId-000000000000" || len(aws.ToString(pr.SequenceNumber)) != 56 {
		t.Fatalf("PutRecord = %+v %v", pr, err)
	}
	var entries []types.PutRecordsRequestEntry
	for i := range 300 {
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint("k", i%10)), Data: []byte(fmt.Sprint(i))})
	}
	prs, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamARN: aws.String("arn:aws:kinesis:eu-west-1:123456789012:stream/s"), Records: entries})
	if err != nil || aws.ToInt32(prs.FailedRecordCount) != 0 || len(prs.Records) != 300 {
		t.Fatalf("PutRecords = %+v %v", prs, err)
	}
	total := 0
	for _, shard := range []string{"shardId-000000000000", "shardId-000000000001"} {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for {
			gr, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(50)})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range gr.Records {
				if r.ApproximateArrivalTimestamp == nil || len(aws.ToString(r.SequenceNumber)) != 56 {
					t.Fatalf("record %+v", r)
				}
			}
			total += len(gr.Records)
			if len(gr.Records) == 0 {
				break
			}
			iter = gr.NextShardIterator
		}
	}
	if total != 301 {
		t.Errorf("read %d records, want 301", total)
	}
	// AT_SEQUENCE_NUMBER on the first record returns it.
	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: pr.ShardId, ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: pr.SequenceNumber})
	if err != nil {
		t.Fatal(err)
	}
	gr, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: aws.Int32(1)})
	if err != nil || len(gr.Records) != 1 || string(gr.Records[0].Data) != "first" || aws.ToString(gr.Records[0].PartitionKey) != "a" {
		t.Fatalf("AT_SEQUENCE_NUMBER = %+v %v", gr, err)
	}
	// AT_TIMESTAMP in the past reads from the start.
	it, err = c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: pr.ShardId, ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(time.Now().Add(-time.Minute))})
	if err != nil {
		t.Fatal(err)
	}
	gr, err = c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: aws.Int32(1)})
	if err != nil || len(gr.Records) != 1 || string(gr.Records[0].Data) != "first" {
		t.Fatalf("AT_TIMESTAMP = %+v %v", gr, err)
	}
}

func TestReshardOverWire(t *testing.T) {
	env := newEnv(t, nil)
	ctx := context.Background()
	c := env.client
	env.create(t, "s", 2)
	if _, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("a"), Data: []byte("x"), ExplicitHashKey: aws.String("5")}); err != nil {
		t.Fatal(err)
	}
	it, _ := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if _, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("1000")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String("s"), ShardToMerge: aws.String("shardId-000000000003"), AdjacentShardToMerge: aws.String("shardId-000000000001")}); err != nil {
		t.Fatal(err)
	}
	us, err := c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("s"), TargetShardCount: aws.Int32(4), ScalingType: types.ScalingTypeUniformScaling})
	if err != nil || aws.ToInt32(us.CurrentShardCount) != 2 || aws.ToInt32(us.TargetShardCount) != 4 {
		t.Fatalf("UpdateShardCount = %+v %v", us, err)
	}
	gr, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	if len(gr.Records) != 1 || gr.NextShardIterator != nil || len(gr.ChildShards) != 2 {
		t.Fatalf("end of closed shard: %d records, next %v, children %+v", len(gr.Records), gr.NextShardIterator, gr.ChildShards)
	}
	if aws.ToString(gr.ChildShards[0].ShardId) != "shardId-000000000002" || gr.ChildShards[1].ParentShards[0] != "shardId-000000000000" {
		t.Errorf("children = %+v", gr.ChildShards)
	}
	tests := []struct {
		filter types.ShardFilterType
		want   int
	}{
		{types.ShardFilterTypeAtLatest, 4},
		{types.ShardFilterTypeFromTrimHorizon, 9},
		{types.ShardFilterTypeAtTrimHorizon, 2},
	}
	for _, tt := range tests {
		ls, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("s"), ShardFilter: &types.ShardFilter{Type: tt.filter}})
		if err != nil || len(ls.Shards) != tt.want {
			t.Errorf("ListShards %s: %d shards %v, want %d", tt.filter, len(ls.Shards), err, tt.want)
		}
	}
	// Pagination with MaxResults follows the NextToken.
	var ids []string
	ls, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("s"), MaxResults: aws.Int32(4)})
	for err == nil {
		for _, s := range ls.Shards {
			ids = append(ids, aws.ToString(s.ShardId))
		}
		if ls.NextToken == nil {
			break
		}
		ls, err = c.ListShards(ctx, &kinesis.ListShardsInput{NextToken: ls.NextToken, MaxResults: aws.Int32(4)})
	}
	if err != nil || len(ids) != 9 || ids[8] != "shardId-000000000008" {
		t.Errorf("paged ListShards = %v %v", ids, err)
	}
}

// stepClock is a clock that moves only when told.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestThrottling(t *testing.T) {
	clk := &stepClock{t: time.Now()}
	env := newEnv(t, func(o *engine.Options) { o.Limits = engine.DefaultLimits(); o.Now = clk.Now })
	ctx := context.Background()
	env.create(t, "s", 1)
	// No retries here: the throttling errors themselves are under test.
	c := kinesis.New(env.client.Options(), func(o *kinesis.Options) { o.Retryer = aws.NopRetryer{} })
	var entries []types.PutRecordsRequestEntry
	for range 500 {
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: []byte("x")})
	}
	failed := int32(0)
	for range 3 {
		out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: entries})
		if err != nil {
			t.Fatal(err)
		}
		failed += aws.ToInt32(out.FailedRecordCount)
		for _, r := range out.Records {
			if r.ErrorCode != nil && (aws.ToString(r.ErrorCode) != "ProvisionedThroughputExceededException" || r.SequenceNumber != nil || !strings.HasPrefix(aws.ToString(r.ErrorMessage), "Rate exceeded for shard shardId-000000000000 in stream s under account 123456789012.")) {
				t.Fatalf("failed entry %+v", r)
			}
		}
	}
	if failed != 500 {
		t.Errorf("%d of 1500 records throttled, want 500 (1000 records/s per shard)", failed)
	}
	// 1 MiB/s in: of two 700 KB records the second is throttled.
	clk.Add(time.Second)
	var err error
	for range 2 {
		_, err = c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: make([]byte, 700<<10)})
	}
	errCase[*types.ProvisionedThroughputExceededException](t, "PutRecord over the limit", err, "")
	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeLatest})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; n < 10; n++ {
		if _, err = c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator}); err != nil {
			break
		}
	}
	if n != 5 {
		t.Errorf("%d GetRecords before throttling, want 5", n)
	}
	errCase[*types.ProvisionedThroughputExceededException](t, "GetRecords over 5/s", err, "")
}

// TestMaxSizes puts the largest requests Kinesis allows through Middleware
// and the Handler: a 1 MiB record and a 5 MiB PutRecords.
func TestMaxSizes(t *testing.T) {
	env := newEnv(t, nil)
	ctx := context.Background()
	env.create(t, "big", 1)
	if _, err := env.client.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("big"), PartitionKey: aws.String("k"), Data: make([]byte, 1<<20-1)}); err != nil {
		t.Fatal(err)
	}
	var entries []types.PutRecordsRequestEntry
	for i := range 500 {
		pk := fmt.Sprintf("%0256d", i)
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(pk), Data: make([]byte, (5<<20)/500-256)})
	}
	out, err := env.client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("big"), Records: entries})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("5 MiB PutRecords: %v", err)
	}
	entries[0].Data = make([]byte, len(entries[0].Data)+400) // 5 MiB + 20 bytes
	_, err = env.client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("big"), Records: entries})
	errCase[*types.InvalidArgumentException](t, "over 5 MiB", err, "Records size (5242900 bytes) exceeds the limit of 5242880 bytes.")
}

// TestListStreamsVisible: Visible hides streams from ListStreams before
// paging, so every page is full and the pages together list exactly the
// visible streams.
func TestListStreamsVisible(t *testing.T) {
	env := newEnv(t, nil)
	var prefix atomic.Value // set between requests, read by the server's goroutines
	prefix.Store("")
	env.handler.Visible = func(_ context.Context, name string) bool { return strings.HasPrefix(name, prefix.Load().(string)) }
	for _, name := range []string{"a1", "b1", "a2", "b2", "a3"} {
		if _, err := env.client.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
			t.Fatal(err)
		}
	}
	prefix.Store("a")
	var names []string
	pages := 0
	p := kinesis.NewListStreamsPaginator(env.client, &kinesis.ListStreamsInput{Limit: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		names = append(names, out.StreamNames...)
	}
	if strings.Join(names, ",") != "a1,a2,a3" || pages != 2 {
		t.Fatalf("%d pages listing %q, want a1,a2,a3 in 2", pages, names)
	}
	prefix.Store("none")
	out, err := env.client.ListStreams(t.Context(), &kinesis.ListStreamsInput{})
	if err != nil || len(out.StreamNames) != 0 || aws.ToBool(out.HasMoreStreams) {
		t.Fatalf("nothing visible: %v %v", out, err)
	}
}
