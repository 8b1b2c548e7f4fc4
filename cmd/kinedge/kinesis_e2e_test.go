package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinedge/kinedge/dataplane/video/events"
	"github.com/kinedge/kinedge/testdata/testtool"
)

func (s *server) kinesisClient(secret string) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + s.httpAddr),
		Credentials:  credentials.NewStaticCredentialsProvider("admin", secret, ""),
	})
}

// TestFragmentEventsOverKinesisAPI publishes a simulated camera and reads
// the fragment events back with the official Kinesis client: one record
// per stored fragment, keyed by the video stream's name.
func TestFragmentEventsOverKinesisAPI(t *testing.T) {
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	ctx := t.Context()

	// Wrong secret: the SDK sees AWS's own signature error.
	_, err := s.kinesisClient("wrong").ListStreams(ctx, &kinesis.ListStreamsInput{})
	var apiErr interface{ ErrorCode() string }
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidSignatureException" {
		t.Fatalf("wrong secret: %v", err)
	}
	kc := s.kinesisClient("adminsecret")

	out, err := testtool.Command(t, 2*time.Minute, kinedgeBin, "camsim", "--url", "rtsp://camera:camsecret@"+s.rtspAddr+"/", "--cameras", "1",
		"--prefix", "yard", "--duration", "5s").CombinedOutput()
	if err != nil {
		t.Fatalf("camsim: %v\n%s", err, out)
	}
	var frags int
	waitFor(t, time.Minute, "fragments", func() error {
		frags = len(s.fragments(t, "yard1"))
		if frags < 2 {
			return fmt.Errorf("%d fragments", frags)
		}
		return nil
	})

	shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("kinedge-fragments")})
	if err != nil {
		t.Fatal(err)
	}
	it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String("kinedge-fragments"),
		ShardId: shards.Shards[0].ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	var got []events.Event
	waitFor(t, time.Minute, "fragment events", func() error {
		recs, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			return err
		}
		it.ShardIterator = recs.NextShardIterator
		for _, r := range recs.Records {
			var ev events.Event
			if err := json.Unmarshal(r.Data, &ev); err != nil {
				t.Fatalf("event %q: %v", r.Data, err)
			}
			if aws.ToString(r.PartitionKey) != ev.Stream {
				t.Fatalf("partition key %q for stream %q", aws.ToString(r.PartitionKey), ev.Stream)
			}
			got = append(got, ev)
		}
		if len(got) < frags {
			return fmt.Errorf("%d events for %d fragments", len(got), frags)
		}
		return nil
	})
	// The same API over HTTP/2 without TLS (h2c), as the KCL speaks it.
	h2c := new(http.Protocols)
	h2c.SetUnencryptedHTTP2(true)
	kc2 := kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + s.httpAddr),
		Credentials:  credentials.NewStaticCredentialsProvider("admin", "adminsecret", ""),
		HTTPClient:   &http.Client{Transport: &http.Transport{Protocols: h2c}},
	})
	sum, err := kc2.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("kinedge-fragments")})
	if err != nil || aws.ToInt32(sum.StreamDescriptionSummary.OpenShardCount) != 1 {
		t.Fatalf("over h2c: %+v %v", sum, err)
	}

	list := s.fragments(t, "yard1")
	if len(got) != len(list) {
		t.Fatalf("%d events, %d fragments", len(got), len(list))
	}
	for i, ev := range got {
		f := list[i]
		if ev.FragmentNumber != f.FragmentNumber || !ev.ServerTimestamp.Equal(f.ServerTimestamp) || ev.Frames != f.Frames ||
			ev.KeyID != f.KeyID || len(ev.SHA256) != 64 || ev.Size != f.FragmentSizeInBytes || ev.ApplianceID == "" ||
			strings.Join(ev.Codecs, ",") != strings.Join(f.Codecs, ",") {
			t.Fatalf("event %d %+v does not describe fragment %+v", i, ev, f)
		}
	}
}
