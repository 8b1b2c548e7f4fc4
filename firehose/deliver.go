package firehose

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"

	"github.com/kinedge/kinedge/index/store"
)

// maxCommitBytes bounds the records of one spool transaction (Badger
// refuses a transaction past 15% of a memtable: 600 KiB with the pi
// profile's 4 MiB memtables).
const maxCommitBytes = 256 << 10

// batch is a stream's fixed batch: the records [From, To] of the stream,
// to be written as Key. It is stored before the first attempt, so every
// attempt, across restarts, writes the same object.
type batch struct {
	Key     string `json:"key"`
	From    uint64 `json:"from"`
	To      uint64 `json:"to"`
	Records int64  `json:"records"`
	Bytes   int64  `json:"bytes"`
	// Written is set once the object is written, before the records are
	// deleted (in more than one transaction when they are many).
	Written bool `json:"written,omitempty"`
	// Dest is the destination as it was when the batch was fixed: an
	// UpdateDestination applies to the next batch. (Nil in batches fixed
	// before it was kept: the stream's current destination.)
	Dest *S3Destination `json:"dest,omitempty"`
	// Failing is when the first write of Key failed; after
	// Options.RetryFor the batch is fixed again under the error prefix
	// (ErrorType s3-failed) with a new key.
	Failing   time.Time `json:"failing,omitzero"`
	ErrorType string    `json:"errorType,omitempty"`
	// ErrKey is the key of the batch's processing-failed object, fixed
	// with Key when the destination has a Lambda processor. Arrival is
	// when the oldest record of the batch arrived (approximately: the
	// time of the restart for records spooled before it).
	ErrKey  string    `json:"errKey,omitempty"`
	Arrival time.Time `json:"arrival,omitzero"`
	// Parts are the objects of a batch with dynamic partitioning, one
	// per distinct partition of its records, and PartErrKey the key of
	// its partitioning-failed object ("" if no record failed), all fixed
	// with the batch (see partition.go).
	Parts       []batchPart `json:"parts,omitempty"`
	PartErrKey  string      `json:"partErrKey,omitempty"`
	Partitioned bool        `json:"partitioned,omitempty"`
	PartBase    string      `json:"partBase,omitempty"`
}

