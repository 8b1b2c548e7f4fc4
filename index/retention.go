package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// GCReport says what one GC cycle did.
type GCReport struct {
	// FragmentsExpired is how many fragments retention removed.
	FragmentsExpired int
	// BucketsDropped is how many blob buckets were dropped.
	BucketsDropped int
	// StreamsPurged is how many deleted streams were purged.
	StreamsPurged int
	// VlogFilesGCed is how many value-log files GC rewrote or deleted.
	VlogFilesGCed int
	// VlogBefore and VlogAfter are the value-log bytes on disk around the
	// cycle (0 in memory).
	VlogBefore, VlogAfter int64
	// DropTime is how long the longest DropPrefix call took: the time
	// writers waited (through Update) or were refused (writing to DB
	// directly).
	DropTime time.Duration
}

// dropChunk is how many prefixes one DropPrefix call drops.
const dropChunk = 64

// sweepBatch is how many fragments one retention transaction deletes.
const sweepBatch = 500

// RunGC runs one retention and GC cycle now, as the background loop does
// every GCInterval: fragments beyond their stream's current retention are
// deleted, blob buckets wholly beyond it and deleted streams are dropped,
// then badger value-log GC runs until it finds nothing to rewrite.
func (x *Index) RunGC(ctx context.Context) (GCReport, error) {
	done, err := x.enter(ctx)
	if err != nil {
		return GCReport{}, err
	}
	defer done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(x.loopCtx, cancel)
	defer stop()
	return x.runGC(ctx)
}

// runGC is RunGC without the open check (the loop runs before Close).
func (x *Index) runGC(ctx context.Context) (GCReport, error) {
	x.gcMu.Lock()
	defer x.gcMu.Unlock()
	x.stats.gcRuns.Add(1)
	rep, err := x.gcCycle(ctx)
	if err != nil {
		x.stats.gcErrors.Add(1)
		return rep, fmt.Errorf("index: gc: %w", err)
	}
	x.logger.Debug("index gc", "expired", rep.FragmentsExpired, "buckets", rep.BucketsDropped,
		"purged", rep.StreamsPurged, "drop_time", rep.DropTime, "vlog_files", rep.VlogFilesGCed, "vlog_before", rep.VlogBefore, "vlog_after", rep.VlogAfter)
	return rep, nil
}

func (x *Index) gcCycle(ctx context.Context) (GCReport, error) {
	var rep GCReport
	streams, err := x.streamRecords(ctx)
	if err != nil {
		return rep, err
	}
	now := x.opts.Now()
	var drop [][]byte
	for i := range streams {
		s := &streams[i]
		cutoff := x.cutoff(s, now)
		n, err := x.sweep(ctx, s.ID, cutoff)
		rep.FragmentsExpired += n
		x.stats.fragmentsExpired.Add(uint64(n))
		if err != nil {
			return rep, err
		}
		b, err := x.expiredBuckets(s.ID, cutoff)
		if err != nil {
			return rep, err
		}
		drop = append(drop, b...)
	}
	rep.BucketsDropped = len(drop)
	deleted, err := x.deletedStreams()
	if err != nil {
		return rep, err
	}
	for _, sid := range deleted {
		if err := x.purgeNumbers(ctx, sid); err != nil {
			return rep, err
		}
		drop = append(drop, sidPrefix(pfxServer, sid), sidPrefix(pfxProducer, sid), sidPrefix(pfxBlob, sid))
	}
	if len(drop) > 0 {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		// DropPrefix flushes the memtables and compacts the tables that
		// hold the prefixes: the dropped values are then counted as
		// garbage in badger's discard stats, which value-log GC needs.
		// Chunks bound each write stall after a long downtime.
		for chunk := range slices.Chunk(drop, dropChunk) {
			x.gate.Lock()
			start := time.Now()
			err := x.db.DropPrefix(chunk...)
			rep.DropTime = max(rep.DropTime, time.Since(start))
			x.gate.Unlock()
			if err != nil {
				return rep, fmt.Errorf("drop prefixes: %w", err)
			}
		}
		x.stats.bucketsDropped.Add(uint64(rep.BucketsDropped))
	}
	if len(deleted) > 0 {
		err := x.update(ctx, func(txn *badger.Txn) error {
			for _, sid := range deleted {
				if err := txn.Delete(deletedKey(sid)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return rep, err
		}
		rep.StreamsPurged = len(deleted)
	}
	if x.opts.InMemory {
		return rep, nil
	}
	_, rep.VlogBefore, err = x.DiskUsage()
	if err != nil {
		return rep, err
	}
	for ctx.Err() == nil {
		err := x.db.RunValueLogGC(x.opts.GCDiscardRatio)
		if err != nil {
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				return rep, fmt.Errorf("value log gc: %w", err)
			}
			break
		}
		rep.VlogFilesGCed++
		x.stats.vlogFilesGCed.Add(1)
	}
	_, rep.VlogAfter, err = x.DiskUsage()
	if err != nil {
		return rep, err
	}
	if rep.VlogAfter < rep.VlogBefore {
		x.stats.bytesReclaimed.Add(uint64(rep.VlogBefore - rep.VlogAfter))
	}
	return rep, ctx.Err()
}

// sweep deletes the number and index keys of stream sid's fragments whose
// server time is before cutoff, in batches, and returns how many.
func (x *Index) sweep(ctx context.Context, sid uint64, cutoff time.Time) (int, error) {
	total := 0
	hi := timeKey(pfxServer, sid, timeBits(cutoff), 0)
	for {
		var keys [][]byte
		err := x.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: sidPrefix(pfxServer, sid), PrefetchValues: true, PrefetchSize: 100})
			defer it.Close()
			for it.Rewind(); it.Valid() && len(keys) < 3*sweepBatch; it.Next() {
				item := it.Item()
				if bytes.Compare(item.Key(), hi) >= 0 {
					break
				}
				rec, err := itemRecord(item)
				if err != nil {
					return err
				}
				keys = append(keys, item.KeyCopy(nil),
					timeKey(pfxProducer, sid, timeBits(time.Unix(0, rec.Producer)), rec.Number),
					numberKey(rec.Number))
			}
			return nil
		})
		if err != nil || len(keys) == 0 {
			return total, err
		}
		err = x.update(ctx, func(txn *badger.Txn) error {
			for _, k := range keys {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += len(keys) / 3
	}
}

// expiredBuckets returns the prefixes of stream sid's blob buckets that
// end at or before cutoff, one seek per bucket.
func (x *Index) expiredBuckets(sid uint64, cutoff time.Time) ([][]byte, error) {
	var out [][]byte
	err := x.db.View(func(txn *badger.Txn) error {
		pfx := sidPrefix(pfxBlob, sid)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx})
		defer it.Close()
		for it.Rewind(); it.Valid(); {
			k := it.Item().Key()
			if len(k) != len(pfx)+16 {
				return fmt.Errorf("%w: blob key %x", ErrCorrupt, k)
			}
			end := int64(binary.BigEndian.Uint64(k[len(pfx):]))
			if time.Unix(end, 0).After(cutoff) {
				break
			}
			out = append(out, bucketPrefix(sid, end))
			it.Seek(bucketPrefix(sid, end+1))
		}
		return nil
	})
	return out, err
}

