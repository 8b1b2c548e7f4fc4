package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
)

func checkRecord(v *validator, prefix string, pk *string, data []byte, hashKey *string) {
	if v.required(pk, prefix+"partitionKey") {
		v.str(pk, prefix+"partitionKey", 1, 256, nil, "")
	}
	if data == nil {
		v.fail("null", prefix+"data", "not be null")
	} else if len(data) > engine.MaxRecordSize {
		v.fail("'java.nio.HeapByteBuffer[pos=0 lim="+fmt.Sprint(len(data))+" cap="+fmt.Sprint(len(data))+"]'", prefix+"data", "have length less than or equal to 1048576")
	}
	v.str(hashKey, prefix+"explicitHashKey", 0, 0, v.re.hashKey, patHashKey)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func checkPutRecord(v *validator, in *putRecordInput) {
	v.streamRef(in.streamRef)
	checkRecord(v, "", in.PartitionKey, in.Data, in.ExplicitHashKey)
	v.str(in.SequenceNumberForOrdering, "sequenceNumberForOrdering", 0, 0, v.re.seq, patSeq)
}

func (h *Handler) putRecord(ctx context.Context, _ *http.Request, in *putRecordInput) (any, error) {
	name, err := h.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	res, err := h.Engine.PutRecord(ctx, name, engine.PutEntry{PartitionKey: *in.PartitionKey, ExplicitHashKey: deref(in.ExplicitHashKey), Data: in.Data}, deref(in.SequenceNumberForOrdering))
	if err != nil {
		return nil, err
	}
	return putRecordOutput{ShardId: res.ShardID, SequenceNumber: res.SequenceNumber, EncryptionType: res.EncryptionType}, nil
}

func checkPutRecords(v *validator, in *putRecordsInput) {
	v.streamRef(in.streamRef)
	switch {
	case in.Records == nil:
		v.fail("null", "records", "not be null")
	case len(in.Records) < 1:
		v.fail("'[]'", "records", "have length greater than or equal to 1")
	case len(in.Records) > engine.MaxPutRecordsEntries:
		v.fail("'[...]'", "records", "have length less than or equal to 500")
	}
	for i, r := range in.Records {
		checkRecord(v, fmt.Sprintf("records.%d.member.", i+1), r.PartitionKey, r.Data, r.ExplicitHashKey)
		if len(v.msgs) > 10 {
			break
		}
	}
}

func (h *Handler) putRecords(ctx context.Context, _ *http.Request, in *putRecordsInput) (any, error) {
	name, err := h.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	entries := make([]engine.PutEntry, len(in.Records))
	for i, r := range in.Records {
		entries[i] = engine.PutEntry{PartitionKey: *r.PartitionKey, ExplicitHashKey: deref(r.ExplicitHashKey), Data: r.Data}
	}
	res, err := h.Engine.PutRecords(ctx, name, entries)
	if err != nil {
		return nil, err
	}
	out := putRecordsOutput{Records: make([]putRecordsResultEntry, len(res))}
	for i, r := range res {
		if r.Err != nil {
			out.FailedRecordCount++
			ae, _ := awsError(r.Err)
			if ae.Type == awsproto.InternalFailure {
				ae.Type = "InternalFailure"
			}
			out.Records[i] = putRecordsResultEntry{ErrorCode: strPtr(ae.Type), ErrorMessage: strPtr(ae.Message)}
			continue
		}
		out.Records[i] = putRecordsResultEntry{SequenceNumber: strPtr(r.SequenceNumber), ShardId: strPtr(r.ShardID)}
		out.EncryptionType = r.EncryptionType
	}
	return out, nil
}

func iteratorTypes() []string {
	return []string{string(engine.AtSequenceNumber), string(engine.AfterSequenceNumber), string(engine.TrimHorizon), string(engine.Latest), string(engine.AtTimestamp)}
}

func checkGetShardIterator(v *validator, in *getShardIteratorInput) {
	v.streamRef(in.streamRef)
	if v.required(in.ShardId, "shardId") {
		v.name(in.ShardId, "shardId")
	}
	if v.required(in.ShardIteratorType, "shardIteratorType") {
		v.enum(in.ShardIteratorType, "shardIteratorType", iteratorTypes()...)
	}
	v.str(in.StartingSequenceNumber, "startingSequenceNumber", 0, 0, v.re.seq, patSeq)
}

func (h *Handler) getShardIterator(_ context.Context, _ *http.Request, in *getShardIteratorInput) (any, error) {
	name, err := h.resolve(in.streamRef)
	if err != nil {
		return nil, err
	}
	typ := engine.IteratorType(*in.ShardIteratorType)
	var ts time.Time
	switch typ {
	case engine.AtSequenceNumber, engine.AfterSequenceNumber:
		if in.StartingSequenceNumber == nil {
			return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "StartingSequenceNumber must be provided for ShardIteratorType %s.", typ)
		}
	case engine.AtTimestamp:
		if in.Timestamp == nil {
			return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no timestamp parameter.")
		}
		ts = in.Timestamp.Time
	}
	it, err := h.Engine.GetShardIterator(name, *in.ShardId, typ, deref(in.StartingSequenceNumber), ts)
	if err != nil {
		return nil, err
	}
	return getShardIteratorOutput{ShardIterator: it}, nil
}

func recordsShape(recs []engine.Record) []recordOut {
	out := make([]recordOut, len(recs))
	for i, r := range recs {
		data := r.Data
		if data == nil {
			data = []byte{}
		}
		out[i] = recordOut{
			SequenceNumber:              r.SequenceNumber,
			ApproximateArrivalTimestamp: awsproto.Timestamp{Time: r.ApproximateArrivalTimestamp},
			Data:                        data,
			PartitionKey:                r.PartitionKey,
			EncryptionType:              r.EncryptionType,
		}
	}
	return out
}

func childShardsShape(cs []engine.ChildShard) []childShardOut {
	if cs == nil {
		return nil
	}
	out := make([]childShardOut, len(cs))
	for i, c := range cs {
		out[i] = childShardOut{ShardId: c.ShardID, ParentShards: c.ParentShards, HashKeyRange: hashKeyRange{StartingHashKey: c.StartingHashKey.String(), EndingHashKey: c.EndingHashKey.String()}}
	}
	return out
}

func checkGetRecords(v *validator, in *getRecordsInput) {
	if v.required(in.ShardIterator, "shardIterator") {
		v.str(in.ShardIterator, "shardIterator", 1, 512, nil, "")
	}
	v.intRange(in.Limit, "limit", 1, engine.MaxGetRecordsCount)
	v.streamARN(in.StreamARN, "streamARN")
}

func (h *Handler) getRecords(_ context.Context, _ *http.Request, in *getRecordsInput) (any, error) {
	limit := 0
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	res, err := h.Engine.GetRecords(*in.ShardIterator, limit)
	if err != nil {
		if errors.Is(err, engine.ErrInvalidArgument) {
			return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "Invalid ShardIterator.")
		}
		return nil, err
	}
	return getRecordsOutput{
		Records:            recordsShape(res.Records),
		NextShardIterator:  optStr(res.NextShardIterator),
		MillisBehindLatest: res.MillisBehindLatest,
		ChildShards:        childShardsShape(res.ChildShards),
	}, nil
}
