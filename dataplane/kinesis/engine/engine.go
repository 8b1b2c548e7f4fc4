// Package engine is kinedge's Kinesis Data Streams engine: streams made of
// shards with 128-bit hash key ranges, records with per-shard increasing
// sequence numbers, stateless HMAC shard iterators, resharding with
// parent/child lineage, retention trimming and per-shard rate limits, all
// stored durably in the appliance's Badger database under one key prefix.
//
// Semantics follow the Amazon Kinesis Data Streams API reference
// (API version 2013-12-02). The wire protocol lives in package kinesisapi.
//
// # Encryption at rest
//
// While a stream has encryption on, the writer seals each record's data
// with Options.Sealer (the appliance's keyring) after it has assigned the
// record's sequence number, binding the seal to the record's position:
// stream id and shard in the seal's name (sealedName), the sequence
// number's counter as its number. A record moved or swapped on disk fails
// to open, and GetRecords fails with ErrCorrupt rather than return it.
// Record flags say how a record was sealed, so records sealed before the
// binding (stream only, number 0) still read. See writer.go for how sealing
// fits in the group commit.
package engine

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index/store"
)

// Engine is a Kinesis Data Streams engine. Its methods are safe for
// concurrent use. Create it with Open and stop it with Close.
type Engine struct {
	sp     *store.Space
	prefix []byte
	now    func() time.Time
	log    *slog.Logger
	opts   Options
	secret []byte
	lim    limiters
	// syncNeeded is true when commits are not synced by Badger itself.
	syncNeeded bool

	mu     sync.RWMutex
	byName map[string]*stream
	byID   map[uint64]*stream
	nextID uint64
	closed bool

	stats counters

	notifyMu sync.Mutex
	notifyCh chan struct{}

	writeCh   chan *putReq
	syncCh    chan *batch
	senders   sync.WaitGroup // PutRecords calls that may still queue
	inflight  sync.WaitGroup // batches started and not yet acknowledged
	trimKick  chan struct{}
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Open loads the engine's state from opts.DB and starts its background
// goroutines (the group-commit writer and the retention trimmer).
func Open(opts Options) (*Engine, error) {
	if err := opts.EnsureDefaults().Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		sp:       opts.Space,
		prefix:   opts.Space.Prefix(),
		now:      opts.Now,
		log:      opts.Logger,
		opts:     opts,
		lim:      limiters{l: opts.Limits, now: opts.Now},
		byName:   map[string]*stream{},
		byID:     map[uint64]*stream{},
		writeCh:  make(chan *putReq, opts.WriteQueue),
		trimKick: make(chan struct{}, 1),
		syncCh:   make(chan *batch, syncDepth),
		stop:     make(chan struct{}),
	}
	e.syncNeeded = !opts.Space.DB().Durable()
	if err := e.load(); err != nil {
		return nil, err
	}
	e.wg.Add(3)
	go e.writer()
	go e.syncer()
	go e.trimmer()
	return e, nil
}

// Close stops the background goroutines and waits for them. Puts still
// queued fail with ErrClosed. It does not close the DB. Close is
// idempotent.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closed = true
		e.mu.Unlock()
		close(e.stop)
		e.wg.Wait()
	})
	return nil
}

