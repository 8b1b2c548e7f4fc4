package firehose

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // CustomTimeZone on a board without /usr/share/zoneinfo
)

// Compression formats of an S3 destination (AWS's CompressionFormat).
const (
	Uncompressed = "UNCOMPRESSED"
	GZIP         = "GZIP"
	ZIP          = "ZIP"
	Snappy       = "Snappy"
	HadoopSnappy = "HADOOP_SNAPPY"
)

// Delivery stream types.
const (
	TypeDirectPut     = "DirectPut"
	TypeKinesisSource = "KinesisStreamAsSource"
)

// Delivery stream statuses.
const (
	StatusCreating = "CREATING"
	StatusActive   = "ACTIVE"
)

// S3Destination is where a delivery stream writes its objects.
type S3Destination struct {
	// BucketARN is arn:aws:s3:::<bucket>, on the appliance's S3 server.
	BucketARN string `json:"bucketArn"`
	// RoleARN is kept and described; the appliance does not assume roles.
	RoleARN string `json:"roleArn,omitempty"`
	// Prefix is put before the object names; empty: YYYY/MM/dd/HH/. A
	// prefix without a !{timestamp:…} expression gets YYYY/MM/dd/HH/
	// after it, as in AWS. Expressions: !{timestamp:<pattern>} (yyyy, MM,
	// dd, HH, mm, ss, quoted literals) and !{firehose:random-string}.
	Prefix string `json:"prefix,omitempty"`
	// ErrorOutputPrefix is put before the objects of failed records
	// (processing-failed) and of batches S3 refused for Options.RetryFor
	// (s3-failed). Empty: Prefix then the error output type. Without
	// expressions it is followed by <error-output-type>/YYYY/MM/dd/HH/;
	// with expressions it must hold !{firehose:error-output-type}.
	ErrorOutputPrefix string `json:"errorOutputPrefix,omitempty"`
	// FileExtension replaces the compression's extension (AWS's pattern
	// ^$|\.[0-9a-z!\-_.*'()]+).
	FileExtension string `json:"fileExtension,omitempty"`
	// CustomTimeZone is the IANA zone of the default prefix, the
	// timestamp expressions and the key's time; empty: UTC.
	CustomTimeZone string `json:"customTimeZone,omitempty"`
	// Processing is the ProcessingConfiguration, as configured.
	Processing *Processing `json:"processing,omitempty"`
	// SizeInMBs (1–128, default 5) and IntervalInSeconds (0–900, default
	// 300): an object is written when either is reached.
	SizeInMBs         int `json:"sizeInMBs"`
	IntervalInSeconds int `json:"intervalInSeconds"`
	// Compression is one of Uncompressed, GZIP, ZIP, Snappy, HadoopSnappy.
	Compression string `json:"compression"`
	// Extended tells whether it was configured as an
	// ExtendedS3DestinationConfiguration (else S3DestinationConfiguration).
	Extended bool `json:"extended,omitempty"`
	// DynamicPartitioning is the DynamicPartitioningConfiguration (nil:
	// none given).
	DynamicPartitioning *DynamicPartitioning `json:"dynamicPartitioning,omitempty"`
}

// DynamicPartitioning is a DynamicPartitioningConfiguration.
type DynamicPartitioning struct {
	Enabled bool `json:"enabled"`
	// RetryDurationInSeconds is RetryOptions.DurationInSeconds (0–7200,
	// AWS's default 300), kept and described: how long a batch is
	// retried before it goes under the error prefix is
	// Options.RetryFor, as for every stream.
	RetryDurationInSeconds int `json:"retryDurationInSeconds"`
}

// partitioned reports whether dynamic partitioning is enabled.
func (d *S3Destination) partitioned() bool {
	return d.DynamicPartitioning != nil && d.DynamicPartitioning.Enabled
}

// MinPartitionedSizeInMBs is AWS's smallest buffer size of a stream with
// dynamic partitioning.
const MinPartitionedSizeInMBs = 64

