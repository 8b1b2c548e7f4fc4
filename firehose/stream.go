package firehose

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Compression formats of an S3 destination (AWS's CompressionFormat).
const (
	Uncompressed = "UNCOMPRESSED"
	GZIP         = "GZIP"
	ZIP          = "ZIP"
	Snappy       = "Snappy"
	HadoopSnappy = "HADOOP_SNAPPY"
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
	// prefix without expressions gets YYYY/MM/dd/HH/ after it, as in AWS.
	Prefix            string `json:"prefix,omitempty"`
	ErrorOutputPrefix string `json:"errorOutputPrefix,omitempty"`
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
	if strings.Contains(d.Prefix, "!{") || strings.Contains(d.ErrorOutputPrefix, "!{") {
		return errorf(ErrInvalidArgument, "Prefix expressions (!{...}) are not supported by this appliance yet.")
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
}

// interval returns the buffering interval.
func (s *Stream) interval() time.Duration {
	return time.Duration(s.Destination.IntervalInSeconds) * time.Second
}

// sizeLimit returns the buffering size in bytes.
func (s *Stream) sizeLimit() int64 { return int64(s.Destination.SizeInMBs) << 20 }

// ObjectKey returns the object name AWS Firehose gives a batch of stream
// s written at t (UTC) with id: <prefix><stream>-<version>-YYYY-MM-DD-HH-MM-SS-<id>,
// with the file extension of its compression.
func (s *Stream) ObjectKey(t time.Time, id string) string {
	t = t.UTC()
	hour := t.Format("2006/01/02/15/")
	prefix := s.Destination.Prefix + hour
	return fmt.Sprintf("%s%s-%d-%s-%s%s", prefix, s.Name, s.VersionID, t.Format("2006-01-02-15-04-05"), id, extension(s.Destination.Compression))
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
