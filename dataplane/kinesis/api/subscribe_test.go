package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
)

// TestConsumersAndSubscribe runs enhanced fan-out with the SDK over HTTP/2,
// with TLS (as the SDKs use it with Kinesis) and without (h2c). Over
// HTTP/1.1 the Go SDK races with net/http (aws/aws-sdk-go-v2#2737: the
// transport may drop the connection under the open event stream, and an
// event stream cannot be retried), so HTTP/1.1 is tested with a plain
// client in TestSubscribeHTTP1.
func TestConsumersAndSubscribe(t *testing.T) {
	for _, proto := range []string{"h2", "h2c"} {
		t.Run(proto, func(t *testing.T) { testConsumersAndSubscribe(t, proto) })
	}
}

func testConsumersAndSubscribe(t *testing.T, proto string) {
	env := newEnvProto(t, nil, proto)
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

// TestSubscribeHTTP1 reads a SubscribeToShard event stream over HTTP/1.1
// with net/http and awsproto.ReadMessage: initial-response first, then
// SubscribeToShardEvent events with the records.
func TestSubscribeHTTP1(t *testing.T) {
	h := newBareHandler(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	e := h.Engine
	if err := e.CreateStream(engine.CreateStreamInput{Name: "s", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	c, err := e.RegisterConsumer("s", "app")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := e.PutRecord(context.Background(), "s", engine.PutEntry{PartitionKey: "k", Data: []byte(fmt.Sprint(i))}, ""); err != nil {
			t.Fatal(err)
		}
	}
	body := fmt.Sprintf(`{"ConsumerARN":%q,"ShardId":"shardId-000000000000","StartingPosition":{"Type":"TRIM_HORIZON"}}`, c.ARN)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
	req.Header.Set("X-Amz-Target", TargetPrefix+"SubscribeToShard")
	req.Header.Set("Content-Type", awsproto.ContentTypeJSON)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 1 || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != awsproto.ContentTypeEventStream || resp.Header.Get("X-Amzn-Requestid") == "" {
		t.Fatalf("response %s %d %v", resp.Proto, resp.StatusCode, resp.Header)
	}
	m, err := awsproto.ReadMessage(resp.Body)
	if err != nil || m.HeaderString(awsproto.HeaderEventType) != "initial-response" {
		t.Fatalf("first message %+v %v", m, err)
	}
	m, err = awsproto.ReadMessage(resp.Body)
	if err != nil || m.HeaderString(awsproto.HeaderEventType) != "SubscribeToShardEvent" {
		t.Fatalf("second message %+v %v", m, err)
	}
	var ev struct {
		Records []struct {
			Data []byte
		}
		ContinuationSequenceNumber string
	}
	if err := json.Unmarshal(m.Payload, &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Records) != 3 || string(ev.Records[2].Data) != "2" || len(ev.ContinuationSequenceNumber) != 56 {
		t.Errorf("event = %s", m.Payload)
	}
}

func TestPacer(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	p := newPacer(t0)
	tests := []struct {
		at   time.Duration
		n    int
		wait time.Duration
	}{
		{0, 1 << 20, 0},                                     // 1 MiB of 2 left
		{0, 1 << 20, 0},                                     // bucket empty, not in debt
		{0, 1 << 20, 500 * time.Millisecond},                // 1 MiB in debt: half a second
		{500 * time.Millisecond, 0, 0},                      // paid back
		{10 * time.Second, 3 << 20, 500 * time.Millisecond}, // refill caps at 2 MiB
	}
	for i, tt := range tests {
		if got := p.spend(t0.Add(tt.at), tt.n); got != tt.wait {
			t.Errorf("%d: wait %v, want %v", i, got, tt.wait)
		}
	}
}
