package main

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	fh "github.com/aws/aws-sdk-go-v2/service/firehose"

	"github.com/kinedge/kinedge/testdata/s3test"
)

// TestFirehoseFromKinesisStream: a KinesisStreamAsSource delivery stream
// reads a data stream of the appliance (the SDK's Kinesis client puts,
// its Firehose client creates) from LATEST: records put before the
// delivery stream are not delivered, those after are, once each, across a
// kill -9 of the appliance (the checkpoint is committed with the
// records).
func TestFirehoseFromKinesisStream(t *testing.T) {
	s3 := s3test.Start(t)
	s3.MakeBucket("fromks")
	s := startServer(t, t.TempDir(), freeUDPPair(t),
		"KINEDGE_S3_ENDPOINT="+s3.Endpoint(), "KINEDGE_S3_ACCESS_KEY="+s3test.AccessKey, "KINEDGE_S3_SECRET_KEY="+s3test.SecretKey)
	ctx := t.Context()
	kc, fc := s.kinesisClient("adminsecret"), s.firehoseClient()
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("events"), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	put := func(tag string, n int) {
		t.Helper()
		recs := make([]ktypes.PutRecordsRequestEntry, n)
		for i := range recs {
			recs[i] = ktypes.PutRecordsRequestEntry{Data: fmt.Appendf(nil, "%s-%02d\n", tag, i), PartitionKey: aws.String(fmt.Sprint(i))}
		}
		out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("events"), Records: recs})
		if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
			t.Fatalf("PutRecords: %+v %v", out, err)
		}
	}
	waitFor(t, time.Minute, "the data stream", func() error {
		out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("events")})
		if err != nil || out.StreamDescriptionSummary.StreamStatus != ktypes.StreamStatusActive {
			return fmt.Errorf("%v", err)
		}
		return nil
	})
	put("before", 10)
	if _, err := fc.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("ks"), DeliveryStreamType: types.DeliveryStreamTypeKinesisStreamAsSource,
		KinesisStreamSourceConfiguration: &types.KinesisStreamSourceConfiguration{
			KinesisStreamARN: aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/events"), RoleARN: aws.String("arn:aws:iam::000000000000:role/fh"),
		},
		ExtendedS3DestinationConfiguration: &types.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::fromks"), RoleARN: aws.String("arn:aws:iam::000000000000:role/fh"),
			BufferingHints: &types.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)},
		},
	}); err != nil {
		t.Fatal(err)
	}
	desc, err := fc.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("ks")})
	if err != nil || desc.DeliveryStreamDescription.DeliveryStreamType != types.DeliveryStreamTypeKinesisStreamAsSource ||
		desc.DeliveryStreamDescription.Source == nil || aws.ToString(desc.DeliveryStreamDescription.Source.KinesisStreamSourceDescription.KinesisStreamARN) == "" {
		t.Fatalf("describe: %+v %v", desc, err)
	}
	for typ, n := range map[types.DeliveryStreamType]int{types.DeliveryStreamTypeKinesisStreamAsSource: 1, types.DeliveryStreamTypeDirectPut: 0} {
		out, err := fc.ListDeliveryStreams(ctx, &fh.ListDeliveryStreamsInput{DeliveryStreamType: typ})
		if err != nil || len(out.DeliveryStreamNames) != n {
			t.Fatalf("list %s: %+v %v", typ, out, err)
		}
	}
	if _, err := fc.PutRecord(ctx, &fh.PutRecordInput{DeliveryStreamName: aws.String("ks"), Record: &types.Record{Data: []byte("x")}}); err == nil {
		t.Fatal("PutRecord to a KinesisStreamAsSource stream succeeded")
	}
	delivered := func() []byte {
		var all []byte
		for _, o := range s3.Objects("fromks") {
			all = append(all, o.Body...)
		}
		return all
	}
	var want []byte
	for i := range 30 {
		want = fmt.Appendf(want, "after-%02d\n", i)
	}
	put("after", 30)
	waitFor(t, time.Minute, "the records put after", func() error {
		if got := delivered(); len(got) != len(want) {
			return fmt.Errorf("bucket holds %d bytes of %d", len(got), len(want))
		}
		return nil
	})
	s.kill()
	s.start()
	for i := range 5 {
		want = fmt.Appendf(want, "restart-%02d\n", i)
	}
	put("restart", 5)
	waitFor(t, time.Minute, "the records put after the restart", func() error {
		if got := delivered(); len(got) != len(want) {
			return fmt.Errorf("bucket holds %d bytes of %d: %q", len(got), len(want), got)
		}
		return nil
	})
	got := delivered()
	if bytes.Contains(got, []byte("before")) {
		t.Fatalf("LATEST delivered records put before: %q", got)
	}
	for _, line := range bytes.SplitAfter(want, []byte("\n")) {
		if len(line) > 0 && bytes.Count(got, line) != 1 {
			t.Fatalf("record %q delivered %d times", line, bytes.Count(got, line))
		}
	}
}
