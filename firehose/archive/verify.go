package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"
)

// Reader is what Verify and List read of a bucket; *S3Bucket satisfies it.
type Reader interface {
	// List returns the keys under prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
	Get(ctx context.Context, key string) ([]byte, error)
}

// List returns the keys under prefix, sorted.
func (b *S3Bucket) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	for info := range b.client.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if info.Err != nil {
			return nil, fmt.Errorf("archive: list s3://%s/%s: %w", b.bucket, prefix, info.Err)
		}
		keys = append(keys, info.Key)
	}
	sort.Strings(keys)
	return keys, nil
}

// Dirs returns the common prefixes one level below prefix (each ending
// in "/") and the keys at that level, sorted: a delimited listing.
func (b *S3Bucket) Dirs(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	for info := range b.client.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: false}) {
		if info.Err != nil {
			return nil, fmt.Errorf("archive: list s3://%s/%s: %w", b.bucket, prefix, info.Err)
		}
		keys = append(keys, info.Key)
	}
	sort.Strings(keys)
	return keys, nil
}

// Root returns the key prefix of an appliance's archive, or of one of its
// streams when stream is set.
func Root(prefix, appliance, stream string) string {
	r := prefix + appliance + "/"
	if stream != "" {
		r += stream + "/"
	}
	return r
}

// Problem is an archived fragment that is not as its manifest says.
type Problem struct {
	Manifest, Key, Number string
	// What is "missing" (the object cannot be read) or "corrupt" (its
	// size or SHA-256 differ from the manifest's).
	What   string
	Detail string
}

// Report is what Verify found.
type Report struct {
	Manifests, Fragments int
	Bytes                int64
	// Problems are the entries whose object is missing or corrupt;
	// BadManifests the manifests that do not parse.
	Problems     []Problem
	BadManifests []string
	// Unlisted are fragment objects no manifest lists (the manifest of
	// the hour being filled lags its objects by up to ManifestInterval;
	// else a crash between an upload and its record).
	Unlisted []string
}

// OK reports whether every manifest parsed and every entry checked out.
func (r Report) OK() bool { return len(r.Problems) == 0 && len(r.BadManifests) == 0 }

// Verify reads every manifest under root and every object they list, and
// checks each object's size and SHA-256 against its entry.
func Verify(ctx context.Context, b Reader, root string) (Report, error) {
	var rep Report
	keys, err := b.List(ctx, root)
	if err != nil {
		return rep, err
	}
	listed := map[string]bool{}
	for _, mk := range keys {
		if !strings.HasSuffix(mk, "/manifest.json") {
			continue
		}
		body, err := b.Get(ctx, mk)
		if err != nil {
			return rep, err
		}
		m, err := ParseManifest(body)
		if err != nil {
			rep.BadManifests = append(rep.BadManifests, mk+": "+err.Error())
			continue
		}
		rep.Manifests++
		for _, e := range m.Fragments {
			rep.Fragments++
			listed[e.Key] = true
			obj, err := b.Get(ctx, e.Key)
			if err != nil {
				rep.Problems = append(rep.Problems, Problem{Manifest: mk, Key: e.Key, Number: e.Number, What: "missing", Detail: err.Error()})
				continue
			}
			sum := sha256.Sum256(obj)
			if int64(len(obj)) != e.Size || hex.EncodeToString(sum[:]) != e.SHA256 {
				rep.Problems = append(rep.Problems, Problem{Manifest: mk, Key: e.Key, Number: e.Number, What: "corrupt",
					Detail: fmt.Sprintf("%d bytes, sha256 %x; the manifest says %d bytes, sha256 %s", len(obj), sum, e.Size, e.SHA256)})
				continue
			}
			rep.Bytes += int64(len(obj))
		}
	}
	for _, k := range keys {
		if strings.HasSuffix(k, ".mkv") && !listed[k] {
			rep.Unlisted = append(rep.Unlisted, k)
		}
	}
	return rep, nil
}
