package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/smithy-go"
	"github.com/klauspost/compress/gzip"
	"go.uber.org/goleak"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/firehose"
	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/testdata/s3test"
	"github.com/kinedge/kinedge/testdata/testtool"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*defaultPolicy[...]).processItems"),
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*Cache[...]).processItems"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

const (
	testKey    = "AKIDKINEDGETEST"
	testSecret = "kinedge-test-secret"
)

type env struct {
	engine *firehose.Engine
	client *fh.Client
	url    string
}

// newEnv runs a Handler behind awsproto's SigV4 Middleware and returns an
// aws-sdk-go-v2 Firehose client for it (one attempt per call).
func newEnv(t testing.TB, dest firehose.Destination, tweak func(*firehose.Options)) *env {
	t.Helper()
	db, err := store.Open(store.Options{InMemory: true, MemTableSize: 8 << 20, BlockCacheSize: 1 << 20, IndexCacheSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := db.Space("f/")
	if err != nil {
		t.Fatal(err)
	}
	o := firehose.Options{Space: sp, Destination: dest, Region: "eu-west-1", AccountID: "123456789012",
		RetryMin: 10 * time.Millisecond, RetryMax: 200 * time.Millisecond}
	if tweak != nil {
		tweak(&o)
	}
	e, err := firehose.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{Engine: e}
	v := &awsproto.Verifier{Secret: func(k string) (string, bool) { return testSecret, k == testKey }, Service: "firehose"}
	srv := httptest.NewServer(awsproto.Middleware(v, h, 0))
	t.Cleanup(func() {
		srv.Close()
		e.Close()
		db.Close()
	})
	client := fh.New(fh.Options{
		BaseEndpoint: aws.String(srv.URL),
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider(testKey, testSecret, ""),
		Retryer:      retry.AddWithMaxAttempts(retry.NewStandard(), 1),
	})
	return &env{engine: e, client: client, url: srv.URL}
}

// nullDest accepts every object.
type nullDest struct{}

func (nullDest) Put(context.Context, string, string, []byte) error { return nil }

// downDest refuses every object.
type downDest struct{}

func (downDest) Put(context.Context, string, string, []byte) error { return errors.New("down") }

// apiErr checks err is the AWS error code with a message containing msg
// and HTTP status.
func apiErr(t *testing.T, err error, code string, status int, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want %s, got %v", code, err)
	}
	if ae.ErrorCode() != code || !strings.Contains(ae.ErrorMessage(), msg) {
		t.Fatalf("want %s %q, got %s %q", code, msg, ae.ErrorCode(), ae.ErrorMessage())
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() != status {
		t.Fatalf("%s: HTTP %d, want %d", code, re.HTTPStatusCode(), status)
	}
}

func s3conf(bucket string, sizeMB, interval int32, format types.CompressionFormat) *types.ExtendedS3DestinationConfiguration {
	return &types.ExtendedS3DestinationConfiguration{
		BucketARN:         aws.String("arn:aws:s3:::" + bucket),
		RoleARN:           aws.String("arn:aws:iam::123456789012:role/firehose"),
		BufferingHints:    &types.BufferingHints{SizeInMBs: aws.Int32(sizeMB), IntervalInSeconds: aws.Int32(interval)},
		CompressionFormat: format,
	}
}

func TestControlPlane(t *testing.T) {
	env := newEnv(t, nullDest{}, nil)
	ctx := context.Background()
	out, err := env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{
		DeliveryStreamName:                 aws.String("ds1"),
		DeliveryStreamType:                 types.DeliveryStreamTypeDirectPut,
		ExtendedS3DestinationConfiguration: s3conf("bucket1", 2, 60, types.CompressionFormatGzip),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.DeliveryStreamARN); got != "arn:aws:firehose:eu-west-1:123456789012:deliverystream/ds1" {
		t.Fatalf("ARN %q", got)
	}
	// The deprecated S3DestinationConfiguration is still accepted by AWS.
	_, err = env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("ds2"),
		//lint:ignore SA1019 the deprecated shape is still served
		S3DestinationConfiguration: &types.S3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::bucket2"), RoleARN: aws.String("arn:aws:iam::123456789012:role/r"),
			Prefix: aws.String("p/"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("ds1"), ExtendedS3DestinationConfiguration: s3conf("bucket1", 1, 0, ""),
	})
	apiErr(t, err, "ResourceInUseException", 400, "ds1")

	var desc *types.DeliveryStreamDescription
	testtool.WaitFor(t, "ACTIVE", func() bool {
		d, err := env.client.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("ds1")})
		if err != nil {
			t.Fatal(err)
		}
		desc = d.DeliveryStreamDescription
		return desc.DeliveryStreamStatus == types.DeliveryStreamStatusActive
	})
	if aws.ToString(desc.VersionId) != "1" || desc.DeliveryStreamType != types.DeliveryStreamTypeDirectPut || desc.CreateTimestamp == nil || len(desc.Destinations) != 1 {
		t.Fatalf("description %+v", desc)
	}
	ext := desc.Destinations[0].ExtendedS3DestinationDescription
	if ext == nil || aws.ToString(ext.BucketARN) != "arn:aws:s3:::bucket1" || ext.CompressionFormat != types.CompressionFormatGzip ||
		aws.ToInt32(ext.BufferingHints.SizeInMBs) != 2 || aws.ToInt32(ext.BufferingHints.IntervalInSeconds) != 60 {
		t.Fatalf("destination %+v", ext)
	}
	d2, err := env.client.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("ds2")})
	if err != nil {
		t.Fatal(err)
	}
	if s3 := d2.DeliveryStreamDescription.Destinations[0].S3DestinationDescription; aws.ToString(s3.Prefix) != "p/" ||
		aws.ToInt32(s3.BufferingHints.SizeInMBs) != 5 || aws.ToInt32(s3.BufferingHints.IntervalInSeconds) != 300 || s3.CompressionFormat != types.CompressionFormatUncompressed {
		t.Fatalf("defaults %+v", s3)
	}

	list, err := env.client.ListDeliveryStreams(ctx, &fh.ListDeliveryStreamsInput{Limit: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(list.DeliveryStreamNames) != "[ds1]" || !aws.ToBool(list.HasMoreDeliveryStreams) {
		t.Fatalf("list %+v", list)
	}
	list, err = env.client.ListDeliveryStreams(ctx, &fh.ListDeliveryStreamsInput{ExclusiveStartDeliveryStreamName: aws.String("ds1")})
	if err != nil || fmt.Sprint(list.DeliveryStreamNames) != "[ds2]" || aws.ToBool(list.HasMoreDeliveryStreams) {
		t.Fatalf("list after ds1: %+v %v", list, err)
	}

	if _, err := env.client.DeleteDeliveryStream(ctx, &fh.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String("ds1")}); err != nil {
		t.Fatal(err)
	}
	_, err = env.client.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("ds1")})
	apiErr(t, err, "ResourceNotFoundException", 400, "ds1")
	_, err = env.client.DeleteDeliveryStream(ctx, &fh.DeleteDeliveryStreamInput{DeliveryStreamName: aws.String("ds1")})
	apiErr(t, err, "ResourceNotFoundException", 400, "ds1")
}

