package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index/store"
)

// Group commit.
//
// Puts are queued (bounded by Options.WriteQueue) to the writer goroutine,
// which takes every request waiting, assigns sequence numbers, seals the
// records of encrypted streams (see sealBatch) and hands the records to
// Badger in one transaction (more when it is too big) without waiting for
// the commit. The syncer goroutine waits for the commits of every batch
// handed over so far, syncs once for all of them, then publishes and
// acknowledges them in order. A put is acknowledged only after its sync;
// while one batch syncs the next is being built.
//
// A shard's visible counter moves past a batch only once the batch is
// durable, and readers never look beyond it, so a reader cannot skip a
// record that commits late. A closed shard ends for readers only once its
// EndingSequenceNumber is visible.
//
// Sealing happens in the writer, after the sequence numbers are assigned,
// because a sealed record is bound to its position (stream, shard and
// sequence number are in the AAD): a record copied or swapped to another
// position fails to open instead of reading as the record there.

// syncDepth bounds the batches between the writer and the syncer.
const syncDepth = 4

// maxBatchRecords bounds the records of one group commit.
const maxBatchRecords = 8192

type putReq struct {
	s       *stream
	entries []PutEntry
	// skip marks entries already failed (throttled) before queueing.
	skip []bool
	// hashes are the entries' hash keys.
	hashes  []HashKey
	results []PutResult
	// Set by the writer under e.mu: the entries' positions (pos[i].ok
	// false: not stored), the stream id, the record flags and, when the
	// stream is sealed, the key alias and the sealed data.
	pos      []position
	streamID uint64
	flags    byte
	alias    string
	sealed   [][]byte
	err      error
	done     chan struct{}
}

// PutRecord puts one record into stream name and returns its shard and
// sequence number once it is durable. sequenceNumberForOrdering, if not
// "", must be a valid sequence number; kinedge's per-shard counters already
// order the record after it.
func (e *Engine) PutRecord(ctx context.Context, name string, entry PutEntry, sequenceNumberForOrdering string) (PutResult, error) {
	if sequenceNumberForOrdering != "" {
		if _, ok := parseSeq(sequenceNumberForOrdering); !ok {
			return PutResult{}, newErr(ErrInvalidArgument, fmt.Sprintf("ExclusiveMinimumSequenceNumber %s used in PutRecord on stream %s under account %s is invalid.", sequenceNumberForOrdering, name, e.opts.AccountID))
		}
	}
	res, err := e.PutRecords(ctx, name, []PutEntry{entry})
	if err != nil {
		return PutResult{}, err
	}
	if res[0].Err != nil {
		return PutResult{}, res[0].Err
	}
	return res[0], nil
}

