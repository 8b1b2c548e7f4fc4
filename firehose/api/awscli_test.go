package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestAWSCLI drives the handler with the AWS CLI (botocore: a second
// client nobody here wrote): create, describe (its timestamp parsed),
// put-record, list, an AWS error, delete.
func TestAWSCLI(t *testing.T) {
	aws := testtool.Need(t, "aws")
	env := newEnv(t, nullDest{}, nil)
	cli := testtool.AWSCLI{Path: aws, Endpoint: env.url, Region: "eu-west-1", Key: testKey, Secret: testSecret,
		Config: []string{"cli_binary_format = raw-in-base64-out"}}
	run := func(t *testing.T, args ...string) (string, string, error) {
		t.Helper()
		return cli.Run(t, "firehose", args...)
	}
	must := func(args ...string) string {
		t.Helper()
		out, errOut, err := run(t, args...)
		if err != nil {
			t.Fatalf("aws firehose %s: %v\n%s", args[0], err, errOut)
		}
		return out
	}

	out := must("create-delivery-stream", "--delivery-stream-name", "cli",
		"--extended-s3-destination-configuration",
		`{"RoleARN":"arn:aws:iam::123456789012:role/fh","BucketARN":"arn:aws:s3:::clibucket","BufferingHints":{"SizeInMBs":1,"IntervalInSeconds":60},"CompressionFormat":"GZIP"}`)
	if !strings.Contains(out, "arn:aws:firehose:eu-west-1:123456789012:deliverystream/cli") {
		t.Fatalf("create: %s", out)
	}
	var desc struct {
		DeliveryStreamDescription struct {
			DeliveryStreamName, DeliveryStreamStatus, VersionId, CreateTimestamp string
			Destinations                                                         []struct {
				ExtendedS3DestinationDescription struct{ BucketARN, CompressionFormat string }
			}
		}
	}
	if err := json.Unmarshal([]byte(must("describe-delivery-stream", "--delivery-stream-name", "cli")), &desc); err != nil {
		t.Fatal(err)
	}
	d := desc.DeliveryStreamDescription
	year := time.Now().UTC().Format("2006")
	if d.DeliveryStreamName != "cli" || d.VersionId != "1" || !strings.HasPrefix(d.CreateTimestamp, year) || len(d.Destinations) != 1 ||
		d.Destinations[0].ExtendedS3DestinationDescription.CompressionFormat != "GZIP" {
		t.Fatalf("describe: %+v", d)
	}
	var put struct{ RecordId string }
	if err := json.Unmarshal([]byte(must("put-record", "--delivery-stream-name", "cli", "--record", `{"Data":"hello"}`)), &put); err != nil || put.RecordId == "" {
		t.Fatalf("put-record: %+v %v", put, err)
	}
	if st := env.engine.Stats(); st.RecordsPut != 1 || st.BytesPut != 5 {
		t.Fatalf("stats after put-record %+v", st)
	}
	if out := must("list-delivery-streams"); !strings.Contains(out, `"cli"`) {
		t.Fatalf("list: %s", out)
	}
	_, errOut, err := run(t, "describe-delivery-stream", "--delivery-stream-name", "nope")
	if err == nil || !strings.Contains(errOut, "An error occurred (ResourceNotFoundException) when calling the DescribeDeliveryStream operation") {
		t.Fatalf("describe nope: %v %s", err, errOut)
	}
	must("tag-delivery-stream", "--delivery-stream-name", "cli", "--tags", "Key=site,Value=north gate")
	if out := must("list-tags-for-delivery-stream", "--delivery-stream-name", "cli"); !strings.Contains(out, `"north gate"`) {
		t.Fatalf("list-tags: %s", out)
	}
	must("update-destination", "--delivery-stream-name", "cli", "--current-delivery-stream-version-id", "1",
		"--destination-id", "destinationId-000000000001", "--extended-s3-destination-update", `{"Prefix":"v2/","FileExtension":".log"}`)
	_, errOut, err = run(t, "update-destination", "--delivery-stream-name", "cli", "--current-delivery-stream-version-id", "1",
		"--destination-id", "destinationId-000000000001", "--extended-s3-destination-update", `{"Prefix":"v3/"}`)
	if err == nil || !strings.Contains(errOut, "ConcurrentModificationException") {
		t.Fatalf("stale update-destination: %v %s", err, errOut)
	}
	if out := must("describe-delivery-stream", "--delivery-stream-name", "cli"); !strings.Contains(out, `"VersionId": "2"`) || !strings.Contains(out, `".log"`) {
		t.Fatalf("describe after update: %s", out)
	}
	must("delete-delivery-stream", "--delivery-stream-name", "cli")
}
