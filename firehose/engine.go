package firehose

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index/store"
)

// Spool layout, inside the engine's space (prefix "f/"):
//
//	f/s/<stream>          the delivery stream's definition (JSON, Stream)
//	f/r/<stream>/<seq>    one record's data; seq is 8 bytes big-endian,
//	                      increasing per stream (one sequence for all)
//	f/b/<stream>          the stream's fixed batch, if any (JSON, batch):
//	                      its object key and the seq range it holds
//	f/c/<stream>/<shard>  a KinesisStreamAsSource stream's checkpoint
//	f/q                   the record sequence (store.Sequence)
//
// Stream names are [a-zA-Z0-9_.-]+, so "<stream>/" never prefixes
// another stream's keys.
const (
	keyStream = "s/"
	keyRecord = "r/"
	keyBatch  = "b/"
	keySeq    = "q"
)

// recordOverhead is what a record costs the quota beyond its data: its
// key.
const recordOverhead = 32

// maxDeletes bounds the deletions of one transaction.
const maxDeletes = 4096

// Engine runs the delivery streams: it spools the records put to them in
// the database and has one goroutine per stream deliver them to S3.
type Engine struct {
	opts Options
	log  *slog.Logger
	sp   *store.Space
	seq  *store.Sequence

	mu      sync.RWMutex
	streams map[string]*deliverer
	closed  bool

	used  atomic.Int64 // quota bytes spooled
	stats counters
}

// counters are the engine's statistics (see Stats).
type counters struct {
	recordsPut, bytesPut                                   atomic.Uint64
	recordsDelivered, bytesDelivered, objects, uploadFails atomic.Uint64
	refusedFull, processingFailed, dropped                 atomic.Uint64
	partitioningFailed                                     atomic.Uint64
	records                                                atomic.Int64
}

// Stats are the engine's counters since Open and its backlog.
type Stats struct {
	// Streams is the number of delivery streams.
	Streams int
	// SpoolRecords and SpoolBytes are the backlog: records accepted and
	// not yet delivered, and what they take of SpoolQuota.
	SpoolRecords, SpoolBytes, SpoolQuota int64
	// RecordsPut and BytesPut count accepted records and their data.
	RecordsPut, BytesPut uint64
	// RecordsDelivered, BytesDelivered (uncompressed) and Objects count
	// what reached S3.
	RecordsDelivered, BytesDelivered, Objects uint64
	// UploadFailures counts failed object writes (each is retried).
	UploadFailures uint64
	// RefusedFull counts records refused because the spool was full.
	RefusedFull uint64
	// ProcessingFailed and Dropped count the records a transformation
	// endpoint failed (written under the error prefix) and dropped.
	ProcessingFailed, Dropped uint64
	// PartitioningFailed counts the records of partitioned streams
	// written under the error prefix (partitioning-failed).
	PartitioningFailed uint64
}

