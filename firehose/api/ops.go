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
	switch {
	case typ == firehose.TypeKinesisSource && in.KinesisStreamSourceConfiguration == nil:
		return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "KinesisStreamSourceConfiguration is required for DeliveryStreamType KinesisStreamAsSource.")
	case typ == firehose.TypeDirectPut && in.KinesisStreamSourceConfiguration != nil:
		return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "KinesisStreamSourceConfiguration is only for DeliveryStreamType KinesisStreamAsSource.")
	case typ != firehose.TypeDirectPut && typ != firehose.TypeKinesisSource:
		return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "DeliveryStreamType %s is not supported by this appliance: only DirectPut and KinesisStreamAsSource.", typ)
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
	if err := unsupported(c); err != nil {
		return nil, err
	}
	if !extended && (c.ProcessingConfiguration != nil || c.FileExtension != nil || c.CustomTimeZone != nil || c.DynamicPartitioning != nil) {
		return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "ProcessingConfiguration, FileExtension, CustomTimeZone and DynamicPartitioningConfiguration belong to ExtendedS3DestinationConfiguration.")
	}
	dest := firehose.S3Destination{BucketARN: deref(c.BucketARN), RoleARN: deref(c.RoleARN), Prefix: deref(c.Prefix),
		ErrorOutputPrefix: deref(c.ErrorOutputPrefix), Compression: deref(c.CompressionFormat), Extended: extended,
		FileExtension: deref(c.FileExtension), CustomTimeZone: deref(c.CustomTimeZone), Processing: processingIn(c.ProcessingConfiguration)}
	dest.DynamicPartitioning = partitioningIn(c.DynamicPartitioning)
	dest.SizeInMBs, dest.IntervalInSeconds = 5, 300
	if dest.DynamicPartitioning != nil && dest.DynamicPartitioning.Enabled {
		dest.SizeInMBs = firehose.MinPartitionedSizeInMBs // AWS's smallest, and default, with partitioning
	}
	if hints := c.BufferingHints; hints != nil {
		if hints.SizeInMBs != nil {
			dest.SizeInMBs = *hints.SizeInMBs
		}
		if hints.IntervalInSeconds != nil {
			dest.IntervalInSeconds = *hints.IntervalInSeconds
		}
	}
	keyType := ""
	if enc := in.Encryption; enc != nil {
		keyType = deref(enc.KeyType)
		if err := encryptable(h.Engine, keyType); err != nil {
			return nil, err
		}
	}
	var s firehose.Stream
	var err error
	if k := in.KinesisStreamSourceConfiguration; k != nil {
		s, err = h.Engine.CreateFromSource(ctx, *in.DeliveryStreamName, firehose.KinesisSource{
			StreamARN: deref(k.KinesisStreamARN), RoleARN: deref(k.RoleARN), StartingPosition: deref(k.StartingPosition),
		}, dest, tagsIn(in.Tags))
	} else {
		s, err = h.Engine.CreateTagged(ctx, *in.DeliveryStreamName, dest, tagsIn(in.Tags))
	}
	if err != nil {
		return nil, err
	}
	if in.Encryption != nil {
		if err := h.Engine.StartEncryption(ctx, s.Name, keyType); err != nil {
			return nil, err
		}
	}
	return createDeliveryStreamOutput{DeliveryStreamARN: s.ARN}, nil
}

func tagsIn(tags []tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[deref(t.Key)] = deref(t.Value)
	}
	return m
}

// destinationID is the id of a delivery stream's one destination.
const destinationID = "destinationId-000000000001"

