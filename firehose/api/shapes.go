package api

import (
	"encoding/json"

	"github.com/kinedge/kinedge/dataplane/awsproto"
)

// Request and response shapes of the Firehose API (API version
// 2015-08-04), the members the appliance serves. Optional members are
// pointers; blobs are []byte (base64 in JSON).

type bufferingHints struct {
	SizeInMBs         *int `json:"SizeInMBs,omitempty"`
	IntervalInSeconds *int `json:"IntervalInSeconds,omitempty"`
}

type s3Config struct {
	RoleARN                 *string                  `json:"RoleARN"`
	BucketARN               *string                  `json:"BucketARN"`
	Prefix                  *string                  `json:"Prefix"`
	ErrorOutputPrefix       *string                  `json:"ErrorOutputPrefix"`
	BufferingHints          *bufferingHints          `json:"BufferingHints"`
	CompressionFormat       *string                  `json:"CompressionFormat"`
	ProcessingConfiguration *processingConfiguration `json:"ProcessingConfiguration"`
	FileExtension           *string                  `json:"FileExtension"`
	CustomTimeZone          *string                  `json:"CustomTimeZone"`
	DynamicPartitioning     *dynamicPartitioning     `json:"DynamicPartitioningConfiguration"`
	// Members the appliance does not serve yet: refused when set.
	DataFormatConversion     json.RawMessage `json:"DataFormatConversionConfiguration"`
	S3BackupConfiguration    json.RawMessage `json:"S3BackupConfiguration"`
	EncryptionConfiguration  *s3Encryption   `json:"EncryptionConfiguration"`
	CloudWatchLoggingOptions json.RawMessage `json:"CloudWatchLoggingOptions"`
	S3BackupMode             *string         `json:"S3BackupMode"`
}

// kinesisSourceConfig is KinesisStreamSourceConfiguration, with
// StartingPosition (TRIM_HORIZON or LATEST, the default) of the
// appliance's own: AWS always starts at LATEST.
type kinesisSourceConfig struct {
	KinesisStreamARN *string `json:"KinesisStreamARN"`
	RoleARN          *string `json:"RoleARN"`
	StartingPosition *string `json:"StartingPosition"`
}

type kinesisSourceDescription struct {
	KinesisStreamARN       string             `json:"KinesisStreamARN"`
	RoleARN                string             `json:"RoleARN,omitempty"`
	DeliveryStartTimestamp awsproto.Timestamp `json:"DeliveryStartTimestamp"`
}

type sourceDescription struct {
	KinesisStreamSourceDescription *kinesisSourceDescription `json:"KinesisStreamSourceDescription,omitempty"`
}

// s3Encryption is a destination's EncryptionConfiguration: only
// NoEncryption is served.
type s3Encryption struct {
	NoEncryptionConfig  *string         `json:"NoEncryptionConfig"`
	KMSEncryptionConfig json.RawMessage `json:"KMSEncryptionConfig"`
}

// dynamicPartitioning is DynamicPartitioningConfiguration.
type dynamicPartitioning struct {
	Enabled      *bool         `json:"Enabled,omitempty"`
	RetryOptions *retryOptions `json:"RetryOptions,omitempty"`
}

type retryOptions struct {
	DurationInSeconds *int `json:"DurationInSeconds,omitempty"`
}

type processorParameter struct {
	ParameterName  *string `json:"ParameterName"`
	ParameterValue *string `json:"ParameterValue"`
}

type processor struct {
	Type       *string              `json:"Type"`
	Parameters []processorParameter `json:"Parameters,omitempty"`
}

type processingConfiguration struct {
	Enabled    *bool       `json:"Enabled,omitempty"`
	Processors []processor `json:"Processors,omitempty"`
}

