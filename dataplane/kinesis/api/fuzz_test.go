package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kinedge/kinedge/dataplane/awsproto"
)

// fuzzOps lists the operations and a valid JSON body of each: the seeds of
// FuzzRequest.
func fuzzOps() []struct{ op, body string } {
	return []struct{ op, body string }{
		{"CreateStream", `{"StreamName":"f","ShardCount":2,"Tags":{"a":"b"}}`},
		{"CreateStream", `{"StreamName":"g","StreamModeDetails":{"StreamMode":"ON_DEMAND"}}`},
		{"DescribeStream", `{"StreamName":"f","Limit":1,"ExclusiveStartShardId":"shardId-000000000000"}`},
		{"DescribeStreamSummary", `{"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/f"}`},
		{"ListStreams", `{"Limit":1}`},
		{"ListShards", `{"StreamName":"f","MaxResults":1,"ShardFilter":{"Type":"AT_TIMESTAMP","Timestamp":1700000000.5}}`},
		{"PutRecord", `{"StreamName":"f","PartitionKey":"k","Data":"aGVsbG8=","ExplicitHashKey":"12"}`},
		{"PutRecords", `{"StreamName":"f","Records":[{"PartitionKey":"k","Data":"aGVsbG8="},{"PartitionKey":"j","Data":""}]}`},
		{"GetShardIterator", `{"StreamName":"f","ShardId":"shardId-000000000000","ShardIteratorType":"AT_SEQUENCE_NUMBER","StartingSequenceNumber":"49000000000000000000000000000000000000000000000000000001"}`},
		{"GetRecords", `{"ShardIterator":"AQAAAAAAAAABAAAAABohR20QQAABAAABohR20QUPbbwxn1C6qVq4wxNg0SNV","Limit":10}`},
		{"SplitShard", `{"StreamName":"f","ShardToSplit":"shardId-000000000000","NewStartingHashKey":"100"}`},
		{"MergeShards", `{"StreamName":"f","ShardToMerge":"shardId-000000000002","AdjacentShardToMerge":"shardId-000000000003"}`},
		{"UpdateShardCount", `{"StreamName":"f","TargetShardCount":3,"ScalingType":"UNIFORM_SCALING"}`},
		{"IncreaseStreamRetentionPeriod", `{"StreamName":"f","RetentionPeriodHours":48}`},
		{"DecreaseStreamRetentionPeriod", `{"StreamName":"f","RetentionPeriodHours":24}`},
		{"StartStreamEncryption", `{"StreamName":"f","EncryptionType":"KMS","KeyId":"k"}`},
		{"StopStreamEncryption", `{"StreamName":"f","EncryptionType":"KMS","KeyId":"k"}`},
		{"AddTagsToStream", `{"StreamName":"f","Tags":{"x":"y"}}`},
		{"RemoveTagsFromStream", `{"StreamName":"f","TagKeys":["x"]}`},
		{"ListTagsForStream", `{"StreamName":"f","Limit":2}`},
		{"DescribeLimits", `{}`},
		{"TagResource", `{"ResourceARN":"arn:aws:kinesis:us-east-1:000000000000:stream/f","Tags":{"a":"b"}}`},
		{"UntagResource", `{"ResourceARN":"arn:aws:kinesis:us-east-1:000000000000:stream/f","TagKeys":["a"]}`},
		{"ListTagsForResource", `{"ResourceARN":"arn:aws:kinesis:us-east-1:000000000000:stream/f"}`},
		{"EnableEnhancedMonitoring", `{"StreamName":"f","ShardLevelMetrics":["ALL"]}`},
		{"DisableEnhancedMonitoring", `{"StreamName":"f","ShardLevelMetrics":["IncomingBytes"]}`},
		{"UpdateStreamMode", `{"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/f","StreamModeDetails":{"StreamMode":"PROVISIONED"}}`},
		{"RegisterStreamConsumer", `{"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/f","ConsumerName":"c"}`},
		{"DescribeStreamConsumer", `{"ConsumerARN":"arn:aws:kinesis:us-east-1:000000000000:stream/f/consumer/c:1"}`},
		{"ListStreamConsumers", `{"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/f","MaxResults":1}`},
		{"DeregisterStreamConsumer", `{"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/f","ConsumerName":"c"}`},
		{"DeleteStream", `{"StreamName":"f","EnforceConsumerDeletion":true}`},
	}
}

// FuzzRequest decodes arbitrary bodies (JSON and CBOR) as the input of
// every operation and runs them against a live engine: any input must give
// a response or an AWS error, never a panic or an untyped failure.
func FuzzRequest(f *testing.F) {
	ops := fuzzOps()
	for i, o := range ops {
		f.Add(uint8(i), false, []byte(o.body))
	}
	f.Add(uint8(0), true, []byte{0xa2, 0x6a, 'S', 't', 'r', 'e', 'a', 'm', 'N', 'a', 'm', 'e', 0x61, 'c', 0x6a, 'S', 'h', 'a', 'r', 'd', 'C', 'o', 'u', 'n', 't', 0x01})
	h := newBareHandler(f)
	h.init()
	f.Fuzz(func(t *testing.T, op uint8, useCBOR bool, body []byte) {
		codec := awsproto.JSON
		if useCBOR {
			codec = awsproto.CBOR
		}
		name := ops[int(op)%len(ops)].op
		_, err := h.ops[name](t.Context(), httptest.NewRequest(http.MethodPost, "/", nil), codec, body)
		if err == nil {
			return
		}
		if ae, known := awsError(err); !known || ae.Type == awsproto.InternalFailure {
			t.Fatalf("%s %q: unclassified error %v", name, body, err)
		}
	})
}