func (h *Handler) update(ctx context.Context, in *updateDestinationInput) (any, error) {
	for _, other := range []struct {
		set  bool
		name string
	}{
		{in.RedshiftDestinationUpdate != nil, "RedshiftDestinationUpdate"},
		{in.ElasticsearchDestinationUpdate != nil, "ElasticsearchDestinationUpdate"},
		{in.AmazonopensearchserviceDestinationUpdate != nil, "AmazonopensearchserviceDestinationUpdate"},
		{in.SplunkDestinationUpdate != nil, "SplunkDestinationUpdate"},
		{in.HTTPEndpointDestinationUpdate != nil, "HttpEndpointDestinationUpdate"},
	} {
		if other.set {
			return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "%s is not supported by this appliance: only S3 destinations.", other.name)
		}
	}
	c, extended := in.ExtendedS3DestinationUpdate, true
	switch {
	case c != nil && in.S3DestinationUpdate != nil:
		return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "Exactly one destination update is supported.")
	case c == nil && in.S3DestinationUpdate == nil:
		return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "Exactly one destination update is supported.")
	case c == nil:
		c, extended = in.S3DestinationUpdate, false
	}
	if err := unsupported(c); err != nil {
		return nil, err
	}
	if !extended && (c.ProcessingConfiguration != nil || c.FileExtension != nil || c.CustomTimeZone != nil || c.DynamicPartitioning != nil) {
		return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "ProcessingConfiguration, FileExtension, CustomTimeZone and DynamicPartitioningConfiguration belong to ExtendedS3DestinationUpdate.")
	}
	if *in.DestinationId != destinationID {
		return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "Destination %s not found: the delivery stream's destination is %s.", *in.DestinationId, destinationID)
	}
	version, err := strconv.Atoi(*in.CurrentDeliveryStreamVersionId)
	if err != nil {
		return nil, awsproto.Errorf(awsproto.InvalidArgumentException, "CurrentDeliveryStreamVersionId %s is not a version.", *in.CurrentDeliveryStreamVersionId)
	}
	_, err = h.Engine.Update(ctx, *in.DeliveryStreamName, version, func(d *firehose.S3Destination) {
		set := func(dst *string, src *string) {
			if src != nil {
				*dst = *src
			}
		}
		set(&d.BucketARN, c.BucketARN)
		set(&d.RoleARN, c.RoleARN)
		set(&d.Prefix, c.Prefix)
		set(&d.ErrorOutputPrefix, c.ErrorOutputPrefix)
		set(&d.Compression, c.CompressionFormat)
		set(&d.FileExtension, c.FileExtension)
		set(&d.CustomTimeZone, c.CustomTimeZone)
		if hints := c.BufferingHints; hints != nil {
			if hints.SizeInMBs != nil {
				d.SizeInMBs = *hints.SizeInMBs
			}
			if hints.IntervalInSeconds != nil {
				d.IntervalInSeconds = *hints.IntervalInSeconds
			}
		}
		if c.ProcessingConfiguration != nil {
			d.Processing = processingIn(c.ProcessingConfiguration)
		}
		if c.DynamicPartitioning != nil {
			d.DynamicPartitioning = partitioningIn(c.DynamicPartitioning)
		}
		d.Extended = d.Extended || extended
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (h *Handler) tag(ctx context.Context, in *tagDeliveryStreamInput) (any, error) {
	if err := h.Engine.Tag(ctx, *in.DeliveryStreamName, tagsIn(in.Tags)); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (h *Handler) untag(ctx context.Context, in *untagDeliveryStreamInput) (any, error) {
	if err := h.Engine.Untag(ctx, *in.DeliveryStreamName, in.TagKeys); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (h *Handler) listTags(_ context.Context, in *listTagsInput) (any, error) {
	keys, tags, err := h.Engine.Tags(*in.DeliveryStreamName)
	if err != nil {
		return nil, err
	}
	if start := in.ExclusiveStartTagKey; start != nil {
		i, found := slices.BinarySearch(keys, *start)
		if found {
			i++
		}
		keys = keys[i:]
	}
	limit := firehose.MaxTags
	if in.Limit != nil {
		limit = *in.Limit
	}
	out := listTagsOutput{Tags: []tagOut{}, HasMoreTags: len(keys) > limit}
	for _, k := range keys[:min(limit, len(keys))] {
		out.Tags = append(out.Tags, tagOut{Key: k, Value: tags[k]})
	}
	return out, nil
}

// partitioningIn maps a DynamicPartitioningConfiguration to the
// engine's (RetryOptions.DurationInSeconds: AWS's default 300).
func partitioningIn(c *dynamicPartitioning) *firehose.DynamicPartitioning {
	if c == nil {
		return nil
	}
	p := &firehose.DynamicPartitioning{Enabled: c.Enabled != nil && *c.Enabled, RetryDurationInSeconds: 300}
	if c.RetryOptions != nil && c.RetryOptions.DurationInSeconds != nil {
		p.RetryDurationInSeconds = *c.RetryOptions.DurationInSeconds
	}
	return p
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

// unsupported refuses the members of an S3 destination the appliance
// does not serve.
func unsupported(c *s3Config) error {
	for _, unsupported := range []struct {
		set  bool
		name string
	}{
		{c.DataFormatConversion != nil, "DataFormatConversionConfiguration"},
		{c.S3BackupConfiguration != nil, "S3BackupConfiguration"},
		{c.S3BackupMode != nil && *c.S3BackupMode != "Disabled", "S3BackupMode"},
		{c.EncryptionConfiguration != nil && c.EncryptionConfiguration.KMSEncryptionConfig != nil, "EncryptionConfiguration.KMSEncryptionConfig (SSE-KMS of the objects)"},
	} {
		if unsupported.set {
			return awsproto.Errorf(awsproto.InvalidArgumentException, "%s is not supported by this appliance yet.", unsupported.name)
		}
	}
	return nil
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
	if p := d.DynamicPartitioning; p != nil {
		ext.DynamicPartitioning = &dynamicPartitioning{Enabled: &p.Enabled, RetryOptions: &retryOptions{DurationInSeconds: &p.RetryDurationInSeconds}}
	}
	dd.ExtendedS3DestinationDescription = &ext
	var src *sourceDescription
	if k := s.Source; k != nil {
		src = &sourceDescription{KinesisStreamSourceDescription: &kinesisSourceDescription{
			KinesisStreamARN: k.StreamARN, RoleARN: k.RoleARN, DeliveryStartTimestamp: awsproto.Timestamp{Time: s.Created}}}
	}
	return describeDeliveryStreamOutput{DeliveryStreamDescription: deliveryStreamDescription{
		Source:             src,
		DeliveryStreamName: s.Name, DeliveryStreamARN: s.ARN, DeliveryStreamStatus: s.Status,
		DeliveryStreamType: s.Type, VersionId: strconv.Itoa(s.VersionID),
		CreateTimestamp:                       awsproto.Timestamp{Time: s.Created},
		DeliveryStreamEncryptionConfiguration: encryptionOut(s.Encryption),
		Destinations:                          []destinationDescription{dd},
	}}, nil
}

func (h *Handler) list(_ context.Context, in *listDeliveryStreamsInput) (any, error) {
	limit := 10
	if in.Limit != nil {
		limit = *in.Limit
	}
	names := h.Engine.List()
	if t := in.DeliveryStreamType; t != nil {
		var keep []string
		for _, n := range names {
			if s, err := h.Engine.Describe(n); err == nil && s.Type == *t {
				keep = append(keep, n)
			}
		}
		names = keep
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
	return putRecordOutput{RecordId: ids[0], Encrypted: h.encrypted(*in.DeliveryStreamName)}, nil
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
	out.Encrypted = h.encrypted(*in.DeliveryStreamName)
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

// encryptable refuses server-side encryption the engine cannot give.
func encryptable(e *firehose.Engine, keyType string) error {
	if keyType != "" && keyType != firehose.KeyAWSOwned {
		return awsproto.Errorf(awsproto.InvalidArgumentException, "KeyType %s is not supported by this appliance: records are sealed with the appliance's own keyring (AWS_OWNED_CMK).", keyType)
	}
	if !e.CanEncrypt() {
		return awsproto.Errorf(awsproto.InvalidArgumentException, "This appliance has no keyring to seal records with: server-side encryption is not available.")
	}
	return nil
}

func encryptionOut(c *firehose.Encryption) streamEncryption {
	if c == nil {
		return streamEncryption{Status: firehose.EncryptionDisabled}
	}
	return streamEncryption{KeyType: c.KeyType, Status: c.Status}
}

// encrypted reports whether stream name seals the records put now.
func (h *Handler) encrypted(name string) bool {
	s, err := h.Engine.Describe(name)
	return err == nil && s.Encryption.Enabled()
}

func (h *Handler) startEncryption(ctx context.Context, in *startEncryptionInput) (any, error) {
	keyType := ""
	if in.Encryption != nil {
		keyType = deref(in.Encryption.KeyType)
	}
	if err := encryptable(h.Engine, keyType); err != nil {
		return nil, err
	}
	if err := h.Engine.StartEncryption(ctx, *in.DeliveryStreamName, keyType); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (h *Handler) stopEncryption(ctx context.Context, in *stopEncryptionInput) (any, error) {
	if err := h.Engine.StopEncryption(ctx, *in.DeliveryStreamName); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}
