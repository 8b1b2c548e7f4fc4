package api

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/firehose"
)

func (h *Handler) create(ctx context.Context, in *createDeliveryStreamInput) (any, error) {
	typ := "DirectPut"
	if in.DeliveryStreamType != nil {
		typ = *in.DeliveryStreamType
	}
	if typ != "DirectPut" || in.KinesisStreamSourceConfiguration != nil {
		return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "DeliveryStreamType %s is not supported by this appliance yet: only DirectPut.", typ)
	}
	for _, other := range []struct {
		set  bool
		name string
	}{
		{in.RedshiftDestinationConfiguration != nil, "RedshiftDestinationConfiguration"},
		{in.ElasticsearchDestination != nil, "ElasticsearchDestinationConfiguration"},
		{in.AmazonopensearchserviceDestination != nil, "AmazonopensearchserviceDestinationConfiguration"},
		{in.SplunkDestinationConfiguration != nil, "SplunkDestinationConfiguration"},
		{in.HTTPEndpointDestination != nil, "HttpEndpointDestinationConfiguration"},
	} {
		if other.set {
			return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "%s is not supported by this appliance: only S3 destinations.", other.name)
		}
	}
	c, extended := in.ExtendedS3DestinationConfiguration, true
	switch {
	case c != nil && in.S3DestinationConfiguration != nil:
		return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "Exactly one destination configuration is supported.")
	case c == nil && in.S3DestinationConfiguration == nil:
		return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "Exactly one destination configuration is supported.")
	case c == nil:
		c, extended = in.S3DestinationConfiguration, false
	}
	for _, unsupported := range []struct {
		set  bool
		name string
	}{
		{c.DynamicPartitioning != nil, "DynamicPartitioningConfiguration"},
		{c.DataFormatConversion != nil, "DataFormatConversionConfiguration"},
		{c.S3BackupConfiguration != nil, "S3BackupConfiguration"},
		{c.S3BackupMode != nil && *c.S3BackupMode != "Disabled", "S3BackupMode"},
	} {
		if unsupported.set {
			return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "%s is not supported by this appliance yet.", unsupported.name)
		}
	}
	if !extended && (c.ProcessingConfiguration != nil || c.FileExtension != nil || c.CustomTimeZone != nil) {
		return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "ProcessingConfiguration, FileExtension and CustomTimeZone belong to ExtendedS3DestinationConfiguration.")
	}
	dest := firehose.S3Destination{BucketARN: deref(c.BucketARN), RoleARN: deref(c.RoleARN), Prefix: deref(c.Prefix),
		ErrorOutputPrefix: deref(c.ErrorOutputPrefix), Compression: deref(c.CompressionFormat), Extended: extended,
		FileExtension: deref(c.FileExtension), CustomTimeZone: deref(c.CustomTimeZone), Processing: processingIn(c.ProcessingConfiguration)}
	dest.SizeInMBs, dest.IntervalInSeconds = 5, 300
	if hints := c.BufferingHints; hints != nil {
		if hints.SizeInMBs != nil {
			dest.SizeInMBs = *hints.SizeInMBs
		}
		if hints.IntervalInSeconds != nil {
			dest.IntervalInSeconds = *hints.IntervalInSeconds
		}
	}
	s, err := h.Engine.Create(ctx, *in.DeliveryStreamName, dest)
	if err != nil {
		return nil, err
	}
	return createDeliveryStreamOutput{DeliveryStreamARN: s.ARN}, nil
}

// processingIn maps a ProcessingConfiguration to the engine's.
func processingIn(c *processingConfiguration) *firehose.Processing {
	if c == nil {
		return nil
	}
	p := &firehose.Processing{Enabled: c.Enabled != nil && *c.Enabled}
	for _, pr := range c.Processors {
		q := firehose.Processor{Type: deref(pr.Type)}
		for _, par := range pr.Parameters {
			q.Parameters = append(q.Parameters, firehose.Parameter{Name: deref(par.ParameterName), Value: deref(par.ParameterValue)})
		}
		p.Processors = append(p.Processors, q)
	}
	return p
}

