package main

import (
	"errors"
	"testing"
	"time"

	"github.com/kinedge/kinedge/testdata/testtool"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
)

var errNoFragments = errors.New("no fragments yet")

// TestKVSStreamsShareANamedKey creates video streams with the official
// Kinesis Video Streams client, two of them naming the same key
// (KmsKeyId): their fragments are sealed under one data key, the third
// stream's under its own.
func TestKVSStreamsShareANamedKey(t *testing.T) {
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	ctx := t.Context()
	kv := kinesisvideo.New(kinesisvideo.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://" + s.httpAddr),
		Credentials:  credentials.NewStaticCredentialsProvider("admin", "adminsecret", ""),
	})
	for name, key := range map[string]string{"s1": "site", "s2": "site", "s3": ""} {
		in := &kinesisvideo.CreateStreamInput{StreamName: aws.String(name), DataRetentionInHours: aws.Int32(48)}
		if key != "" {
			in.KmsKeyId = aws.String(key)
		}
		if _, err := kv.CreateStream(ctx, in); err != nil {
			t.Fatalf("CreateStream %s: %v", name, err)
		}
	}
	d, err := kv.DescribeStream(ctx, &kinesisvideo.DescribeStreamInput{StreamName: aws.String("s1")})
	if err != nil || aws.ToString(d.StreamInfo.KmsKeyId) != "site" || aws.ToInt32(d.StreamInfo.DataRetentionInHours) != 48 {
		t.Fatalf("DescribeStream: %+v %v", d, err)
	}
	ep, err := kv.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamName: aws.String("s1"), APIName: "GET_MEDIA"})
	if err != nil || aws.ToString(ep.DataEndpoint) != "http://"+s.httpAddr {
		t.Fatalf("GetDataEndpoint: %+v %v", ep, err)
	}

	out, err := testtool.Command(t, 2*time.Minute, kinedgeBin, "camsim", "--url", "rtsp://camera:camsecret@"+s.rtspAddr+"/", "--cameras", "3",
		"--prefix", "s", "--duration", "3s").CombinedOutput()
	if err != nil {
		t.Fatalf("camsim: %v\n%s", err, out)
	}
	keys := map[string]string{}
	for _, name := range []string{"s1", "s2", "s3"} {
		waitFor(t, time.Minute, name+" fragments", func() error {
			frags := s.fragments(t, name)
			if len(frags) == 0 {
				return errNoFragments
			}
			keys[name] = frags[0].KeyID
			return nil
		})
	}
	if keys["s1"] != keys["s2"] || keys["s1"] == keys["s3"] {
		t.Fatalf("key ids %v: s1 and s2 name the key \"site\", s3 its own", keys)
	}
	// The stream list shows what camsim published into, nothing more.
	list, err := kv.ListStreams(ctx, &kinesisvideo.ListStreamsInput{})
	if err != nil || len(list.StreamInfoList) != 3 {
		t.Fatalf("ListStreams: %d streams, %v", len(list.StreamInfoList), err)
	}
}
