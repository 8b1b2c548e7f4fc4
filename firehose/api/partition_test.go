package api

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/kinedge/kinedge/firehose"
	"github.com/kinedge/kinedge/testdata/s3test"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// partitionedConf is an extended S3 destination with dynamic
// partitioning on customer_id and the device's id.
func partitionedConf(bucket string) *types.ExtendedS3DestinationConfiguration {
	conf := s3conf(bucket, 64, 1, types.CompressionFormatGzip)
	conf.Prefix = aws.String("customer_id=!{partitionKeyFromQuery:customer_id}/device=!{partitionKeyFromQuery:device}/!{timestamp:yyyy}/")
	conf.ErrorOutputPrefix = aws.String("errors/!{firehose:error-output-type}/")
	conf.DynamicPartitioningConfiguration = &types.DynamicPartitioningConfiguration{Enabled: aws.Bool(true),
		RetryOptions: &types.RetryOptions{DurationInSeconds: aws.Int32(600)}}
	conf.ProcessingConfiguration = &types.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []types.Processor{
		{Type: types.ProcessorTypeMetadataExtraction, Parameters: []types.ProcessorParameter{
			{ParameterName: types.ProcessorParameterNameMetadataExtractionQuery, ParameterValue: aws.String("{customer_id: .customer_id, device: .device.id}")},
			{ParameterName: types.ProcessorParameterNameJsonParsingEngine, ParameterValue: aws.String("JQ-1.6")}}},
		{Type: types.ProcessorTypeAppendDelimiterToRecord},
	}}
	return conf
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSDKDynamicPartitioning: a stream with dynamic partitioning created
// with the SDK, described back; records put with PutRecordBatch land on
// versitygw one GZIP object per partition, byte for byte, and the
// records whose keys cannot be extracted under the error prefix
// (partitioning-failed) as AWS writes them; AWS's rules refused with
// InvalidArgumentException.
func TestSDKDynamicPartitioning(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket("parts")
	s3, err := firehose.NewS3(firehose.S3Config{Endpoint: srv.Endpoint(), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	env := newEnv(t, s3, nil)
	ctx := context.Background()
	if _, err := env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("dp"), ExtendedS3DestinationConfiguration: partitionedConf("parts"),
	}); err != nil {
		t.Fatal(err)
	}
	desc, err := env.client.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("dp")})
	if err != nil {
		t.Fatal(err)
	}
	ext := desc.DeliveryStreamDescription.Destinations[0].ExtendedS3DestinationDescription
	if dp := ext.DynamicPartitioningConfiguration; dp == nil || !aws.ToBool(dp.Enabled) || dp.RetryOptions == nil ||
		aws.ToInt32(dp.RetryOptions.DurationInSeconds) != 600 || len(ext.ProcessingConfiguration.Processors) != 2 {
		t.Fatalf("described %+v", ext)
	}

	var recs []types.Record
	want := map[string][]byte{}
	for i := range 50 {
		c, dev := fmt.Sprintf("cust-%d", i%3), fmt.Sprintf("d%d", i%2)
		r := fmt.Appendf(nil, `{"customer_id":%q,"device":{"id":%q},"n":%d}`, c, dev, i)
		recs = append(recs, types.Record{Data: r})
		p := fmt.Sprintf("customer_id=%s/device=%s/", c, dev)
		want[p] = append(append(want[p], r...), '\n')
	}
	bad := [][]byte{[]byte("plain text"), []byte(`{"customer_id":"cust-1"}`), []byte(`{"customer_id":["x"],"device":{"id":"d1"}}`)}
	for _, b := range bad {
		recs = append(recs, types.Record{Data: b})
	}
	if out, err := env.client.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("dp"), Records: recs}); err != nil || aws.ToInt32(out.FailedPutCount) != 0 {
		t.Fatalf("%+v %v", out, err)
	}
	testtool.WaitFor(t, "the spool to empty", func() bool { return env.engine.Stats().SpoolRecords == 0 })
	objs := srv.Objects("parts")
	if len(objs) != len(want)+1 {
		t.Fatalf("%d objects, want %d partitions and one error object", len(objs), len(want))
	}
	got := map[string]int{}
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".gz") || !strings.Contains(o.Key, "/dp-1-") {
			t.Errorf("key %q", o.Key)
		}
		if strings.HasPrefix(o.Key, "errors/partitioning-failed/") {
			sc := bufio.NewScanner(bytes.NewReader(gunzip(t, o.Body)))
			i := 0
			for ; sc.Scan(); i++ {
				var f struct {
					ErrorCode, ErrorMessage string
					RawData                 []byte
					ArrivalTimestamp        int64
				}
				if err := json.Unmarshal(sc.Bytes(), &f); err != nil || i >= len(bad) || !bytes.Equal(f.RawData, bad[i]) ||
					f.ErrorCode != "DynamicPartitioning.MetadataExtractionFailed" || f.ErrorMessage == "" || f.ArrivalTimestamp == 0 {
					t.Errorf("error record %d: %s (%v)", i, sc.Bytes(), err)
				}
			}
			if i != len(bad) {
				t.Errorf("%d error records, want %d", i, len(bad))
			}
			continue
		}
		for p, body := range want {
			if strings.HasPrefix(o.Key, p) {
				got[p]++
				if back := gunzip(t, o.Body); !bytes.Equal(back, body) {
					t.Errorf("%s: %q, want %q", o.Key, back, body)
				}
			}
		}
	}
	for p := range want {
		if got[p] != 1 {
			t.Errorf("%s: %d objects", p, got[p])
		}
	}

	// AWS's rules.
	for msg, change := range map[string]func(c *types.ExtendedS3DestinationConfiguration){
		"ErrorOutputPrefix cannot be null or empty": func(c *types.ExtendedS3DestinationConfiguration) { c.ErrorOutputPrefix = nil },
		"at least 64": func(c *types.ExtendedS3DestinationConfiguration) { c.BufferingHints.SizeInMBs = aws.Int32(32) },
		"subset of jq": func(c *types.ExtendedS3DestinationConfiguration) {
			c.ProcessingConfiguration.Processors[0].Parameters[0].ParameterValue = aws.String(".customer_id")
		},
		"is not enabled": func(c *types.ExtendedS3DestinationConfiguration) {
			c.DynamicPartitioningConfiguration.Enabled = aws.Bool(false)
		},
		"defines no key": func(c *types.ExtendedS3DestinationConfiguration) {
			c.Prefix = aws.String("!{partitionKeyFromQuery:city}/")
		},
		"durationInSeconds": func(c *types.ExtendedS3DestinationConfiguration) {
			c.DynamicPartitioningConfiguration.RetryOptions.DurationInSeconds = aws.Int32(7201)
		},
	} {
		conf := partitionedConf("parts")
		change(conf)
		_, err := env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("bad"), ExtendedS3DestinationConfiguration: conf})
		apiErr(t, err, "InvalidArgumentException", 400, msg)
	}
	_, err = env.client.UpdateDestination(ctx, &fh.UpdateDestinationInput{DeliveryStreamName: aws.String("dp"),
		CurrentDeliveryStreamVersionId: aws.String("1"), DestinationId: aws.String("destinationId-000000000001"),
		ExtendedS3DestinationUpdate: &types.ExtendedS3DestinationUpdate{
			DynamicPartitioningConfiguration: &types.DynamicPartitioningConfiguration{Enabled: aws.Bool(false)},
			Prefix:                           aws.String("flat/")}})
	apiErr(t, err, "InvalidArgumentException", 400, "existing delivery stream")
}
