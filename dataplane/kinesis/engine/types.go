package engine

import "time"

// Shard describes a shard (Kinesis Shard shape).
type Shard struct {
	// ShardID is "shardId-" and 12 digits.
	ShardID string
	// ParentShardID is the shard this one was split from or the first
	// parent of a merge; "" for an original shard.
	ParentShardID string
	// AdjacentParentShardID is the second parent of a merge, else "".
	AdjacentParentShardID string
	// StartingHashKey and EndingHashKey bound the shard's hash key range.
	StartingHashKey, EndingHashKey HashKey
	// StartingSequenceNumber is the smallest sequence number the shard
	// can hold.
	StartingSequenceNumber string
	// EndingSequenceNumber is the largest sequence number of a closed
	// shard, "" while the shard is open.
	EndingSequenceNumber string
	// CreatedAt is when the shard was created.
	CreatedAt time.Time
	// ClosedAt is when the shard was closed (zero if open).
	ClosedAt time.Time
}

// Open reports whether the shard still takes records.
func (s Shard) Open() bool { return s.EndingSequenceNumber == "" }

// Consumer is an enhanced fan-out consumer (Kinesis Consumer shape).
type Consumer struct {
	Name      string
	ARN       string
	Status    string
	CreatedAt time.Time
	StreamARN string
}

// StreamDescription describes a stream (Kinesis StreamDescription and
// StreamDescriptionSummary shapes).
type StreamDescription struct {
	Name           string
	ARN            string
	Status         string
	Mode           string
	CreatedAt      time.Time
	RetentionHours int
	EncryptionType string
	KeyID          string
	// Shards lists the shards in index order, including closed shards
	// still within the retention period.
	Shards []Shard
	// OpenShardCount counts the open shards.
	OpenShardCount int
	// ConsumerCount counts the registered consumers.
	ConsumerCount int
	// ShardLevelMetrics are the enhanced monitoring metrics switched on.
	ShardLevelMetrics []string
}

// StreamSummary is an entry of ListStreams (Kinesis StreamSummary shape).
type StreamSummary struct {
	Name      string
	ARN       string
	Status    string
	Mode      string
	CreatedAt time.Time
}

// PutEntry is a record to put.
type PutEntry struct {
	// PartitionKey selects the shard (MD5) unless ExplicitHashKey is set.
	PartitionKey string
	// ExplicitHashKey, if not "", is a decimal 128-bit hash key that
	// overrides the partition key hash.
	ExplicitHashKey string
	// Data is the record's blob.
	Data []byte
}

// PutResult is the outcome of one put record.
type PutResult struct {
	ShardID        string
	SequenceNumber string
	EncryptionType string
	// Err is nil on success, else an *Error (for PutRecords, usually of
	// kind ErrThroughputExceeded).
	Err error
}

// Record is a record read back (Kinesis Record shape).
type Record struct {
	SequenceNumber              string
	ApproximateArrivalTimestamp time.Time
	PartitionKey                string
	Data                        []byte
	EncryptionType              string
}

// ChildShard names a child of a closed shard (Kinesis ChildShard shape).
type ChildShard struct {
	ShardID         string
	ParentShards    []string
	StartingHashKey HashKey
	EndingHashKey   HashKey
}

// GetRecordsResult is the result of GetRecords.
type GetRecordsResult struct {
	Records []Record
	// NextShardIterator is "" at the end of a closed shard.
	NextShardIterator  string
	MillisBehindLatest int64
	// ContinuationSequenceNumber is the position reached, as a sequence
	// number to read AFTER; "" at the end of a closed shard.
	ContinuationSequenceNumber string
	// ChildShards is set when the end of a closed shard was reached.
	ChildShards []ChildShard
}

// IteratorType is a ShardIteratorType.
type IteratorType string

// Shard iterator types (GetShardIterator API reference).
const (
	AtSequenceNumber    IteratorType = "AT_SEQUENCE_NUMBER"
	AfterSequenceNumber IteratorType = "AFTER_SEQUENCE_NUMBER"
	TrimHorizon         IteratorType = "TRIM_HORIZON"
	Latest              IteratorType = "LATEST"
	AtTimestamp         IteratorType = "AT_TIMESTAMP"
)

// Limits of the Kinesis API (Kinesis Data Streams quotas).
const (
	MaxRecordSize          = 1 << 20
	MaxPutRecordsEntries   = 500
	MaxPutRecordsSize      = 5 << 20
	MaxGetRecordsCount     = 10000
	MaxGetRecordsSize      = 10 << 20
	MaxPartitionKeyLength  = 256
	MaxTagsPerStream       = 50
	MaxConsumersPerStream  = 20
	IteratorTTL            = 5 * time.Minute
	defaultGetRecordsLimit = 10000
)