// PutRecords puts up to MaxPutRecordsEntries records into stream name. The
// call fails as a whole for a missing stream or invalid input; throttled
// records fail one by one in their PutResult.Err (Kinesis partial
// failures). It returns once every accepted record is durable.
func (e *Engine) PutRecords(ctx context.Context, name string, entries []PutEntry) ([]PutResult, error) {
	if len(entries) == 0 || len(entries) > MaxPutRecordsEntries {
		return nil, newErr(ErrInvalidArgument, fmt.Sprintf("Records must contain between 1 and %d entries.", MaxPutRecordsEntries))
	}
	total := 0
	hashes := make([]HashKey, len(entries))
	for i, en := range entries {
		if n := len(en.PartitionKey); n < 1 || n > MaxPartitionKeyLength {
			return nil, newErr(ErrInvalidArgument, fmt.Sprintf("Partition key must be between 1 and %d characters.", MaxPartitionKeyLength))
		}
		size := len(en.Data) + len(en.PartitionKey)
		if size > MaxRecordSize {
			return nil, newErr(ErrInvalidArgument, fmt.Sprintf("Record size (%d bytes) exceeds the limit of %d bytes.", size, MaxRecordSize))
		}
		total += size
		if en.ExplicitHashKey != "" {
			h, ok := ParseHashKey(en.ExplicitHashKey)
			if !ok {
				return nil, newErr(ErrInvalidArgument, fmt.Sprintf("Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was %s", en.ExplicitHashKey))
			}
			hashes[i] = h
		} else {
			hashes[i] = PartitionKeyHash(en.PartitionKey)
		}
	}
	if total > MaxPutRecordsSize {
		return nil, newErr(ErrInvalidArgument, fmt.Sprintf("Records size (%d bytes) exceeds the limit of %d bytes.", total, MaxPutRecordsSize))
	}
	req := &putReq{entries: entries, hashes: hashes, results: make([]PutResult, len(entries)), done: make(chan struct{})}
	e.mu.RLock()
	s, err := e.getLocked(name)
	if err != nil {
		e.mu.RUnlock()
		return nil, err
	}
	req.s = s
	e.senders.Add(1) // Close waits for senders before draining the queue
	if e.opts.Limits.Enabled {
		now := e.now()
		for i, en := range entries {
			sh := s.route(hashes[i])
			if sh != nil && !sh.in.take(now, 1, float64(len(en.Data)+len(en.PartitionKey))) {
				if req.skip == nil {
					req.skip = make([]bool, len(entries))
				}
				req.skip[i] = true
				e.stats.throttledPuts.Add(1)
				req.results[i].Err = newErr(ErrThroughputExceeded, fmt.Sprintf("Rate exceeded for shard %s in stream %s under account %s.", sh.id(), name, e.opts.AccountID))
			}
		}
	}
	e.mu.RUnlock()
	select {
	case e.writeCh <- req:
		e.senders.Done()
	case <-e.stop:
		e.senders.Done()
		return nil, ErrClosed
	case <-ctx.Done():
		e.senders.Done()
		return nil, ctx.Err()
	}
	// Once queued the request is always answered: wait even if ctx ends,
	// so the caller learns whether its records were stored.
	select {
	case <-req.done:
	case <-e.stop:
		<-req.done
	}
	if req.err != nil {
		return nil, req.err
	}
	return req.results, nil
}

// batch is a group of put requests committed together.
type batch struct {
	reqs    []*putReq
	records int
	bytes   int
	lasts   []shardLast
	wg      sync.WaitGroup // Badger commits still running
	mu      sync.Mutex
	err     error
}

type shardLast struct {
	sh   *shard
	last uint64
}

func (b *batch) setErr(err error) {
	if err == nil {
		return
	}
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
}

// writer is the goroutine that assigns sequence numbers and starts commits.
func (e *Engine) writer() {
	defer e.wg.Done()
	defer close(e.syncCh)
	for {
		var r *putReq
		select {
		case r = <-e.writeCh:
		case <-e.stop:
			e.senders.Wait()
			e.drainWrites()
			return
		}
		reqs := []*putReq{r}
		n := len(r.entries)
	more:
		for n < maxBatchRecords {
			select {
			case r := <-e.writeCh:
				reqs = append(reqs, r)
				n += len(r.entries)
			default:
				break more
			}
		}
		e.syncCh <- e.startBatch(reqs)
	}
}

// drainWrites fails the requests still queued at Close.
func (e *Engine) drainWrites() {
	for {
		select {
		case r := <-e.writeCh:
			r.err = ErrClosed
			close(r.done)
		default:
			return
		}
	}
}

// position is where the writer put a record: its shard index and
// counter (copied, so that the batch reads no shard state outside e.mu).
type position struct {
	shard uint32
	ctr   uint64
	ok    bool
}