// Open opens the engine on opts.Space: it loads the delivery streams and
// their spooled records and starts delivering them.
func Open(opts Options) (*Engine, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{opts: opts, log: opts.Logger, sp: opts.Space, streams: map[string]*deliverer{}}
	seq, err := e.sp.Sequence(e.sp.Key([]byte(keySeq)), 1024)
	if err != nil {
		return nil, fmt.Errorf("firehose: open: %w", err)
	}
	e.seq = seq
	var defs []Stream
	err = e.sp.View(func(txn *store.Txn) error {
		return iterate(txn, e.sp.Key([]byte(keyStream)), true, func(_, v []byte) error {
			var s Stream
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("stream definition: %w", err)
			}
			defs = append(defs, s)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("firehose: open: %w", err)
	}
	for _, s := range defs {
		d := e.newDeliverer(s)
		if err := d.load(); err != nil {
			e.Close()
			return nil, fmt.Errorf("firehose: open %s: %w", s.Name, err)
		}
		e.streams[s.Name] = d
		d.start()
	}
	return e, nil
}

// Close stops every delivery goroutine (a write in flight is abandoned;
// its batch is written again after the next Open). It is idempotent.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	ds := make([]*deliverer, 0, len(e.streams))
	for _, d := range e.streams {
		ds = append(ds, d)
	}
	e.mu.Unlock()
	for _, d := range ds {
		d.close()
	}
	return nil
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	e.mu.RLock()
	n := len(e.streams)
	e.mu.RUnlock()
	return Stats{
		Streams:          n,
		SpoolRecords:     e.stats.records.Load(),
		SpoolBytes:       e.used.Load(),
		SpoolQuota:       e.opts.SpoolBytes,
		RecordsPut:       e.stats.recordsPut.Load(),
		BytesPut:         e.stats.bytesPut.Load(),
		RecordsDelivered: e.stats.recordsDelivered.Load(),
		BytesDelivered:   e.stats.bytesDelivered.Load(),
		Objects:          e.stats.objects.Load(),
		UploadFailures:   e.stats.uploadFails.Load(),
		RefusedFull:      e.stats.refusedFull.Load(),
		ProcessingFailed: e.stats.processingFailed.Load(),
		Dropped:          e.stats.dropped.Load(),

		PartitioningFailed: e.stats.partitioningFailed.Load(),
	}
}

// HasDestination reports whether the engine can write objects.
func (e *Engine) HasDestination() bool { return e.opts.Destination != nil }

// ARN returns the ARN of delivery stream name.
func (e *Engine) ARN(name string) string {
	return fmt.Sprintf("arn:aws:firehose:%s:%s:deliverystream/%s", e.opts.Region, e.opts.AccountID, name)
}

// Create defines a DirectPut delivery stream writing to dest.
func (e *Engine) Create(ctx context.Context, name string, dest S3Destination) (Stream, error) {
	return e.CreateTagged(ctx, name, dest, nil)
}

// CreateTagged is Create with the stream's first tags (see Tag).
func (e *Engine) CreateTagged(ctx context.Context, name string, dest S3Destination, tags map[string]string) (Stream, error) {
	return e.create(ctx, name, dest, tags, nil, nil)
}

// create defines a delivery stream; also runs in its transaction.
func (e *Engine) create(ctx context.Context, name string, dest S3Destination, tags map[string]string, src *KinesisSource, also func(*store.Txn) error) (Stream, error) {
	if e.opts.Destination == nil {
		return Stream{}, errorf(ErrInvalidArgument, "This appliance has no S3 endpoint configured (KINEDGE_S3_ENDPOINT): it cannot create a delivery stream with an S3 destination.")
	}
	if err := dest.normalize(); err != nil {
		return Stream{}, err
	}
	if len(tags) > MaxTags {
		return Stream{}, errorf(ErrLimitExceeded, "A delivery stream has at most %d tags, not %d.", MaxTags, len(tags))
	}
	if err := CheckTags(tags); err != nil {
		return Stream{}, err
	}
	if len(tags) == 0 {
		tags = nil
	}
	s := Stream{
		Name: name, ARN: e.ARN(name), Status: StatusCreating, Type: TypeDirectPut,
		VersionID: 1, Created: e.opts.Now().UTC(), Destination: dest, Tags: tags, Source: src,
	}
	if src != nil {
		s.Type = TypeKinesisSource
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return Stream{}, ErrClosed
	}
	if _, ok := e.streams[name]; ok {
		return Stream{}, errorf(ErrInUse, "Firehose %s under accountId %s already exists", name, e.opts.AccountID)
	}
	if len(e.streams) >= e.opts.MaxStreams {
		return Stream{}, errorf(ErrLimitExceeded, "You have already consumed your limit of %d delivery streams.", e.opts.MaxStreams)
	}
	b, err := json.Marshal(&s)
	if err != nil {
		return Stream{}, err
	}
	err = e.sp.Update(ctx, store.Meta, func(txn *store.Txn) error {
		if err := txn.Set(e.sp.Key([]byte(keyStream), []byte(s.Name)), b); err != nil {
			return err
		}
		if also != nil {
			return also(txn)
		}
		return nil
	})
	if err != nil {
		return Stream{}, fmt.Errorf("firehose: create %s: %w", name, err)
	}
	d := e.newDeliverer(s)
	e.streams[name] = d
	d.start()
	return s, nil
}

func (e *Engine) saveStream(ctx context.Context, s *Stream) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return e.sp.Update(ctx, store.Meta, func(txn *store.Txn) error {
		return txn.Set(e.sp.Key([]byte(keyStream), []byte(s.Name)), b)
	})
}

// Describe returns delivery stream name.
func (e *Engine) Describe(name string) (Stream, error) {
	d, err := e.stream(name)
	if err != nil {
		return Stream{}, err
	}
	return d.describe(), nil
}

