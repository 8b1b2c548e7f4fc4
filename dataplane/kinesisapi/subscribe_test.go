package kinesisapi

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestConsumersAndSubscribe runs enhanced fan-out over HTTP/2 (TLS), as
// the SDKs use it with Kinesis. Over HTTP/1.1 the Go SDK races with
// net/http: it closes the request body when SubscribeToShard returns while
// the transport may still probe that body for EOF, and the transport then
// drops the connection under the open event stream (client-side, seen with
// aws-sdk-go-v2 kinesis v1.56.13 and Go 1.26).
func TestConsumersAndSubscribe(t *testing.T) {
	env := newEnvTLS(t, nil, true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := env.client
	env.create(t, "s", 1)
	arn := aws.String("arn:aws:kinesis:eu-west-1:123456789012:stream/s")
	reg, err := c.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: arn, ConsumerName: aws.String("app")})
	if err != nil {
		t.Fatal(err)
	}
	carn := reg.Consumer.ConsumerARN
	if reg.Consumer.ConsumerStatus != types.ConsumerStatusActive || len(aws.ToString(carn)) < len(*arn) {
		t.Fatalf("consumer = %+v", reg.Consumer)
	}
	_, err = c.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: arn, ConsumerName: aws.String("app")})
	errCase[*types.ResourceInUseException](t, "register twice", err, "")
	dc, err := c.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{StreamARN: arn, ConsumerName: aws.String("app")})
	if err != nil || aws.ToString(dc.ConsumerDescription.ConsumerARN) != aws.ToString(carn) || aws.ToString(dc.ConsumerDescription.StreamARN) != *arn {
		t.Fatalf("describe consumer = %+v %v", dc, err)
	}
	lc, err := c.ListStreamConsumers(ctx, &kinesis.ListStreamConsumersInput{StreamARN: arn})
	if err != nil || len(lc.Consumers) != 1 {
		t.Fatalf("list consumers = %+v %v", lc, err)
	}
	_, err = c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s")})
	errCase[*types.ResourceInUseException](t, "delete with consumers", err, "")

	for i := range 5 {
		if _, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := c.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: carn, ShardId: aws.String("shardId-000000000000"), StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}})
	if err != nil {
		t.Fatal(err)
	}
	stream := sub.GetStream()
	defer stream.Close()
	// A second subscription of the same consumer and shard is refused.
	_, err = c.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: carn, ShardId: aws.String("shardId-000000000000"), StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeLatest}})
	errCase[*types.ResourceInUseException](t, "second subscription", err, "")

	// Records written while subscribed arrive too.
	go func() {
		for i := 5; i < 10; i++ {
			if _, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte(fmt.Sprint(i))}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var got []string
	for len(got) < 10 {
		ev, ok := <-stream.Events()
		if !ok {
			t.Fatalf("stream ended after %v: %v", got, stream.Err())
		}
		e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if !ok {
			t.Fatalf("event %T", ev)
		}
		if e.Value.ContinuationSequenceNumber == nil {
			t.Fatal("no continuation sequence number on an open shard")
		}
		for _, r := range e.Value.Records {
			got = append(got, string(r.Data))
		}
	}
	if fmt.Sprint(got) != "[0 1 2 3 4 5 6 7 8 9]" {
		t.Errorf("records = %v", got)
	}
	// Split the shard: the subscription ends with the child shards.
	if _, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("1000")}); err != nil {
		t.Fatal(err)
	}
	var children []types.ChildShard
	for ev := range stream.Events() {
		e := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if len(e.Value.ChildShards) > 0 {
			children = e.Value.ChildShards
			if e.Value.ContinuationSequenceNumber != nil {
				t.Error("continuation sequence number at shard end")
			}
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(children) != 2 {
		t.Fatalf("children = %+v", children)
	}
	if _, err := c.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{ConsumerARN: carn}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
}