func TestValidation(t *testing.T) {
	env := newEnv(t, nullDest{}, nil)
	ctx := context.Background()
	_, err := env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("bad name!"), ExtendedS3DestinationConfiguration: s3conf("b1x", 200, 1000, ""),
	})
	apiErr(t, err, "InvalidArgumentException", 400, "3 validation errors detected: Value 'bad name!' at 'deliveryStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
	apiErr(t, err, "InvalidArgumentException", 400, "Value '200' at 'extendedS3DestinationConfiguration.bufferingHints.sizeInMBs' failed to satisfy constraint: Member must have value less than or equal to 128")
	_, err = env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("k"), DeliveryStreamType: types.DeliveryStreamTypeKinesisStreamAsSource,
		ExtendedS3DestinationConfiguration: s3conf("b1x", 1, 1, ""),
	})
	apiErr(t, err, "InvalidArgumentException", 400, "KinesisStreamSourceConfiguration is required")
	_, err = env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("k"), DeliveryStreamType: types.DeliveryStreamTypeKinesisStreamAsSource,
		KinesisStreamSourceConfiguration: &types.KinesisStreamSourceConfiguration{
			KinesisStreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/s"), RoleARN: aws.String("arn:aws:iam::000000000000:role/r"),
		},
		ExtendedS3DestinationConfiguration: s3conf("b1x", 1, 1, ""),
	})
	apiErr(t, err, "InvalidArgumentException", 400, "no data streams")
	_, err = env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("m"), DeliveryStreamType: types.DeliveryStreamTypeMSKAsSource,
		ExtendedS3DestinationConfiguration: s3conf("b1x", 1, 1, ""),
	})
	apiErr(t, err, "InvalidArgumentException", 400, "only DirectPut and KinesisStreamAsSource")
	_, err = env.client.PutRecord(ctx, &fh.PutRecordInput{DeliveryStreamName: aws.String("nope"), Record: &types.Record{Data: []byte("x")}})
	apiErr(t, err, "ResourceNotFoundException", 400, "nope")
	_, err = env.client.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("nope"), Records: manyRecords(501)})
	apiErr(t, err, "InvalidArgumentException", 400, "at 'records' failed to satisfy constraint: Member must have length less than or equal to 500")
}

func TestNoS3Endpoint(t *testing.T) {
	env := newEnv(t, nil, nil)
	_, err := env.client.CreateDeliveryStream(context.Background(), &fh.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("x"), ExtendedS3DestinationConfiguration: s3conf("b1x", 1, 1, ""),
	})
	apiErr(t, err, "InvalidArgumentException", 400, "no S3 endpoint configured")
}

