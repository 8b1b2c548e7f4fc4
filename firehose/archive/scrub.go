package archive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/minio/minio-go/v7"

	"github.com/kinedge/kinedge/firehose"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index/store"
)

// LegacyWrappedKeyMeta is the user metadata (lower case, as written) in
// which archives written before key objects carried a fragment object's
// data key, wrapped by the master key (base64).
const LegacyWrappedKeyMeta = "kinedge-wrapped-key"

// Meta returns the user metadata of key, names in lower case; a missing
// object is an error wrapping ErrNoObject.
func (b *S3Bucket) Meta(ctx context.Context, key string) (map[string]string, error) {
	info, err := b.client.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		if code := minio.ToErrorResponse(err).Code; code == "NoSuchKey" || code == "NotFound" {
			err = fmt.Errorf("%w: %w", ErrNoObject, err)
		}
		return nil, fmt.Errorf("archive: stat s3://%s/%s: %w", b.bucket, key, err)
	}
	meta := make(map[string]string, len(info.UserMetadata))
	for k, v := range info.UserMetadata {
		meta[strings.ToLower(k)] = v
	}
	return meta, nil
}

// ReplaceMeta replaces the user metadata of key with meta, keeping its
// bytes and content type: S3 CopyObject of the object onto itself with
// the REPLACE metadata directive (a versioned bucket keeps the old
// version, metadata and all).
func (b *S3Bucket) ReplaceMeta(ctx context.Context, key string, meta map[string]string) error {
	info, err := b.client.StatObject(ctx, b.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return fmt.Errorf("archive: stat s3://%s/%s: %w", b.bucket, key, err)
	}
	if meta == nil {
		meta = map[string]string{}
	}
	_, err = b.client.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: b.bucket, Object: key, ReplaceMetadata: true, UserMetadata: meta, ContentType: info.ContentType},
		minio.CopySrcOptions{Bucket: b.bucket, Object: key, MatchETag: info.ETag})
	if err != nil {
		return fmt.Errorf("archive: replace metadata of s3://%s/%s: %w", b.bucket, key, err)
	}
	return nil
}

// The scrub of legacy copies (see the package doc, Crypto-shredding):
// "a/s/again" says keys were destroyed since the pass under way began (or
// none began yet): the next pass starts over; "a/s/cursor" says a pass
// is under way and where it is (a scrubState; only the loop goroutine
// writes it); "a/s/clean" says a whole pass found no key of this keyring
// in any manifest, so there is nothing left to scrub, ever (this package
// no longer writes its keys into manifests or metadata).
func (a *Archiver) scrubKey(name string) []byte { return a.Space.Key([]byte("s/"), []byte(name)) }

// scrubState is the durable cursor of a scrub pass.
type scrubState struct {
	// After is the last manifest key the pass has finished.
	After string `json:"after"`
	// Alive is set once the pass has seen a manifest carrying a live key
	// of this keyring: destroyed later, it will need another pass.
	Alive bool `json:"alive,omitempty"`
}