// checkPartitioning applies AWS's rules of dynamic partitioning to d
// (whose prefixes p are parsed).
func (d *S3Destination) checkPartitioning(p prefixes) error {
	if hasExpr(p.failed, nsQuery, "") || hasExpr(p.failed, nsLambda, "") {
		return errorf(ErrInvalidArgument, "ErrorOutputPrefix cannot contain !{partitionKeyFromQuery:…} or !{partitionKeyFromLambda:…}: failed records have no partition keys.")
	}
	q := d.Processing.metadataQuery()
	if !d.partitioned() {
		switch {
		case hasExpr(p.ok, nsQuery, "") || hasExpr(p.ok, nsLambda, ""):
			return errorf(ErrInvalidArgument, "Prefix contains partition keys (!{partitionKeyFromQuery:…} or !{partitionKeyFromLambda:…}) but DynamicPartitioningConfiguration is not enabled.")
		case d.Processing.has(ProcessorMetadataExtraction):
			return errorf(ErrInvalidArgument, "The MetadataExtraction processor needs DynamicPartitioningConfiguration enabled.")
		}
		return nil
	}
	if d.RetryDuration() < 0 || d.RetryDuration() > 7200 {
		return errorf(ErrInvalidArgument, "DynamicPartitioningConfiguration.RetryOptions.DurationInSeconds %d is not in [0, 7200].", d.RetryDuration())
	}
	switch {
	case d.ErrorOutputPrefix == "":
		return errorf(ErrInvalidArgument, "ErrorOutputPrefix cannot be null or empty when dynamic partitioning is enabled.")
	case d.SizeInMBs < MinPartitionedSizeInMBs:
		return errorf(ErrInvalidArgument, "BufferingHints.SizeInMBs %d: the buffer size must be at least %d MiB when dynamic partitioning is enabled.", d.SizeInMBs, MinPartitionedSizeInMBs)
	case d.IntervalInSeconds == 0:
		return errorf(ErrInvalidArgument, "BufferingHints.IntervalInSeconds 0: zero buffering is not available with dynamic partitioning.")
	case !hasExpr(p.ok, nsQuery, "") && !hasExpr(p.ok, nsLambda, ""):
		return errorf(ErrInvalidArgument, "Prefix has no partition key: with dynamic partitioning enabled it must contain !{partitionKeyFromQuery:<key>} or !{partitionKeyFromLambda:<key>}.")
	case hasExpr(p.ok, nsLambda, "") && d.Processing.lambda() == nil:
		return errorf(ErrInvalidArgument, "Prefix contains !{partitionKeyFromLambda:…}: ProcessingConfiguration must be enabled with a Lambda processor that returns the keys (metadata.partitionKeys).")
	case hasExpr(p.ok, nsQuery, "") && q == nil:
		return errorf(ErrInvalidArgument, "Prefix contains !{partitionKeyFromQuery:…}: ProcessingConfiguration must be enabled with a MetadataExtraction processor whose MetadataExtractionQuery defines the keys.")
	}
	for _, e := range p.ok {
		if e.ns == nsQuery && !slices.Contains(q.keys, e.value) {
			return errorf(ErrInvalidArgument, "Prefix uses !{partitionKeyFromQuery:%s} but the MetadataExtractionQuery defines no key %s (it defines %s).", e.value, e.value, strings.Join(q.keys, ", "))
		}
	}
	return nil
}

// RetryDuration returns RetryOptions.DurationInSeconds.
func (d *S3Destination) RetryDuration() int {
	if d.DynamicPartitioning == nil {
		return 0
	}
	return d.DynamicPartitioning.RetryDurationInSeconds
}

// Bucket returns the bucket name of BucketARN.
func (d *S3Destination) Bucket() string {
	b, _ := strings.CutPrefix(d.BucketARN, "arn:aws:s3:::")
	return b
}

var bucketARN = regexp.MustCompile(`^arn:aws[a-z-]*:s3:::([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])$`)

