package index

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/index/streamname"
)

// Stream statuses, as in the KVS StreamInfo.Status enum.
const (
	StatusCreating = "CREATING"
	StatusActive   = "ACTIVE"
	StatusUpdating = "UPDATING"
	StatusDeleting = "DELETING"
)

// Retention limits, in hours (KVS DataRetentionInHours).
const (
	// DefaultRetentionHours is used by CreateStream when RetentionHours is
	// 0: the appliance keeps 24 h of video unless told otherwise.
	DefaultRetentionHours = 24
	// ZeroRetentionHours asks CreateStream for KVS's retention 0 ("the
	// stream does not persist data"). It is stored as RetentionHours 0,
	// and such a stream keeps its fragments for Options.ZeroRetention only,
	// so that live readers can still read them (and the S3 archive, once
	// it exists).
	ZeroRetentionHours = -1
	// MaxRetentionHours is the KVS maximum (10 years).
	MaxRetentionHours = 87600
)

// Stream is a video stream in the registry (KVS StreamInfo).
type Stream struct {
	// Name is the stream name: see package streamname for the rule (KVS
	// StreamName).
	Name string
	// ARN is arn:aws:kinesisvideo:<region>:<account>:stream/<name>/<creation-ms>.
	// CreateStream fills it.
	ARN string
	// Created is the creation time (Options.Now). CreateStream fills it.
	Created time.Time
	// RetentionHours is how long fragments are kept (KVS
	// DataRetentionInHours, 0 to 87600). 0 is KVS's "no persistence": the
	// index then keeps fragments for Options.ZeroRetention. See
	// DefaultRetentionHours and ZeroRetentionHours for CreateStream.
	RetentionHours int
	// MediaType is the MIME type of the stream's media, e.g. "video/h264"
	// (KVS MediaType, up to 128 characters).
	MediaType string
	// KeyAlias names the data-key line that seals the stream (KVS
	// KmsKeyId, up to 2048 characters).
	KeyAlias string
	// DeviceName is the producer device's name (up to 128 characters).
	DeviceName string
	// Status is one of StatusCreating, StatusActive, StatusUpdating,
	// StatusDeleting. CreateStream sets StatusActive when empty.
	Status string
	// Version changes on every update (KVS Version, used as
	// CurrentVersion for optimistic concurrency).
	Version string
}

// streamRecord is a Stream as stored under pfxRegistry.
type streamRecord struct {
	Stream
	// ID keys the stream's fragments; a stream deleted and created again
	// under the same name gets a new ID.
	ID uint64
	// MaxFragment is the duration (ns) of the stream's longest fragment
	// yet, kept by PutFragment for Timeline's jumps. MaxKnown says it
	// covers every fragment: streams created before it was kept lack it,
	// and Timeline reads every fragment of theirs.
	MaxFragment int64 `json:",omitempty"`
	MaxKnown    bool  `json:",omitempty"`
}

// retention returns how long the stream keeps fragments.
func (r *streamRecord) retention(zero time.Duration) time.Duration {
	if r.RetentionHours == 0 {
		return zero
	}
	return time.Duration(r.RetentionHours) * time.Hour
}

// validate checks the fields a caller may set.
func (s *Stream) validate() error {
	var errs []error
	if err := streamname.Check(s.Name); err != nil {
		errs = append(errs, err)
	}
	if s.RetentionHours < 0 || s.RetentionHours > MaxRetentionHours {
		errs = append(errs, fmt.Errorf("retention %d h is not in [0, %d]", s.RetentionHours, MaxRetentionHours))
	}
	if len(s.MediaType) > 128 {
		errs = append(errs, errors.New("media type is longer than 128"))
	}
	if len(s.DeviceName) > 128 {
		errs = append(errs, errors.New("device name is longer than 128"))
	}
	if len(s.KeyAlias) > 2048 {
		errs = append(errs, errors.New("key alias is longer than 2048"))
	}
	switch s.Status {
	case StatusCreating, StatusActive, StatusUpdating, StatusDeleting:
	default:
		errs = append(errs, fmt.Errorf("status %q is unknown", s.Status))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidStream, errors.Join(errs...))
}

// getStream reads a stream's record in txn.
func getStream(txn *store.Txn, name string) (streamRecord, error) {
	var rec streamRecord
	item, err := txn.Get(registryKey(name))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return rec, fmt.Errorf("%w: %q", ErrStreamNotFound, name)
	}
	if err != nil {
		return rec, err
	}
	err = item.Value(func(v []byte) error { return json.Unmarshal(v, &rec) })
	if err != nil {
		return rec, fmt.Errorf("%w: stream %q: %w", ErrCorrupt, name, err)
	}
	return rec, nil
}

// putStream writes a stream's record in txn. Registry entries never expire.
func putStream(txn *store.Txn, rec *streamRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return txn.Set(registryKey(rec.Name), b)
}