// processingOut describes a Processing as AWS does.
func processingOut(p *firehose.Processing) *processingConfiguration {
	if p == nil {
		return nil
	}
	c := &processingConfiguration{Enabled: &p.Enabled, Processors: []processor{}}
	for _, pr := range p.Processors {
		q := processor{Type: &pr.Type}
		for _, par := range pr.Parameters {
			q.Parameters = append(q.Parameters, processorParameter{ParameterName: &par.Name, ParameterValue: &par.Value})
		}
		c.Processors = append(c.Processors, q)
	}
	return c
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (h *Handler) describe(_ context.Context, in *describeDeliveryStreamInput) (any, error) {
	s, err := h.Engine.Describe(*in.DeliveryStreamName)
	if err != nil {
		return nil, err
	}
	d := s.Destination
	desc := &s3Description{
		RoleARN: d.RoleARN, BucketARN: d.BucketARN, Prefix: d.Prefix, ErrorOutputPrefix: d.ErrorOutputPrefix,
		BufferingHints:          hintsOut{SizeInMBs: d.SizeInMBs, IntervalInSeconds: d.IntervalInSeconds},
		CompressionFormat:       d.Compression,
		EncryptionConfiguration: encryptionConfiguration{NoEncryptionConfig: "NoEncryption"},
	}
	dd := destinationDescription{DestinationId: "destinationId-000000000001"}
	// AWS describes an S3 destination in both shapes, the extended one
	// with its backup mode.
	plain := *desc
	dd.S3DestinationDescription = &plain
	ext := *desc
	ext.S3BackupMode = "Disabled"
	ext.ProcessingConfiguration = processingOut(d.Processing)
	ext.FileExtension, ext.CustomTimeZone = d.FileExtension, d.CustomTimeZone
	dd.ExtendedS3DestinationDescription = &ext
	return describeDeliveryStreamOutput{DeliveryStreamDescription: deliveryStreamDescription{
		DeliveryStreamName: s.Name, DeliveryStreamARN: s.ARN, DeliveryStreamStatus: s.Status,
		DeliveryStreamType: s.Type, VersionId: strconv.Itoa(s.VersionID),
		CreateTimestamp:                       awsproto.Timestamp{Time: s.Created},
		DeliveryStreamEncryptionConfiguration: streamEncryption{Status: "DISABLED"},
		Destinations:                          []destinationDescription{dd},
	}}, nil
}

func (h *Handler) list(_ context.Context, in *listDeliveryStreamsInput) (any, error) {
	limit := 10
	if in.Limit != nil {
		limit = *in.Limit
	}
	names := h.Engine.List()
	if in.DeliveryStreamType != nil && *in.DeliveryStreamType != "DirectPut" {
		names = nil
	}
	if start := in.ExclusiveStartDeliveryStreamName; start != nil {
		i, found := slices.BinarySearch(names, *start)
		if found {
			i++
		}
		names = names[i:]
	}
	out := listDeliveryStreamsOutput{DeliveryStreamNames: names, HasMoreDeliveryStreams: len(names) > limit}
	if len(names) > limit {
		out.DeliveryStreamNames = names[:limit]
	}
	if out.DeliveryStreamNames == nil {
		out.DeliveryStreamNames = []string{}
	}
	return out, nil
}

func (h *Handler) delete(ctx context.Context, in *deleteDeliveryStreamInput) (any, error) {
	if err := h.Engine.Delete(ctx, *in.DeliveryStreamName); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (h *Handler) putRecord(ctx context.Context, in *putRecordInput) (any, error) {
	ids, err := h.Engine.Put(ctx, *in.DeliveryStreamName, [][]byte{in.Record.Data})
	if err != nil {
		return nil, err
	}
	return putRecordOutput{RecordId: ids[0]}, nil
}

func (h *Handler) putRecordBatch(ctx context.Context, in *putRecordBatchInput) (any, error) {
	total := 0
	for _, r := range in.Records {
		total += len(r.Data)
	}
	if total > maxBatchBytes {
		return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "Records size exceeds %d bytes limit", maxBatchBytes)
	}
	out := putRecordBatchOutput{RequestResponses: make([]putRecordBatchResponseEntry, len(in.Records))}
	var data [][]byte
	var at []int // index in Records of each entry of data
	for i, r := range in.Records {
		if len(r.Data) > maxRecord {
			out.RequestResponses[i] = putRecordBatchResponseEntry{ErrorCode: awsproto.InvalidArgumentException,
				ErrorMessage: fmt.Sprintf("Record size %d exceeds the %d bytes (1,000 KiB) limit", len(r.Data), maxRecord)}
			out.FailedPutCount++
			continue
		}
		data = append(data, r.Data)
		at = append(at, i)
	}
	if len(data) == 0 {
		return out, nil
	}
	ids, err := h.Engine.Put(ctx, *in.DeliveryStreamName, data)
	if err != nil && len(ids) == 0 {
		return nil, err
	}
	for j, i := range at {
		if j < len(ids) {
			out.RequestResponses[i].RecordId = ids[j]
			continue
		}
		ae, _ := awsError(err)
		out.RequestResponses[i] = putRecordBatchResponseEntry{ErrorCode: ae.Type, ErrorMessage: ae.Message}
		out.FailedPutCount++
	}
	return out, nil
}
