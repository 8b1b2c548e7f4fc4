package api

import "github.com/kinedge/kinedge/dataplane/awsproto"

// Request and response shapes of the Kinesis Data Streams API (API version
// 2013-12-02), member names as in the AWS API reference. Pointers mark
// members whose absence matters; blobs are []byte (base64 in JSON, byte
// strings in CBOR); times are awsproto.Timestamp.

type streamRef struct {
	StreamName *string `json:"StreamName,omitempty"`
	StreamARN  *string `json:"StreamARN,omitempty"`
}

type streamModeDetails struct {
	StreamMode string `json:"StreamMode"`
}

type createStreamInput struct {
	StreamName        *string            `json:"StreamName"`
	ShardCount        *int64             `json:"ShardCount,omitempty"`
	StreamModeDetails *streamModeDetails `json:"StreamModeDetails,omitempty"`
	Tags              map[string]string  `json:"Tags,omitempty"`
}

type deleteStreamInput struct {
	streamRef
	EnforceConsumerDeletion *bool `json:"EnforceConsumerDeletion,omitempty"`
}

type describeStreamInput struct {
	streamRef
	Limit                 *int64  `json:"Limit,omitempty"`
	ExclusiveStartShardId *string `json:"ExclusiveStartShardId,omitempty"`
}

type hashKeyRange struct {
	StartingHashKey string `json:"StartingHashKey"`
	EndingHashKey   string `json:"EndingHashKey"`
}

type sequenceNumberRange struct {
	StartingSequenceNumber string  `json:"StartingSequenceNumber"`
	EndingSequenceNumber   *string `json:"EndingSequenceNumber,omitempty"`
}

type shardOut struct {
	ShardId               string              `json:"ShardId"`
	ParentShardId         *string             `json:"ParentShardId,omitempty"`
	AdjacentParentShardId *string             `json:"AdjacentParentShardId,omitempty"`
	HashKeyRange          hashKeyRange        `json:"HashKeyRange"`
	SequenceNumberRange   sequenceNumberRange `json:"SequenceNumberRange"`
}

type enhancedMetrics struct {
	ShardLevelMetrics []string `json:"ShardLevelMetrics"`
}

type streamDescription struct {
	StreamName              string             `json:"StreamName"`
	StreamARN               string             `json:"StreamARN"`
	StreamStatus            string             `json:"StreamStatus"`
	StreamModeDetails       streamModeDetails  `json:"StreamModeDetails"`
	Shards                  []shardOut         `json:"Shards"`
	HasMoreShards           bool               `json:"HasMoreShards"`
	RetentionPeriodHours    int                `json:"RetentionPeriodHours"`
	StreamCreationTimestamp awsproto.Timestamp `json:"StreamCreationTimestamp"`
	EnhancedMonitoring      []enhancedMetrics  `json:"EnhancedMonitoring"`
	EncryptionType          string             `json:"EncryptionType"`
	KeyId                   *string            `json:"KeyId,omitempty"`
}

type describeStreamOutput struct {
	StreamDescription streamDescription `json:"StreamDescription"`
}

type streamDescriptionSummary struct {
	StreamName              string             `json:"StreamName"`
	StreamARN               string             `json:"StreamARN"`
	StreamStatus            string             `json:"StreamStatus"`
	StreamModeDetails       streamModeDetails  `json:"StreamModeDetails"`
	RetentionPeriodHours    int                `json:"RetentionPeriodHours"`
	StreamCreationTimestamp awsproto.Timestamp `json:"StreamCreationTimestamp"`
	EnhancedMonitoring      []enhancedMetrics  `json:"EnhancedMonitoring"`
	EncryptionType          string             `json:"EncryptionType"`
	KeyId                   *string            `json:"KeyId,omitempty"`
	OpenShardCount          int                `json:"OpenShardCount"`
	ConsumerCount           int                `json:"ConsumerCount"`
}

type describeStreamSummaryOutput struct {
	StreamDescriptionSummary streamDescriptionSummary `json:"StreamDescriptionSummary"`
}

type listStreamsInput struct {
	Limit                    *int64  `json:"Limit,omitempty"`
	ExclusiveStartStreamName *string `json:"ExclusiveStartStreamName,omitempty"`
	NextToken                *string `json:"NextToken,omitempty"`
}

type streamSummary struct {
	StreamName              string             `json:"StreamName"`
	StreamARN               string             `json:"StreamARN"`
	StreamStatus            string             `json:"StreamStatus"`
	StreamModeDetails       streamModeDetails  `json:"StreamModeDetails"`
	StreamCreationTimestamp awsproto.Timestamp `json:"StreamCreationTimestamp"`
}