// startBatch assigns sequence numbers to reqs, seals the records of
// encrypted streams and starts their commit.
func (e *Engine) startBatch(reqs []*putReq) *batch {
	b := &batch{reqs: reqs}
	if !e.assign(reqs, b) {
		return b
	}
	// Past assign the batch needs no lock: its streams cannot be deleted
	// until it is acknowledged (inflight), and its counters are its own.
	e.sealBatch(reqs)
	txn, err := e.sp.Begin(store.Data)
	if err != nil {
		// Refused by the storage budget (or the store is closed): the
		// whole batch fails; its counters are burnt, holes are harmless.
		b.setErr(err)
		return b
	}
	commit := func() {
		b.wg.Add(1)
		txn.CommitWith(func(err error) {
			b.setErr(err)
			b.wg.Done()
		})
	}
	// One arena holds every key and value of the batch: Badger keeps the
	// slices until the commit is done, and one allocation beats two per
	// record.
	size := 0
	for _, r := range reqs {
		for i, en := range r.entries {
			if r.pos != nil && r.pos[i].ok {
				size += len(e.prefix) + len(keyRecord) + 20 + 1 + binary.MaxVarintLen64 + len(en.PartitionKey) + len(r.data(i))
			}
		}
	}
	arena := make([]byte, 0, size)
	for _, r := range reqs {
		if r.err != nil || r.pos == nil {
			continue
		}
		for i, en := range r.entries {
			p := r.pos[i]
			if !p.ok {
				continue
			}
			at := len(arena)
			arena = e.recordKey(arena, r.streamID, p.shard, p.ctr)
			k := arena[at:len(arena):len(arena)]
			at = len(arena)
			arena = encodeRecord(arena, en.PartitionKey, r.data(i), r.flags)
			v := arena[at:len(arena):len(arena)]
			if err = txn.Set(k, v); errors.Is(err, badger.ErrTxnTooBig) {
				commit()
				if txn, err = e.sp.Begin(store.Data); err != nil {
					txn = nil
					break
				}
				err = txn.Set(k, v)
			}
			if err != nil {
				break
			}
			b.records++
			b.bytes += len(en.Data)
		}
		if err != nil {
			break
		}
	}
	switch {
	case err == nil:
		commit()
	case txn != nil:
		b.setErr(err)
		txn.Discard()
	default:
		b.setErr(err)
	}
	return b
}

// data returns the bytes stored for entry i: sealed or as put.
func (r *putReq) data(i int) []byte {
	if r.sealed != nil {
		return r.sealed[i]
	}
	return r.entries[i].Data
}

// assign gives every record of reqs its shard and sequence number, under
// e.mu, and notes in b the shards' new last counters. It returns false if
// no record got a position.
func (e *Engine) assign(reqs []*putReq, b *batch) bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	e.inflight.Add(1) // DeleteStream waits (under e.mu) for batches in flight
	nowCtr := counterAt(e.now())
	touched := make(map[*shard]struct{}, 8)
	for _, r := range reqs {
		if r.s.deleted {
			r.err = e.notFound(r.s.meta.Name)
			continue
		}
		m := r.s.meta
		r.streamID = m.ID
		encType := m.Encryption
		switch {
		case encType == EncryptionKMS && e.opts.Sealer != nil:
			r.flags, r.alias = flagKMS|flagSealed|flagBound, m.KeyID
			r.sealed = make([][]byte, len(r.entries))
		case encType == EncryptionKMS:
			r.flags = flagKMS
		}
		r.pos = make([]position, len(r.entries))
		for i, en := range r.entries {
			if r.skip != nil && r.skip[i] {
				continue
			}
			h := r.hashes[i]
			sh := r.s.route(h)
			if sh == nil {
				r.results[i].Err = fmt.Errorf("kinesis: no open shard for hash key %s", h)
				continue
			}
			ctr := max(sh.last+1, nowCtr)
			sh.last = ctr
			touched[sh] = struct{}{}
			r.pos[i] = position{shard: sh.m.Index, ctr: ctr, ok: true}
			r.results[i] = PutResult{ShardID: sh.id(), SequenceNumber: seqNum{shard: sh.m.Index, counter: ctr}.String(), EncryptionType: encType}
			sh.winRecords++
			sh.winBytes += uint64(len(en.Data) + len(en.PartitionKey))
		}
	}
	for sh := range touched {
		// Counters of a failed batch are burnt: holes are harmless.
		b.lasts = append(b.lasts, shardLast{sh, sh.last})
	}
	return len(touched) > 0
}

// sealsPerGoroutine is the fewest records worth a goroutine of sealBatch.
const sealsPerGoroutine = 64

