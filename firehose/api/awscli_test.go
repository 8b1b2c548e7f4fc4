package api

import (
	"encoding/json"
	"os"
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
	run := func(t *testing.T, args ...string) (string, string, error) {
		t.Helper()
		cmd := testtool.Command(t, time.Minute, aws, append([]string{"firehose", "--endpoint-url", env.url, "--region", "eu-west-1", "--output", "json"}, args...)...)
		home := t.TempDir()
		if err := os.WriteFile(home+"/config", []byte("[default]\ncli_timestamp_format = iso8601\ncli_binary_format = raw-in-base64-out\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd.Env = []string{
			"HOME=" + home, "PATH=" + os.Getenv("PATH"),
			"AWS_ACCESS_KEY_ID=" + testKey, "AWS_SECRET_ACCESS_KEY=" + testSecret,
			"AWS_CONFIG_FILE=" + home + "/config", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/credentials",
			"AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard", "AWS_PAGER=",
		}
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
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
	must("delete-delivery-stream", "--delivery-stream-name", "cli")
}