type listStreamsOutput struct {
	StreamNames     []string        `json:"StreamNames"`
	HasMoreStreams  bool            `json:"HasMoreStreams"`
	NextToken       *string         `json:"NextToken,omitempty"`
	StreamSummaries []streamSummary `json:"StreamSummaries"`
}

type shardFilter struct {
	Type      *string             `json:"Type,omitempty"`
	ShardId   *string             `json:"ShardId,omitempty"`
	Timestamp *awsproto.Timestamp `json:"Timestamp,omitempty"`
}

type listShardsInput struct {
	streamRef
	NextToken               *string             `json:"NextToken,omitempty"`
	ExclusiveStartShardId   *string             `json:"ExclusiveStartShardId,omitempty"`
	MaxResults              *int64              `json:"MaxResults,omitempty"`
	StreamCreationTimestamp *awsproto.Timestamp `json:"StreamCreationTimestamp,omitempty"`
	ShardFilter             *shardFilter        `json:"ShardFilter,omitempty"`
}

type listShardsOutput struct {
	Shards    []shardOut `json:"Shards"`
	NextToken *string    `json:"NextToken,omitempty"`
}

type putRecordInput struct {
	streamRef
	PartitionKey              *string `json:"PartitionKey"`
	Data                      []byte  `json:"Data"`
	ExplicitHashKey           *string `json:"ExplicitHashKey,omitempty"`
	SequenceNumberForOrdering *string `json:"SequenceNumberForOrdering,omitempty"`
}

type putRecordOutput struct {
	ShardId        string `json:"ShardId"`
	SequenceNumber string `json:"SequenceNumber"`
	EncryptionType string `json:"EncryptionType,omitempty"`
}

type putRecordsEntry struct {
	PartitionKey    *string `json:"PartitionKey"`
	Data            []byte  `json:"Data"`
	ExplicitHashKey *string `json:"ExplicitHashKey,omitempty"`
}

type putRecordsInput struct {
	streamRef
	Records []putRecordsEntry `json:"Records"`
}

type putRecordsResultEntry struct {
	SequenceNumber *string `json:"SequenceNumber,omitempty"`
	ShardId        *string `json:"ShardId,omitempty"`
	ErrorCode      *string `json:"ErrorCode,omitempty"`
	ErrorMessage   *string `json:"ErrorMessage,omitempty"`
}

type putRecordsOutput struct {
	FailedRecordCount int                     `json:"FailedRecordCount"`
	Records           []putRecordsResultEntry `json:"Records"`
	EncryptionType    string                  `json:"EncryptionType,omitempty"`
}

type getShardIteratorInput struct {
	streamRef
	ShardId                *string             `json:"ShardId"`
	ShardIteratorType      *string             `json:"ShardIteratorType"`
	StartingSequenceNumber *string             `json:"StartingSequenceNumber,omitempty"`
	Timestamp              *awsproto.Timestamp `json:"Timestamp,omitempty"`
}

type getShardIteratorOutput struct {
	ShardIterator string `json:"ShardIterator"`
}

type getRecordsInput struct {
	ShardIterator *string `json:"ShardIterator"`
	Limit         *int64  `json:"Limit,omitempty"`
	StreamARN     *string `json:"StreamARN,omitempty"`
}

type recordOut struct {
	SequenceNumber              string             `json:"SequenceNumber"`
	ApproximateArrivalTimestamp awsproto.Timestamp `json:"ApproximateArrivalTimestamp"`
	Data                        []byte             `json:"Data"`
	PartitionKey                string             `json:"PartitionKey"`
	EncryptionType              string             `json:"EncryptionType,omitempty"`
}

type childShardOut struct {
	ShardId      string       `json:"ShardId"`
	ParentShards []string     `json:"ParentShards"`
	HashKeyRange hashKeyRange `json:"HashKeyRange"`
}

type getRecordsOutput struct {
	Records            []recordOut     `json:"Records"`
	NextShardIterator  *string         `json:"NextShardIterator,omitempty"`
	MillisBehindLatest int64           `json:"MillisBehindLatest"`
	ChildShards        []childShardOut `json:"ChildShards,omitempty"`
}

type splitShardInput struct {
	streamRef
	ShardToSplit       *string `json:"ShardToSplit"`
	NewStartingHashKey *string `json:"NewStartingHashKey"`
}

type mergeShardsInput struct {
	streamRef
	ShardToMerge         *string `json:"ShardToMerge"`
	AdjacentShardToMerge *string `json:"AdjacentShardToMerge"`
}

type updateShardCountInput struct {
	streamRef
	TargetShardCount *int64  `json:"TargetShardCount"`
	ScalingType      *string `json:"ScalingType"`
}

