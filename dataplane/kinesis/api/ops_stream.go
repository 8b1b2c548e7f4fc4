package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
)

func strPtr(s string) *string { return &s }

func optStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func checkCreateStream(v *validator, in *createStreamInput) {
	if v.required(in.StreamName, "streamName") {
		v.name(in.StreamName, "streamName")
	}
	v.intRange(in.ShardCount, "shardCount", 1, 100000)
	if in.StreamModeDetails != nil {
		v.enum(&in.StreamModeDetails.StreamMode, "streamModeDetails.streamMode", engine.ModeProvisioned, engine.ModeOnDemand)
	}
	v.tags(in.Tags, "tags")
}

func (h *Handler) createStream(_ context.Context, _ *http.Request, in *createStreamInput) (any, error) {
	ci := engine.CreateStreamInput{Name: *in.StreamName, Mode: engine.ModeProvisioned, Tags: in.Tags}
	if in.StreamModeDetails != nil {
		ci.Mode = in.StreamModeDetails.StreamMode
	}
	if in.ShardCount != nil {
		ci.ShardCount = int(*in.ShardCount)
	}
	if ci.Mode == engine.ModeProvisioned && in.ShardCount == nil {
		return nil, awsproto.Errorf(awsproto.ValidationException, "1 validation error detected: Value null at 'shardCount' failed to satisfy constraint: Member must not be null")
	}
	return empty{}, h.Engine.CreateStream(ci)
}

func checkDeleteStream(v *validator, in *deleteStreamInput) { v.streamRef(in.streamRef) }

func (h *Handler) deleteStream(_ context.Context, _ *http.Request, in *deleteStreamInput) (any, error) {
	name, err := h.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	return empty{}, h.Engine.DeleteStream(name, in.EnforceConsumerDeletion != nil && *in.EnforceConsumerDeletion)
}

// checkStreamRef checks an input that is only a stream reference.
func checkStreamRef(v *validator, in *streamRef) { v.streamRef(*in) }

func shardShape(s engine.Shard) shardOut {
	return shardOut{
		ShardId:               s.ShardID,
		ParentShardId:         optStr(s.ParentShardID),
		AdjacentParentShardId: optStr(s.AdjacentParentShardID),
		HashKeyRange:          hashKeyRange{StartingHashKey: s.StartingHashKey.String(), EndingHashKey: s.EndingHashKey.String()},
		SequenceNumberRange:   sequenceNumberRange{StartingSequenceNumber: s.StartingSequenceNumber, EndingSequenceNumber: optStr(s.EndingSequenceNumber)},
	}
}

func checkDescribeStream(v *validator, in *describeStreamInput) {
	v.streamRef(in.streamRef)
	v.intRange(in.Limit, "limit", 1, 10000)
	v.name(in.ExclusiveStartShardId, "exclusiveStartShardId")
}

func (h *Handler) describeStream(_ context.Context, _ *http.Request, in *describeStreamInput) (any, error) {
	name, err := h.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	d, err := h.Engine.DescribeStream(name)
	if err != nil {
		return nil, err
	}
	limit := 100
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	out := streamDescription{
		StreamName: d.Name, StreamARN: d.ARN, StreamStatus: d.Status,
		StreamModeDetails:       streamModeDetails{StreamMode: d.Mode},
		Shards:                  []shardOut{},
		RetentionPeriodHours:    d.RetentionHours,
		StreamCreationTimestamp: awsproto.Timestamp{Time: d.CreatedAt},
		EnhancedMonitoring:      []enhancedMetrics{{ShardLevelMetrics: d.ShardLevelMetrics}},
		EncryptionType:          d.EncryptionType,
		KeyId:                   optStr(d.KeyID),
	}
	for _, s := range d.Shards {
		if in.ExclusiveStartShardId != nil && s.ShardID <= *in.ExclusiveStartShardId {
			continue
		}
		if len(out.Shards) == limit {
			out.HasMoreShards = true
			break
		}
		out.Shards = append(out.Shards, shardShape(s))
	}
	return describeStreamOutput{StreamDescription: out}, nil
}