// nextVersion returns a fresh stream version string.
func (x *Index) nextVersion() (string, error) {
	n, err := x.seqNext(x.verSeq)
	if err != nil {
		return "", fmt.Errorf("index: version sequence: %w", err)
	}
	return strconv.FormatUint(n+1, 36), nil
}

// CreateStream adds s to the registry and returns it as stored: ARN,
// Created and Version filled, Status ACTIVE when empty, RetentionHours
// DefaultRetentionHours when 0 (ZeroRetentionHours stores 0). It returns
// an error wrapping ErrStreamExists when the name is taken and
// ErrInvalidStream for bad fields.
func (x *Index) CreateStream(ctx context.Context, s Stream) (Stream, error) {
	done, err := x.enter(ctx)
	if err != nil {
		return Stream{}, err
	}
	defer done()
	switch s.RetentionHours {
	case 0:
		s.RetentionHours = DefaultRetentionHours
	case ZeroRetentionHours:
		s.RetentionHours = 0
	}
	if s.Status == "" {
		s.Status = StatusActive
	}
	if err := s.validate(); err != nil {
		return Stream{}, err
	}
	id, err := x.seqNext(x.sidSeq)
	if err != nil {
		return Stream{}, fmt.Errorf("index: stream sequence: %w", err)
	}
	ver, err := x.nextVersion()
	if err != nil {
		return Stream{}, err
	}
	s.Created = x.opts.Now().UTC()
	s.ARN = fmt.Sprintf("arn:aws:kinesisvideo:%s:%s:stream/%s/%d", x.opts.Region, x.opts.Account, s.Name, s.Created.UnixMilli())
	s.Version = ver
	rec := streamRecord{Stream: s, ID: id + 1, MaxKnown: true}
	err = x.update(ctx, store.Meta, func(txn *store.Txn) error {
		_, err := getStream(txn, s.Name)
		if err == nil {
			return fmt.Errorf("%w: %q", ErrStreamExists, s.Name)
		}
		if !errors.Is(err, ErrStreamNotFound) {
			return err
		}
		return putStream(txn, &rec)
	})
	if err != nil {
		return Stream{}, err
	}
	x.logger.Info("stream created", "stream", s.Name, "retention_h", s.RetentionHours)
	return s, nil
}

// Stream returns the named stream, or an error wrapping ErrStreamNotFound.
func (x *Index) Stream(ctx context.Context, name string) (Stream, error) {
	done, err := x.enter(ctx)
	if err != nil {
		return Stream{}, err
	}
	defer done()
	var rec streamRecord
	err = x.view(func(txn *store.Txn) error {
		rec, err = getStream(txn, name)
		return err
	})
	return rec.Stream, err
}

// Streams returns every stream, sorted by name.
func (x *Index) Streams(ctx context.Context) ([]Stream, error) {
	done, err := x.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	recs, err := x.streamRecords(ctx)
	out := make([]Stream, len(recs))
	for i := range recs {
		out[i] = recs[i].Stream
	}
	return out, err
}