// deletedStreams returns the ids of deleted streams awaiting purge.
func (x *Index) deletedStreams() ([]uint64, error) {
	var out []uint64
	err := x.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pfxDeleted)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != len(pfxDeleted)+8 {
				return fmt.Errorf("%w: deletion key %x", ErrCorrupt, k)
			}
			out = append(out, binary.BigEndian.Uint64(k[len(pfxDeleted):]))
		}
		return nil
	})
	return out, err
}

// purgeNumbers deletes the number keys of a deleted stream's fragments
// (its index and blob keys go by prefix).
func (x *Index) purgeNumbers(ctx context.Context, sid uint64) error {
	start := sidPrefix(pfxServer, sid)
	for {
		var keys [][]byte
		var next []byte
		err := x.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: sidPrefix(pfxServer, sid)})
			defer it.Close()
			for it.Seek(start); it.Valid() && len(keys) < 3*sweepBatch; it.Next() {
				_, _, number, ok := parseTimeKey(it.Item().Key())
				if !ok {
					return fmt.Errorf("%w: index key %x", ErrCorrupt, it.Item().Key())
				}
				keys = append(keys, numberKey(number))
				next = append(it.Item().KeyCopy(nil), 0)
			}
			return nil
		})
		if err != nil || len(keys) == 0 {
			return err
		}
		err = x.update(ctx, func(txn *badger.Txn) error {
			for _, k := range keys {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		start = next
	}
}

// DiskUsage returns the bytes on disk of the LSM tree (tables and
// memtable logs) and of the value log; zeros in memory.
func (x *Index) DiskUsage() (lsm, vlog int64, err error) {
	if x.opts.InMemory {
		return 0, 0, nil
	}
	ents, err := os.ReadDir(x.opts.Dir)
	if err != nil {
		return 0, 0, fmt.Errorf("index: disk usage: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		var dst *int64
		switch {
		case strings.HasSuffix(name, ".vlog"):
			dst = &vlog
		case strings.HasSuffix(name, ".sst"), strings.HasSuffix(name, ".mem"):
			dst = &lsm
		default:
			continue
		}
		fi, err := os.Stat(filepath.Join(x.opts.Dir, name))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // removed meanwhile
			}
			return 0, 0, fmt.Errorf("index: disk usage: %w", err)
		}
		*dst += fi.Size()
	}
	return lsm, vlog, nil
}