func (h *Handler) describeStreamSummary(_ context.Context, _ *http.Request, in *streamRef) (any, error) {
	name, err := h.resolve(*in)
	if err != nil {
		return nil, err
	}
	d, err := h.Engine.DescribeStream(name)
	if err != nil {
		return nil, err
	}
	return describeStreamSummaryOutput{StreamDescriptionSummary: streamDescriptionSummary{
		StreamName: d.Name, StreamARN: d.ARN, StreamStatus: d.Status,
		StreamModeDetails:       streamModeDetails{StreamMode: d.Mode},
		RetentionPeriodHours:    d.RetentionHours,
		StreamCreationTimestamp: awsproto.Timestamp{Time: d.CreatedAt},
		EnhancedMonitoring:      []enhancedMetrics{{ShardLevelMetrics: d.ShardLevelMetrics}},
		EncryptionType:          d.EncryptionType,
		KeyId:                   optStr(d.KeyID),
		OpenShardCount:          d.OpenShardCount,
		ConsumerCount:           d.ConsumerCount,
	}}, nil
}

// pageToken is the content of ListStreams/ListShards/ListStreamConsumers
// NextToken values: base64 JSON, valid for 300 seconds as in Kinesis.
type pageToken struct {
	Stream string `json:"s,omitempty"`
	After  string `json:"a,omitempty"`
	Filter string `json:"f,omitempty"`
	Issued int64  `json:"t"`
	Max    int    `json:"m,omitempty"`
}

const tokenTTL = 300 * time.Second

func (h *Handler) encodeToken(t pageToken) *string {
	t.Issued = h.Now().UnixMilli()
	b, _ := json.Marshal(t) // strings and ints only: cannot fail
	return strPtr(base64.RawURLEncoding.EncodeToString(b))
}

func (h *Handler) decodeToken(s string) (pageToken, error) {
	var t pageToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil {
		return t, awsproto.Errorf(awsproto.InvalidArgumentException, "NextToken is invalid.")
	}
	if h.Now().Sub(time.UnixMilli(t.Issued)) > tokenTTL {
		return t, awsproto.Errorf(awsproto.ExpiredNextTokenException, "The timestamp in the NextToken has expired.")
	}
	return t, nil
}

func checkListStreams(v *validator, in *listStreamsInput) {
	v.intRange(in.Limit, "limit", 1, 10000)
	v.name(in.ExclusiveStartStreamName, "exclusiveStartStreamName")
}

func (h *Handler) listStreams(ctx context.Context, _ *http.Request, in *listStreamsInput) (any, error) {
	after := ""
	if in.ExclusiveStartStreamName != nil {
		after = *in.ExclusiveStartStreamName
	}
	if in.NextToken != nil {
		t, err := h.decodeToken(*in.NextToken)
		if err != nil {
			return nil, err
		}
		after = t.After
	}
	limit := 100
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	out := listStreamsOutput{StreamNames: []string{}, StreamSummaries: []streamSummary{}}
	for _, s := range h.Engine.ListStreams() {
		if after != "" && s.Name <= after || h.Visible != nil && !h.Visible(ctx, s.Name) {
			continue
		}
		if len(out.StreamNames) == limit {
			out.HasMoreStreams = true
			out.NextToken = h.encodeToken(pageToken{After: out.StreamNames[len(out.StreamNames)-1]})
			break
		}
		out.StreamNames = append(out.StreamNames, s.Name)
		out.StreamSummaries = append(out.StreamSummaries, streamSummary{
			StreamName: s.Name, StreamARN: s.ARN, StreamStatus: s.Status,
			StreamModeDetails:       streamModeDetails{StreamMode: s.Mode},
			StreamCreationTimestamp: awsproto.Timestamp{Time: s.CreatedAt},
		})
	}
	return out, nil
}

