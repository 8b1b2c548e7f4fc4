package main

import (
	"time"

	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
	"github.com/kinedge/kinedge/firehose"
)

// streamsSource lets KinesisStreamAsSource delivery streams read the
// appliance's data streams (firehose.Source over the Kinesis engine).
type streamsSource struct{ e *engine.Engine }

var _ firehose.Source = streamsSource{}

func (s streamsSource) Shards(name string) ([]firehose.SourceShard, error) {
	shards, err := s.e.ListShards(name)
	if err != nil {
		return nil, err
	}
	out := make([]firehose.SourceShard, len(shards))
	for i, sh := range shards {
		out[i].ID = sh.ShardID
		for _, p := range []string{sh.ParentShardID, sh.AdjacentParentShardID} {
			if p != "" {
				out[i].Parents = append(out[i].Parents, p)
			}
		}
	}
	return out, nil
}

func (s streamsSource) Read(name, shard, after string, limit int) (firehose.SourceBatch, error) {
	typ := engine.TrimHorizon
	if after != "" {
		typ = engine.AfterSequenceNumber
	}
	it, err := s.e.GetShardIterator(name, shard, typ, after, time.Time{})
	if err != nil {
		return firehose.SourceBatch{}, err
	}
	r, err := s.e.ReadRecords(it, limit)
	if err != nil {
		return firehose.SourceBatch{}, err
	}
	b := firehose.SourceBatch{Records: make([]firehose.SourceRecord, len(r.Records)), Next: r.ContinuationSequenceNumber, End: r.NextShardIterator == ""}
	for i, rec := range r.Records {
		b.Records[i] = firehose.SourceRecord{Seq: rec.SequenceNumber, Data: rec.Data}
	}
	if b.Next == "" && len(b.Records) > 0 {
		b.Next = b.Records[len(b.Records)-1].Seq
	}
	if b.Next == "" {
		b.Next = after
	}
	return b, nil
}

func (s streamsSource) Latest(name, shard string) (string, error) {
	shards, err := s.e.ListShards(name)
	if err != nil {
		return "", err
	}
	for _, sh := range shards {
		if sh.ShardID == shard && !sh.Open() {
			return sh.EndingSequenceNumber, nil
		}
	}
	it, err := s.e.GetShardIterator(name, shard, engine.Latest, "", time.Time{})
	if err != nil {
		return "", err
	}
	r, err := s.e.ReadRecords(it, 1)
	if err != nil {
		return "", err
	}
	return r.ContinuationSequenceNumber, nil
}

func (s streamsSource) Changed() <-chan struct{} { return s.e.Changed() }
