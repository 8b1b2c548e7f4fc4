package archive

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/kinedge/kinedge/firehose"
)

// Bucket is where the archive writes. Put must overwrite an object of the
// same key (a retry writes its key again).
type Bucket interface {
	Put(ctx context.Context, key string, body []byte, meta map[string]string) error
	Get(ctx context.Context, key string) ([]byte, error)
}

// S3Bucket is a Bucket on an S3-compatible server, through minio-go.
type S3Bucket struct {
	client *minio.Client
	bucket string
}

// NewS3Bucket returns the bucket named bucket on the server of cfg. It
// does not connect.
func NewS3Bucket(cfg firehose.S3Config, bucket string) (*S3Bucket, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("archive: S3 endpoint %q is not http(s)://host[:port]", cfg.Endpoint)
	}
	if bucket == "" {
		return nil, fmt.Errorf("archive: no bucket")
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
		MaxRetries:   1, // the archiver retries with its own backoff
	})
	if err != nil {
		return nil, fmt.Errorf("archive: S3 endpoint %s: %w", cfg.Endpoint, err)
	}
	return &S3Bucket{client: c, bucket: bucket}, nil
}

// Put writes body as key with user metadata meta.
func (b *S3Bucket) Put(ctx context.Context, key string, body []byte, meta map[string]string) error {
	ct := "video/x-matroska"
	if strings.HasSuffix(key, ".json") {
		ct = "application/json"
	}
	_, err := b.client.PutObject(ctx, b.bucket, key, bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: ct, UserMetadata: meta, DisableMultipart: true})
	if err != nil {
		return fmt.Errorf("archive: put s3://%s/%s: %w", b.bucket, key, err)
	}
	return nil
}

// Get reads key.
func (b *S3Bucket) Get(ctx context.Context, key string) ([]byte, error) {
	o, err := b.client.GetObject(ctx, b.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("archive: get s3://%s/%s: %w", b.bucket, key, err)
	}
	defer o.Close()
	body, err := io.ReadAll(o)
	if err != nil {
		return nil, fmt.Errorf("archive: get s3://%s/%s: %w", b.bucket, key, err)
	}
	return body, nil
}
