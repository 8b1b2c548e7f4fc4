package firehose

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/kinedge/kinedge/testdata/s3test"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// multipartETag is S3's ETag of body uploaded in parts of size part:
// the MD5 of the parts' MD5s, a dash, the number of parts.
func multipartETag(body []byte, part int) string {
	var sums []byte
	n := 0
	for off := 0; off < len(body); off += part {
		sum := md5.Sum(body[off:min(off+part, len(body))])
		sums = append(sums, sum[:]...)
		n++
	}
	all := md5.Sum(sums)
	return fmt.Sprintf("%s-%d", hex.EncodeToString(all[:]), n)
}

// TestS3MultipartLargeObjects: against versitygw, a body up to PartSize
// is one PutObject (its ETag the body's MD5), a larger one a multipart
// upload of PartSize parts (ETag "<md5 of the parts' md5s>-<parts>"),
// and the bytes read back are the bytes written.
func TestS3MultipartLargeObjects(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket("big")
	s3, err := NewS3(S3Config{Endpoint: srv.Endpoint(), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	c := srv.Client()
	for _, tc := range []struct {
		size  int
		parts int // 0: a single PutObject
	}{
		{1 << 20, 0},
		{PartSize, 0},
		{PartSize + 1, 2},
		{40 << 20, 3},
	} {
		body := make([]byte, tc.size)
		for i := 0; i < len(body); i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8 && i+j < len(body); j++ {
				body[i+j] = byte(v >> (8 * j))
			}
		}
		key := fmt.Sprintf("obj-%d", tc.size)
		if err := s3.Put(context.Background(), "big", key, body); err != nil {
			t.Fatalf("%d bytes: %v", tc.size, err)
		}
		info, err := c.StatObject(context.Background(), "big", key, minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%x", md5.Sum(body))
		if tc.parts > 0 {
			want = multipartETag(body, PartSize)
			if !strings.HasSuffix(want, fmt.Sprintf("-%d", tc.parts)) {
				t.Fatalf("test: %d bytes make %s, want %d parts", tc.size, want, tc.parts)
			}
		}
		if got := strings.Trim(info.ETag, `"`); got != want {
			t.Errorf("%d bytes: ETag %s, want %s", tc.size, got, want)
		}
		o, err := c.GetObject(context.Background(), "big", key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		back, err := io.ReadAll(o)
		o.Close()
		if err != nil || !bytes.Equal(back, body) {
			t.Errorf("%d bytes: read back %d bytes (%v), not the same", tc.size, len(back), err)
		}
	}
}

// TestEngineWritesLargeBatchMultipart: a batch past PartSize written by
// the engine is a multipart object on versitygw holding the records.
func TestEngineWritesLargeBatchMultipart(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket("large")
	s3, err := NewS3(S3Config{Endpoint: srv.Endpoint(), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	e := openEngine(t, openDB(t, ""), s3, nil)
	if _, err := e.Create(context.Background(), "lg", dest("large", 24, 1, Uncompressed)); err != nil {
		t.Fatal(err)
	}
	recs := records(200, 100<<10, "big") // 20 MB: two parts
	if _, err := e.Put(context.Background(), "lg", recs); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "the object", func() bool { return e.Stats().Objects == 1 })
	objs := srv.Objects("large")
	if len(objs) != 1 {
		t.Fatalf("%d objects", len(objs))
	}
	want := bytes.Join(recs, nil)
	if !bytes.Equal(objs[0].Body, want) {
		t.Fatalf("object has %d bytes, want the %d of the records", len(objs[0].Body), len(want))
	}
	info, err := srv.Client().StatObject(context.Background(), "large", objs[0].Key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Trim(info.ETag, `"`); got != multipartETag(want, PartSize) {
		t.Fatalf("ETag %s, want the multipart %s", got, multipartETag(want, PartSize))
	}
}