// Shard filter types of ListShards.
const (
	filterAfterShardID    = "AFTER_SHARD_ID"
	filterAtTrimHorizon   = "AT_TRIM_HORIZON"
	filterFromTrimHorizon = "FROM_TRIM_HORIZON"
	filterAtLatest        = "AT_LATEST"
	filterAtTimestamp     = "AT_TIMESTAMP"
	filterFromTimestamp   = "FROM_TIMESTAMP"
)

func checkListShards(v *validator, in *listShardsInput) {
	v.streamRef(in.streamRef)
	v.intRange(in.MaxResults, "maxResults", 1, 10000)
	v.name(in.ExclusiveStartShardId, "exclusiveStartShardId")
	if f := in.ShardFilter; f != nil {
		if v.required(f.Type, "shardFilter.type") {
			v.enum(f.Type, "shardFilter.type", filterAfterShardID, filterAtTrimHorizon, filterFromTrimHorizon, filterAtLatest, filterAtTimestamp, filterFromTimestamp)
		}
		v.name(f.ShardId, "shardFilter.shardId")
	}
}

func (h *Handler) listShards(_ context.Context, _ *http.Request, in *listShardsInput) (any, error) {
	var name, after string
	filter := in.ShardFilter
	if in.NextToken != nil {
		if in.StreamName != nil || in.StreamARN != nil {
			return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "NextToken and StreamName cannot be provided together.")
		}
		t, err := h.decodeToken(*in.NextToken)
		if err != nil {
			return nil, err
		}
		name, after = t.Stream, t.After
		if t.Filter != "" {
			filter = &shardFilter{}
			if err := json.Unmarshal([]byte(t.Filter), filter); err != nil {
				return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "NextToken is invalid.")
			}
		}
	} else {
		var err error
		if name, err = h.resolve(in.streamRef); err != nil {
			return nil, err
		}
		if in.ExclusiveStartShardId != nil {
			after = *in.ExclusiveStartShardId
		}
	}
	shards, err := h.Engine.ListShards(name)
	if err != nil {
		return nil, err
	}
	if filter != nil {
		if shards, err = applyShardFilter(shards, filter); err != nil {
			return nil, err
		}
	}
	limit := 1000
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	out := listShardsOutput{Shards: []shardOut{}}
	for i, s := range shards {
		if after != "" && s.ShardID <= after {
			continue
		}
		out.Shards = append(out.Shards, shardShape(s))
		if len(out.Shards) == limit && i < len(shards)-1 {
			t := pageToken{Stream: name, After: s.ShardID}
			if filter != nil {
				b, _ := json.Marshal(filter) // plain shapes: cannot fail
				t.Filter = string(b)
			}
			out.NextToken = h.encodeToken(t)
			break
		}
	}
	return out, nil
}

// applyShardFilter implements ListShards' ShardFilter.
func applyShardFilter(shards []engine.Shard, f *shardFilter) ([]engine.Shard, error) {
	typ := *f.Type
	var ts time.Time
	switch typ {
	case filterAfterShardID:
		if f.ShardId == nil {
			return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "ShardId is required for the ShardFilter type AFTER_SHARD_ID.")
		}
	case filterAtTimestamp, filterFromTimestamp:
		if f.Timestamp == nil {
			return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "Timestamp is required for the ShardFilter type %s.", typ)
		}
		ts = f.Timestamp.Time
	}
	present := map[string]bool{}
	for _, s := range shards {
		present[s.ShardID] = true
	}
	var out []engine.Shard
	for _, s := range shards {
		keep := false
		switch typ {
		case filterAfterShardID:
			keep = s.ShardID > *f.ShardId
		case filterFromTrimHorizon:
			keep = true
		case filterAtTrimHorizon:
			// The oldest shards still listed: their parents are gone.
			keep = !present[s.ParentShardID] && !present[s.AdjacentParentShardID]
		case filterAtLatest:
			keep = s.Open()
		case filterAtTimestamp:
			keep = !s.CreatedAt.After(ts) && (s.Open() || s.ClosedAt.After(ts))
		case filterFromTimestamp:
			keep = s.Open() || s.ClosedAt.After(ts)
		}
		if keep {
			out = append(out, s)
		}
	}
	return out, nil
}

