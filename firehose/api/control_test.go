package api

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	fh "github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/kinedge/kinedge/firehose"
	"github.com/kinedge/kinedge/fragment/seal"
)

// TestSDKUpdateDestination: UpdateDestination with the current version
// id changes the destination and bumps VersionId; a stale one is
// ConcurrentModificationException.
func TestSDKUpdateDestination(t *testing.T) {
	env := newEnv(t, nullDest{}, nil)
	ctx := context.Background()
	if _, err := env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("u"), ExtendedS3DestinationConfiguration: s3conf("bkt1", 1, 60, types.CompressionFormatGzip),
	}); err != nil {
		t.Fatal(err)
	}
	describe := func() *types.DeliveryStreamDescription {
		t.Helper()
		out, err := env.client.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("u")})
		if err != nil {
			t.Fatal(err)
		}
		return out.DeliveryStreamDescription
	}
	d := describe()
	if aws.ToString(d.VersionId) != "1" {
		t.Fatalf("version %s", aws.ToString(d.VersionId))
	}
	_, err := env.client.UpdateDestination(ctx, &fh.UpdateDestinationInput{
		DeliveryStreamName: aws.String("u"), CurrentDeliveryStreamVersionId: d.VersionId,
		DestinationId: d.Destinations[0].DestinationId,
		ExtendedS3DestinationUpdate: &types.ExtendedS3DestinationUpdate{
			BucketARN: aws.String("arn:aws:s3:::bkt2"), Prefix: aws.String("p/!{timestamp:yyyy}/"),
			ErrorOutputPrefix: aws.String("e/!{firehose:error-output-type}/"),
			BufferingHints:    &types.BufferingHints{IntervalInSeconds: aws.Int32(0)},
			CompressionFormat: types.CompressionFormatSnappy,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	d = describe()
	ext := d.Destinations[0].ExtendedS3DestinationDescription
	if aws.ToString(d.VersionId) != "2" || aws.ToString(ext.BucketARN) != "arn:aws:s3:::bkt2" || ext.CompressionFormat != types.CompressionFormatSnappy ||
		aws.ToInt32(ext.BufferingHints.SizeInMBs) != 1 || aws.ToInt32(ext.BufferingHints.IntervalInSeconds) != 0 || aws.ToString(ext.Prefix) != "p/!{timestamp:yyyy}/" {
		t.Fatalf("after update: version %s %+v", aws.ToString(d.VersionId), ext)
	}
	_, err = env.client.UpdateDestination(ctx, &fh.UpdateDestinationInput{
		DeliveryStreamName: aws.String("u"), CurrentDeliveryStreamVersionId: aws.String("1"),
		DestinationId: aws.String(destinationID), ExtendedS3DestinationUpdate: &types.ExtendedS3DestinationUpdate{Prefix: aws.String("x/")},
	})
	apiErr(t, err, "ConcurrentModificationException", 400, "version 2")
	_, err = env.client.UpdateDestination(ctx, &fh.UpdateDestinationInput{
		DeliveryStreamName: aws.String("u"), CurrentDeliveryStreamVersionId: aws.String("2"),
		DestinationId: aws.String(destinationID), ExtendedS3DestinationUpdate: &types.ExtendedS3DestinationUpdate{ErrorOutputPrefix: aws.String("")},
	})
	apiErr(t, err, "InvalidArgumentException", 400, "ErrorOutputPrefix cannot be null")
	_, err = env.client.UpdateDestination(ctx, &fh.UpdateDestinationInput{
		DeliveryStreamName: aws.String("u"), CurrentDeliveryStreamVersionId: aws.String("2"),
		DestinationId: aws.String("destinationId-000000000009"), ExtendedS3DestinationUpdate: &types.ExtendedS3DestinationUpdate{},
	})
	apiErr(t, err, "InvalidArgumentException", 400, "not found")
	_, err = env.client.UpdateDestination(ctx, &fh.UpdateDestinationInput{
		DeliveryStreamName: aws.String("nope"), CurrentDeliveryStreamVersionId: aws.String("1"),
		DestinationId: aws.String(destinationID), ExtendedS3DestinationUpdate: &types.ExtendedS3DestinationUpdate{},
	})
	apiErr(t, err, "ResourceNotFoundException", 400, "nope")
}

// TestSDKTags: tags at create, TagDeliveryStream, UntagDeliveryStream,
// ListTagsForDeliveryStream with paging, AWS's limits.
func TestSDKTags(t *testing.T) {
	env := newEnv(t, nullDest{}, nil)
	ctx := context.Background()
	if _, err := env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("tg"), ExtendedS3DestinationConfiguration: s3conf("bkt", 1, 60, types.CompressionFormatGzip),
		Tags: []types.Tag{{Key: aws.String("site"), Value: aws.String("north")}, {Key: aws.String("empty")}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.client.TagDeliveryStream(ctx, &fh.TagDeliveryStreamInput{DeliveryStreamName: aws.String("tg"),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("video")}, {Key: aws.String("site"), Value: aws.String("south")}}}); err != nil {
		t.Fatal(err)
	}
	page, err := env.client.ListTagsForDeliveryStream(ctx, &fh.ListTagsForDeliveryStreamInput{DeliveryStreamName: aws.String("tg"), Limit: aws.Int32(2)})
	if err != nil || len(page.Tags) != 2 || !aws.ToBool(page.HasMoreTags) || aws.ToString(page.Tags[0].Key) != "empty" || aws.ToString(page.Tags[1].Value) != "south" {
		t.Fatalf("first page %+v %v", page, err)
	}
	page, err = env.client.ListTagsForDeliveryStream(ctx, &fh.ListTagsForDeliveryStreamInput{DeliveryStreamName: aws.String("tg"), ExclusiveStartTagKey: page.Tags[1].Key})
	if err != nil || len(page.Tags) != 1 || aws.ToBool(page.HasMoreTags) || aws.ToString(page.Tags[0].Key) != "team" {
		t.Fatalf("second page %+v %v", page, err)
	}
	if _, err := env.client.UntagDeliveryStream(ctx, &fh.UntagDeliveryStreamInput{DeliveryStreamName: aws.String("tg"), TagKeys: []string{"team", "empty"}}); err != nil {
		t.Fatal(err)
	}
	page, err = env.client.ListTagsForDeliveryStream(ctx, &fh.ListTagsForDeliveryStreamInput{DeliveryStreamName: aws.String("tg")})
	if err != nil || len(page.Tags) != 1 || aws.ToString(page.Tags[0].Key) != "site" {
		t.Fatalf("after untag %+v %v", page, err)
	}
	_, err = env.client.TagDeliveryStream(ctx, &fh.TagDeliveryStreamInput{DeliveryStreamName: aws.String("tg"), Tags: []types.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}})
	apiErr(t, err, "InvalidArgumentException", 400, "reserved")
	var many []types.Tag
	for i := range 50 {
		many = append(many, types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")})
	}
	_, err = env.client.TagDeliveryStream(ctx, &fh.TagDeliveryStreamInput{DeliveryStreamName: aws.String("tg"), Tags: many})
	apiErr(t, err, "LimitExceededException", 400, "at most 50")
	_, err = env.client.TagDeliveryStream(ctx, &fh.TagDeliveryStreamInput{DeliveryStreamName: aws.String("tg"), Tags: append(many, many[0])})
	apiErr(t, err, "InvalidArgumentException", 400, "have length less than or equal to 50")
	_, err = env.client.ListTagsForDeliveryStream(ctx, &fh.ListTagsForDeliveryStreamInput{DeliveryStreamName: aws.String("nope")})
	apiErr(t, err, "ResourceNotFoundException", 400, "nope")
}

// TestSDKEncryption: Start/StopDeliveryStreamEncryption, the status in
// Describe, Encrypted in the put responses; refused without a keyring or
// with a customer key.
func TestSDKEncryption(t *testing.T) {
	env := newEnv(t, nullDest{}, func(o *firehose.Options) {
		o.Sealer = &seal.Keyring{Store: &seal.MemKeyStore{}, Master: seal.NewMasterKey()}
	})
	ctx := context.Background()
	if _, err := env.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("enc"), ExtendedS3DestinationConfiguration: s3conf("bkt", 1, 60, types.CompressionFormatGzip),
		DeliveryStreamEncryptionConfigurationInput: &types.DeliveryStreamEncryptionConfigurationInput{KeyType: types.KeyTypeAwsOwnedCmk},
	}); err != nil {
		t.Fatal(err)
	}
	status := func() types.DeliveryStreamEncryptionStatus {
		t.Helper()
		out, err := env.client.DescribeDeliveryStream(ctx, &fh.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("enc")})
		if err != nil {
			t.Fatal(err)
		}
		return out.DeliveryStreamDescription.DeliveryStreamEncryptionConfiguration.Status
	}
	put := func() bool {
		t.Helper()
		out, err := env.client.PutRecord(ctx, &fh.PutRecordInput{DeliveryStreamName: aws.String("enc"), Record: &types.Record{Data: []byte("x")}})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToBool(out.Encrypted)
	}
	if status() != types.DeliveryStreamEncryptionStatusEnabled || !put() {
		t.Fatal("created with encryption: not enabled")
	}
	if _, err := env.client.StopDeliveryStreamEncryption(ctx, &fh.StopDeliveryStreamEncryptionInput{DeliveryStreamName: aws.String("enc")}); err != nil {
		t.Fatal(err)
	}
	if status() != types.DeliveryStreamEncryptionStatusDisabled || put() {
		t.Fatal("stopped: still enabled")
	}
	if _, err := env.client.StartDeliveryStreamEncryption(ctx, &fh.StartDeliveryStreamEncryptionInput{DeliveryStreamName: aws.String("enc")}); err != nil {
		t.Fatal(err)
	}
	if status() != types.DeliveryStreamEncryptionStatusEnabled {
		t.Fatal("started: not enabled")
	}
	out, err := env.client.PutRecordBatch(ctx, &fh.PutRecordBatchInput{DeliveryStreamName: aws.String("enc"), Records: manyRecords(3)})
	if err != nil || !aws.ToBool(out.Encrypted) {
		t.Fatalf("batch while enabled: %+v %v", out, err)
	}
	_, err = env.client.StartDeliveryStreamEncryption(ctx, &fh.StartDeliveryStreamEncryptionInput{DeliveryStreamName: aws.String("enc"),
		DeliveryStreamEncryptionConfigurationInput: &types.DeliveryStreamEncryptionConfigurationInput{KeyType: types.KeyTypeCustomerManagedCmk, KeyARN: aws.String("arn:aws:kms:eu-west-1:123456789012:key/x")}})
	apiErr(t, err, "InvalidArgumentException", 400, "AWS_OWNED_CMK")

	plain := newEnv(t, nullDest{}, nil)
	if _, err := plain.client.CreateDeliveryStream(ctx, &fh.CreateDeliveryStreamInput{
		DeliveryStreamName: aws.String("p"), ExtendedS3DestinationConfiguration: s3conf("bkt", 1, 60, types.CompressionFormatGzip),
	}); err != nil {
		t.Fatal(err)
	}
	_, err = plain.client.StartDeliveryStreamEncryption(ctx, &fh.StartDeliveryStreamEncryptionInput{DeliveryStreamName: aws.String("p")})
	apiErr(t, err, "InvalidArgumentException", 400, "no keyring")
}
