package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index/store"
)

// Clock correction (docs/clock.md). A board without a real-time clock
// records on the boot's monotonic timeline until the clock is set; the
// fragments it stores meanwhile carry ClockUnsynced and the timeline's
// offset then (ClockOffset). When the clock is set, CorrectClock moves
// each of them by the difference between the boot's final offset and
// theirs: their server-time index entries, their producer-time entries
// when the producer time was the server's, and their blobs to the bucket
// of their corrected time (so retention and eviction see the real age).

// checkTime refuses a server time before Options.TimeFloor or past now
// plus Options.FutureTolerance.
func (x *Index) checkTime(t, now time.Time) error {
	if !x.opts.TimeFloor.IsZero() && t.Before(x.opts.TimeFloor) {
		return fmt.Errorf("server time %v is before the earliest plausible time %v (the system clock is not set)", t, x.opts.TimeFloor)
	}
	if x.opts.FutureTolerance > 0 && t.After(now.Add(x.opts.FutureTolerance)) {
		return fmt.Errorf("server time %v is more than %v in the future (now %v)", t, x.opts.FutureTolerance, now)
	}
	return nil
}

// ClockCorrection is what CorrectClock did.
type ClockCorrection struct {
	// Moved is how many fragments had their times moved; Settled how many
	// lost their ClockUnsynced mark.
	Moved, Settled int
}

// correctPage is how many fragment records CorrectClock reads at a time.
const correctPage = 256

// CorrectClock moves the server times of the fragments numbered from
// `from` on that carry ClockUnsynced to the boot timeline's offset: each
// moves by offset minus its ClockOffset. With settled (the clock is now
// synchronised) their mark is cleared. It is idempotent: calling it again
// with the same arguments moves nothing, so a caller may repeat it to
// catch fragments stored while it ran. Each fragment is moved in its own
// transaction.
func (x *Index) CorrectClock(ctx context.Context, from uint64, offset time.Duration, settled bool) (ClockCorrection, error) {
	done, err := x.enter(ctx)
	if err != nil {
		return ClockCorrection{}, err
	}
	defer done()
	return x.correctRange(ctx, from, math.MaxUint64, offset, settled)
}

// correctRange is CorrectClock of the fragments numbered from `from` up
// to (not including) `to`.
func (x *Index) correctRange(ctx context.Context, from, to uint64, offset time.Duration, settled bool) (ClockCorrection, error) {
	var c ClockCorrection
	next := from
	for {
		var todo []uint64
		more := false
		err := x.view(func(txn *store.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pfxNumber), PrefetchValues: true, PrefetchSize: 64})
			defer it.Close()
			for it.Seek(numberKey(next)); it.Valid(); it.Next() {
				if len(todo) == correctPage {
					more = true
					return nil
				}
				k := it.Item().Key()
				n, ok := parseNumberKey(k)
				if !ok {
					continue
				}
				if n >= to {
					return nil
				}
				next = n + 1
				rec, err := itemRecord(it.Item())
				if err != nil {
					return err
				}
				if rec.Unsynced && (rec.Offset != int64(offset) || settled) {
					todo = append(todo, n)
				}
			}
			return nil
		})
		if err != nil {
			return c, fmt.Errorf("index: correct clock: %w", err)
		}
		hook := x.corrected.Load()
		for _, n := range todo {
			ch, err := x.correctOne(ctx, n, offset, settled)
			if err != nil {
				return c, fmt.Errorf("index: correct clock of fragment %d: %w", n, err)
			}
			if ch.moved {
				c.Moved++
			}
			if settled {
				c.Settled++
			}
			if ch.changed && hook != nil {
				(*hook)(ctx, ch.now.fragment(), time.Unix(0, ch.was).UTC())
			}
		}
		if !more {
			return c, nil
		}
	}
}

// fragmentChange is what correctOne did to a fragment: changed when it
// moved it or cleared its mark, moved when its time changed; was is its
// server time before (Unix ns) and now its record after.
type fragmentChange struct {
	changed, moved bool
	was            int64
	now            fragmentRecord
}

// OnClockCorrected sets fn, called after each fragment that CorrectClock
// or CorrectEarlierRuns moved or settled has been committed, with the
// fragment as it is now and the server time it had before: the fragment
// events publish a correction (docs/fragment-events.md). It runs on the
// correcting goroutine, which it holds up; ctx is the correction's.
func (x *Index) OnClockCorrected(fn func(ctx context.Context, f Fragment, was time.Time)) {
	x.corrected.Store(&fn)
}

// correctOne moves fragment n to offset (see CorrectClock) and reports
// what it did.
func (x *Index) correctOne(ctx context.Context, n uint64, offset time.Duration, settled bool) (ch fragmentChange, err error) {
	now := x.opts.Now()
	err = x.update(ctx, store.Data, func(txn *store.Txn) error {
		ch = fragmentChange{}
		item, err := txn.Get(numberKey(n))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil // expired or purged meanwhile
		}
		if err != nil {
			return err
		}
		rec, err := itemRecord(item)
		if err != nil {
			return err
		}
		if !rec.Unsynced || (rec.Offset == int64(offset) && !settled) {
			return nil
		}
		srec, err := getStream(txn, rec.Stream)
		if errors.Is(err, ErrStreamNotFound) || (err == nil && srec.ID != rec.SID) {
			return nil // the stream's purge removes it
		}
		if err != nil {
			return err
		}
		d := offset - time.Duration(rec.Offset)
		old := rec
		rec.Server += int64(d)
		if old.Producer == old.Server {
			rec.Producer = rec.Server
		}
		rec.Offset = int64(offset)
		rec.Unsynced = !settled
		rec.Bucket = bucketEnd(time.Unix(0, rec.Server), x.bucketWidth(now))
		if d == 0 {
			rec.Bucket = old.Bucket
		}
		ch = fragmentChange{changed: true, moved: d != 0, was: old.Server, now: rec}
		var sealed []byte
		if rec.Bucket != old.Bucket {
			bi, err := txn.Get(blobKey(old.SID, old.Bucket, n))
			if err != nil {
				return fmt.Errorf("blob: %w", err)
			}
			if sealed, err = bi.ValueCopy(nil); err != nil {
				return err
			}
			if err := txn.Delete(blobKey(old.SID, old.Bucket, n)); err != nil {
				return err
			}
			if err := addUsage(txn, old.SID, old.Bucket, bucketUsage{bytes: -old.Size, fragments: -1}); err != nil {
				return err
			}
			if err := addUsage(txn, rec.SID, rec.Bucket, bucketUsage{bytes: rec.Size, fragments: 1}); err != nil {
				return err
			}
		}
		for _, k := range [][]byte{
			timeKey(pfxServer, old.SID, uint64(old.Server)^(1<<63), n),
			timeKey(pfxProducer, old.SID, uint64(old.Producer)^(1<<63), n),
		} {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		entries, err := x.entries(&srec, &rec, sealed, now)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if sealed == nil && bytes.HasPrefix(e.Key, []byte(pfxBlob)) {
				continue // the blob stays in its bucket
			}
			if err := txn.SetEntry(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fragmentChange{}, err
	}
	return ch, nil
}