func checkSplitShard(v *validator, in *splitShardInput) {
	v.streamRef(in.streamRef)
	if v.required(in.ShardToSplit, "shardToSplit") {
		v.name(in.ShardToSplit, "shardToSplit")
	}
	if v.required(in.NewStartingHashKey, "newStartingHashKey") {
		v.str(in.NewStartingHashKey, "newStartingHashKey", 0, 0, v.re.hashKey, patHashKey)
	}
}

func (h *Handler) splitShard(_ context.Context, _ *http.Request, in *splitShardInput) (any, error) {
	name, err := h.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	return empty{}, h.Engine.SplitShard(name, *in.ShardToSplit, *in.NewStartingHashKey)
}

func checkMergeShards(v *validator, in *mergeShardsInput) {
	v.streamRef(in.streamRef)
	if v.required(in.ShardToMerge, "shardToMerge") {
		v.name(in.ShardToMerge, "shardToMerge")
	}
	if v.required(in.AdjacentShardToMerge, "adjacentShardToMerge") {
		v.name(in.AdjacentShardToMerge, "adjacentShardToMerge")
	}
}

func (h *Handler) mergeShards(_ context.Context, _ *http.Request, in *mergeShardsInput) (any, error) {
	name, err := h.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	return empty{}, h.Engine.MergeShards(name, *in.ShardToMerge, *in.AdjacentShardToMerge)
}

func checkUpdateShardCount(v *validator, in *updateShardCountInput) {
	v.streamRef(in.streamRef)
	if in.TargetShardCount == nil {
		v.fail("null", "targetShardCount", "not be null")
	}
	v.intRange(in.TargetShardCount, "targetShardCount", 1, 100000)
	if v.required(in.ScalingType, "scalingType") {
		v.enum(in.ScalingType, "scalingType", "UNIFORM_SCALING")
	}
}

func (h *Handler) updateShardCount(_ context.Context, _ *http.Request, in *updateShardCountInput) (any, error) {
	name, err := h.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	cur, err := h.Engine.UpdateShardCount(name, int(*in.TargetShardCount))
	if err != nil {
		return nil, err
	}
	return updateShardCountOutput{StreamName: name, StreamARN: h.Engine.ARN(name), CurrentShardCount: cur, TargetShardCount: *in.TargetShardCount}, nil
}

func checkRetention(v *validator, in *retentionInput) {
	v.streamRef(in.streamRef)
	if in.RetentionPeriodHours == nil {
		v.fail("null", "retentionPeriodHours", "not be null")
	}
	v.intRange(in.RetentionPeriodHours, "retentionPeriodHours", 1, 1<<31-1)
}

func (h *Handler) increaseRetention(_ context.Context, _ *http.Request, in *retentionInput) (any, error) {
	return h.retention(in, true)
}

func (h *Handler) decreaseRetention(_ context.Context, _ *http.Request, in *retentionInput) (any, error) {
	return h.retention(in, false)
}

func (h *Handler) retention(in *retentionInput, increase bool) (any, error) {
	name, err := h.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	if increase {
		return empty{}, h.Engine.IncreaseRetention(name, int(*in.RetentionPeriodHours))
	}
	return empty{}, h.Engine.DecreaseRetention(name, int(*in.RetentionPeriodHours))
}

