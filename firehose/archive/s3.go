package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/kinedge/kinedge/firehose"
)

// ErrNoObject is wrapped by a Bucket's Get of a key that holds no object.
var ErrNoObject = errors.New("archive: no such object")

// Bucket is where the archive writes. Put must overwrite an object of the
// same key (a retry writes its key again); Get of a missing key returns
// an error wrapping ErrNoObject; Delete of a missing key is not an error
// (shredding deletes archived data keys with it). Dirs, Meta and
// ReplaceMeta serve the scrub of legacy archives (scrub.go): a delimited
// listing, an object's user metadata (names in lower case; a missing
// object wraps ErrNoObject), and its replacement keeping the bytes.
type Bucket interface {
	Put(ctx context.Context, key string, body []byte, meta map[string]string) error
	Get(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
	Dirs(ctx context.Context, prefix string) ([]string, error)
	Meta(ctx context.Context, key string) (map[string]string, error)
	ReplaceMeta(ctx context.Context, key string, meta map[string]string) error
}

// S3Bucket is a Bucket on an S3-compatible server, through minio-go.
type S3Bucket struct {
	client *minio.Client
	bucket string
}

// NewS3Bucket returns the bucket named bucket on the server of cfg. It
// does not connect.
func NewS3Bucket(cfg firehose.S3Config, bucket string) (*S3Bucket, error) {
	if bucket == "" {
		return nil, fmt.Errorf("archive: no bucket")
	}
	c, err := cfg.Client()
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
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
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			err = fmt.Errorf("%w: %w", ErrNoObject, err)
		}
		return nil, fmt.Errorf("archive: get s3://%s/%s: %w", b.bucket, key, err)
	}
	return body, nil
}