// normalize fills defaults and checks the destination.
func (d *S3Destination) normalize() error {
	m := bucketARN.FindStringSubmatch(d.BucketARN)
	if m == nil {
		return errorf(ErrInvalidArgument, "BucketARN %s is not a valid S3 bucket ARN (arn:aws:s3:::<bucket>).", d.BucketARN)
	}
	d.BucketARN = "arn:aws:s3:::" + m[1]
	if d.SizeInMBs == 0 {
		d.SizeInMBs = 5
	}
	if d.IntervalInSeconds < 0 {
		return errorf(ErrInvalidArgument, "BufferingHints.IntervalInSeconds %d is not in [0, 900].", d.IntervalInSeconds)
	}
	if d.SizeInMBs < 1 || d.SizeInMBs > 128 {
		return errorf(ErrInvalidArgument, "BufferingHints.SizeInMBs %d is not in [1, 128].", d.SizeInMBs)
	}
	if d.IntervalInSeconds > 900 {
		return errorf(ErrInvalidArgument, "BufferingHints.IntervalInSeconds %d is not in [0, 900].", d.IntervalInSeconds)
	}
	switch d.Compression {
	case "":
		d.Compression = Uncompressed
	case Uncompressed, GZIP, ZIP, Snappy, HadoopSnappy:
	default:
		return errorf(ErrInvalidArgument, "CompressionFormat %s is not one of UNCOMPRESSED, GZIP, ZIP, Snappy, HADOOP_SNAPPY.", d.Compression)
	}
	p, err := checkPrefixes(d.Prefix, d.ErrorOutputPrefix)
	if err != nil {
		return err
	}
	if err := d.Processing.check(); err != nil {
		return err
	}
	if err := d.checkPartitioning(p); err != nil {
		return err
	}
	if _, err := d.location(); err != nil {
		return errorf(ErrInvalidArgument, "CustomTimeZone %q is not a time zone: %v.", d.CustomTimeZone, err)
	}
	if err := d.checkPrefixLengths(); err != nil {
		return err
	}
	if !reFileExtension.MatchString(d.FileExtension) || len(d.FileExtension) > 128 {
		return errorf(ErrInvalidArgument, "FileExtension %q does not match ^$|\\.[0-9a-z!\\-_.*'()]+ (at most 128 characters).", d.FileExtension)
	}
	return nil
}

// location returns the CustomTimeZone.
func (d *S3Destination) location() (*time.Location, error) {
	if d.CustomTimeZone == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(d.CustomTimeZone)
}

// Processor types of a ProcessingConfiguration the appliance runs.
const (
	ProcessorAppendDelimiter    = "AppendDelimiterToRecord"
	ProcessorLambda             = "Lambda"
	ProcessorMetadataExtraction = "MetadataExtraction"
)

// Processing is a ProcessingConfiguration: AppendDelimiterToRecord
// (parameter Delimiter, default a newline, written after every record)
// and Lambda (LambdaArn: the URL of an HTTP(S) transformation endpoint;
// NumberOfRetries, BufferSizeInMBs; see transform.go).
type Processing struct {
	Enabled    bool        `json:"enabled"`
	Processors []Processor `json:"processors,omitempty"`
}

// Processor is one processor of a Processing, its parameters as given.
type Processor struct {
	Type       string      `json:"type"`
	Parameters []Parameter `json:"parameters,omitempty"`
}

// Parameter is a processor parameter.
type Parameter struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// check refuses processors the appliance does not run.
func (p *Processing) check() error {
	if p == nil {
		return nil
	}
	for _, pr := range p.Processors {
		switch pr.Type {
		case ProcessorAppendDelimiter:
			for _, par := range pr.Parameters {
				if par.Name != "Delimiter" {
					return errorf(ErrInvalidArgument, "Processor AppendDelimiterToRecord has no parameter %s.", par.Name)
				}
			}
		case ProcessorLambda:
			if _, err := parseLambda(pr); err != nil {
				return err
			}
		case ProcessorMetadataExtraction:
			if _, err := parseMetadataExtraction(pr); err != nil {
				return err
			}
		default:
			return errorf(ErrInvalidArgument, "Processor type %s is not supported by this appliance yet: only AppendDelimiterToRecord, Lambda and MetadataExtraction.", pr.Type)
		}
	}
	return nil
}