func checkEncryption(v *validator, in *encryptionInput) {
	v.streamRef(in.streamRef)
	if v.required(in.EncryptionType, "encryptionType") {
		v.enum(in.EncryptionType, "encryptionType", engine.EncryptionNone, engine.EncryptionKMS)
	}
	if v.required(in.KeyId, "keyId") {
		v.str(in.KeyId, "keyId", 1, 2048, nil, "")
	}
}

func (h *Handler) startEncryption(_ context.Context, _ *http.Request, in *encryptionInput) (any, error) {
	return h.encryption(in, true)
}

func (h *Handler) stopEncryption(_ context.Context, _ *http.Request, in *encryptionInput) (any, error) {
	return h.encryption(in, false)
}

func (h *Handler) encryption(in *encryptionInput, start bool) (any, error) {
	name, err := h.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	if start {
		return empty{}, h.Engine.StartEncryption(name, *in.EncryptionType, *in.KeyId)
	}
	return empty{}, h.Engine.StopEncryption(name, *in.EncryptionType, *in.KeyId)
}

func checkUpdateStreamMode(v *validator, in *updateStreamModeInput) {
	if v.required(in.StreamARN, "streamARN") {
		v.streamARN(in.StreamARN, "streamARN")
	}
	if in.StreamModeDetails == nil {
		v.fail("null", "streamModeDetails", "not be null")
	} else {
		v.enum(&in.StreamModeDetails.StreamMode, "streamModeDetails.streamMode", engine.ModeProvisioned, engine.ModeOnDemand)
	}
}

func (h *Handler) updateStreamMode(_ context.Context, _ *http.Request, in *updateStreamModeInput) (any, error) {
	name, err := h.resolve(streamRef{StreamARN: in.StreamARN})
	if err != nil {
		return nil, err
	}
	return empty{}, h.Engine.UpdateStreamMode(name, in.StreamModeDetails.StreamMode)
}

func checkAddTags(v *validator, in *addTagsInput) {
	v.streamRef(in.streamRef)
	if in.Tags == nil {
		v.fail("null", "tags", "not be null")
	} else if len(in.Tags) < 1 || len(in.Tags) > 50 {
		v.fail("'{...}'", "tags", "have length between 1 and 50")
	}
	v.tags(in.Tags, "tags")
}

func (h *Handler) addTags(_ context.Context, _ *http.Request, in *addTagsInput) (any, error) {
	name, err := h.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	return empty{}, h.Engine.AddTags(name, in.Tags)
}

func checkRemoveTags(v *validator, in *removeTagsInput) {
	v.streamRef(in.streamRef)
	if in.TagKeys == nil {
		v.fail("null", "tagKeys", "not be null")
	} else if len(in.TagKeys) < 1 || len(in.TagKeys) > 50 {
		v.fail("'[...]'", "tagKeys", "have length between 1 and 50")
	}
}

func (h *Handler) removeTags(_ context.Context, _ *http.Request, in *removeTagsInput) (any, error) {
	name, err := h.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	return empty{}, h.Engine.RemoveTags(name, in.TagKeys)
}

func checkListTags(v *validator, in *listTagsInput) {
	v.streamRef(in.streamRef)
	v.intRange(in.Limit, "limit", 1, 50)
}