func (e *Engine) key(parts ...string) []byte {
	k := append([]byte{}, e.prefix...)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

// loadSecret reads the iterator secret, or creates and saves one. On a
// full disk (the store read-only or refusing) a new secret is kept in
// memory only: iterators issued meanwhile do not survive a restart.
func (e *Engine) loadSecret() error {
	e.secret = e.opts.IteratorSecret
	if len(e.secret) > 0 {
		return nil
	}
	err := e.sp.View(func(txn *store.Txn) error {
		it, err := txn.Get(e.key(keySecret))
		if err != nil {
			return err
		}
		e.secret, err = it.ValueCopy(nil)
		return err
	})
	if !errors.Is(err, badger.ErrKeyNotFound) {
		if err != nil {
			return fmt.Errorf("kinesis: read secret: %w", err)
		}
		return nil
	}
	e.secret = make([]byte, 32)
	_, _ = rand.Read(e.secret) // crypto/rand.Read never fails (Go 1.24+)
	err = e.sp.Update(context.Background(), store.Meta, func(txn *store.Txn) error {
		return txn.Set(e.key(keySecret), e.secret)
	})
	if errors.Is(err, store.ErrReadOnly) || errors.Is(err, store.ErrFull) {
		e.log.Warn("kinesis: the disk is full: the iterator secret is kept in memory until a restart", "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("kinesis: save secret: %w", err)
	}
	return nil
}

// load restores streams, the secret and the shard counters. It only
// reads (but for a first secret), so it works on a read-only store.
func (e *Engine) load() error {
	if err := e.loadSecret(); err != nil {
		return err
	}
	err := e.sp.View(func(txn *store.Txn) error {
		// Next stream id.
		e.nextID = 1
		if it, err := txn.Get(e.key(keyNextID)); err == nil {
			if err := it.Value(func(v []byte) error {
				if len(v) != 8 {
					return fmt.Errorf("%w: next stream id", ErrCorrupt)
				}
				e.nextID = binary.BigEndian.Uint64(v)
				return nil
			}); err != nil {
				return err
			}
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("kinesis: read next id: %w", err)
		}
		// Streams.
		p := e.key(keyMeta)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: false})
		defer it.Close()
		for it.Seek(p); it.Valid(); it.Next() {
			b, err := it.Item().ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("kinesis: read stream: %w", err)
			}
			m, err := decodeMeta(b)
			if err != nil {
				return err
			}
			s := &stream{meta: m}
			for _, sm := range m.Shards {
				sh, err := newShard(sm, &e.lim)
				if err != nil {
					return err
				}
				s.shards = append(s.shards, sh)
			}
			s.meta.Shards = nil
			s.rebuildOpen()
			e.byName[m.Name] = s
			e.byID[m.ID] = s
			if m.ID >= e.nextID {
				e.nextID = m.ID + 1
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Restore per-shard counters from the last key of each shard.
	return e.sp.View(func(txn *store.Txn) error {
		for _, s := range e.byID {
			for _, sh := range s.shards {
				last, err := e.lastCounter(txn, s.meta.ID, sh.m.Index)
				if err != nil {
					return err
				}
				last = max(last, sh.m.StartCounter)
				if sh.m.Closed {
					// A crash may have lost records of the last batch
					// before the close: the shard still ends at its
					// EndingSequenceNumber for readers.
					last = max(last, sh.m.EndCounter)
				}
				sh.last = last
				sh.visible.Store(last)
			}
		}
		return nil
	})
}

// lastCounter returns the counter of the last record of a shard, or 0.
func (e *Engine) lastCounter(txn *store.Txn, streamID uint64, idx uint32) (uint64, error) {
	p := e.shardPrefix(streamID, idx)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: p, Reverse: true})
	defer it.Close()
	seek := append(append([]byte{}, p...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	it.Seek(seek)
	if !it.Valid() {
		return 0, nil
	}
	k := it.Item().Key()
	if len(k) != len(p)+8 || !bytes.HasPrefix(k, p) {
		return 0, fmt.Errorf("%w: record key", ErrCorrupt)
	}
	return binary.BigEndian.Uint64(k[len(p):]), nil
}

// commit runs fn in a read-write transaction of class and makes it
// durable.
func (e *Engine) commit(class store.Class, fn func(txn *store.Txn) error) error {
	if err := e.sp.Update(context.Background(), class, fn); err != nil {
		return err
	}
	return e.sync()
}

func (e *Engine) sync() error {
	if !e.syncNeeded {
		return nil
	}
	if err := e.sp.DB().Sync(); err != nil {
		return fmt.Errorf("kinesis: sync: %w", err)
	}
	return nil
}

// saveLocked persists s's metadata. Caller holds e.mu for writing.
func (e *Engine) saveLocked(s *stream) error {
	b, err := s.encodeMeta()
	if err != nil {
		return err
	}
	return e.commit(store.Meta, func(txn *store.Txn) error {
		return txn.Set(e.key(keyMeta, s.meta.Name), b)
	})
}

// ARN returns the ARN of stream name.
func (e *Engine) ARN(name string) string {
	return fmt.Sprintf("arn:aws:kinesis:%s:%s:stream/%s", e.opts.Region, e.opts.AccountID, name)
}

// Region returns the region in ARNs.
func (e *Engine) Region() string { return e.opts.Region }

// AccountID returns the account in ARNs.
func (e *Engine) AccountID() string { return e.opts.AccountID }

func (e *Engine) notFound(name string) error {
	return newErr(ErrNotFound, fmt.Sprintf("Stream %s under account %s not found.", name, e.opts.AccountID))
}

// getLocked returns the stream called name. Caller holds e.mu.
func (e *Engine) getLocked(name string) (*stream, error) {
	if e.closed {
		return nil, ErrClosed
	}
	s := e.byName[name]
	if s == nil {
		return nil, e.notFound(name)
	}
	return s, nil
}

func (e *Engine) openShardsLocked() int {
	n := 0
	for _, s := range e.byName {
		n += len(s.open)
	}
	return n
}

// CreateStreamInput are the arguments of CreateStream.
type CreateStreamInput struct {
	// Name is the stream name.
	Name string
	// ShardCount is the number of shards of a PROVISIONED stream.
	ShardCount int
	// Mode is ModeProvisioned (default) or ModeOnDemand.
	Mode string
	// Tags are set on the stream.
	Tags map[string]string
}

// CreateStream creates a stream. It is ACTIVE at once.
func (e *Engine) CreateStream(in CreateStreamInput) error {
	if in.Mode == "" {
		in.Mode = ModeProvisioned
	}
	n := in.ShardCount
	switch in.Mode {
	case ModeOnDemand:
		if n == 0 {
			n = onDemandShards
		}
	case ModeProvisioned:
		if n < 1 {
			return newErr(ErrInvalidArgument, "ShardCount is required for a PROVISIONED stream.")
		}
	default:
		return newErr(ErrInvalidArgument, "StreamMode must be PROVISIONED or ON_DEMAND.")
	}
	if len(in.Tags) > MaxTagsPerStream {
		return newErr(ErrInvalidArgument, fmt.Sprintf("Number of tags (%d) exceeds the limit of %d.", len(in.Tags), MaxTagsPerStream))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if _, ok := e.byName[in.Name]; ok {
		return newErr(ErrInUse, fmt.Sprintf("Stream %s under account %s already exists.", in.Name, e.opts.AccountID))
	}
	if len(e.byName) >= e.opts.MaxStreams {
		return newErr(ErrLimitExceeded, fmt.Sprintf("This request would exceed the stream limit of %d for account %s.", e.opts.MaxStreams, e.opts.AccountID))
	}
	if open := e.openShardsLocked(); open+n > e.opts.MaxShards {
		return newErr(ErrLimitExceeded, fmt.Sprintf("This request would exceed the shard limit for the account %s in %s. Current limit of shards is %d. Number of additional shards that would have resulted from this request: %d.", e.opts.AccountID, e.opts.Region, e.opts.MaxShards, n))
	}
	now := e.now().UTC()
	s := &stream{meta: streamMeta{
		ID:         e.nextID,
		Name:       in.Name,
		Status:     StatusActive,
		Mode:       in.Mode,
		CreatedMs:  now.UnixMilli(),
		Retention:  DefaultRetentionHours,
		Encryption: EncryptionNone,
		NextShard:  uint32(n),
	}}
	if len(in.Tags) > 0 {
		s.meta.Tags = make(map[string]string, len(in.Tags))
		for k, v := range in.Tags {
			s.meta.Tags[k] = v
		}
	}
	startCtr := counterAt(now)
	for i, r := range uniformRanges(n) {
		sh := &shard{m: shardMeta{
			Index: uint32(i), Parent: -1, Adjacent: -1,
			Start: r[0].String(), End: r[1].String(),
			StartCounter: startCtr, CreatedMs: now.UnixMilli(),
		}, start: r[0], end: r[1]}
		sh.in, sh.out = e.lim.newPair()
		sh.last = startCtr
		sh.visible.Store(startCtr)
		s.shards = append(s.shards, sh)
	}
	s.rebuildOpen()
	b, err := s.encodeMeta()
	if err != nil {
		return err
	}
	id := e.nextID
	err = e.commit(store.Meta, func(txn *store.Txn) error {
		if err := txn.Set(e.key(keyMeta, in.Name), b); err != nil {
			return err
		}
		return txn.Set(e.key(keyNextID), binary.BigEndian.AppendUint64(nil, id+1))
	})
	if err != nil {
		return fmt.Errorf("kinesis: create %s: %w", in.Name, err)
	}
	e.nextID++
	e.byName[in.Name] = s
	e.byID[s.meta.ID] = s
	e.log.Info("stream created", "stream", in.Name, "shards", n, "mode", in.Mode)
	return nil
}

// DeleteStream deletes a stream. Its records are erased in the background.
// With consumers registered it fails unless enforceConsumerDeletion.
func (e *Engine) DeleteStream(name string, enforceConsumerDeletion bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.getLocked(name)
	if err != nil {
		return err
	}
	if len(s.meta.Consumers) > 0 && !enforceConsumerDeletion {
		return newErr(ErrInUse, fmt.Sprintf("Stream %s under account %s has registered consumers. Set EnforceConsumerDeletion to delete it with its consumers.", name, e.opts.AccountID))
	}
	id := s.meta.ID
	// Let the records in flight land first, so that erasing the stream's
	// records cannot miss them.
	e.inflight.Wait()
	err = e.commit(store.Reclaim, func(txn *store.Txn) error {
		if err := txn.Delete(e.key(keyMeta, name)); err != nil {
			return err
		}
		return txn.Set(append(e.key(keyDeleted), binary.BigEndian.AppendUint64(nil, id)...), nil)
	})
	if err != nil {
		return fmt.Errorf("kinesis: delete %s: %w", name, err)
	}
	s.deleted = true
	delete(e.byName, name)
	delete(e.byID, id)
	e.log.Info("stream deleted", "stream", name)
	e.kickTrimmer()
	return nil
}

func (e *Engine) describeShard(sh *shard) Shard {
	out := Shard{
		ShardID:                sh.id(),
		StartingHashKey:        sh.start,
		EndingHashKey:          sh.end,
		StartingSequenceNumber: seqNum{shard: sh.m.Index, counter: sh.m.StartCounter}.String(),
		CreatedAt:              msTime(sh.m.CreatedMs),
	}
	if sh.m.Parent >= 0 {
		out.ParentShardID = shardID(uint32(sh.m.Parent))
	}
	if sh.m.Adjacent >= 0 {
		out.AdjacentParentShardID = shardID(uint32(sh.m.Adjacent))
	}
	if sh.m.Closed {
		out.EndingSequenceNumber = seqNum{shard: sh.m.Index, counter: sh.m.EndCounter}.String()
		out.ClosedAt = msTime(sh.m.ClosedMs)
	}
	return out
}

// DescribeStream describes stream name with all its shards.
func (e *Engine) DescribeStream(name string) (StreamDescription, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	s, err := e.getLocked(name)
	if err != nil {
		return StreamDescription{}, err
	}
	d := StreamDescription{
		Name:           s.meta.Name,
		ARN:            e.ARN(s.meta.Name),
		Status:         s.meta.Status,
		Mode:           s.meta.Mode,
		CreatedAt:      msTime(s.meta.CreatedMs),
		RetentionHours: s.meta.Retention,
		EncryptionType: s.meta.Encryption,
		KeyID:          s.meta.KeyID,
		OpenShardCount: len(s.open),
		ConsumerCount:  len(s.meta.Consumers),
	}
	d.ShardLevelMetrics = append([]string{}, s.meta.Metrics...)
	for _, sh := range s.shards {
		d.Shards = append(d.Shards, e.describeShard(sh))
	}
	return d, nil
}

// ListStreams lists the streams sorted by name.
func (e *Engine) ListStreams() []StreamSummary {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]StreamSummary, 0, len(e.byName))
	for _, s := range e.byName {
		out = append(out, StreamSummary{
			Name: s.meta.Name, ARN: e.ARN(s.meta.Name), Status: s.meta.Status,
			Mode: s.meta.Mode, CreatedAt: msTime(s.meta.CreatedMs),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ListShards returns the shards of stream name in index order (closed
// shards whose retention has passed are gone, as in Kinesis).
func (e *Engine) ListShards(name string) ([]Shard, error) {
	d, err := e.DescribeStream(name)
	if err != nil {
		return nil, err
	}
	return d.Shards, nil
}

// updateStream runs fn on stream name under the write lock and saves the
// metadata if fn succeeds; on failure of fn or the save the in-memory
// metadata is restored from undo.
func (e *Engine) updateStream(name string, fn func(s *stream) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.getLocked(name)
	if err != nil {
		return err
	}
	saved := s.meta
	saved.Tags = cloneTags(s.meta.Tags)
	saved.Consumers = append([]consumerMeta(nil), s.meta.Consumers...)
	saved.Metrics = append([]string(nil), s.meta.Metrics...)
	if err := fn(s); err != nil {
		s.meta = saved
		return err
	}
	if err := e.saveLocked(s); err != nil {
		s.meta = saved
		return fmt.Errorf("kinesis: save %s: %w", name, err)
	}
	return nil
}

func cloneTags(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// IncreaseRetention sets the retention of stream name to hours, which must
// be larger than the current one and at most MaxRetentionHours.
func (e *Engine) IncreaseRetention(name string, hours int) error {
	return e.updateStream(name, func(s *stream) error {
		if hours > MaxRetentionHours {
			return newErr(ErrInvalidArgument, fmt.Sprintf("Minimum allowed retention period is %d hours. Maximum allowed retention period is %d hours. Requested retention period (%d hours) is too long.", MinRetentionHours, MaxRetentionHours, hours))
		}
		if hours < s.meta.Retention {
			return newErr(ErrInvalidArgument, fmt.Sprintf("Requested retention period (%d hours) for stream %s can not be shorter than existing retention period (%d hours). Use DecreaseRetentionPeriod API.", hours, name, s.meta.Retention))
		}
		s.meta.Retention = hours
		return nil
	})
}

// DecreaseRetention sets the retention of stream name to hours, which must
// be smaller than the current one and at least MinRetentionHours.
func (e *Engine) DecreaseRetention(name string, hours int) error {
	return e.updateStream(name, func(s *stream) error {
		if hours < MinRetentionHours {
			return newErr(ErrInvalidArgument, fmt.Sprintf("Minimum allowed retention period is %d hours. Maximum allowed retention period is %d hours. Requested retention period (%d hours) is too short.", MinRetentionHours, MaxRetentionHours, hours))
		}
		if hours > s.meta.Retention {
			return newErr(ErrInvalidArgument, fmt.Sprintf("Requested retention period (%d hours) for stream %s can not be longer than existing retention period (%d hours). Use IncreaseRetentionPeriod API.", hours, name, s.meta.Retention))
		}
		s.meta.Retention = hours
		return nil
	})
}

// AddTags adds or overwrites tags of stream name.
func (e *Engine) AddTags(name string, tags map[string]string) error {
	return e.updateStream(name, func(s *stream) error {
		n := len(s.meta.Tags)
		for k := range tags {
			if _, ok := s.meta.Tags[k]; !ok {
				n++
			}
		}
		if n > MaxTagsPerStream {
			return newErr(ErrLimitExceeded, fmt.Sprintf("Number of tags (%d) exceeds the limit of %d.", n, MaxTagsPerStream))
		}
		if s.meta.Tags == nil {
			s.meta.Tags = map[string]string{}
		}
		for k, v := range tags {
			s.meta.Tags[k] = v
		}
		return nil
	})
}

// RemoveTags removes tags of stream name; absent keys are ignored.
func (e *Engine) RemoveTags(name string, keys []string) error {
	return e.updateStream(name, func(s *stream) error {
		for _, k := range keys {
			delete(s.meta.Tags, k)
		}
		return nil
	})
}

// Tags returns the tags of stream name.
func (e *Engine) Tags(name string) (map[string]string, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	s, err := e.getLocked(name)
	if err != nil {
		return nil, err
	}
	return cloneTags(s.meta.Tags), nil
}

// StartEncryption turns on server-side encryption with keyID for records
// put from now on (StartStreamEncryption; EncryptionType KMS).
func (e *Engine) StartEncryption(name, encType, keyID string) error {
	if encType != EncryptionKMS {
		return newErr(ErrInvalidArgument, "EncryptionType must be KMS.")
	}
	return e.updateStream(name, func(s *stream) error {
		s.meta.Encryption, s.meta.KeyID = EncryptionKMS, keyID
		return nil
	})
}

// StopEncryption turns server-side encryption off for records put from now
// on (StopStreamEncryption).
func (e *Engine) StopEncryption(name, encType, keyID string) error {
	if encType != EncryptionKMS {
		return newErr(ErrInvalidArgument, "EncryptionType must be KMS.")
	}
	return e.updateStream(name, func(s *stream) error {
		if s.meta.Encryption != EncryptionKMS {
			return newErr(ErrInvalidArgument, fmt.Sprintf("Encryption is not enabled on stream %s.", name))
		}
		s.meta.Encryption, s.meta.KeyID = EncryptionNone, ""
		return nil
	})
}

// AccountLimits are the figures of DescribeLimits.
type AccountLimits struct {
	ShardLimit               int
	OpenShardCount           int
	OnDemandStreamCount      int
	OnDemandStreamCountLimit int
}

// DescribeLimits returns the account's shard limit and usage.
func (e *Engine) DescribeLimits() AccountLimits {
	e.mu.RLock()
	defer e.mu.RUnlock()
	l := AccountLimits{ShardLimit: e.opts.MaxShards, OpenShardCount: e.openShardsLocked(), OnDemandStreamCountLimit: e.opts.MaxStreams}
	for _, s := range e.byName {
		if s.meta.Mode == ModeOnDemand {
			l.OnDemandStreamCount++
		}
	}
	return l
}

// UpdateStreamMode switches stream name between PROVISIONED and ON_DEMAND.
func (e *Engine) UpdateStreamMode(name, mode string) error {
	if mode != ModeProvisioned && mode != ModeOnDemand {
		return newErr(ErrInvalidArgument, "StreamMode must be PROVISIONED or ON_DEMAND.")
	}
	return e.updateStream(name, func(s *stream) error {
		s.meta.Mode = mode
		return nil
	})
}

// EnsureStream creates stream name with shards shards unless it exists; it
// is what the appliance calls at start for its own streams (for example
// kinedge-fragments, which carries one record per stored video fragment).
func (e *Engine) EnsureStream(name string, shards int) error {
	err := e.CreateStream(CreateStreamInput{Name: name, ShardCount: shards})
	if errors.Is(err, ErrInUse) {
		return nil
	}
	return err
}

// shardLevelMetrics are the metrics of EnableEnhancedMonitoring, in AWS's
// order; "ALL" stands for all of them.
func shardLevelMetrics() []string {
	return []string{"IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
		"WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded", "IteratorAgeMilliseconds"}
}

// SetShardLevelMetrics switches enhanced monitoring metrics of stream name
// on (enable) or off (Enable/DisableEnhancedMonitoring) and returns the
// metrics before and after. kinedge records and describes the setting; it
// does not emit per-shard metrics yet.
func (e *Engine) SetShardLevelMetrics(name string, metrics []string, enable bool) (current, desired []string, err error) {
	all := shardLevelMetrics()
	want := map[string]bool{}
	for _, m := range metrics {
		if m == "ALL" {
			for _, a := range all {
				want[a] = true
			}
			continue
		}
		found := false
		for _, a := range all {
			found = found || a == m
		}
		if !found {
			return nil, nil, newErr(ErrInvalidArgument, fmt.Sprintf("Unknown shard level metric %s.", m))
		}
		want[m] = true
	}
	err = e.updateStream(name, func(s *stream) error {
		current = append([]string{}, s.meta.Metrics...)
		on := map[string]bool{}
		for _, m := range s.meta.Metrics {
			on[m] = !(!enable && want[m])
		}
		if enable {
			for m := range want {
				on[m] = true
			}
		}
		s.meta.Metrics = nil
		for _, a := range all {
			if on[a] {
				s.meta.Metrics = append(s.meta.Metrics, a)
			}
		}
		desired = append([]string{}, s.meta.Metrics...)
		return nil
	})
	return current, desired, err
}