// sealBatch seals the records of the sealed requests of reqs, each bound
// to its position (see sealedName), spreading the work over GOMAXPROCS
// goroutines: sealing is the CPU-heavy part of a put, and the callers'
// goroutines that did it before positions were bound now wait. A request
// whose sealing fails fails as a whole; its counters are burnt.
func (e *Engine) sealBatch(reqs []*putReq) {
	type job struct {
		r    *putReq
		i    int
		name string
	}
	type shardKey struct {
		stream uint64
		shard  uint32
	}
	var jobs []job
	names := map[shardKey]string{}
	for _, r := range reqs {
		if r.sealed == nil || r.err != nil {
			continue
		}
		for i, p := range r.pos {
			if !p.ok {
				continue
			}
			k := shardKey{r.streamID, p.shard}
			name, ok := names[k]
			if !ok {
				name = sealedName(k.stream, k.shard)
				names[k] = name
			}
			jobs = append(jobs, job{r, i, name})
		}
	}
	if len(jobs) == 0 {
		return
	}
	var mu sync.Mutex // guards the requests' err
	run := func(jobs []job) {
		for _, j := range jobs {
			r := j.r
			sealed, _, err := e.opts.Sealer.Seal(context.Background(), r.alias, j.name, r.pos[j.i].ctr, r.entries[j.i].Data)
			if err != nil {
				mu.Lock()
				if r.err == nil {
					r.err = fmt.Errorf("kinesis: seal record: %w", err)
				}
				mu.Unlock()
				continue
			}
			r.sealed[j.i] = sealed
		}
	}
	workers := min(runtime.GOMAXPROCS(0), (len(jobs)+sealsPerGoroutine-1)/sealsPerGoroutine)
	chunk := (len(jobs) + workers - 1) / workers
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		part := jobs[min(w*chunk, len(jobs)):min((w+1)*chunk, len(jobs))]
		wg.Go(func() { run(part) })
	}
	run(jobs[:min(chunk, len(jobs))])
	wg.Wait()
}

// syncer is the goroutine that makes batches durable and acknowledges them.
func (e *Engine) syncer() {
	defer e.wg.Done()
	for b := range e.syncCh {
		group := []*batch{b}
		b.wg.Wait()
	more:
		for {
			select {
			case b2, ok := <-e.syncCh:
				if !ok {
					break more
				}
				b2.wg.Wait()
				group = append(group, b2)
			default:
				break more
			}
		}
		syncErr := e.sync()
		e.stats.syncs.Add(1)
		for _, b := range group {
			e.finishBatch(b, syncErr)
		}
		e.notify()
	}
}

// finishBatch publishes a durable batch and answers its requests.
func (e *Engine) finishBatch(b *batch, syncErr error) {
	err := b.err
	if err == nil {
		err = syncErr
	}
	e.stats.batches.Add(1)
	e.stats.putCalls.Add(uint64(len(b.reqs)))
	if err == nil {
		e.stats.recordsPut.Add(uint64(b.records))
		e.stats.bytesPut.Add(uint64(b.bytes))
	}
	for _, l := range b.lasts {
		l.sh.visible.Store(l.last)
	}
	if err != nil {
		e.log.Error("put batch failed", "err", err)
	}
	for _, r := range b.reqs {
		if err != nil && r.err == nil {
			r.err = fmt.Errorf("kinesis: store records: %w", err)
		}
		close(r.done)
	}
	e.inflight.Done()
}

// timeBehind is now minus t in milliseconds, never negative.
func timeBehind(now, t time.Time) int64 {
	d := now.Sub(t).Milliseconds()
	if d < 0 {
		return 0
	}
	return d
}

// Changed returns a channel closed at the next commit of records to any
// stream, so that readers (SubscribeToShard) can wait for new data without
// polling.
func (e *Engine) Changed() <-chan struct{} {
	e.notifyMu.Lock()
	defer e.notifyMu.Unlock()
	if e.notifyCh == nil {
		e.notifyCh = make(chan struct{})
	}
	return e.notifyCh
}

func (e *Engine) notify() {
	e.notifyMu.Lock()
	if e.notifyCh != nil {
		close(e.notifyCh)
		e.notifyCh = nil
	}
	e.notifyMu.Unlock()
}
