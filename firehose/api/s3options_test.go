package api

import (
	"context"
	"fmt"
	"regexp"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/kinedge/kinedge/firehose"
	"github.com/kinedge/kinedge/testdata/s3test"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestSDKS3Options: prefix expressions, CustomTimeZone, FileExtension and
// AppendDelimiterToRecord set with the SDK, described back, and the
// object read back from versitygw; AWS's prefix rules refused.
func TestSDKS3Options(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket("optbucket")
	s3, err := firehose.NewS3(firehose.S3Config{Endpoint: srv.Endpoint(), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	env := newEnv(t, s3, nil)
	ctx := context.Background()
	conf := s3conf("optbucket", 1, 0, types.CompressionFormatUncompressed)
	conf.Prefix = aws.String("dt=!{timestamp:yyyy-MM-dd}/r=!{firehose:random-string}/")
	conf.ErrorOutputPrefix = aws.String("errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/")
	conf.CustomTimeZone = aws.String("Pacific/Kiritimati") // UTC+14: a day ahead most of the time
	conf.FileExtension = aws.String(".ndjson")
	conf.ProcessingConfiguration = &types.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []types.Processor{
		{Type: types.ProcessorTypeAppendDelimiterToRecord},
	}}
	if _, err := env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("opts"), ExtendedS3DestinationConfiguration: conf,
	}); err != nil {
		t.Fatal(err)
	}
	desc, err := env.client.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("opts")})
	if err != nil {
		t.Fatal(err)
	}
	ext := desc.DeliveryStreamDescription.Destinations[0].ExtendedS3DestinationDescription
	if aws.ToString(ext.Prefix) != *conf.Prefix || aws.ToString(ext.ErrorOutputPrefix) != *conf.ErrorOutputPrefix ||
		aws.ToString(ext.CustomTimeZone) != "Pacific/Kiritimati" || aws.ToString(ext.FileExtension) != ".ndjson" ||
		ext.ProcessingConfiguration == nil || !aws.ToBool(ext.ProcessingConfiguration.Enabled) ||
		len(ext.ProcessingConfiguration.Processors) != 1 || ext.ProcessingConfiguration.Processors[0].Type != types.ProcessorTypeAppendDelimiterToRecord {
		t.Fatalf("described %+v", ext)
	}
	recs := make([]types.Record, 20)
	var want []byte
	for i := range recs {
		recs[i].Data = fmt.Appendf(nil, `{"n":%d}`, i)
		want = append(append(want, recs[i].Data...), '\n')
	}
	if out, err := env.client.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("opts"), Records: recs}); err != nil || aws.ToInt32(out.FailedPutCount) != 0 {
		t.Fatalf("%+v %v", out, err)
	}
	testtool.WaitFor(t, "the spool to empty", func() bool { return env.engine.Stats().SpoolRecords == 0 })
	objs := srv.Objects("optbucket")
	if len(objs) != 1 {
		t.Fatalf("%d objects", len(objs))
	}
	key := regexp.MustCompile(`^dt=(\d{4}-\d\d-\d\d)/r=[0-9a-f]{8}-[0-9a-f]{2}/opts-1-(\d{4}-\d\d-\d\d)-\d\d-\d\d-\d\d-[0-9a-f-]{36}\.ndjson$`)
	m := key.FindStringSubmatch(objs[0].Key)
	if m == nil || m[1] != m[2] {
		t.Fatalf("key %q", objs[0].Key)
	}
	if string(objs[0].Body) != string(want) {
		t.Fatalf("body %q, want %q", objs[0].Body, want)
	}

	for _, c := range []struct {
		prefix, errPrefix, msg string
	}{
		{"a/!{timestamp:yyyy}/", "", "ErrorOutputPrefix cannot be null"},
		{"a/!{firehose:error-output-type}/", "e/!{firehose:error-output-type}/", "Prefix cannot contain"},
		{"a/", "e/!{timestamp:yyyy}/", "must contain !{firehose:error-output-type}"},
	} {
		conf := s3conf("optbucket", 1, 0, types.CompressionFormatGzip)
		conf.Prefix, conf.ErrorOutputPrefix = aws.String(c.prefix), aws.String(c.errPrefix)
		_, err := env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("bad"), ExtendedS3DestinationConfiguration: conf})
		apiErr(t, err, "InvalidArgumentException", 400, c.msg)
	}
	conf = s3conf("optbucket", 1, 0, types.CompressionFormatGzip)
	conf.FileExtension = aws.String("gz")
	_, err = env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("bad"), ExtendedS3DestinationConfiguration: conf})
	apiErr(t, err, "InvalidArgumentException", 400, "FileExtension")
}