type updateShardCountOutput struct {
	StreamName        string `json:"StreamName"`
	StreamARN         string `json:"StreamARN"`
	CurrentShardCount int    `json:"CurrentShardCount"`
	TargetShardCount  int64  `json:"TargetShardCount"`
}

type retentionInput struct {
	streamRef
	RetentionPeriodHours *int64 `json:"RetentionPeriodHours"`
}

type encryptionInput struct {
	streamRef
	EncryptionType *string `json:"EncryptionType"`
	KeyId          *string `json:"KeyId"`
}

type updateStreamModeInput struct {
	StreamARN         *string            `json:"StreamARN"`
	StreamModeDetails *streamModeDetails `json:"StreamModeDetails"`
}

type addTagsInput struct {
	streamRef
	Tags map[string]string `json:"Tags"`
}

type removeTagsInput struct {
	streamRef
	TagKeys []string `json:"TagKeys"`
}

type listTagsInput struct {
	streamRef
	ExclusiveStartTagKey *string `json:"ExclusiveStartTagKey,omitempty"`
	Limit                *int64  `json:"Limit,omitempty"`
}

type tagOut struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type listTagsOutput struct {
	Tags        []tagOut `json:"Tags"`
	HasMoreTags bool     `json:"HasMoreTags"`
}

type describeLimitsOutput struct {
	ShardLimit               int `json:"ShardLimit"`
	OpenShardCount           int `json:"OpenShardCount"`
	OnDemandStreamCount      int `json:"OnDemandStreamCount"`
	OnDemandStreamCountLimit int `json:"OnDemandStreamCountLimit"`
}

type consumerInput struct {
	StreamARN    *string `json:"StreamARN,omitempty"`
	ConsumerName *string `json:"ConsumerName,omitempty"`
	ConsumerARN  *string `json:"ConsumerARN,omitempty"`
}

type consumerOut struct {
	ConsumerName              string             `json:"ConsumerName"`
	ConsumerARN               string             `json:"ConsumerARN"`
	ConsumerStatus            string             `json:"ConsumerStatus"`
	ConsumerCreationTimestamp awsproto.Timestamp `json:"ConsumerCreationTimestamp"`
}

type registerConsumerOutput struct {
	Consumer consumerOut `json:"Consumer"`
}

type consumerDescription struct {
	ConsumerName              string             `json:"ConsumerName"`
	ConsumerARN               string             `json:"ConsumerARN"`
	ConsumerStatus            string             `json:"ConsumerStatus"`
	ConsumerCreationTimestamp awsproto.Timestamp `json:"ConsumerCreationTimestamp"`
	StreamARN                 string             `json:"StreamARN"`
}

type describeConsumerOutput struct {
	ConsumerDescription consumerDescription `json:"ConsumerDescription"`
}

type listConsumersInput struct {
	StreamARN               *string             `json:"StreamARN"`
	NextToken               *string             `json:"NextToken,omitempty"`
	MaxResults              *int64              `json:"MaxResults,omitempty"`
	StreamCreationTimestamp *awsproto.Timestamp `json:"StreamCreationTimestamp,omitempty"`
}

type listConsumersOutput struct {
	Consumers []consumerOut `json:"Consumers"`
	NextToken *string       `json:"NextToken,omitempty"`
}

type startingPosition struct {
	Type           *string             `json:"Type"`
	SequenceNumber *string             `json:"SequenceNumber,omitempty"`
	Timestamp      *awsproto.Timestamp `json:"Timestamp,omitempty"`
}

type subscribeInput struct {
	ConsumerARN      *string           `json:"ConsumerARN"`
	ShardId          *string           `json:"ShardId"`
	StartingPosition *startingPosition `json:"StartingPosition"`
}

type subscribeEvent struct {
	Records                    []recordOut     `json:"Records"`
	ContinuationSequenceNumber *string         `json:"ContinuationSequenceNumber,omitempty"`
	MillisBehindLatest         int64           `json:"MillisBehindLatest"`
	ChildShards                []childShardOut `json:"ChildShards,omitempty"`
}

type monitoringInput struct {
	streamRef
	ShardLevelMetrics []string `json:"ShardLevelMetrics"`
}

type monitoringOutput struct {
	StreamName               string   `json:"StreamName"`
	StreamARN                string   `json:"StreamARN"`
	CurrentShardLevelMetrics []string `json:"CurrentShardLevelMetrics"`
	DesiredShardLevelMetrics []string `json:"DesiredShardLevelMetrics"`
}

type resourceTagsInput struct {
	ResourceARN *string           `json:"ResourceARN"`
	Tags        map[string]string `json:"Tags,omitempty"`
	TagKeys     []string          `json:"TagKeys,omitempty"`
}

type listResourceTagsOutput struct {
	Tags []tagOut `json:"Tags"`
}