// has reports whether p lists a processor of type typ.
func (p *Processing) has(typ string) bool {
	if p == nil {
		return false
	}
	for _, pr := range p.Processors {
		if pr.Type == typ {
			return true
		}
	}
	return false
}

// metadataQuery returns the enabled MetadataExtraction processor's
// query, or nil.
func (p *Processing) metadataQuery() *jqQuery {
	if p == nil || !p.Enabled {
		return nil
	}
	for _, pr := range p.Processors {
		if pr.Type == ProcessorMetadataExtraction {
			q, _ := parseMetadataExtraction(pr)
			return q
		}
	}
	return nil
}

// parseMetadataExtraction checks a MetadataExtraction processor's
// parameters: MetadataExtractionQuery (required; the jq subset) and
// JsonParsingEngine (JQ-1.6, the only engine AWS has).
func parseMetadataExtraction(pr Processor) (*jqQuery, error) {
	var q *jqQuery
	for _, par := range pr.Parameters {
		switch par.Name {
		case "MetadataExtractionQuery":
			var err error
			if q, err = parseQuery(par.Value); err != nil {
				return nil, errorf(ErrInvalidArgument, "Processor MetadataExtraction: MetadataExtractionQuery %q: %v. This appliance evaluates a subset of jq: one object {key: .path, …} whose values are paths (.a.b, .[\"c d\"], .e[0]); see the README.", par.Value, err)
			}
		case "JsonParsingEngine":
			if par.Value != "JQ-1.6" {
				return nil, errorf(ErrInvalidArgument, "Processor MetadataExtraction: JsonParsingEngine %q is not JQ-1.6.", par.Value)
			}
		default:
			return nil, errorf(ErrInvalidArgument, "Processor MetadataExtraction has no parameter %s (MetadataExtractionQuery, JsonParsingEngine).", par.Name)
		}
	}
	if q == nil {
		return nil, errorf(ErrInvalidArgument, "Processor MetadataExtraction needs the parameter MetadataExtractionQuery.")
	}
	return q, nil
}

// delimiter returns what is written after each record: nil unless an
// enabled AppendDelimiterToRecord processor says so.
func (p *Processing) delimiter() []byte {
	if p == nil || !p.Enabled {
		return nil
	}
	for _, pr := range p.Processors {
		if pr.Type != ProcessorAppendDelimiter {
			continue
		}
		for _, par := range pr.Parameters {
			if par.Name == "Delimiter" {
				if s, err := strconv.Unquote(`"` + par.Value + `"`); err == nil {
					return []byte(s)
				}
				return []byte(par.Value)
			}
		}
		return []byte("\n")
	}
	return nil
}

// Stream is a delivery stream as stored and described.
type Stream struct {
	Name        string        `json:"name"`
	ARN         string        `json:"arn"`
	Status      string        `json:"status"`
	Type        string        `json:"type"`
	VersionID   int           `json:"versionId"`
	Created     time.Time     `json:"created"`
	Destination S3Destination `json:"destination"`
	// Encryption is the server-side encryption; nil: never enabled.
	Encryption *Encryption `json:"encryption,omitempty"`
	// Source is the data stream a KinesisStreamAsSource stream reads.
	Source *KinesisSource `json:"source,omitempty"`
	// Tags are the stream's tags (at most MaxTags).
	Tags map[string]string `json:"tags,omitempty"`
}

// interval returns the buffering interval.
func (s *Stream) interval() time.Duration {
	return time.Duration(s.Destination.IntervalInSeconds) * time.Second
}

// sizeLimit returns the buffering size in bytes.
func (s *Stream) sizeLimit() int64 { return int64(s.Destination.SizeInMBs) << 20 }