// scrubDue asks for a scrub pass (keys were destroyed, or the archiver
// starts) unless the archive is known clean.
func (a *Archiver) scrubDue(txn *store.Txn) error {
	if _, err := txn.Get(a.scrubKey("clean")); err == nil {
		return nil
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	return txn.Set(a.scrubKey("again"), []byte("1"))
}

// scrub is the due scrub pass, if any: it walks the manifests of this
// appliance in key order after the cursor and, in each that lists a
// destroyed key of this keyring among its wrapped keys (Manifest.Keys,
// written before key objects), rewrites the objects sealed by that key
// without the wrapped key in their metadata, then the manifest without
// it (its entries, times, sizes and key ids kept), then moves the
// cursor. Each bucket call is retried until it answers; a restart
// resumes from the cursor. It runs on the loop goroutine, after each
// pass.
func (a *Archiver) scrub(ctx context.Context) error {
	idle := true // the common case, read without a write transaction
	err := a.Space.View(func(txn *store.Txn) error {
		for _, k := range []string{"again", "cursor"} {
			if _, err := txn.Get(a.scrubKey(k)); err == nil {
				idle = false
			} else if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil || idle {
		return err
	}
	var st scrubState
	due := false
	err = a.Space.Update(ctx, store.Meta, func(txn *store.Txn) error {
		if _, err := txn.Get(a.scrubKey("again")); err == nil {
			body, err := json.Marshal(scrubState{})
			if err != nil {
				return err
			}
			if err := txn.Delete(a.scrubKey("again")); err != nil {
				return err
			}
			due = true
			return txn.Set(a.scrubKey("cursor"), body)
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		var err error
		due, err = getJSON(txn, a.scrubKey("cursor"), &st)
		return err
	})
	if err != nil {
		return fmt.Errorf("archive: scrub cursor: %w", err)
	}
	if !due {
		return nil
	}
	root := Root(a.Prefix, a.ApplianceID, "")
	streams, err := a.dirs(ctx, root)
	if err != nil {
		return err
	}
	for _, sd := range streams {
		if !strings.HasSuffix(sd, "/") || sd == root+keysDir+"/" || before(sd, st.After) {
			continue
		}
		if err := a.scrubWalk(ctx, sd, 4, &st); err != nil {
			return err
		}
	}
	// The pass is done; keys destroyed meanwhile ("again") get the next.
	err = a.Space.Update(ctx, store.Meta, func(txn *store.Txn) error {
		if _, err := txn.Get(a.scrubKey("again")); err == nil {
			return nil
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		if err := txn.Delete(a.scrubKey("cursor")); err != nil {
			return err
		}
		if !st.Alive {
			return txn.Set(a.scrubKey("clean"), []byte("1"))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("archive: scrub cursor: %w", err)
	}
	return nil
}

// before reports whether every key under dir sorts at or before after
// (a dir the cursor has passed).
func before(dir, after string) bool {
	return after != "" && dir < after && !strings.HasPrefix(after, dir)
}

// scrubWalk goes down depth levels of hour directories (YYYY/MM/DD/HH)
// under dir and scrubs each hour's manifest.
func (a *Archiver) scrubWalk(ctx context.Context, dir string, depth int, st *scrubState) error {
	if depth == 0 {
		mkey := dir + "manifest.json"
		if st.After != "" && mkey <= st.After {
			return nil
		}
		return a.scrubManifest(ctx, mkey, st)
	}
	subs, err := a.dirs(ctx, dir)
	if err != nil {
		return err
	}
	for _, d := range subs {
		if !strings.HasSuffix(d, "/") || before(d, st.After) {
			continue
		}
		if err := a.scrubWalk(ctx, d, depth-1, st); err != nil {
			return err
		}
	}
	return nil
}

// scrubManifest scrubs the destroyed keys of one manifest and moves the
// cursor past it.
func (a *Archiver) scrubManifest(ctx context.Context, mkey string, st *scrubState) error {
	body, err := a.get(ctx, mkey)
	if errors.Is(err, ErrNoObject) {
		return a.scrubMoved(ctx, mkey, st)
	}
	if err != nil {
		return err
	}
	m, err := ParseManifest(body)
	if err != nil {
		// Not ours to fix: it carries nothing this pass can read.
		a.Logger.Warn("archive scrub: unreadable manifest skipped", "key", mkey, "err", err)
		return a.scrubMoved(ctx, mkey, st)
	}
	gone := map[string]bool{}
	for id := range m.Keys {
		_, err := a.Keys.GetKey(ctx, id)
		switch {
		case errors.Is(err, seal.ErrKeyDestroyed):
			gone[id] = true
		case err == nil:
			st.Alive = true
		case !errors.Is(err, seal.ErrKeyNotFound): // not found: a predecessor's key
			return fmt.Errorf("archive: scrub: key %s: %w", id, err)
		}
	}
	if len(gone) > 0 {
		for _, e := range m.Fragments {
			if gone[e.KeyID] {
				if err := a.scrubObject(ctx, e.Key); err != nil {
					return err
				}
			}
		}
		for id := range gone {
			delete(m.Keys, id)
		}
		if len(m.Keys) == 0 {
			m.Keys = nil
		}
		out, err := json.MarshalIndent(m, "", " ")
		if err != nil {
			return err
		}
		if err := a.pace(ctx, len(out)); err != nil {
			return err
		}
		if err := a.put(ctx, mkey, out, nil); err != nil {
			return err
		}
		a.stats.scrubbed.Add(uint64(len(gone)))
		a.Logger.Info("archive: wrapped keys scrubbed from a legacy manifest and its objects", "manifest", mkey, "keys", len(gone))
	}
	return a.scrubMoved(ctx, mkey, st)
}

// scrubMoved records that the pass is past mkey.
func (a *Archiver) scrubMoved(ctx context.Context, mkey string, st *scrubState) error {
	st.After = mkey
	body, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := a.Space.Update(ctx, store.Meta, func(txn *store.Txn) error { return txn.Set(a.scrubKey("cursor"), body) }); err != nil {
		return fmt.Errorf("archive: scrub cursor: %w", err)
	}
	return nil
}

// scrubObject rewrites a fragment object without the wrapped key in its
// metadata, if it has one; a missing object is skipped.
func (a *Archiver) scrubObject(ctx context.Context, key string) error {
	return a.retry(ctx, "scrub", key, func() error {
		meta, err := a.Bucket.Meta(ctx, key)
		if errors.Is(err, ErrNoObject) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, ok := meta[LegacyWrappedKeyMeta]; !ok {
			return nil
		}
		delete(meta, LegacyWrappedKeyMeta)
		return a.Bucket.ReplaceMeta(ctx, key, meta)
	})
}

// dirs is a delimited listing, retried like put.
func (a *Archiver) dirs(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	err := a.retry(ctx, "list", prefix, func() error {
		var err error
		out, err = a.Bucket.Dirs(ctx, prefix)
		return err
	})
	return out, err
}

// retry runs f until it succeeds, with the archive's backoff.
func (a *Archiver) retry(ctx context.Context, what, key string, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.failed(ctx)
		wait := firehose.Backoff(a.MinBackoff, a.MaxBackoff, attempt)
		a.Logger.Warn("archive "+what+" failed, retrying", "key", key, "attempt", attempt+1, "wait", wait, "err", err)
		if err := sleepCtx(ctx, wait); err != nil {
			return err
		}
	}
}
