package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kinedge/kinedge/firehose"
	"github.com/kinedge/kinedge/index/store"
)

// FuzzHandler sends arbitrary bodies to every operation: the handler
// answers each with a status of AWS's and a JSON body, and never panics.
func FuzzHandler(f *testing.F) {
	for _, seed := range []struct{ op, body string }{
		{"CreateDeliveryStream", `{"DeliveryStreamName":"s","ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::bkt","BufferingHints":{"SizeInMBs":1,"IntervalInSeconds":900},"CompressionFormat":"GZIP"}}`},
		{"CreateDeliveryStream", `{"DeliveryStreamName":"t","S3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::b.k-t","Prefix":"p/"}}`},
		{"PutRecord", `{"DeliveryStreamName":"s","Record":{"Data":"aGVsbG8="}}`},
		{"PutRecordBatch", `{"DeliveryStreamName":"s","Records":[{"Data":"YQ=="},{"Data":""}]}`},
		{"DescribeDeliveryStream", `{"DeliveryStreamName":"s","Limit":1}`},
		{"ListDeliveryStreams", `{"Limit":10000,"ExclusiveStartDeliveryStreamName":"a"}`},
		{"DeleteDeliveryStream", `{"DeliveryStreamName":"s"}`},
		{"PutRecordBatch", `{"Records":null}`},
		{"UpdateDestination", `{"DeliveryStreamName":"s","CurrentDeliveryStreamVersionId":"1","DestinationId":"destinationId-000000000001","ExtendedS3DestinationUpdate":{"Prefix":"a/!{timestamp:yyyy}/","ErrorOutputPrefix":"e/!{firehose:error-output-type}/"}}`},
		{"TagDeliveryStream", `{"DeliveryStreamName":"s","Tags":[{"Key":"k","Value":"v"}]}`},
		{"UntagDeliveryStream", `{"DeliveryStreamName":"s","TagKeys":["k"]}`},
		{"ListTagsForDeliveryStream", `{"DeliveryStreamName":"s","Limit":1,"ExclusiveStartTagKey":"a"}`},
		{"CreateDeliveryStream", `{"DeliveryStreamName":"p","ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::bkt","Prefix":"!{firehose:random-string}/","ErrorOutputPrefix":"e/","CustomTimeZone":"Asia/Tokyo","FileExtension":".x","ProcessingConfiguration":{"Enabled":true,"Processors":[{"Type":"AppendDelimiterToRecord"}]}},"Tags":[{"Key":"a"}]}`},
		{"StartDeliveryStreamEncryption", `{"DeliveryStreamName":"s","DeliveryStreamEncryptionConfigurationInput":{"KeyType":"AWS_OWNED_CMK"}}`},
		{"StopDeliveryStreamEncryption", `{"DeliveryStreamName":"s"}`},
		{"CreateDeliveryStream", `{"DeliveryStreamName":"k","DeliveryStreamType":"KinesisStreamAsSource","KinesisStreamSourceConfiguration":{"KinesisStreamARN":"arn:aws:kinesis:us-east-1:0:stream/x","RoleARN":"r","StartingPosition":"TRIM_HORIZON"},"ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::bkt"}}`},
		{"ListDeliveryStreams", `{"DeliveryStreamType":"KinesisStreamAsSource"}`},
		{"CreateDeliveryStream", `{"DeliveryStreamName":"dp","ExtendedS3DestinationConfiguration":{"BucketARN":"arn:aws:s3:::bkt","Prefix":"c=!{partitionKeyFromQuery:c}/","ErrorOutputPrefix":"e/","BufferingHints":{"SizeInMBs":64,"IntervalInSeconds":60},"DynamicPartitioningConfiguration":{"Enabled":true,"RetryOptions":{"DurationInSeconds":300}},"ProcessingConfiguration":{"Enabled":true,"Processors":[{"Type":"MetadataExtraction","Parameters":[{"ParameterName":"MetadataExtractionQuery","ParameterValue":"{c: .a[\"b c\"][0]}"},{"ParameterName":"JsonParsingEngine","ParameterValue":"JQ-1.6"}]}]}}}`},
		{"PutRecordBatch", `{"DeliveryStreamName":"dp","Records":[{"Data":"eyJhIjp7ImIgYyI6WyJ4Il19fQ=="},{"Data":"bm90IGpzb24="}]}`},
		{"Nope", `{}`},
	} {
		f.Add(seed.op, []byte(seed.body))
	}
	db, err := store.Open(store.Options{InMemory: true, MemTableSize: 8 << 20, BlockCacheSize: 1 << 20, IndexCacheSize: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	sp, err := db.Space("f/")
	if err != nil {
		f.Fatal(err)
	}
	e, err := firehose.Open(firehose.Options{Space: sp, Destination: nullDest{}, MaxStreams: 5, SpoolBytes: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	defer e.Close()
	h := &Handler{Engine: e}
	f.Fuzz(func(t *testing.T, op string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		r.Header.Set("X-Amz-Target", TargetPrefix+op)
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusServiceUnavailable, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("%s %q: HTTP %d %s", op, body, w.Code, w.Body.String())
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %q: body %q is not JSON", op, body, w.Body.String())
		}
	})
}
