package api

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/kinedge/kinedge/dataplane/awsproto"
)

// Input validation in the words of AWS's Coral-based services:
//
//	1 validation error detected: Value 'x!' at 'deliveryStreamName' failed
//	to satisfy constraint: Member must satisfy regular expression pattern:
//	[a-zA-Z0-9_.-]+
//
// Firehose sends these as InvalidArgumentException.

const (
	patName      = `[a-zA-Z0-9_.-]+`
	patBucketARN = `arn:.*:s3:::[\w\.\-]{1,255}`
)

var (
	reName      = regexp.MustCompile(`^(?:` + patName + `)$`)
	reBucketARN = regexp.MustCompile(`^(?:` + patBucketARN + `)$`)
	reVersion   = regexp.MustCompile(`^[0-9]{1,50}$`)
)

// validator collects the violations of one request.
type validator struct{ msgs []string }

func quote(v string) string {
	if len(v) > 256 {
		v = v[:256] + "..."
	}
	return "'" + v + "'"
}

func (v *validator) fail(value, path, constraint string) {
	v.msgs = append(v.msgs, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: Member must %s", value, path, constraint))
}

func (v *validator) required(ok bool, path string) {
	if !ok {
		v.fail("null", path, "not be null")
	}
}

// name checks a delivery stream name (required).
func (v *validator) name(s *string, path string) {
	if s == nil {
		v.required(false, path)
		return
	}
	switch {
	case len(*s) < 1:
		v.fail(quote(*s), path, "have length greater than or equal to 1")
	case len(*s) > 64:
		v.fail(quote(*s), path, "have length less than or equal to 64")
	case !reName.MatchString(*s):
		v.fail(quote(*s), path, "satisfy regular expression pattern: "+patName)
	}
}

func (v *validator) intRange(n *int, path string, lo, hi int) {
	if n == nil {
		return
	}
	if *n < lo {
		v.fail(quote(fmt.Sprint(*n)), path, fmt.Sprintf("have value greater than or equal to %d", lo))
	} else if *n > hi {
		v.fail(quote(fmt.Sprint(*n)), path, fmt.Sprintf("have value less than or equal to %d", hi))
	}
}

func (v *validator) maxLen(s *string, path string, hi int) {
	if s != nil && len(*s) > hi {
		v.fail(quote(*s), path, fmt.Sprintf("have length less than or equal to %d", hi))
	}
}

func (v *validator) err() error {
	switch len(v.msgs) {
	case 0:
		return nil
	case 1:
		return awsproto.Errorf(awsproto.InvalidArgumentException, "1 validation error detected: %s", v.msgs[0])
	default:
		return awsproto.Errorf(awsproto.InvalidArgumentException, "%d validation errors detected: %s", len(v.msgs), strings.Join(v.msgs, "; "))
	}
}

func checkS3(v *validator, c *s3Config, path string) { checkS3Member(v, c, path, false) }

// checkS3Member checks an S3 configuration, or an update (every member
// optional).
func checkS3Member(v *validator, c *s3Config, path string, update bool) {
	if c == nil {
		return
	}
	if c.BucketARN == nil {
		if !update {
			v.required(false, path+".bucketARN")
		}
	} else if !reBucketARN.MatchString(*c.BucketARN) {
		v.fail(quote(*c.BucketARN), path+".bucketARN", "satisfy regular expression pattern: "+patBucketARN)
	}
	v.maxLen(c.Prefix, path+".prefix", 1024)
	v.maxLen(c.ErrorOutputPrefix, path+".errorOutputPrefix", 1024)
	v.maxLen(c.FileExtension, path+".fileExtension", 128)
	v.maxLen(c.CustomTimeZone, path+".customTimeZone", 50)
	if pc := c.ProcessingConfiguration; pc != nil {
		if len(pc.Processors) > 5 {
			v.fail(quote(fmt.Sprintf("[%d processors]", len(pc.Processors))), path+".processingConfiguration.processors", "have length less than or equal to 5")
		}
		for i, pr := range pc.Processors {
			pp := fmt.Sprintf("%s.processingConfiguration.processors.%d", path, i+1)
			if pr.Type == nil {
				v.required(false, pp+".type")
			} else {
				switch *pr.Type {
				case "RecordDeAggregation", "Decompression", "CloudWatchLogProcessing", "Lambda", "MetadataExtraction", "AppendDelimiterToRecord":
				default:
					v.fail(quote(*pr.Type), pp+".type", "satisfy enum value set: [RecordDeAggregation, Decompression, CloudWatchLogProcessing, Lambda, MetadataExtraction, AppendDelimiterToRecord]")
				}
			}
			for j, par := range pr.Parameters {
				ppp := fmt.Sprintf("%s.parameters.%d", pp, j+1)
				v.required(par.ParameterName != nil, ppp+".parameterName")
				if par.ParameterValue == nil {
					v.required(false, ppp+".parameterValue")
				} else if len(*par.ParameterValue) < 1 || len(*par.ParameterValue) > 5120 {
					v.fail(quote(*par.ParameterValue), ppp+".parameterValue", "have length between 1 and 5120")
				}
			}
		}
	}
	if dp := c.DynamicPartitioning; dp != nil && dp.RetryOptions != nil {
		v.intRange(dp.RetryOptions.DurationInSeconds, path+".dynamicPartitioningConfiguration.retryOptions.durationInSeconds", 0, 7200)
	}
	if h := c.BufferingHints; h != nil {
		v.intRange(h.SizeInMBs, path+".bufferingHints.sizeInMBs", 1, 128)
		v.intRange(h.IntervalInSeconds, path+".bufferingHints.intervalInSeconds", 0, 900)
	}
	if f := c.CompressionFormat; f != nil {
		switch *f {
		case "UNCOMPRESSED", "GZIP", "ZIP", "Snappy", "HADOOP_SNAPPY":
		default:
			v.fail(quote(*f), path+".compressionFormat", "satisfy enum value set: [UNCOMPRESSED, GZIP, ZIP, Snappy, HADOOP_SNAPPY]")
		}
	}
}

func checkCreate(v *validator, in *createDeliveryStreamInput) {
	v.name(in.DeliveryStreamName, "deliveryStreamName")
	if t := in.DeliveryStreamType; t != nil {
		switch *t {
		case "DirectPut", "KinesisStreamAsSource", "MSKAsSource", "DatabaseAsSource":
		default:
			v.fail(quote(*t), "deliveryStreamType", "satisfy enum value set: [DirectPut, KinesisStreamAsSource, MSKAsSource, DatabaseAsSource]")
		}
	}
	if k := in.KinesisStreamSourceConfiguration; k != nil {
		if k.KinesisStreamARN == nil {
			v.required(false, "kinesisStreamSourceConfiguration.kinesisStreamARN")
		}
		v.maxLen(k.KinesisStreamARN, "kinesisStreamSourceConfiguration.kinesisStreamARN", 512)
		if k.RoleARN == nil {
			v.required(false, "kinesisStreamSourceConfiguration.roleARN")
		}
	}
	checkS3(v, in.S3DestinationConfiguration, "s3DestinationConfiguration")
	checkS3(v, in.ExtendedS3DestinationConfiguration, "extendedS3DestinationConfiguration")
	checkTags(v, in.Tags, "tags", false)
	checkEncryption(v, in.Encryption, "deliveryStreamEncryptionConfigurationInput")
}

func checkDescribe(v *validator, in *describeDeliveryStreamInput) {
	v.name(in.DeliveryStreamName, "deliveryStreamName")
	v.intRange(in.Limit, "limit", 1, 10000)
}

func checkList(v *validator, in *listDeliveryStreamsInput) {
	v.intRange(in.Limit, "limit", 1, 10000)
	if s := in.ExclusiveStartDeliveryStreamName; s != nil {
		v.name(s, "exclusiveStartDeliveryStreamName")
	}
}

func checkDelete(v *validator, in *deleteDeliveryStreamInput) {
	v.name(in.DeliveryStreamName, "deliveryStreamName")
}

func checkPutRecord(v *validator, in *putRecordInput) {
	v.name(in.DeliveryStreamName, "deliveryStreamName")
	if in.Record == nil {
		v.required(false, "record")
		return
	}
	if in.Record.Data == nil {
		v.required(false, "record.data")
	} else if len(in.Record.Data) > maxRecord {
		v.fail("'java.nio.HeapByteBuffer[pos=0 lim="+fmt.Sprint(len(in.Record.Data))+"]'", "record.data", fmt.Sprintf("have length less than or equal to %d", maxRecord))
	}
}

func checkPutRecordBatch(v *validator, in *putRecordBatchInput) {
	v.name(in.DeliveryStreamName, "deliveryStreamName")
	switch {
	case in.Records == nil:
		v.required(false, "records")
	case len(in.Records) < 1:
		v.fail("'[]'", "records", "have length greater than or equal to 1")
	case len(in.Records) > maxBatchRecords:
		v.fail(quote(fmt.Sprintf("[%d records]", len(in.Records))), "records", fmt.Sprintf("have length less than or equal to %d", maxBatchRecords))
	}
}

func checkTags(v *validator, tags []tag, path string, required bool) {
	switch {
	case tags == nil && !required:
		return
	case tags == nil:
		v.required(false, path)
	case len(tags) < 1:
		v.fail("'[]'", path, "have length greater than or equal to 1")
	case len(tags) > 50:
		v.fail(quote(fmt.Sprintf("[%d tags]", len(tags))), path, "have length less than or equal to 50")
	}
	for i, t := range tags {
		p := fmt.Sprintf("%s.%d", path, i+1)
		if t.Key == nil {
			v.required(false, p+".member.key")
			continue
		}
		if len(*t.Key) < 1 {
			v.fail(quote(*t.Key), p+".member.key", "have length greater than or equal to 1")
		}
		v.maxLen(t.Key, p+".member.key", 128)
		v.maxLen(t.Value, p+".member.value", 256)
	}
}

func checkUpdate(v *validator, in *updateDestinationInput) {
	v.name(in.DeliveryStreamName, "deliveryStreamName")
	if id := in.CurrentDeliveryStreamVersionId; id == nil {
		v.required(false, "currentDeliveryStreamVersionId")
	} else if !reVersion.MatchString(*id) {
		v.fail(quote(*id), "currentDeliveryStreamVersionId", "satisfy regular expression pattern: [0-9]+")
	}
	if id := in.DestinationId; id == nil {
		v.required(false, "destinationId")
	} else if len(*id) < 1 || len(*id) > 100 {
		v.fail(quote(*id), "destinationId", "have length between 1 and 100")
	}
	checkS3Member(v, in.S3DestinationUpdate, "s3DestinationUpdate", true)
	checkS3Member(v, in.ExtendedS3DestinationUpdate, "extendedS3DestinationUpdate", true)
}

func checkTag(v *validator, in *tagDeliveryStreamInput) {
	v.name(in.DeliveryStreamName, "deliveryStreamName")
	checkTags(v, in.Tags, "tags", true)
}

func checkUntag(v *validator, in *untagDeliveryStreamInput) {
	v.name(in.DeliveryStreamName, "deliveryStreamName")
	switch {
	case in.TagKeys == nil:
		v.required(false, "tagKeys")
	case len(in.TagKeys) < 1:
		v.fail("'[]'", "tagKeys", "have length greater than or equal to 1")
	case len(in.TagKeys) > 50:
		v.fail(quote(fmt.Sprintf("[%d keys]", len(in.TagKeys))), "tagKeys", "have length less than or equal to 50")
	}
}

func checkListTags(v *validator, in *listTagsInput) {
	v.name(in.DeliveryStreamName, "deliveryStreamName")
	v.intRange(in.Limit, "limit", 1, 50)
}

func checkEncryption(v *validator, c *encryptionIn, path string) {
	if c == nil {
		return
	}
	if c.KeyType == nil {
		v.required(false, path+".keyType")
	} else if *c.KeyType != "AWS_OWNED_CMK" && *c.KeyType != "CUSTOMER_MANAGED_CMK" {
		v.fail(quote(*c.KeyType), path+".keyType", "satisfy enum value set: [AWS_OWNED_CMK, CUSTOMER_MANAGED_CMK]")
	}
	v.maxLen(c.KeyARN, path+".keyARN", 512)
}

func checkStartEncryption(v *validator, in *startEncryptionInput) {
	v.name(in.DeliveryStreamName, "deliveryStreamName")
	checkEncryption(v, in.Encryption, "deliveryStreamEncryptionConfigurationInput")
}

func checkStopEncryption(v *validator, in *stopEncryptionInput) {
	v.name(in.DeliveryStreamName, "deliveryStreamName")
}
