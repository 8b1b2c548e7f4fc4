package firehose

import (
	"fmt"
	"regexp"
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
	if _, err := checkPrefixes(d.Prefix, d.ErrorOutputPrefix); err != nil {
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
	if _, err := d.location(); err != nil {
		return errorf(ErrInvalidArgument, "CustomTimeZone %q is not a time zone: %v.", d.CustomTimeZone, err)
	}
	return d.Processing.check()
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
	ProcessorAppendDelimiter = "AppendDelimiterToRecord"
	ProcessorLambda          = "Lambda"
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
		default:
			return errorf(ErrInvalidArgument, "Processor type %s is not supported by this appliance yet: only AppendDelimiterToRecord and Lambda.", pr.Type)
		}
	}
	return nil
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

// errorTypes are the error output types the appliance writes.
var errorTypes = []string{ErrorProcessingFailed, ErrorS3Failed}

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
	for _, et := range errorTypes {
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