// ObjectKey returns the object name AWS Firehose gives a batch of stream
// s written at t with id: <prefix><stream>-<version>-YYYY-MM-DD-HH-MM-SS-<id>,
// with the file extension of its compression (or FileExtension), in
// CustomTimeZone (default UTC).
func (s *Stream) ObjectKey(t time.Time, id string) string { return s.objectKey(t, id, "") }

// ErrorObjectKey returns the object name of a batch of failed records of
// errType (ErrorProcessingFailed, ErrorS3Failed) under the error prefix.
func (s *Stream) ErrorObjectKey(t time.Time, id, errType string) string {
	return s.objectKey(t, id, errType)
}

func (s *Stream) objectKey(t time.Time, id, errType string) string {
	return s.keyWith(t, id, errType, nil)
}

// keyWith is objectKey with the partition keys of dynamic partitioning.
func (s *Stream) keyWith(t time.Time, id, errType string, keys map[string]string) string {
	d := &s.Destination
	t = t.In(d.loc())
	ext := extension(d.Compression)
	if d.FileExtension != "" {
		ext = d.FileExtension
	}
	return fmt.Sprintf("%s%s-%d-%s-%s%s", s.prefix(t, errType, keys), s.Name, s.VersionID, t.Format("2006-01-02-15-04-05"), id, ext)
}

// prefix evaluates Prefix (errType "", with the partition keys) or the
// error prefix of errType at t.
func (s *Stream) prefix(t time.Time, errType string, keys map[string]string) string {
	d := &s.Destination
	t = t.In(d.loc())
	p, _ := checkPrefixes(d.Prefix, d.ErrorOutputPrefix) // checked at create
	switch {
	case errType == "":
		return evalPrefix(p.ok, t, "", keys)
	case d.ErrorOutputPrefix == "":
		return d.Prefix + evalPrefix([]expr{{lit: errType + "/"}}, t, errType, nil)
	case !hasExpr(p.failed, "", ""):
		return evalPrefix([]expr{{lit: d.ErrorOutputPrefix + errType + "/"}}, t, errType, nil)
	default:
		return evalPrefix(p.failed, t, errType, nil)
	}
}

// loc returns the CustomTimeZone (UTC if it does not load: it was
// checked at create).
func (d *S3Destination) loc() *time.Location {
	loc, err := d.location()
	if err != nil {
		return time.UTC
	}
	return loc
}

// errorTypes returns the error output types d can write.
func (d *S3Destination) errorTypes() []string {
	types := []string{ErrorS3Failed}
	if d.Processing.lambda() != nil {
		types = append(types, ErrorProcessingFailed)
	}
	if d.partitioned() {
		types = append(types, ErrorPartitioningFailed)
	}
	return types
}

// checkPrefixLengths applies AWS's limit of 512 characters to the
// evaluated Prefix and ErrorOutputPrefix. Without partition keys their
// length does not depend on the records (the timestamp fields are fixed
// width, random-string 11 characters), so it is checked here, at create
// and update; with partition keys the prefix is checked again with each
// record's keys (those past the limit go under the error prefix).
func (d *S3Destination) checkPrefixLengths() error {
	s := Stream{Destination: *d}
	at := time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)
	if n := len(s.prefix(at, "", nil)); n > maxEvaluatedPrefix {
		return errorf(ErrInvalidArgument, "Prefix evaluates to %d characters: an evaluated prefix can have at most %d.", n, maxEvaluatedPrefix)
	}
	for _, et := range d.errorTypes() {
		if n := len(s.prefix(at, et, nil)); n > maxEvaluatedPrefix {
			return errorf(ErrInvalidArgument, "ErrorOutputPrefix evaluates to %d characters (error output type %s): an evaluated prefix can have at most %d.", n, et, maxEvaluatedPrefix)
		}
	}
	return nil
}

// extension returns the file extension Firehose gives objects of a
// compression format.
func extension(format string) string {
	switch format {
	case GZIP:
		return ".gz"
	case ZIP:
		return ".zip"
	case Snappy:
		return ".snappy"
	case HadoopSnappy:
		return ".hsnappy"
	}
	return ""
}