// streamRecords returns every registry record, sorted by name.
func (x *Index) streamRecords(ctx context.Context) ([]streamRecord, error) {
	var out []streamRecord
	err := x.view(func(txn *store.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pfxRegistry), PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var rec streamRecord
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &rec) }); err != nil {
				return fmt.Errorf("%w: stream key %q: %w", ErrCorrupt, it.Item().Key(), err)
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// UpdateStream applies fn to the named stream and stores the result with a
// new Version. When version is not empty it must equal the stream's
// current Version, else the error wraps ErrVersionMismatch (KVS
// CurrentVersion). fn may change RetentionHours, MediaType, KeyAlias,
// DeviceName and Status; changes to Name, ARN, Created and Version are
// ignored. An error from fn is returned as is and nothing is stored. fn
// runs inside a transaction and may run again if a concurrent write
// conflicts; it must not call the Index.
//
// A retention decrease hides older fragments at once and frees their space
// at the next GC. A retention increase keeps fragments already stored at
// most until their badger TTL (their old retention plus
// Options.ExpirySlack); fragments stored after it get the new retention.
func (x *Index) UpdateStream(ctx context.Context, name, version string, fn func(*Stream) error) (Stream, error) {
	done, err := x.enter(ctx)
	if err != nil {
		return Stream{}, err
	}
	defer done()
	// Taken before the transaction: seqNext waits on the gate, which the
	// transaction holds.
	ver, err := x.nextVersion()
	if err != nil {
		return Stream{}, err
	}
	var out Stream
	err = x.update(ctx, store.Meta, func(txn *store.Txn) error {
		rec, err := getStream(txn, name)
		if err != nil {
			return err
		}
		if version != "" && version != rec.Version {
			return fmt.Errorf("%w: stream %q is at %q, not %q", ErrVersionMismatch, name, rec.Version, version)
		}
		s := rec.Stream
		if err := fn(&s); err != nil {
			return err
		}
		s.Name, s.ARN, s.Created = rec.Name, rec.ARN, rec.Created
		if err := s.validate(); err != nil {
			return err
		}
		s.Version = ver
		rec.Stream = s
		out = s
		return putStream(txn, &rec)
	})
	return out, err
}

// DeleteStream removes the named stream from the registry at once: from
// then on no read returns it or its fragments, and its name may be created
// again. The fragments, indexes and blobs are purged by the background
// loop (and by RunGC), which also resumes the purge after a restart.
//
// Its data keys (the key records of alias name, the default alias of a
// stream) are destroyed before it returns, each leaving a tombstone
// "stream <name> deleted <time>": the sealed blobs, until purged, and any
// copy of them can no longer be opened with this database's keys
// (crypto-shredding; see docs/keys.md for archived copies).
func (x *Index) DeleteStream(ctx context.Context, name string) error {
	done, err := x.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	var alias string
	err = x.update(ctx, store.Reclaim, func(txn *store.Txn) error {
		rec, err := getStream(txn, name)
		if err != nil {
			return err
		}
		alias = rec.alias()
		if err := txn.Delete(registryKey(name)); err != nil {
			return err
		}
		return txn.Set(deletedKey(rec.ID), []byte(name))
	})
	if err != nil {
		return err
	}
	x.logger.Info("stream deleted", "stream", name)
	x.stored.broadcast(name)
	x.kickGC()
	if err := x.shredStreamKeys(ctx, name, alias); err != nil {
		return fmt.Errorf("index: delete stream %q: shred its data keys: %w", name, err)
	}
	return nil
}

// alias is the data-key line that seals the stream: KeyAlias, or its name.
func (r *streamRecord) alias() string { return cmp.Or(r.KeyAlias, r.Name) }

// videoAliasPrefix starts every data-key line video fragments are sealed
// under.
const videoAliasPrefix = "video/"

// SealAlias is the data-key line (seal.Keyring alias) that seals a video
// stream's fragments: "video/" and its KeyAlias (KmsKeyId) or name. The
// key store is shared: the Kinesis engine seals under a stream's KeyId,
// Firehose under "firehose/<name>", the users table under
// "kinedge/users". The prefix keeps video lines apart from all of them, so
// that deleting a video stream or its retention shreds only video keys —
// a KmsKeyId of "alias/aws/kinesis" or a stream named "users" touches
// nothing else.
func SealAlias(keyAlias, name string) string { return videoAliasPrefix + cmp.Or(keyAlias, name) }

// keyLines returns the key store aliases that hold a video alias's data
// keys: its "video/" line, and the line of the same name that fragments
// were sealed under before the prefix, when that name is a stream name
// (no other part of the appliance uses such an alias; a KmsKeyId with a
// '/' or ':' might be another's, and its old keys are left to it).
func keyLines(alias string) []string {
	lines := []string{videoAliasPrefix + alias}
	if streamname.Check(alias) == nil {
		lines = append(lines, alias)
	}
	return lines
}

// shredStreamKeys destroys the data keys of a deleted stream: those of its
// alias and of its name (its alias before an UpdateStream set KeyAlias),
// except an alias another stream still seals with (a KmsKeyId shared by
// several streams: its keys sealed their fragments too; they go with the
// last stream of the alias, or by retention).
func (x *Index) shredStreamKeys(ctx context.Context, name, alias string) error {
	live, err := x.streamRecords(ctx)
	if err != nil {
		return err
	}
	inUse := make(map[string]bool, len(live))
	for i := range live {
		inUse[live[i].alias()] = true
	}
	reason := fmt.Sprintf("stream %s deleted %s", name, x.opts.Now().UTC().Format(time.RFC3339))
	for _, a := range slices.Compact([]string{alias, name}) {
		if inUse[a] {
			x.logger.Warn("deleted stream's data keys kept: another stream shares them", "stream", name, "key_alias", a)
			continue
		}
		for _, line := range keyLines(a) {
			if err := x.destroyAliasKeys(ctx, line, reason); err != nil {
				return err
			}
		}
	}
	return nil
}

// OnKeysDestroyed sets fn to hear the ids of the data keys DeleteStream
// destroys (seal.Keyring.Forget).
func (x *Index) OnKeysDestroyed(fn func(ids ...string)) { x.keysDestroyed.Store(&fn) }

// destroyAliasKeys destroys every data key record of alias.
func (x *Index) destroyAliasKeys(ctx context.Context, alias, reason string) error {
	ks := x.Keys()
	recs, err := ks.ListKeys(ctx)
	if err != nil {
		return err
	}
	var ids []string
	for _, rec := range recs {
		if rec.Alias != alias {
			continue
		}
		if err := ks.DestroyKey(ctx, rec.ID, reason); err != nil {
			return err
		}
		ids = append(ids, rec.ID)
	}
	if fn := x.keysDestroyed.Load(); fn != nil && len(ids) > 0 {
		(*fn)(ids...)
	}
	return nil
}