type createDeliveryStreamInput struct {
	DeliveryStreamName                 *string              `json:"DeliveryStreamName"`
	DeliveryStreamType                 *string              `json:"DeliveryStreamType"`
	S3DestinationConfiguration         *s3Config            `json:"S3DestinationConfiguration"`
	ExtendedS3DestinationConfiguration *s3Config            `json:"ExtendedS3DestinationConfiguration"`
	KinesisStreamSourceConfiguration   *kinesisSourceConfig `json:"KinesisStreamSourceConfiguration"`
	RedshiftDestinationConfiguration   json.RawMessage      `json:"RedshiftDestinationConfiguration"`
	ElasticsearchDestination           json.RawMessage      `json:"ElasticsearchDestinationConfiguration"`
	AmazonopensearchserviceDestination json.RawMessage      `json:"AmazonopensearchserviceDestinationConfiguration"`
	SplunkDestinationConfiguration     json.RawMessage      `json:"SplunkDestinationConfiguration"`
	HTTPEndpointDestination            json.RawMessage      `json:"HttpEndpointDestinationConfiguration"`
	Tags                               []tag                `json:"Tags"`
	Encryption                         *encryptionIn        `json:"DeliveryStreamEncryptionConfigurationInput"`
}

type encryptionIn struct {
	KeyARN  *string `json:"KeyARN"`
	KeyType *string `json:"KeyType"`
}

type startEncryptionInput struct {
	DeliveryStreamName *string       `json:"DeliveryStreamName"`
	Encryption         *encryptionIn `json:"DeliveryStreamEncryptionConfigurationInput"`
}

type stopEncryptionInput struct {
	DeliveryStreamName *string `json:"DeliveryStreamName"`
}

type tag struct {
	Key   *string `json:"Key"`
	Value *string `json:"Value,omitempty"`
}

type updateDestinationInput struct {
	DeliveryStreamName             *string   `json:"DeliveryStreamName"`
	CurrentDeliveryStreamVersionId *string   `json:"CurrentDeliveryStreamVersionId"`
	DestinationId                  *string   `json:"DestinationId"`
	S3DestinationUpdate            *s3Config `json:"S3DestinationUpdate"`
	ExtendedS3DestinationUpdate    *s3Config `json:"ExtendedS3DestinationUpdate"`
	// Other destinations: refused.
	RedshiftDestinationUpdate                json.RawMessage `json:"RedshiftDestinationUpdate"`
	ElasticsearchDestinationUpdate           json.RawMessage `json:"ElasticsearchDestinationUpdate"`
	AmazonopensearchserviceDestinationUpdate json.RawMessage `json:"AmazonopensearchserviceDestinationUpdate"`
	SplunkDestinationUpdate                  json.RawMessage `json:"SplunkDestinationUpdate"`
	HTTPEndpointDestinationUpdate            json.RawMessage `json:"HttpEndpointDestinationUpdate"`
}

type tagDeliveryStreamInput struct {
	DeliveryStreamName *string `json:"DeliveryStreamName"`
	Tags               []tag   `json:"Tags"`
}

type untagDeliveryStreamInput struct {
	DeliveryStreamName *string  `json:"DeliveryStreamName"`
	TagKeys            []string `json:"TagKeys"`
}

type listTagsInput struct {
	DeliveryStreamName   *string `json:"DeliveryStreamName"`
	ExclusiveStartTagKey *string `json:"ExclusiveStartTagKey"`
	Limit                *int    `json:"Limit"`
}

type tagOut struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type listTagsOutput struct {
	Tags        []tagOut `json:"Tags"`
	HasMoreTags bool     `json:"HasMoreTags"`
}

type createDeliveryStreamOutput struct {
	DeliveryStreamARN string `json:"DeliveryStreamARN"`
}

type describeDeliveryStreamInput struct {
	DeliveryStreamName          *string `json:"DeliveryStreamName"`
	Limit                       *int    `json:"Limit"`
	ExclusiveStartDestinationId *string `json:"ExclusiveStartDestinationId"`
}

type encryptionConfiguration struct {
	NoEncryptionConfig string `json:"NoEncryptionConfig"`
}

type hintsOut struct {
	SizeInMBs         int `json:"SizeInMBs"`
	IntervalInSeconds int `json:"IntervalInSeconds"`
}

