package firehose

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Destination writes one object. Put must overwrite an existing object of
// the same key (a retried batch writes its key again).
type Destination interface {
	Put(ctx context.Context, bucket, key string, body []byte) error
}

// S3Config names an S3-compatible server.
type S3Config struct {
	// Endpoint is http(s)://host[:port].
	Endpoint string
	// Region is sent in signatures; empty: us-east-1.
	Region               string
	AccessKey, SecretKey string
}

// S3 is a Destination on an S3-compatible server, through minio-go.
type S3 struct {
	client *minio.Client
}

// NewS3 returns the Destination of cfg. It does not connect.
func NewS3(cfg S3Config) (*S3, error) {
	c, err := cfg.Client()
	if err != nil {
		return nil, fmt.Errorf("firehose: %w", err)
	}
	return &S3{client: c}, nil
}

// Client returns a minio-go client of the server (path-style buckets,
// region us-east-1 unless set). It makes one attempt per call: the
// firehose engine and the archive retry with their own backoff, and one
// attempt keeps an outage visible in their counters. It does not connect.
func (cfg S3Config) Client() (*minio.Client, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("S3 endpoint %q is not http(s)://host[:port]", cfg.Endpoint)
	}
	region := cfg.Region
	if region == "" {
		region = "us-east-1"
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Region:       region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
	if err != nil {
		return nil, fmt.Errorf("S3 endpoint %s: %w", cfg.Endpoint, err)
	}
	return c, nil
}

// PartSize is the part size of multipart uploads: a body larger than
// PartSize goes up as a multipart upload of PartSize parts (the last one
// smaller), a smaller one in one PutObject. 16 MiB is minio-go's
// default and S3's usual: a 128 MiB object (the largest buffering hint,
// uncompressed) is 8 parts.
const PartSize = 16 << 20

// partThreads is how many parts of one object go up at once. The parts
// are sections of the body already in memory (nothing is copied), so
// this bounds connections, not memory.
const partThreads = 2

// Put writes body as bucket/key: in one PutObject up to PartSize, as a
// multipart upload above. A multipart upload that fails is aborted (its
// parts deleted); the retry starts a new one under the same key.
func (s *S3) Put(ctx context.Context, bucket, key string, body []byte) error {
	_, err := s.client.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: "application/octet-stream", PartSize: PartSize, NumThreads: partThreads})
	if err != nil {
		return fmt.Errorf("firehose: put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}