// deliverer is one delivery stream: its spool accounting and the
// goroutine that writes its batches.
type deliverer struct {
	e      *Engine
	name   string         // the stream's name, which never changes
	source *KinesisSource // its source (nil: DirectPut), which never changes

	// putMu serializes the puts of the stream, so that records are
	// committed in seq order: a batch fixed up to seq N never misses a
	// record below N committed later.
	putMu   sync.Mutex
	deleted bool

	// next is a seq at or below the stream's oldest spooled record: the
	// records below it were delivered and deleted. fix seeks to it rather
	// than walking every deleted key before it (Badger keeps deletions as
	// tombstones until compaction: walking them made each batch cost more
	// than the last). Owned by the stream's goroutine.
	next uint64

	// ctlMu serializes the changes of the stream's definition (update,
	// tags, encryption, the status), each stored whole.
	ctlMu sync.Mutex

	mu             sync.Mutex
	s              Stream
	pendingBytes   int64     // data bytes spooled and not in a batch
	pendingRecords int64     // records spooled and not in a batch
	since          time.Time // arrival of the oldest pending record
	spooledBytes   int64     // quota bytes of all the stream's records
	spooledRecords int64

	cache *batchCache // the run goroutine's only
	ahead *ahead      // the next batch's body, read ahead; the run goroutine's

	readerDone chan struct{} // the source reader's, if any

	wake      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (e *Engine) newDeliverer(s Stream) *deliverer {
	return &deliverer{e: e, name: s.Name, source: s.Source, s: s, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// load counts the stream's spooled records (after Open).
func (d *deliverer) load() error {
	e := d.e
	var b *batch
	err := e.sp.View(func(txn *store.Txn) error {
		var err error
		b, err = d.loadBatch(txn)
		if err != nil {
			return err
		}
		it := e.recordIter(txn, d.name, 0)
		defer it.Close()
		for ; it.Valid(); it.Next() {
			item := it.Item()
			n, err := valueLen(item)
			if err != nil {
				return err
			}
			d.spooledBytes += n + recordOverhead
			d.spooledRecords++
			if b == nil || seqOf(item.Key()) > b.To {
				d.pendingBytes += n
				d.pendingRecords++
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if d.pendingRecords > 0 {
		d.since = e.opts.Now()
	}
	e.used.Add(d.spooledBytes)
	e.stats.records.Add(d.spooledRecords)
	return nil
}

func (d *deliverer) loadBatch(txn *store.Txn) (*batch, error) {
	item, err := txn.Get(d.e.sp.Key([]byte(keyBatch), []byte(d.name)))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, err
	}
	var b batch
	if err := json.Unmarshal(v, &b); err != nil {
		return nil, fmt.Errorf("batch of %s: %w", d.name, err)
	}
	return &b, nil
}

func (d *deliverer) describe() Stream {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.s
}

func (d *deliverer) start() {
	if d.source != nil {
		d.readerDone = make(chan struct{})
		go d.read()
	}
	go d.run()
}

func (d *deliverer) close() {
	d.closeOnce.Do(func() { close(d.stop) })
	<-d.done
	if d.readerDone != nil {
		<-d.readerDone
	}
}

func (d *deliverer) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// put commits records (see Engine.Put). On a failure after the first
// commit it returns the ids of the records committed and the error.
func (d *deliverer) put(ctx context.Context, records [][]byte) ([]string, error) {
	return d.putWith(ctx, records, nil)
}

// putWith is put; also calls also(txn, i) in the transaction of each
// chunk, i the index of its last record (a source's checkpoint).
func (d *deliverer) putWith(ctx context.Context, records [][]byte, also func(txn *store.Txn, last int) error) ([]string, error) {
	e := d.e
	d.putMu.Lock()
	defer d.putMu.Unlock()
	if d.deleted {
		return nil, errorf(ErrNotFound, "Firehose %s not found under account %s.", d.name, e.opts.AccountID)
	}
	// The whole call's room is taken at once: a call that does not fit is
	// refused as a whole (503), not cut.
	var reserved int64
	for _, r := range records {
		reserved += int64(len(r) + recordOverhead)
	}
	if e.used.Add(reserved) > e.opts.SpoolBytes {
		e.used.Add(-reserved)
		e.stats.refusedFull.Add(uint64(len(records)))
		return nil, errorf(ErrSpoolFull, "The delivery stream %s's spool is full (%d bytes): records are delivered to S3 first; retry later.", d.name, e.opts.SpoolBytes)
	}
	defer func() { e.used.Add(-reserved) }() // what was not committed
	// The deliverer hears of the call once it is all committed (or
	// failed), so a call is one batch when the hints allow.
	defer d.signal()
	ids := make([]string, 0, len(records))
	for len(records) > 0 {
		n, size := 0, 0
		for n < len(records) && (n == 0 || size+len(records[n]) <= maxCommitBytes) {
			size += len(records[n])
			n++
		}
		chunk := records[:n]
		cost := int64(size + recordOverhead*n)
		seqs := make([]uint64, n)
		for i := range chunk {
			s, err := e.seq.Next()
			if err != nil {
				return ids, fmt.Errorf("firehose: put %s: %w", d.name, err)
			}
			seqs[i] = s
		}
		if d.describe().Encryption.Enabled() {
			sealed := make([][]byte, n)
			for i, r := range chunk {
				b, _, err := e.opts.Sealer.Seal(ctx, sealName(d.name), sealName(d.name), seqs[i], r)
				if err != nil {
					return ids, fmt.Errorf("firehose: put %s: seal: %w", d.name, err)
				}
				sealed[i] = b
			}
			chunk = sealed
		}
		done := len(ids)
		err := e.sp.Update(ctx, store.Data, func(txn *store.Txn) error {
			for i, r := range chunk {
				if err := txn.Set(e.seqKey(d.name, seqs[i]), r); err != nil {
					return err
				}
			}
			if also != nil {
				return also(txn, done+n-1)
			}
			return nil
		})
		if err != nil {
			return ids, fmt.Errorf("firehose: put %s: %w", d.name, err)
		}
		reserved -= cost // now counted as spooled
		d.mu.Lock()
		if d.pendingRecords == 0 {
			d.since = e.opts.Now()
		}
		d.pendingBytes += int64(size)
		d.pendingRecords += int64(n)
		d.spooledBytes += cost
		d.spooledRecords += int64(n)
		d.mu.Unlock()
		e.stats.records.Add(int64(n))
		e.stats.recordsPut.Add(uint64(n))
		e.stats.bytesPut.Add(uint64(size))
		for _, s := range seqs {
			ids = append(ids, recordID(s))
		}
		records = records[n:]
	}
	return ids, nil
}

// valueLen returns the exact length of item's value (ValueSize is an
// estimate for values in the value log).
func valueLen(item *badger.Item) (int64, error) {
	var n int64
	err := item.Value(func(v []byte) error {
		n = int64(len(v))
		return nil
	})
	return n, err
}

// recordIDSuffix pads record ids to the length of AWS's (opaque to
// clients).
const recordIDSuffix = "00000000000000000000000000000000000000000000000000000000000000000000000000000000"

// run is the stream's goroutine: deliver the fixed batch, if any, else
// wait until the buffering hints say to fix the next one.
func (d *deliverer) run() {
	defer close(d.done)
	defer d.dropAhead()
	e := d.e
	d.ctlMu.Lock()
	d.mu.Lock()
	if d.s.Status == StatusCreating {
		d.s.Status = StatusActive
		s := d.s
		d.mu.Unlock()
		if err := e.saveStream(context.Background(), &s); err != nil {
			e.log.Warn("firehose: saving the stream's status", "stream", s.Name, "err", err)
		}
	} else {
		d.mu.Unlock()
	}
	d.ctlMu.Unlock()
	attempt := 0
	for {
		select {
		case <-d.stop:
			return
		default:
		}
		var b *batch
		err := e.sp.View(func(txn *store.Txn) error {
			var err error
			b, err = d.loadBatch(txn)
			return err
		})
		if err == nil && b != nil {
			err = d.deliver(b)
			if err == nil {
				attempt = 0
				continue
			}
		}
		if err == nil {
			var wait time.Duration
			wait, err = d.ready()
			if err == nil && wait > 0 {
				if !d.sleep(wait, true) {
					return
				}
				continue
			}
			if err == nil {
				continue // a batch was fixed
			}
		}
		if errors.Is(err, store.ErrClosed) {
			return
		}
		// A failure: back off, capped and jittered.
		e.log.Warn("firehose: delivery failed; retrying", "stream", d.name, "attempt", attempt+1, "err", err)
		if !d.sleep(Backoff(e.opts.RetryMin, e.opts.RetryMax, attempt), false) {
			return
		}
		attempt++
	}
}

// Backoff returns the wait before retry attempt+1 (attempt is 0-based):
// lo doubled attempt times, capped at hi, with "equal jitter" (half
// fixed, half random), so that many clients retrying one server spread
// out. The engine and the archive both use it.
func Backoff(lo, hi time.Duration, attempt int) time.Duration {
	d := lo
	for i := 0; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits d, or until stop (false); with wake, a put ends it early.
func (d *deliverer) sleep(wait time.Duration, wake bool) bool {
	t := time.NewTimer(wait)
	defer t.Stop()
	var w chan struct{}
	if wake {
		w = d.wake
	}
	select {
	case <-d.stop:
		return false
	case <-t.C:
	case <-w:
	}
	return true
}

// noRecordsWait is how long an idle stream waits for a put (which wakes
// it at once anyway).
const noRecordsWait = time.Hour

// ready fixes the next batch when the buffering hints say so; otherwise
// it returns how long to wait for them.
func (d *deliverer) ready() (time.Duration, error) {
	e := d.e
	d.mu.Lock()
	s := d.s
	pending, since := d.pendingBytes, d.since
	records := d.pendingRecords
	d.mu.Unlock()
	if records <= 0 {
		return noRecordsWait, nil
	}
	if e.opts.Destination == nil {
		return noRecordsWait, nil // kept until an S3 endpoint is configured
	}
	if pending < s.sizeLimit() {
		if left := since.Add(s.interval()).Sub(e.opts.Now()); left > 0 {
			return left, nil
		}
	}
	return 0, d.fix(s)
}

// fix stores the next batch: the oldest pending records up to the size
// hint (at least one), and the key its object will have.
//
// It holds putMu: no put commits meanwhile, so the pending counters and
// the spool agree when it subtracts the batch from them.
func (d *deliverer) fix(s Stream) error {
	e := d.e
	d.putMu.Lock()
	defer d.putMu.Unlock()
	b, v, err := d.nextBatch(s, d.next)
	if err != nil {
		return err
	}
	if b == nil {
		d.mu.Lock()
		d.pendingBytes, d.pendingRecords = 0, 0
		d.mu.Unlock()
		return nil
	}
	err = e.sp.Update(context.Background(), store.Meta, func(txn *store.Txn) error {
		return txn.Set(e.sp.Key([]byte(keyBatch), []byte(s.Name)), v)
	})
	if err != nil {
		return fmt.Errorf("firehose: fix batch of %s: %w", s.Name, err)
	}
	d.fixed(b)
	return nil
}

// nextBatch returns the batch fix stores, from seq from on (nil: no
// record), and its stored form. The caller holds putMu.
func (d *deliverer) nextBatch(s Stream, from uint64) (*batch, []byte, error) {
	e := d.e
	limit := s.sizeLimit()
	b := batch{}
	err := e.sp.View(func(txn *store.Txn) error {
		it := e.recordIter(txn, s.Name, from)
		defer it.Close()
		for ; it.Valid(); it.Next() {
			item := it.Item()
			n := item.ValueSize()
			if b.Records > 0 && b.Bytes+n > limit {
				break
			}
			seq := seqOf(item.Key())
			if b.Records == 0 {
				b.From = seq
			}
			b.To = seq
			b.Records++
			b.Bytes += n
		}
		return nil
	})
	if err != nil || b.Records == 0 {
		return nil, nil, err
	}
	// The keys' timestamps are the approximate arrival of the batch's
	// oldest record, as AWS's.
	d.mu.Lock()
	b.Arrival = d.since
	d.mu.Unlock()
	if b.Arrival.IsZero() {
		b.Arrival = e.opts.Now()
	}
	b.Key = s.ObjectKey(b.Arrival, uuid.NewString())
	b.Dest = &s.Destination
	if s.Destination.Processing.lambda() != nil {
		b.ErrKey = s.ErrorObjectKey(b.Arrival, uuid.NewString(), ErrorProcessingFailed)
	}
	if s.Destination.partitioned() {
		if err := d.partition(s, &b); err != nil {
			return nil, nil, fmt.Errorf("firehose: fix batch of %s: %w", s.Name, err)
		}
	}
	v, err := json.Marshal(&b)
	if err != nil {
		return nil, nil, err
	}
	return &b, v, nil
}

// fixed subtracts batch b, just stored, from the pending counters. The
// caller holds putMu.
func (d *deliverer) fixed(b *batch) {
	e := d.e
	d.mu.Lock()
	d.pendingBytes -= b.Bytes
	d.pendingRecords -= b.Records
	if d.pendingRecords > 0 {
		d.since = e.opts.Now()
	} else {
		d.pendingBytes = 0
	}
	d.mu.Unlock()
}

// fixNow reports whether ready would fix the next batch at once: there
// are pending records, an S3 endpoint, and they fill a batch or have
// waited for the buffering interval.
func (d *deliverer) fixNow() bool {
	e := d.e
	d.mu.Lock()
	s := d.s
	pending, since := d.pendingBytes, d.since
	records := d.pendingRecords
	d.mu.Unlock()
	if records <= 0 || e.opts.Destination == nil {
		return false
	}
	return pending >= s.sizeLimit() || !since.Add(s.interval()).After(e.opts.Now())
}

// deliver writes batch b's object (unless it was written) and deletes its
// records and then the batch.
func (d *deliverer) deliver(b *batch) error {
	e := d.e
	s := d.describe()
	if b.Dest != nil {
		s.Destination = *b.Dest
	}
	delim := s.Destination.Processing.delimiter()
	written := b.Written
	if !written && b.Partitioned && b.ErrorType == "" {
		if err := d.writePartitioned(s, b, delim); err != nil {
			return err
		}
		written = true
	}
	var read *readResult // b's records as read, if they were
	if !written {
		if e.opts.Destination == nil {
			return errors.New("no S3 endpoint configured")
		}
		var body, errBody []byte
		var records, raw int64
		var err error
		if lc := s.Destination.Processing.lambda(); lc != nil {
			body, errBody, records, raw, err = d.transformBatch(s, b, lc)
		} else {
			if p := d.takeAhead(s, b, delim); p != nil {
				read = &p.readResult
			} else if read, err = d.readBatch(s, b, delim); err != nil {
				return err
			}
			body, records, raw = read.body, read.records, read.raw
		}
		if err != nil {
			return err
		}
		// The next batch is read and compressed while this one is
		// written.
		d.prepareNext(b)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-d.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		if errBody != nil {
			err = e.opts.Destination.Put(ctx, s.Destination.Bucket(), b.ErrKey, errBody)
		}
		if err == nil && body != nil {
			err = e.opts.Destination.Put(ctx, s.Destination.Bucket(), b.Key, body)
		}
		cancel()
		if err != nil {
			e.stats.uploadFails.Add(1)
			if ferr := d.uploadFailed(s, b); ferr != nil {
				return errors.Join(err, ferr)
			}
			return err
		}
		if body != nil {
			e.stats.objects.Add(1)
		}
		if errBody != nil {
			e.stats.objects.Add(1)
		}
		d.cache = nil
		e.stats.recordsDelivered.Add(uint64(records))
		e.stats.bytesDelivered.Add(uint64(raw))
		e.log.Debug("firehose: object written", "stream", s.Name, "key", b.Key, "records", records, "bytes", len(body))
	}
	// Delete the records, marking the batch written first when that takes
	// more than one transaction, then the batch.
	batchKey := e.sp.Key([]byte(keyBatch), []byte(s.Name))
	if read != nil && read.seqs != nil {
		// The read listed the records (at most maxDeletes) and their
		// sizes: one transaction, without reading them again.
		return d.deleteRead(s, b, read, batchKey)
	}
	for {
		var keys [][]byte
		var freed int64
		err := e.sp.View(func(txn *store.Txn) error {
			it := e.recordIter(txn, s.Name, b.From)
			defer it.Close()
			for ; it.Valid() && len(keys) < maxDeletes; it.Next() {
				if seqOf(it.Item().Key()) > b.To {
					break
				}
				n, err := valueLen(it.Item())
				if err != nil {
					return err
				}
				keys = append(keys, it.Item().KeyCopy(nil))
				freed += n + recordOverhead
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("firehose: delete batch of %s: %w", s.Name, err)
		}
		last := len(keys) < maxDeletes
		var mark []byte
		if !last && !b.Written {
			b.Written = true
			if mark, err = json.Marshal(b); err != nil {
				return err
			}
		}
		err = e.sp.Update(context.Background(), store.Reclaim, func(txn *store.Txn) error {
			for _, k := range keys {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			if mark != nil {
				return txn.Set(batchKey, mark)
			}
			if last {
				return txn.Delete(batchKey)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("firehose: delete batch of %s: %w", s.Name, err)
		}
		d.mu.Lock()
		d.spooledBytes -= freed
		d.spooledRecords -= int64(len(keys))
		d.mu.Unlock()
		e.used.Add(-freed)
		e.stats.records.Add(-int64(len(keys)))
		if last {
			d.next = max(d.next, b.To+1)
			return nil
		}
	}
}

// deleteRead deletes the records of b, listed by the read that wrote
// its object, and b, in one transaction. When ready would fix the next
// batch right after (fixNow) and the stream has neither a Lambda
// processor nor dynamic partitioning, the same transaction stores the
// next batch in b's place: one fsynced commit instead of two, whose
// stored states are those of the two commits without a crash between
// them. The commit stays a Reclaim write (never refused for space): it
// deletes at least one record and stores one small batch (no partition
// lists).
func (d *deliverer) deleteRead(s Stream, b *batch, read *readResult, batchKey []byte) error {
	e := d.e
	freed := read.stored + recordOverhead*int64(len(read.seqs))
	var next *batch
	var nextV []byte
	if ns := d.describe(); ns.Destination.Processing.lambda() == nil && !ns.Destination.partitioned() && d.fixNow() {
		d.putMu.Lock()
		defer d.putMu.Unlock()
		var err error
		if next, nextV, err = d.nextBatch(ns, max(d.next, b.To+1)); err != nil {
			return err
		}
	}
	err := e.sp.Update(context.Background(), store.Reclaim, func(txn *store.Txn) error {
		for _, seq := range read.seqs {
			if err := txn.Delete(e.seqKey(s.Name, seq)); err != nil {
				return err
			}
		}
		if nextV != nil {
			return txn.Set(batchKey, nextV)
		}
		return txn.Delete(batchKey)
	})
	if err != nil {
		return fmt.Errorf("firehose: delete batch of %s: %w", s.Name, err)
	}
	if next != nil {
		d.fixed(next)
	}
	d.mu.Lock()
	d.spooledBytes -= freed
	d.spooledRecords -= int64(len(read.seqs))
	d.mu.Unlock()
	e.used.Add(-freed)
	e.stats.records.Add(-int64(len(read.seqs)))
	d.next = max(d.next, b.To+1)
	return nil
}

// uploadFailed notes batch b's first failed write; once its writes have
// failed for Options.RetryFor it fixes the batch again, under the error
// prefix (ErrorS3Failed) with a new key, stored before the first attempt
// to write it.
func (d *deliverer) uploadFailed(s Stream, b *batch) error {
	e := d.e
	if e.opts.RetryFor < 0 || b.ErrorType != "" {
		return nil
	}
	now := e.opts.Now()
	switch {
	case b.Failing.IsZero():
		b.Failing = now
	case now.Sub(b.Failing) >= e.opts.RetryFor:
		e.log.Warn("firehose: a batch failed for the retry duration; writing it under the error prefix",
			"stream", s.Name, "key", b.Key, "since", b.Failing, "retry_for", e.opts.RetryFor)
		at := b.Arrival
		if at.IsZero() {
			at = now // a batch fixed before Arrival was kept
		}
		b.Key = s.ErrorObjectKey(at, uuid.NewString(), ErrorS3Failed)
		b.ErrorType = ErrorS3Failed
	default:
		return nil
	}
	v, err := json.Marshal(b)
	if err != nil {
		return err
	}
	err = e.sp.Update(context.Background(), store.Meta, func(txn *store.Txn) error {
		return txn.Set(e.sp.Key([]byte(keyBatch), []byte(s.Name)), v)
	})
	if err != nil {
		return fmt.Errorf("firehose: batch of %s: %w", s.Name, err)
	}
	return nil
}

// open returns the plaintext of record seq of s (value v in the spool).
func (d *deliverer) open(s Stream, seq uint64, v []byte) ([]byte, error) {
	if !s.Encryption.sealed(seq) {
		return v, nil
	}
	if d.e.opts.Sealer == nil {
		return nil, fmt.Errorf("firehose: record %d of %s is sealed and the engine has no Sealer", seq, s.Name)
	}
	return d.e.opts.Sealer.Open(context.Background(), sealName(s.Name), seq, v)
}

// readBatch reads the records of b from the spool into its body: they
// stream into the compressor, so the batch is held once, compressed.
func (d *deliverer) readBatch(s Stream, b *batch, delim []byte) (*readResult, error) {
	r, err := d.readBody(s, b.From, delim, bodySize(s, b.Bytes, b.Records, delim), nil, func(seq uint64, _, _, _ int64) bool { return seq <= b.To })
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// bodySize guesses the size of a body of records of size bytes (as
// stored), to allocate it once: exact when uncompressed.
func bodySize(s Stream, size, records int64, delim []byte) int {
	n := size + records*int64(len(delim))
	if c := s.Destination.Compression; c != Uncompressed && c != "" {
		n = n/4 + 4096
	}
	return int(min(n, 256<<20))
}

// readResult is what readBody read: the body, and the records in it as
// fix counts them (seq range, records, stored ValueSizes) and their
// plaintext bytes. Up to maxDeletes records it lists their seqs and the
// exact length of their stored values, so that deliver deletes them
// without reading them again (nil seqs: more).
type readResult struct {
	body          []byte
	from, to      uint64
	records, size int64
	raw           int64
	seqs          []uint64
	stored        int64
}

// readBody reads the records of s from seq from on, while take(seq, n,
// records, size) says (n: the record's ValueSize, as fix counts it;
// records and size: what was taken before it), into a body compressed
// as s's destination says. It returns errStopped once cancel is closed.
func (d *deliverer) readBody(s Stream, from uint64, delim []byte, grow int, cancel <-chan struct{}, take func(seq uint64, n, records, size int64) bool) (readResult, error) {
	e := d.e
	var r readResult
	buf := bytes.NewBuffer(make([]byte, 0, grow))
	err := e.sp.View(func(txn *store.Txn) error {
		enc, err := encoder(s.Destination.Compression, s.Name, buf)
		if err != nil {
			return err
		}
		it := e.recordIter(txn, s.Name, from)
		defer it.Close()
		for ; it.Valid(); it.Next() {
			item := it.Item()
			seq, n := seqOf(item.Key()), item.ValueSize()
			if !take(seq, n, r.records, r.size) {
				break
			}
			select {
			case <-cancel:
				return errStopped
			default:
			}
			if r.records == 0 {
				r.from = seq
			}
			r.to = seq
			r.records++
			r.size += n
			if r.records <= maxDeletes {
				r.seqs = append(r.seqs, seq)
			} else {
				r.seqs = nil
			}
			err := item.Value(func(v []byte) error {
				r.stored += int64(len(v))
				v, err := d.open(s, seq, v)
				if err != nil {
					return err
				}
				r.raw += int64(len(v))
				if _, err := enc.Write(v); err != nil {
					return err
				}
				_, err = enc.Write(delim)
				return err
			})
			if err != nil {
				return err
			}
		}
		return enc.Close()
	})
	if err != nil {
		return readResult{}, fmt.Errorf("firehose: read batch of %s: %w", s.Name, err)
	}
	r.body = buf.Bytes()
	if r.body == nil {
		r.body = []byte{} // an empty object is an object
	}
	return r, nil
}

// ahead is the body of the batch expected after the one being written,
// read and compressed meanwhile (prepareNext) by a goroutine of its own.
// Nothing of it is stored: the next batch is fixed as always (after the
// current one is written and its records deleted), and the body is used
// only if that batch is the same records written the same way
// (takeAhead); otherwise it is dropped and the batch read again. So a
// stream holds at most two bodies: the one being written and this one.
type ahead struct {
	after       uint64 // the To of the batch it follows
	compression string
	delim       []byte
	cancel      chan struct{}
	done        chan struct{}
	// Set by the goroutine before done is closed.
	readResult
	err error
}

// prepareNext starts reading the batch after b when the stream's pending
// records already fill one: then the next fix, right after b's records
// are deleted, takes the oldest of them up to the size hint, which is
// what is read here. A stream whose next batch waits for its interval
// (or a transformation) is not read ahead: its records may change.
func (d *deliverer) prepareNext(b *batch) {
	if p := d.ahead; p != nil {
		if p.after == b.To {
			return // b is written again; its successor is read already
		}
		d.dropAhead()
	}
	if d.e.opts.Destination == nil {
		return
	}
	s := d.describe()
	if s.Destination.Processing.lambda() != nil || s.Destination.partitioned() {
		return // those batches are read their own way, not as one body
	}
	limit := s.sizeLimit()
	d.mu.Lock()
	full := d.pendingBytes >= limit
	d.mu.Unlock()
	if !full {
		return
	}
	delim := s.Destination.Processing.delimiter()
	p := &ahead{after: b.To, compression: s.Destination.Compression, delim: delim,
		cancel: make(chan struct{}), done: make(chan struct{})}
	d.ahead = p
	go func() {
		defer close(p.done)
		// fix's rule: the oldest records up to the size hint, at least one.
		p.readResult, p.err = d.readBody(s, b.To+1, delim, bodySize(s, limit, 0, delim), p.cancel, func(_ uint64, n, records, size int64) bool {
			return records == 0 || size+n <= limit
		})
	}()
}

// takeAhead returns the body read ahead if it is b's: the same records
// (seq range, count and sizes as fix counted them), compressed and
// delimited as b's destination says; nil otherwise. It waits for the
// read to end.
func (d *deliverer) takeAhead(s Stream, b *batch, delim []byte) *ahead {
	p := d.ahead
	if p == nil || p.after == b.To {
		return nil
	}
	d.ahead = nil
	<-p.done
	if p.err != nil || p.from != b.From || p.to != b.To || p.records != b.Records || p.size != b.Bytes ||
		p.compression != s.Destination.Compression || !bytes.Equal(p.delim, delim) {
		return nil
	}
	return p
}

// dropAhead stops and forgets the body being read ahead, if any.
func (d *deliverer) dropAhead() {
	if p := d.ahead; p != nil {
		close(p.cancel)
		<-p.done
		d.ahead = nil
	}
}

// each calls fn with the seq and plaintext of every record of b.
func (d *deliverer) each(txn *store.Txn, s Stream, b *batch, fn func(seq uint64, v []byte) error) error {
	e := d.e
	it := e.recordIter(txn, s.Name, b.From)
	defer it.Close()
	for ; it.Valid(); it.Next() {
		seq := seqOf(it.Item().Key())
		if seq > b.To {
			break
		}
		err := it.Item().Value(func(v []byte) error {
			v, err := d.open(s, seq, v)
			if err != nil {
				return err
			}
			return fn(seq, v)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// batchCache keeps a transformed batch's bodies while its writes are
// retried, so the endpoint is invoked once per batch (again only after a
// restart).
type batchCache struct {
	from, to      uint64
	body, errBody []byte
	records, raw  int64
	part          *transformed // a partitioned batch's transformation
	classes       []int32      // a partitioned batch's records' parts, from fix (-1: failed)
	partBytes     []int64      // and the bytes of each part's records
}

// transformBatch runs b's records through the Lambda processor lc and
// returns the object's body (nil when no record is Ok) and the
// processing-failed object's (nil when none failed), both compressed as
// the destination says.
func (d *deliverer) transformBatch(s Stream, b *batch, lc *lambdaConf) (body, errBody []byte, records, raw int64, err error) {
	if c := d.cache; c != nil && c.from == b.From && c.to == b.To {
		return c.body, c.errBody, c.records, c.raw, nil
	}
	e := d.e
	if b.ErrKey == "" {
		return nil, nil, 0, 0, fmt.Errorf("firehose: batch %s of %s has no error key", b.Key, s.Name)
	}
	var recs []spoolRecord
	err = e.sp.View(func(txn *store.Txn) error {
		return d.each(txn, s, b, func(seq uint64, v []byte) error {
			recs = append(recs, spoolRecord{seq: seq, data: bytes.Clone(v)})
			return nil
		})
	})
	if err != nil {
		return nil, nil, 0, 0, fmt.Errorf("firehose: read batch of %s: %w", s.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-d.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	arrival := b.Arrival
	if arrival.IsZero() {
		arrival = e.opts.Now()
	}
	out, err := d.transform(ctx, s, lc, recs, arrival)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	delim := s.Destination.Processing.delimiter()
	compress := func(write func(io.Writer) error) ([]byte, error) {
		var buf bytes.Buffer
		enc, err := encoder(s.Destination.Compression, s.Name, &buf)
		if err != nil {
			return nil, err
		}
		if err := write(enc); err != nil {
			return nil, err
		}
		if err := enc.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	if len(out.ok) > 0 {
		body, err = compress(func(w io.Writer) error {
			for _, r := range out.ok {
				raw += int64(len(r))
				if _, err := w.Write(r); err != nil {
					return err
				}
				if _, err := w.Write(delim); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, nil, 0, 0, err
		}
	}
	if len(out.failed) > 0 {
		errBody, err = compress(func(w io.Writer) error {
			jw := json.NewEncoder(w) // one JSON object a line
			for i := range out.failed {
				if err := jw.Encode(&out.failed[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, nil, 0, 0, err
		}
	}
	records = int64(len(out.ok))
	e.stats.processingFailed.Add(uint64(len(out.failed)))
	e.stats.dropped.Add(uint64(len(recs) - len(out.ok) - len(out.failed)))
	d.cache = &batchCache{from: b.From, to: b.To, body: body, errBody: errBody, records: records, raw: raw}
	return body, errBody, records, raw, nil
}
