package main

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/klauspost/compress/gzip"

	"github.com/kinedge/kinedge/testdata/s3test"
)

func (s *server) firehoseClient() *fh.Client {
	return fh.New(fh.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + s.httpAddr),
		Credentials:  credentials.NewStaticCredentialsProvider("admin", "adminsecret", ""),
	})
}

// TestFirehoseToS3AcrossOutageAndRestart: the AWS SDK's Firehose client
// against the appliance, versitygw as its S3 server. Records put while
// the S3 server is down are acknowledged, survive a kill -9 of the
// appliance, and arrive exactly once when both are back.
func TestFirehoseToS3AcrossOutageAndRestart(t *testing.T) {
	s3 := s3test.Start(t)
	s3.MakeBucket("archive")
	s := startServer(t, t.TempDir(), freeUDPPair(t),
		"KINEDGE_S3_ENDPOINT="+s3.Endpoint(), "KINEDGE_S3_ACCESS_KEY="+s3test.AccessKey, "KINEDGE_S3_SECRET_KEY="+s3test.SecretKey)
	ctx := t.Context()
	fc := s.firehoseClient()
	if _, err := fc.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("logs"),
		ExtendedS3DestinationConfiguration: &types.ExtendedS3DestinationConfiguration{
			BucketARN: aws.String("arn:aws:s3:::archive"), RoleARN: aws.String("arn:aws:iam::000000000000:role/fh"),
			BufferingHints:    &types.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(0)},
			CompressionFormat: types.CompressionFormatGzip,
		},
	}); err != nil {
		t.Fatal(err)
	}
	var want []byte
	put := func(tag string) {
		t.Helper()
		recs := make([]types.Record, 20)
		for i := range recs {
			recs[i].Data = fmt.Appendf(nil, "%s-%02d\n", tag, i)
			want = append(want, recs[i].Data...)
		}
		out, err := fc.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("logs"), Records: recs})
		if err != nil || aws.ToInt32(out.FailedPutCount) != 0 {
			t.Fatalf("PutRecordBatch: %+v %v", out, err)
		}
	}
	delivered := func() []byte {
		var all []byte
		for _, o := range s3.Objects("archive") {
			zr, err := gzip.NewReader(bytes.NewReader(o.Body))
			if err != nil {
				t.Fatalf("%s: %v", o.Key, err)
			}
			b, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("%s: %v", o.Key, err)
			}
			all = append(all, b...)
		}
		return all
	}
	put("first")
	waitFor(t, time.Minute, "the first records in the bucket", func() error {
		if got := delivered(); !bytes.Equal(got, want) {
			return fmt.Errorf("bucket holds %q", got)
		}
		return nil
	})

	// S3 down: records are still acknowledged (spooled durably); the
	// appliance is then killed (SIGKILL: no shutdown) while its batch waits.
	s3.Stop()
	put("outage")
	waitFor(t, time.Minute, "a failed upload", func() error {
		if m := s.scrape(t); m["kinedge_firehose_upload_failures_total"] < 1 || m["kinedge_firehose_spool_records"] != 20 {
			return fmt.Errorf("failures %v, spool %v", m["kinedge_firehose_upload_failures_total"], m["kinedge_firehose_spool_records"])
		}
		return nil
	})
	s.kill()
	s3.Restart()
	s.start()
	waitFor(t, time.Minute, "every record once", func() error {
		got := delivered()
		if len(got) != len(want) {
			return fmt.Errorf("bucket holds %d bytes of %d", len(got), len(want))
		}
		return nil
	})
	got := delivered()
	for _, line := range bytes.SplitAfter(want, []byte("\n")) {
		if len(line) > 0 && bytes.Count(got, line) != 1 {
			t.Fatalf("record %q delivered %d times", line, bytes.Count(got, line))
		}
	}
	// The restarted appliance counts what it delivered; the backlog is gone.
	waitFor(t, time.Minute, "the metrics", func() error {
		m := s.scrape(t)
		if m["kinedge_firehose_spool_records"] != 0 || m["kinedge_firehose_objects_total"] < 1 || m["kinedge_firehose_delivery_streams"] != 1 {
			return fmt.Errorf("firehose metrics: spool_records %v objects_total %v delivery_streams %v",
				m["kinedge_firehose_spool_records"], m["kinedge_firehose_objects_total"], m["kinedge_firehose_delivery_streams"])
		}
		return nil
	})
}
