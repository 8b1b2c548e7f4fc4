package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index/store"
)

// Retention.
//
// Records older than the stream's retention are deleted for real by the
// trimmer: because a record's counter starts with its arrival time, the
// expired records of a shard are one contiguous key range, found with one
// seek and deleted in Badger write batches (Badger reclaims the space in
// compaction; small records live in the LSM tree, not the value log).
// Closed shards whose retention has passed disappear from the stream's
// metadata, as in Kinesis. Records of deleted streams are erased too.

// trimBatch is how many keys one trim transaction deletes.
const trimBatch = 2000

// kickTrimmer asks the trimmer for a pass soon (non-blocking).
func (e *Engine) kickTrimmer() {
	select {
	case e.trimKick <- struct{}{}:
	default:
	}
}

// trimmer is the retention goroutine.
func (e *Engine) trimmer() {
	defer e.wg.Done()
	t := time.NewTicker(e.opts.TrimInterval)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		case <-e.trimKick:
		}
		if err := e.Trim(); err != nil && !errors.Is(err, ErrClosed) {
			e.log.Warn("retention trim failed", "err", err)
		}
		if _, err := e.Autoscale(); err != nil && !errors.Is(err, ErrClosed) {
			e.log.Warn("on-demand scaling failed", "err", err)
		}
	}
}

// Trim runs one retention pass now: it deletes expired records, forgets
// expired closed shards and erases the records of deleted streams. The
// trimmer goroutine calls it every TrimInterval; tests call it directly.
func (e *Engine) Trim() error {
	type job struct {
		streamID uint64
		shard    uint32
		upTo     uint64 // delete counters < upTo
	}
	var jobs []job
	e.mu.RLock()
	if e.closed {
		e.mu.RUnlock()
		return ErrClosed
	}
	now := e.now()
	for _, s := range e.byID {
		cut := counterAt(now.Add(-time.Duration(s.meta.Retention) * time.Hour))
		for _, sh := range s.shards {
			jobs = append(jobs, job{s.meta.ID, sh.m.Index, min(cut, sh.visible.Load()+1)})
		}
	}
	e.mu.RUnlock()
	var errs []error
	for _, j := range jobs {
		p := e.shardPrefix(j.streamID, j.shard)
		if _, err := e.deleteRange(p, binary.BigEndian.AppendUint64(bytes.Clone(p), j.upTo)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := e.eraseDeleted(); err != nil {
		errs = append(errs, err)
	}
	if err := e.forgetExpiredShards(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// deleteRange deletes the keys with prefix p that sort before end (nil: all).
func (e *Engine) deleteRange(p, end []byte) (int, error) {
	n := 0
	for {
		var keys [][]byte
		err := e.sp.View(func(txn *store.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
			defer it.Close()
			for it.Seek(p); it.Valid() && len(keys) < 10000; it.Next() {
				k := it.Item().Key()
				if end != nil && bytes.Compare(k, end) >= 0 {
					break
				}
				keys = append(keys, it.Item().KeyCopy(nil))
			}
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("kinesis: scan for trim: %w", err)
		}
		if len(keys) == 0 {
			return n, nil
		}
		for chunk := range slices.Chunk(keys, trimBatch) {
			err := e.sp.Update(context.Background(), store.Reclaim, func(txn *store.Txn) error {
				for _, k := range chunk {
					if err := txn.Delete(k); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return n, fmt.Errorf("kinesis: trim: %w", err)
			}
		}
		n += len(keys)
	}
}

// eraseDeleted erases the records of deleted streams.
func (e *Engine) eraseDeleted() error {
	var ids []uint64
	p := e.key(keyDeleted)
	err := e.sp.View(func(txn *store.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		for it.Seek(p); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) == len(p)+8 {
				ids = append(ids, binary.BigEndian.Uint64(k[len(p):]))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("kinesis: list deleted: %w", err)
	}
	for _, id := range ids {
		if _, err := e.deleteRange(e.streamRecordsPrefix(id), nil); err != nil {
			return err
		}
		if err := e.sp.Update(context.Background(), store.Reclaim, func(txn *store.Txn) error {
			return txn.Delete(append(bytes.Clone(p), binary.BigEndian.AppendUint64(nil, id)...))
		}); err != nil {
			return fmt.Errorf("kinesis: erase deleted: %w", err)
		}
	}
	return nil
}

// forgetExpiredShards drops closed shards closed longer than the retention
// ago from the metadata.
func (e *Engine) forgetExpiredShards() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	now := e.now()
	var errs []error
	for _, s := range e.byID {
		cut := now.Add(-time.Duration(s.meta.Retention) * time.Hour).UnixMilli()
		keep := s.shards[:0:0]
		for _, sh := range s.shards {
			if sh.m.Closed && sh.m.ClosedMs < cut {
				continue
			}
			keep = append(keep, sh)
		}
		if len(keep) == len(s.shards) {
			continue
		}
		old := s.shards
		s.shards = keep
		if err := e.saveLocked(s); err != nil {
			s.shards = old
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