// TestPutRecordBatchPartialAndFull: an oversize record fails alone; a
// full spool is 503 ServiceUnavailableException.
func TestPutRecordBatchPartialAndFull(t *testing.T) {
	env := newEnv(t, downDest{}, func(o *firehose.Options) { o.SpoolBytes = 3 << 20 })
	ctx := context.Background()
	if _, err := env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("p"), ExtendedS3DestinationConfiguration: s3conf("b1x", 128, 900, ""),
	}); err != nil {
		t.Fatal(err)
	}
	recs := []types.Record{{Data: []byte("a")}, {Data: bytes.Repeat([]byte("x"), 1000<<10+1)}, {Data: []byte("c")}}
	out, err := env.client.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("p"), Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.FailedPutCount) != 1 || len(out.RequestResponses) != 3 {
		t.Fatalf("out %+v", out)
	}
	r := out.RequestResponses
	if r[0].RecordId == nil || r[2].RecordId == nil || r[1].RecordId != nil || aws.ToString(r[1].ErrorCode) != "InvalidArgumentException" || aws.ToString(r[1].ErrorMessage) == "" {
		t.Fatalf("responses %+v %+v %+v", r[0], r[1], r[2])
	}
	one, err := env.client.PutRecord(ctx, &fh.PutRecordInput{DeliveryStreamName: aws.String("p"), Record: &types.Record{Data: []byte("d")}})
	if err != nil || aws.ToString(one.RecordId) == "" || aws.ToBool(one.Encrypted) {
		t.Fatalf("PutRecord %+v %v", one, err)
	}
	_, err = env.client.PutRecord(ctx, &fh.PutRecordInput{DeliveryStreamName: aws.String("p"), Record: &types.Record{Data: bytes.Repeat([]byte("x"), 1000<<10+1)}})
	apiErr(t, err, "InvalidArgumentException", 400, "Member must have length less than or equal to 1024000")

	big := make([]types.Record, 4)
	for i := range big {
		big[i] = types.Record{Data: bytes.Repeat([]byte{byte(i)}, 900<<10)}
	}
	_, err = env.client.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("p"), Records: big})
	apiErr(t, err, "ServiceUnavailableException", 503, "spool is full")
	if st := env.engine.Stats(); st.SpoolRecords != 3 || st.RefusedFull != 4 {
		t.Fatalf("stats %+v", st)
	}
}

func TestStoreFullIs503(t *testing.T) {
	ae, known := awsError(fmt.Errorf("firehose: put x: %w", fmt.Errorf("%w: 1 GiB used of a 1 GiB budget", store.ErrFull)))
	if !known || ae.Type != awsproto.ServiceUnavailableException || ae.HTTPStatus() != http.StatusServiceUnavailable || !strings.Contains(ae.Message, "storage full") {
		t.Fatalf("store.ErrFull → %+v", ae)
	}
}

// TestSDKToVersitygw: records put with the SDK are read back from
// versitygw with minio-go, GZIP-decompressed, byte for byte.
func TestSDKToVersitygw(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket("sdkbucket")
	s3, err := firehose.NewS3(firehose.S3Config{Endpoint: srv.Endpoint(), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	env := newEnv(t, s3, nil)
	ctx := context.Background()
	if _, err := env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("sdk"), ExtendedS3DestinationConfiguration: s3conf("sdkbucket", 1, 0, types.CompressionFormatGzip),
	}); err != nil {
		t.Fatal(err)
	}
	var want []byte
	recs := make([]types.Record, 100)
	for i := range recs {
		recs[i] = types.Record{Data: fmt.Appendf(nil, `{"n":%d}`+"\n", i)}
		want = append(want, recs[i].Data...)
	}
	out, err := env.client.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("sdk"), Records: recs})
	if err != nil || aws.ToInt32(out.FailedPutCount) != 0 {
		t.Fatalf("%+v %v", out, err)
	}
	testtool.WaitFor(t, "the spool to empty", func() bool { return env.engine.Stats().SpoolRecords == 0 })
	var got []byte
	for _, o := range srv.Objects("sdkbucket") {
		if !strings.Contains(o.Key, "/sdk-1-") || !strings.HasSuffix(o.Key, ".gz") {
			t.Errorf("key %q", o.Key)
		}
		zr, err := gzip.NewReader(bytes.NewReader(o.Body))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if _, err := b.ReadFrom(zr); err != nil {
			t.Fatal(err)
		}
		got = append(got, b.Bytes()...)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read back %q, want %q", got, want)
	}
}

func manyRecords(n int) []types.Record {
	r := make([]types.Record, n)
	for i := range r {
		r[i].Data = []byte{'x'}
	}
	return r
}