// TestSDKLambdaProcessor: a Lambda processor whose LambdaArn is the URL
// of a transformation endpoint is accepted and described; an ARN that is
// not a URL is refused, saying why.
func TestSDKLambdaProcessor(t *testing.T) {
	env := newEnv(t, nullDest{}, nil)
	ctx := context.Background()
	conf := s3conf("lambdabkt", 1, 60, types.CompressionFormatGzip)
	conf.ErrorOutputPrefix = aws.String("failed/")
	conf.ProcessingConfiguration = &types.ProcessingConfiguration{Enabled: aws.Bool(true), Processors: []types.Processor{{
		Type: types.ProcessorTypeLambda,
		Parameters: []types.ProcessorParameter{
			{ParameterName: types.ProcessorParameterNameLambdaArn, ParameterValue: aws.String("http://127.0.0.1:9/transform")},
			{ParameterName: types.ProcessorParameterNameLambdaNumberOfRetries, ParameterValue: aws.String("1")},
		},
	}}}
	if _, err := env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("lam"), ExtendedS3DestinationConfiguration: conf}); err != nil {
		t.Fatal(err)
	}
	out, err := env.client.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("lam")})
	if err != nil {
		t.Fatal(err)
	}
	pc := out.DeliveryStreamDescription.Destinations[0].ExtendedS3DestinationDescription.ProcessingConfiguration
	if pc == nil || len(pc.Processors) != 1 || pc.Processors[0].Type != types.ProcessorTypeLambda || len(pc.Processors[0].Parameters) != 2 ||
		aws.ToString(pc.Processors[0].Parameters[0].ParameterValue) != "http://127.0.0.1:9/transform" {
		t.Fatalf("described %+v", pc)
	}
	conf.ProcessingConfiguration.Processors[0].Parameters[0].ParameterValue = aws.String("arn:aws:lambda:eu-west-1:123456789012:function:f")
	_, err = env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("lam2"), ExtendedS3DestinationConfiguration: conf})
	apiErr(t, err, "InvalidArgumentException", 400, "URL of a transformation endpoint")
}

// TestSDKDestinationEncryption: NoEncryption is accepted, a KMS key for
// the objects is refused rather than ignored.
func TestSDKDestinationEncryption(t *testing.T) {
	env := newEnv(t, nullDest{}, nil)
	ctx := context.Background()
	conf := s3conf("encbkt", 1, 60, types.CompressionFormatGzip)
	conf.EncryptionConfiguration = &types.EncryptionConfiguration{NoEncryptionConfig: types.NoEncryptionConfigNoEncryption}
	if _, err := env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("ne"), ExtendedS3DestinationConfiguration: conf}); err != nil {
		t.Fatal(err)
	}
	conf.EncryptionConfiguration = &types.EncryptionConfiguration{KMSEncryptionConfig: &types.KMSEncryptionConfig{AWSKMSKeyARN: aws.String("arn:aws:kms:eu-west-1:123456789012:key/k")}}
	_, err := env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{DeliveryStreamName: aws.String("kms"), ExtendedS3DestinationConfiguration: conf})
	apiErr(t, err, "InvalidArgumentException", 400, "KMSEncryptionConfig")
}