// List returns the delivery stream names in order.
func (e *Engine) List() []string {
	e.mu.RLock()
	names := make([]string, 0, len(e.streams))
	for n := range e.streams {
		names = append(names, n)
	}
	e.mu.RUnlock()
	slices.Sort(names)
	return names
}

func (e *Engine) stream(name string) (*deliverer, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return nil, ErrClosed
	}
	d, ok := e.streams[name]
	if !ok {
		return nil, errorf(ErrNotFound, "Firehose %s not found under account %s.", name, e.opts.AccountID)
	}
	return d, nil
}

// Delete stops delivery stream name and drops its spooled records.
func (e *Engine) Delete(ctx context.Context, name string) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ErrClosed
	}
	d, ok := e.streams[name]
	if !ok {
		e.mu.Unlock()
		return errorf(ErrNotFound, "Firehose %s not found under account %s.", name, e.opts.AccountID)
	}
	delete(e.streams, name)
	e.mu.Unlock()
	d.putMu.Lock() // puts in flight end first
	d.deleted = true
	d.putMu.Unlock()
	d.close()
	prefix := e.sp.Key([]byte(keyRecord), []byte(name), []byte("/"))
	for {
		var keys [][]byte
		err := e.sp.View(func(txn *store.Txn) error {
			return iterate(txn, prefix, false, func(k, _ []byte) error {
				keys = append(keys, k)
				if len(keys) == maxDeletes {
					return errStop
				}
				return nil
			})
		})
		if err != nil && !errors.Is(err, errStop) {
			return fmt.Errorf("firehose: delete %s: %w", name, err)
		}
		last := len(keys) < maxDeletes
		err = e.sp.Update(ctx, store.Reclaim, func(txn *store.Txn) error {
			for _, k := range keys {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			if last {
				if err := txn.Delete(e.sp.Key([]byte(keyBatch), []byte(name))); err != nil {
					return err
				}
				if err := e.deleteCheckpoints(txn, name); err != nil {
					return err
				}
				return txn.Delete(e.sp.Key([]byte(keyStream), []byte(name)))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("firehose: delete %s: %w", name, err)
		}
		if last {
			break
		}
	}
	d.mu.Lock()
	e.used.Add(-d.spooledBytes)
	e.stats.records.Add(-d.spooledRecords)
	d.spooledBytes, d.spooledRecords = 0, 0
	d.mu.Unlock()
	return nil
}

// Put spools records for delivery stream name in one durable commit and
// returns their record ids (in order). Nothing is stored when it fails:
// ErrNotFound, ErrSpoolFull, store.ErrFull, ErrClosed.
func (e *Engine) Put(ctx context.Context, name string, records [][]byte) ([]string, error) {
	d, err := e.stream(name)
	if err != nil {
		return nil, err
	}
	if d.source != nil {
		return nil, errorf(ErrInvalidArgument, "This operation is not permitted on KinesisStreamAsSource delivery stream type.")
	}
	return d.put(ctx, records)
}

// errStop ends an iteration early.
var errStop = errors.New("stop")

// iterate calls fn for each key under prefix (with its value if values).
func iterate(txn *store.Txn, prefix []byte, values bool, fn func(k, v []byte) error) error {
	opt := badger.DefaultIteratorOptions
	opt.Prefix = prefix
	opt.PrefetchValues = values
	it := txn.NewIterator(opt)
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		var v []byte
		if values {
			var err error
			if v, err = item.ValueCopy(nil); err != nil {
				return err
			}
		}
		if err := fn(item.KeyCopy(nil), v); err != nil {
			return err
		}
	}
	return nil
}

// seqKey returns the key of record seq of stream name.
func (e *Engine) seqKey(name string, seq uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	return e.sp.Key([]byte(keyRecord), []byte(name), []byte("/"), b[:])
}

// recordIter returns an iterator over the records of stream, keys only
// (values are read on demand), at the first record from seq from on (0:
// the oldest). The caller closes it.
func (e *Engine) recordIter(txn *store.Txn, stream string, from uint64) *badger.Iterator {
	opt := badger.DefaultIteratorOptions
	opt.Prefix = e.sp.Key([]byte(keyRecord), []byte(stream), []byte("/"))
	opt.PrefetchValues = false
	it := txn.NewIterator(opt)
	it.Seek(e.seqKey(stream, from))
	return it
}

// seqOf returns the seq at the end of a record key.
func seqOf(k []byte) uint64 {
	if len(k) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k[len(k)-8:])
}
