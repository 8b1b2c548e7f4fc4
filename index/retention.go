package index

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index/store"
)

// GCReport says what one GC cycle did.
type GCReport struct {
	// FragmentsExpired is how many fragments retention removed,
	// FragmentsEvicted how many the storage budget's eviction floor did.
	FragmentsExpired, FragmentsEvicted int
	// BytesExpired and BytesEvicted are the sealed bytes of the buckets
	// dropped for retention and for the budget.
	BytesExpired, BytesEvicted int64
	// BucketsDropped is how many blob buckets were dropped.
	BucketsDropped int
	// StreamsPurged is how many deleted streams were purged.
	StreamsPurged int
	// KeysShredded is how many data keys retention destroyed: keys whose
	// whole sealing period is beyond their stream's retention.
	KeysShredded int
	// VlogFilesGCed is how many value-log files GC rewrote or deleted.
	VlogFilesGCed int
	// VlogBefore and VlogAfter are the value-log bytes on disk around the
	// cycle (0 in memory).
	VlogBefore, VlogAfter int64
	// DropTime is how long the longest DropPrefix call took: the time
	// writers waited.
	DropTime time.Duration
}

// dropChunk is how many prefixes one DropPrefix call drops.
const dropChunk = 64

// sweepBatch is how many fragments one retention transaction deletes.
const sweepBatch = 500

// RunGC runs one retention and GC cycle now, as the background loop does
// every GCInterval: fragments beyond their stream's current retention or
// the eviction floor are deleted, blob buckets wholly beyond it and
// deleted streams are dropped, then value-log GC runs until it finds
// nothing to rewrite.
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
	x.logger.Debug("index gc", "expired", rep.FragmentsExpired, "evicted", rep.FragmentsEvicted, "buckets", rep.BucketsDropped,
		"purged", rep.StreamsPurged, "drop_time", rep.DropTime, "vlog_files", rep.VlogFilesGCed, "vlog_before", rep.VlogBefore, "vlog_after", rep.VlogAfter)
	return rep, nil
}

// bucketDrop is a blob bucket to drop and why.
type bucketDrop struct {
	sid     uint64
	end     int64
	usage   bucketUsage
	expired bool // beyond retention (else beyond the eviction floor)
}