type s3Description struct {
	RoleARN                 string                  `json:"RoleARN"`
	BucketARN               string                  `json:"BucketARN"`
	Prefix                  string                  `json:"Prefix,omitempty"`
	ErrorOutputPrefix       string                  `json:"ErrorOutputPrefix,omitempty"`
	BufferingHints          hintsOut                `json:"BufferingHints"`
	CompressionFormat       string                  `json:"CompressionFormat"`
	EncryptionConfiguration encryptionConfiguration `json:"EncryptionConfiguration"`
	S3BackupMode            string                  `json:"S3BackupMode,omitempty"`
	// Extended only.
	ProcessingConfiguration *processingConfiguration `json:"ProcessingConfiguration,omitempty"`
	FileExtension           string                   `json:"FileExtension,omitempty"`
	CustomTimeZone          string                   `json:"CustomTimeZone,omitempty"`
	DynamicPartitioning     *dynamicPartitioning     `json:"DynamicPartitioningConfiguration,omitempty"`
}

type destinationDescription struct {
	DestinationId                    string         `json:"DestinationId"`
	S3DestinationDescription         *s3Description `json:"S3DestinationDescription,omitempty"`
	ExtendedS3DestinationDescription *s3Description `json:"ExtendedS3DestinationDescription,omitempty"`
}

type streamEncryption struct {
	KeyType string `json:"KeyType,omitempty"`
	Status  string `json:"Status"`
}

type deliveryStreamDescription struct {
	DeliveryStreamName                    string                   `json:"DeliveryStreamName"`
	DeliveryStreamARN                     string                   `json:"DeliveryStreamARN"`
	DeliveryStreamStatus                  string                   `json:"DeliveryStreamStatus"`
	DeliveryStreamType                    string                   `json:"DeliveryStreamType"`
	VersionId                             string                   `json:"VersionId"`
	CreateTimestamp                       awsproto.Timestamp       `json:"CreateTimestamp"`
	DeliveryStreamEncryptionConfiguration streamEncryption         `json:"DeliveryStreamEncryptionConfiguration"`
	Source                                *sourceDescription       `json:"Source,omitempty"`
	Destinations                          []destinationDescription `json:"Destinations"`
	HasMoreDestinations                   bool                     `json:"HasMoreDestinations"`
}

type describeDeliveryStreamOutput struct {
	DeliveryStreamDescription deliveryStreamDescription `json:"DeliveryStreamDescription"`
}

type listDeliveryStreamsInput struct {
	Limit                            *int    `json:"Limit"`
	DeliveryStreamType               *string `json:"DeliveryStreamType"`
	ExclusiveStartDeliveryStreamName *string `json:"ExclusiveStartDeliveryStreamName"`
}

type listDeliveryStreamsOutput struct {
	DeliveryStreamNames    []string `json:"DeliveryStreamNames"`
	HasMoreDeliveryStreams bool     `json:"HasMoreDeliveryStreams"`
}

type deleteDeliveryStreamInput struct {
	DeliveryStreamName *string `json:"DeliveryStreamName"`
	AllowForceDelete   *bool   `json:"AllowForceDelete"`
}

type record struct {
	Data []byte `json:"Data"`
}

type putRecordInput struct {
	DeliveryStreamName *string `json:"DeliveryStreamName"`
	Record             *record `json:"Record"`
}

type putRecordOutput struct {
	RecordId  string `json:"RecordId"`
	Encrypted bool   `json:"Encrypted"`
}

type putRecordBatchInput struct {
	DeliveryStreamName *string  `json:"DeliveryStreamName"`
	Records            []record `json:"Records"`
}

type putRecordBatchResponseEntry struct {
	RecordId     string `json:"RecordId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

type putRecordBatchOutput struct {
	FailedPutCount   int                           `json:"FailedPutCount"`
	Encrypted        bool                          `json:"Encrypted"`
	RequestResponses []putRecordBatchResponseEntry `json:"RequestResponses"`
}