func (h *Handler) listTags(_ context.Context, _ *http.Request, in *listTagsInput) (any, error) {
	name, err := h.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	tags, err := h.Engine.Tags(name)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		if in.ExclusiveStartTagKey == nil || k > *in.ExclusiveStartTagKey {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	limit := 50
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	out := listTagsOutput{Tags: []tagOut{}}
	for _, k := range keys {
		if len(out.Tags) == limit {
			out.HasMoreTags = true
			break
		}
		out.Tags = append(out.Tags, tagOut{Key: k, Value: tags[k]})
	}
	return out, nil
}

func (h *Handler) describeLimits(_ context.Context, _ *http.Request, _ *empty) (any, error) {
	l := h.Engine.DescribeLimits()
	return describeLimitsOutput{ShardLimit: l.ShardLimit, OpenShardCount: l.OpenShardCount, OnDemandStreamCount: l.OnDemandStreamCount, OnDemandStreamCountLimit: l.OnDemandStreamCountLimit}, nil
}

func checkMonitoring(v *validator, in *monitoringInput) {
	v.streamRef(in.streamRef)
	if in.ShardLevelMetrics == nil {
		v.fail("null", "shardLevelMetrics", "not be null")
	} else if len(in.ShardLevelMetrics) < 1 || len(in.ShardLevelMetrics) > 7 {
		v.fail("'[...]'", "shardLevelMetrics", "have length between 1 and 7")
	}
	for i := range in.ShardLevelMetrics {
		v.enum(&in.ShardLevelMetrics[i], fmt.Sprintf("shardLevelMetrics.%d.member", i+1), "IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
			"WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded", "IteratorAgeMilliseconds", "ALL")
	}
}

func (h *Handler) enableMonitoring(_ context.Context, _ *http.Request, in *monitoringInput) (any, error) {
	return h.monitoring(in, true)
}

func (h *Handler) disableMonitoring(_ context.Context, _ *http.Request, in *monitoringInput) (any, error) {
	return h.monitoring(in, false)
}

func (h *Handler) monitoring(in *monitoringInput, enable bool) (any, error) {
	name, err := h.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	cur, des, err := h.Engine.SetShardLevelMetrics(name, in.ShardLevelMetrics, enable)
	if err != nil {
		return nil, err
	}
	return monitoringOutput{StreamName: name, StreamARN: h.Engine.ARN(name), CurrentShardLevelMetrics: cur, DesiredShardLevelMetrics: des}, nil
}

// TagResource, UntagResource and ListTagsForResource work on stream ARNs
// only: a stream's resource tags are its tags.

func checkResourceARN(v *validator, in *resourceTagsInput) {
	if v.required(in.ResourceARN, "resourceARN") {
		v.str(in.ResourceARN, "resourceARN", 1, 2048, nil, "")
	}
}

func checkTagResource(v *validator, in *resourceTagsInput) {
	checkResourceARN(v, in)
	if in.Tags == nil {
		v.fail("null", "tags", "not be null")
	}
	v.tags(in.Tags, "tags")
}

func checkUntagResource(v *validator, in *resourceTagsInput) {
	checkResourceARN(v, in)
	if in.TagKeys == nil {
		v.fail("null", "tagKeys", "not be null")
	}
}

// resourceStream returns the name of the stream a resource ARN names.
func (h *Handler) resourceStream(in *resourceTagsInput) (string, error) {
	if _, _, ok := parseStreamARN(*in.ResourceARN); !ok {
		return "", awsproto.Errorf(awsproto.InvalidArgumentException, "Tagging is supported on stream ARNs only: %s", *in.ResourceARN)
	}
	return h.resolve(streamRef{StreamARN: in.ResourceARN})
}

func (h *Handler) tagResource(_ context.Context, _ *http.Request, in *resourceTagsInput) (any, error) {
	name, err := h.resourceStream(in)
	if err != nil {
		return nil, err
	}
	return empty{}, h.Engine.AddTags(name, in.Tags)
}

func (h *Handler) untagResource(_ context.Context, _ *http.Request, in *resourceTagsInput) (any, error) {
	name, err := h.resourceStream(in)
	if err != nil {
		return nil, err
	}
	return empty{}, h.Engine.RemoveTags(name, in.TagKeys)
}

func (h *Handler) listTagsForResource(_ context.Context, _ *http.Request, in *resourceTagsInput) (any, error) {
	name, err := h.resourceStream(in)
	if err != nil {
		return nil, err
	}
	tags, err := h.Engine.Tags(name)
	if err != nil {
		return nil, err
	}
	out := listResourceTagsOutput{Tags: []tagOut{}}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out.Tags = append(out.Tags, tagOut{Key: k, Value: tags[k]})
	}
	return out, nil
}