func (x *Index) gcCycle(ctx context.Context) (GCReport, error) {
	var rep GCReport
	streams, err := x.streamRecords(ctx)
	if err != nil {
		return rep, err
	}
	now := x.opts.Now()
	floor := x.floor.Load()
	ages, err := x.bootAges()
	if err != nil {
		return rep, err
	}
	var buckets []bucketDrop
	for i := range streams {
		s := &streams[i]
		retCut := x.retentionCutoff(s, now)
		cut := cutoffAt(retCut, floor)
		kept := map[int64]bool{}
		expired, evicted, err := x.sweep(ctx, s.ID, cut, retCut, floor, ages, now.Sub(retCut), kept)
		rep.FragmentsExpired += expired
		rep.FragmentsEvicted += evicted
		x.stats.fragmentsExpired.Add(uint64(expired))
		x.stats.fragmentsEvicted.Add(uint64(evicted))
		if err != nil {
			return rep, err
		}
		b, err := x.expiredBuckets(s.ID, cut, retCut)
		if err != nil {
			return rep, err
		}
		for _, d := range b {
			if !kept[d.end] {
				buckets = append(buckets, d)
			}
		}
	}
	if rep.KeysShredded, err = x.shredExpiredKeys(ctx, streams, now); err != nil {
		return rep, err
	}
	rep.BucketsDropped = len(buckets)
	var drop [][]byte
	for _, b := range buckets {
		drop = append(drop, bucketPrefix(b.sid, b.end), usageKey(b.sid, b.end))
	}
	deleted, err := x.deletedStreams()
	if err != nil {
		return rep, err
	}
	for _, sid := range deleted {
		if err := x.purgeNumbers(ctx, sid); err != nil {
			return rep, err
		}
		for _, p := range []string{pfxServer, pfxProducer, pfxBlob, pfxUsage, pfxTags} {
			drop = append(drop, sidPrefix(p, sid))
		}
	}
	if len(drop) > 0 {
		// DropPrefix flushes the memtables and compacts the tables that
		// hold the prefixes: the dropped values are then counted as
		// garbage in Badger's discard stats, which value-log GC needs.
		// Chunks bound each write stall after a long downtime.
		for chunk := range slices.Chunk(drop, dropChunk) {
			held, err := x.v.DropPrefix(ctx, chunk...)
			rep.DropTime = max(rep.DropTime, held)
			if err != nil {
				return rep, err
			}
		}
		x.stats.bucketsDropped.Add(uint64(rep.BucketsDropped))
		for _, b := range buckets {
			x.addStreamUsage(b.sid, -b.usage.bytes)
			if b.expired {
				rep.BytesExpired += b.usage.bytes
			} else {
				rep.BytesEvicted += b.usage.bytes
			}
		}
		x.stats.bytesExpired.Add(uint64(rep.BytesExpired))
		x.stats.bytesEvicted.Add(uint64(rep.BytesEvicted))
	}
	if len(deleted) > 0 {
		err := x.update(ctx, store.Reclaim, func(txn *store.Txn) error {
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
		x.usageMu.Lock()
		for _, sid := range deleted {
			delete(x.usage, sid)
		}
		x.usageMu.Unlock()
		rep.StreamsPurged = len(deleted)
	}
	if x.db.InMemory() {
		return rep, nil
	}
	_, rep.VlogBefore, err = x.DiskUsage()
	if err != nil {
		return rep, err
	}
	rep.VlogFilesGCed, err = x.db.CollectGarbage(ctx, x.opts.GCDiscardRatio)
	x.stats.vlogFilesGCed.Add(uint64(rep.VlogFilesGCed))
	if err != nil {
		return rep, err
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
// server time is before cutoff, in batches, and returns how many were
// beyond retention (retCut) and how many only beyond the eviction floor.
// A fragment that only retention would drop (at or past the floor) but
// that ages tells is younger than retention on the boot's clock (a
// fragment recorded before the clock was set, not yet corrected) is
// kept, and its blob bucket is added to kept: the bucket must stay too.
func (x *Index) sweep(ctx context.Context, sid uint64, cutoff, retCut time.Time, floor int64, ages *bootAges, retention time.Duration, kept map[int64]bool) (expired, evicted int, err error) {
	hi := timeKey(pfxServer, sid, timeBits(cutoff), 0)
	retNs := retCut.UnixNano()
	for {
		var keys [][]byte
		var exp, evi int
		err := x.view(func(txn *store.Txn) error {
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
				if rec.Server >= floor {
					if age, ok := ages.age(&rec); ok && age <= retention {
						kept[rec.Bucket] = true
						continue
					}
				}
				keys = append(keys, item.KeyCopy(nil),
					timeKey(pfxProducer, sid, timeBits(time.Unix(0, rec.Producer)), rec.Number),
					numberKey(rec.Number))
				if rec.Server < retNs {
					exp++
				} else {
					evi++
				}
			}
			return nil
		})
		if err != nil || len(keys) == 0 {
			return expired, evicted, err
		}
		err = x.update(ctx, store.Reclaim, func(txn *store.Txn) error {
			for _, k := range keys {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return expired, evicted, err
		}
		expired += exp
		evicted += evi
	}
}

// expiredBuckets returns stream sid's blob buckets that end at or before
// cutoff, with their usage, one seek per bucket. A bucket is expired when
// it also ends at or before retCut, else evicted.
func (x *Index) expiredBuckets(sid uint64, cutoff, retCut time.Time) ([]bucketDrop, error) {
	ends := map[int64]bool{}
	var order []int64
	var out []bucketDrop
	err := x.view(func(txn *store.Txn) error {
		// Blob buckets, and usage records whose blobs are gone (a drop
		// interrupted by a crash).
		for _, p := range []string{pfxBlob, pfxUsage} {
			pfx := sidPrefix(p, sid)
			it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx})
			for it.Rewind(); it.Valid(); {
				k := it.Item().Key()
				if len(k) < len(pfx)+8 {
					it.Close()
					return fmt.Errorf("%w: bucket key %x", ErrCorrupt, k)
				}
				end := int64(binary.BigEndian.Uint64(k[len(pfx):]))
				if time.Unix(end, 0).After(cutoff) {
					break
				}
				if !ends[end] {
					ends[end] = true
					order = append(order, end)
				}
				it.Seek(binary.BigEndian.AppendUint64(bytes.Clone(pfx), uint64(end+1)))
			}
			it.Close()
		}
		for _, end := range order {
			var u bucketUsage
			item, err := txn.Get(usageKey(sid, end))
			if err == nil {
				err = item.Value(func(v []byte) error {
					var ok bool
					if u, ok = decodeUsage(v); !ok {
						return fmt.Errorf("%w: usage record of %d bytes", ErrCorrupt, len(v))
					}
					return nil
				})
			}
			if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			out = append(out, bucketDrop{sid: sid, end: end, usage: u, expired: !time.Unix(end, 0).After(retCut)})
		}
		return nil
	})
	return out, err
}

// deletedStreams returns the ids of deleted streams awaiting purge.
func (x *Index) deletedStreams() ([]uint64, error) {
	var out []uint64
	err := x.view(func(txn *store.Txn) error {
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
		err := x.view(func(txn *store.Txn) error {
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
		err = x.update(ctx, store.Reclaim, func(txn *store.Txn) error {
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

// DiskUsage returns the bytes on disk (allocated) of the database's LSM
// tree (tables and memtable logs) and of its value log; zeros in memory.
func (x *Index) DiskUsage() (lsm, vlog int64, err error) {
	if x.db.InMemory() {
		return 0, 0, nil
	}
	st := x.db.Check()
	return st.LSM, st.ValueLog, nil
}

// SetEvictionHold makes Evict remove media before hold() first: buckets
// that end after it are evicted only when none before it is left (see
// Evict). The archive sets it to the time before which everything is
// uploaded, so archived fragments go before unarchived ones. hold may be
// called from any goroutine; a zero time means no preference.
func (x *Index) SetEvictionHold(hold func() time.Time) {
	if hold == nil {
		x.hold.Store(nil)
		return
	}
	x.hold.Store(&hold)
}

// Evict implements store.Evictor: it raises the eviction floor to the end
// of the oldest blob buckets of all streams that together hold at least
// atLeast bytes, so their fragments vanish from every read at once, and
// runs a GC cycle that drops them and collects the value-log files they
// leave. Buckets still being written (ending after now) are never
// evicted: when only they are left, Evict returns store.ErrNothingToEvict.
// With an eviction hold (SetEvictionHold), only buckets ending before the
// hold are evicted while there are any; then the oldest as before
// (counted in Stats.EvictionsPastHold): the budget is a hard limit.
func (x *Index) Evict(ctx context.Context, atLeast int64) (store.Evicted, error) {
	done, err := x.enter(ctx)
	if err != nil {
		return store.Evicted{}, err
	}
	defer done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(x.loopCtx, cancel)
	defer stop()
	now := x.opts.Now()
	last := now.Unix()
	var ok, held bool
	var end int64
	if h := x.hold.Load(); h != nil {
		if w := (*h)(); !w.IsZero() && w.Unix() < last {
			// Archived media first: only buckets that end before the
			// hold, even if they hold less than asked (the store asks
			// again while over the budget).
			held = true
			end, ok, err = x.evictionEnd(max(atLeast, 1), w.Unix())
			if err != nil {
				return store.Evicted{}, err
			}
		}
	}
	if !ok {
		end, ok, err = x.evictionEnd(max(atLeast, 1), last)
		if err != nil {
			return store.Evicted{}, err
		}
		if !ok {
			return store.Evicted{}, store.ErrNothingToEvict
		}
		if held {
			x.stats.evictedPastHold.Add(1)
			x.logger.Warn("evicting media the archive has not uploaded yet: nothing archived is left to evict", "before", time.Unix(end, 0).UTC())
		}
	}
	floor := time.Unix(end, 0).UTC()
	if err := x.raiseFloor(ctx, floor.UnixNano()); err != nil {
		return store.Evicted{}, err
	}
	x.logger.Info("evicting the oldest media for the storage budget", "before", floor, "at_least_bytes", atLeast)
	rep, err := x.runGC(ctx)
	return store.Evicted{Fragments: int64(rep.FragmentsEvicted), Bytes: rep.BytesEvicted, Before: floor}, err
}

// evictionEnd returns the smallest bucket end, at or before last, such
// that the buckets of all streams ending at or before it hold at least
// atLeast bytes (or all there is); ok is false when no bucket ends at or
// before last. It reads each stream's usage records only as far as that
// stream alone would cover atLeast.
func (x *Index) evictionEnd(atLeast, last int64) (int64, bool, error) {
	type bucket struct{ end, bytes int64 }
	var all []bucket
	err := x.view(func(txn *store.Txn) error {
		pfx := []byte(pfxUsage)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: pfx, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		var sid uint64
		var sum int64
		for it.Rewind(); it.Valid(); {
			k := it.Item().Key()
			if len(k) != usageKeyLen {
				return fmt.Errorf("%w: usage key %x", ErrCorrupt, k)
			}
			ksid := binary.BigEndian.Uint64(k[len(pfx):])
			end := int64(binary.BigEndian.Uint64(k[len(pfx)+8:]))
			if ksid != sid {
				sid, sum = ksid, 0
			}
			if end > last || sum >= atLeast {
				// Done with this stream: on to the next one.
				if ksid == ^uint64(0) {
					break
				}
				it.Seek(sidPrefix(pfxUsage, ksid+1))
				continue
			}
			var u bucketUsage
			err := it.Item().Value(func(v []byte) error {
				var ok bool
				if u, ok = decodeUsage(v); !ok {
					return fmt.Errorf("%w: usage record of %d bytes", ErrCorrupt, len(v))
				}
				return nil
			})
			if err != nil {
				return err
			}
			all = append(all, bucket{end, u.bytes})
			sum += u.bytes
			it.Next()
		}
		return nil
	})
	if err != nil || len(all) == 0 {
		return 0, false, err
	}
	slices.SortFunc(all, func(a, b bucket) int { return cmp.Compare(a.end, b.end) })
	var sum int64
	for _, b := range all {
		sum += b.bytes
		if sum >= atLeast {
			return b.end, true, nil
		}
	}
	return all[len(all)-1].end, true, nil
}

// raiseFloor persists the eviction floor t (Unix ns) if it is later than
// the current one.
func (x *Index) raiseFloor(ctx context.Context, t int64) error {
	err := x.update(ctx, store.Reclaim, func(txn *store.Txn) error {
		cur, err := readFloor(txn)
		if err != nil || t <= cur {
			return err
		}
		return txn.Set([]byte(keyFloor), binary.BigEndian.AppendUint64(nil, uint64(t)))
	})
	if err != nil {
		return fmt.Errorf("index: raise eviction floor: %w", err)
	}
	for {
		cur := x.floor.Load()
		if t <= cur || x.floor.CompareAndSwap(cur, t) {
			return nil
		}
	}
}

// keyShredMargin is how far before a stream's retention cutoff a data
// key's successor must have been created for the key to be destroyed: a
// fragment sealed just before the rotation started at most a fragment's
// length (30 s at most) earlier, and clocks of the same process agree.
const keyShredMargin = 2 * time.Minute

// shredExpiredKeys destroys the data keys of each stream's alias (its
// KeyAlias or name) whose whole sealing period lies beyond its retention: a key seals
// from its creation until its successor is created (seal.Keyring rotates
// the key of an alias every Rotation), so when the successor was created
// before the retention cutoff every fragment the key sealed has expired.
// The current key of an alias (no successor) is never destroyed, nor one
// that sealed after the archive's eviction hold (SetEvictionHold: what is
// not archived yet needs its key for the upload and its manifest).
// A line is the alias's "video/" line and its pre-prefix line (keyLines).
// The archive hears the destroyed ids (OnKeysDestroyed) and shreds its
// copies of the keys; see docs/keys.md.
func (x *Index) shredExpiredKeys(ctx context.Context, streams []streamRecord, now time.Time) (int, error) {
	recs, err := x.Keys().ListKeys(ctx)
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	byAlias := make(map[string][]int)
	for i := range recs {
		byAlias[recs[i].Alias] = append(byAlias[recs[i].Alias], i)
	}
	// An alias shared by several streams (KmsKeyId) is cut at the earliest
	// cutoff of its streams: the longest retention wins.
	type aliasCut struct {
		cut     time.Time
		streams string
	}
	cuts := make(map[string]aliasCut)
	for i := range streams {
		s := &streams[i]
		c := x.retentionCutoff(s, now)
		if prev, ok := cuts[s.alias()]; ok {
			if prev.cut.Before(c) {
				c = prev.cut
			}
			cuts[s.alias()] = aliasCut{c, prev.streams + "," + s.Name}
			continue
		}
		cuts[s.alias()] = aliasCut{c, s.Name}
	}
	var hold time.Time
	holdSet := false
	if h := x.hold.Load(); h != nil {
		hold, holdSet = (*h)(), true
	}
	var ids []string
	for alias, ac := range cuts {
		var line []int
		for _, a := range keyLines(alias) {
			line = append(line, byAlias[a]...)
		}
		if len(line) < 2 {
			continue
		}
		slices.SortFunc(line, func(a, b int) int {
			return cmp.Or(recs[a].Created.Compare(recs[b].Created), cmp.Compare(recs[a].ID, recs[b].ID))
		})
		retCut := ac.cut
		if holdSet && hold.Before(retCut) {
			retCut = hold // the zero time (nothing archived) holds every key
		}
		retCut = retCut.Add(-keyShredMargin)
		for j := 0; j+1 < len(line); j++ {
			rec, next := &recs[line[j]], &recs[line[j+1]]
			if !next.Created.Before(retCut) {
				break
			}
			reason := fmt.Sprintf("retention of stream %s expired everything it sealed (until %s)",
				ac.streams, next.Created.UTC().Format(time.RFC3339))
			if err := x.Keys().DestroyKey(ctx, rec.ID, reason); err != nil {
				return len(ids), err
			}
			ids = append(ids, rec.ID)
		}
	}
	if fn := x.keysDestroyed.Load(); fn != nil && len(ids) > 0 {
		(*fn)(ids...)
	}
	return len(ids), nil
}
