package api

import (
	"context"
	"net/http"

	"github.com/kinedge/kinedge/dataplane/awsproto"
)

// Operations.
//
// Every operation has the shape of awsproto.Operation: its input shape
// (shapes.go), a check that collects the input's violations of the API
// model into a validator (one ValidationException lists them all, in AWS's
// words), and a method that runs it on a valid input. ServeHTTP decodes and
// encodes with the request's codec (JSON or CBOR) and maps errors once.
// SubscribeToShard, whose response is an event stream, has the same first
// two steps (awsproto.DecodeInput) and writes its response itself.

// operations returns the operations served by call, by X-Amz-Target
// operation name.
func (h *Handler) operations() map[string]awsproto.Op {
	return map[string]awsproto.Op{
		"CreateStream":                  op(h, checkCreateStream, h.createStream),
		"DeleteStream":                  op(h, checkDeleteStream, h.deleteStream),
		"DescribeStream":                op(h, checkDescribeStream, h.describeStream),
		"DescribeStreamSummary":         op(h, checkStreamRef, h.describeStreamSummary),
		"ListStreams":                   op(h, checkListStreams, h.listStreams),
		"ListShards":                    op(h, checkListShards, h.listShards),
		"PutRecord":                     op(h, checkPutRecord, h.putRecord),
		"PutRecords":                    op(h, checkPutRecords, h.putRecords),
		"GetShardIterator":              op(h, checkGetShardIterator, h.getShardIterator),
		"GetRecords":                    op(h, checkGetRecords, h.getRecords),
		"SplitShard":                    op(h, checkSplitShard, h.splitShard),
		"MergeShards":                   op(h, checkMergeShards, h.mergeShards),
		"UpdateShardCount":              op(h, checkUpdateShardCount, h.updateShardCount),
		"IncreaseStreamRetentionPeriod": op(h, checkRetention, h.increaseRetention),
		"DecreaseStreamRetentionPeriod": op(h, checkRetention, h.decreaseRetention),
		"StartStreamEncryption":         op(h, checkEncryption, h.startEncryption),
		"StopStreamEncryption":          op(h, checkEncryption, h.stopEncryption),
		"AddTagsToStream":               op(h, checkAddTags, h.addTags),
		"RemoveTagsFromStream":          op(h, checkRemoveTags, h.removeTags),
		"ListTagsForStream":             op(h, checkListTags, h.listTags),
		"DescribeLimits":                op(h, nil, h.describeLimits),
		"TagResource":                   op(h, checkTagResource, h.tagResource),
		"UntagResource":                 op(h, checkUntagResource, h.untagResource),
		"ListTagsForResource":           op(h, checkResourceARN, h.listTagsForResource),
		"EnableEnhancedMonitoring":      op(h, checkMonitoring, h.enableMonitoring),
		"DisableEnhancedMonitoring":     op(h, checkMonitoring, h.disableMonitoring),
		"UpdateStreamMode":              op(h, checkUpdateStreamMode, h.updateStreamMode),
		"RegisterStreamConsumer":        op(h, checkRegisterConsumer, h.registerConsumer),
		"DescribeStreamConsumer":        op(h, checkConsumer, h.describeConsumer),
		"DeregisterStreamConsumer":      op(h, checkConsumer, h.deregisterConsumer),
		"ListStreamConsumers":           op(h, checkListConsumers, h.listConsumers),
	}
}

// op is awsproto.Operation with a Kinesis check (nil: no constraints).
func op[In any](h *Handler, check func(v *validator, in *In), call func(ctx context.Context, r *http.Request, in *In) (any, error)) awsproto.Op {
	return awsproto.Operation(validate(h, check), call)
}

// validate turns a check into awsproto.Operation's validate: it returns
// the ValidationException listing every violation, or nil.
func validate[In any](h *Handler, check func(v *validator, in *In)) func(in *In) error {
	if check == nil {
		return nil
	}
	return func(in *In) error {
		v := h.validator()
		check(v, in)
		return v.err()
	}
}
