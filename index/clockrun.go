package index

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index/store"
)

// Runs of earlier processes (docs/clock.md). A run that starts with its
// clock unsynchronised records where its timeline sits on the kernel's
// boot clock (RecordClockRun). The boot clock keeps counting across a
// restart of the process, so when a later run of the same boot learns the
// time, it places the earlier run's timeline on its own
// (CorrectEarlierRuns) and corrects its fragments, which no other run
// could: the earlier run's offset died with its process.

// ClockRun is a run of the appliance (one process) that started with its
// clock unsynchronised: where its recording timeline sat on the boot's
// clock, and the fragment numbers it may have issued.
type ClockRun struct {
	// BootID names the kernel's boot the run was in.
	BootID string
	// BootTime is the kernel's time since boot (CLOCK_BOOTTIME) at the
	// instant the run's timeline read Start, with offset Offset.
	BootTime time.Duration
	Start    time.Time
	Offset   time.Duration
	// FirstNumber is at or below every fragment number the run issued
	// and above every number issued before it. The run's fragments are
	// those numbered from it up to the next recorded run's FirstNumber.
	FirstNumber uint64
}

// clockRunRecord is a ClockRun as stored (JSON, under pfxClockRun).
type clockRunRecord struct {
	BootID   string `json:"boot_id"`
	BootTime int64  `json:"boot_time_ns"`
	Start    int64  `json:"start_ns"`
	Offset   int64  `json:"offset_ns"`
}

// clockRunKey returns the key of the run whose first number is n.
func clockRunKey(n uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(pfxClockRun), n)
}

// decodeClockRun reads a stored run record.
func decodeClockRun(k, v []byte) (ClockRun, error) {
	if len(k) != len(pfxClockRun)+8 {
		return ClockRun{}, fmt.Errorf("%w: clock run key %q", ErrCorrupt, k)
	}
	var rec clockRunRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return ClockRun{}, fmt.Errorf("%w: clock run: %w", ErrCorrupt, err)
	}
	if rec.BootID == "" {
		return ClockRun{}, fmt.Errorf("%w: clock run without a boot id", ErrCorrupt)
	}
	return ClockRun{BootID: rec.BootID, BootTime: time.Duration(rec.BootTime), Start: time.Unix(0, rec.Start).UTC(),
		Offset: time.Duration(rec.Offset), FirstNumber: binary.BigEndian.Uint64(k[len(pfxClockRun):])}, nil
}

// RecordClockRun durably records r. The records of other boots are
// dropped (their fragments can never be corrected: they keep their
// marks), and so are those from r.FirstNumber on (a run that issued no
// number past r's first is superseded).
func (x *Index) RecordClockRun(ctx context.Context, r ClockRun) error {
	if r.BootID == "" {
		return fmt.Errorf("index: record clock run: no boot id")
	}
	done, err := x.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	b, err := json.Marshal(clockRunRecord{BootID: r.BootID, BootTime: int64(r.BootTime), Start: r.Start.UnixNano(), Offset: int64(r.Offset)})
	if err != nil {
		return err
	}
	err = x.update(ctx, store.Meta, func(txn *store.Txn) error {
		runs, corrupt, err := x.clockRuns(txn)
		if err != nil {
			return err
		}
		for _, k := range corrupt {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		for _, o := range runs {
			if o.BootID != r.BootID || o.FirstNumber >= r.FirstNumber {
				if err := txn.Delete(clockRunKey(o.FirstNumber)); err != nil {
					return err
				}
			}
		}
		return txn.Set(clockRunKey(r.FirstNumber), b)
	})
	if err != nil {
		return fmt.Errorf("index: record clock run from fragment %d: %w", r.FirstNumber, err)
	}
	return nil
}

// ClockRuns returns the recorded runs in number order (an unreadable
// record is logged and left out).
func (x *Index) ClockRuns(ctx context.Context) ([]ClockRun, error) {
	done, err := x.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var runs []ClockRun
	err = x.view(func(txn *store.Txn) error {
		runs, _, err = x.clockRuns(txn)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("index: clock runs: %w", err)
	}
	return runs, nil
}

// clockRuns reads the run records in txn, in number order. A record that
// does not decode is logged and left out, and its key returned in corrupt
// (the writers drop it): bookkeeping of the clock must not stop a start.
func (x *Index) clockRuns(txn *store.Txn) (runs []ClockRun, corrupt [][]byte, err error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pfxClockRun), PrefetchValues: true, PrefetchSize: 16})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		var r ClockRun
		var bad error
		err := it.Item().Value(func(v []byte) error {
			r, bad = decodeClockRun(it.Item().Key(), v)
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		if bad != nil {
			x.logger.Warn("dropping an unreadable record of an unsynchronised run", "key", it.Item().Key(), "err", bad)
			corrupt = append(corrupt, it.Item().KeyCopy(nil))
			continue
		}
		runs = append(runs, r)
	}
	return runs, corrupt, nil
}

// CorrectEarlierRuns settles the marked fragments of the recorded runs
// of cur's boot that came before it (FirstNumber below cur's), once cur's
// timeline is on the synchronised clock with offset now offset (cur need
// not be recorded: a run that started synchronised gives its anchor and
// offset 0).
//
// An earlier run r started, on cur's timeline, at
//
//	cur.Start − cur.Offset + offset − (cur.BootTime − r.BootTime)
//
// (the synced wall minus the boot time since r started), and its own
// timeline read r.Start − r.Offset then: the difference is r's offset,
// and each of its marked fragments (numbered from r.FirstNumber up to
// the next recorded run's) moves by it minus its own, as in CorrectClock,
// and is settled. Each corrected run's record is dropped, and so are the
// records of other boots: a run of an earlier boot (a power cut between)
// is not corrected, its fragments keep their marks. It is idempotent.
func (x *Index) CorrectEarlierRuns(ctx context.Context, cur ClockRun, offset time.Duration) (ClockCorrection, error) {
	done, err := x.enter(ctx)
	if err != nil {
		return ClockCorrection{}, err
	}
	defer done()
	var runs []ClockRun
	var corrupt [][]byte
	if err := x.view(func(txn *store.Txn) error {
		runs, corrupt, err = x.clockRuns(txn)
		return err
	}); err != nil {
		return ClockCorrection{}, fmt.Errorf("index: clock runs: %w", err)
	}
	if len(corrupt) > 0 {
		err := x.update(ctx, store.Reclaim, func(txn *store.Txn) error {
			for _, k := range corrupt {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return ClockCorrection{}, fmt.Errorf("index: drop unreadable clock runs: %w", err)
		}
	}
	curStart := cur.Start.Add(offset - cur.Offset)
	var c ClockCorrection
	for i, r := range runs {
		if r.FirstNumber >= cur.FirstNumber {
			break
		}
		if r.BootID == cur.BootID {
			to := cur.FirstNumber
			if i+1 < len(runs) && runs[i+1].FirstNumber < to {
				to = runs[i+1].FirstNumber
			}
			rStart := curStart.Add(-(cur.BootTime - r.BootTime))
			off := rStart.Sub(r.Start.Add(-r.Offset))
			rc, err := x.correctRange(ctx, r.FirstNumber, to, off, true)
			c.Moved += rc.Moved
			c.Settled += rc.Settled
			if err != nil {
				return c, fmt.Errorf("index: correct the run of boot %s from fragment %d: %w", r.BootID, r.FirstNumber, err)
			}
		}
		err := x.update(ctx, store.Reclaim, func(txn *store.Txn) error {
			err := txn.Delete(clockRunKey(r.FirstNumber))
			if errors.Is(err, badger.ErrKeyNotFound) {
				return nil
			}
			return err
		})
		if err != nil {
			return c, fmt.Errorf("index: drop the clock run from fragment %d: %w", r.FirstNumber, err)
		}
	}
	return c, nil
}

// NumbersStoredEnd returns one past the highest fragment number stored,
// whether or not the fragment is visible (past its retention on the
// present clock, evicted or of a deleted stream and not yet swept), or 0
// when none is: a number at or below every number issued from now on,
// and above every fragment an earlier run left. (A stream's Latest is
// not: an unsynchronised run's fragments stored at the floor look past
// their retention to a run that starts on the synchronised clock.)
func (x *Index) NumbersStoredEnd(ctx context.Context) (uint64, error) {
	done, err := x.enter(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	var end uint64
	err = x.view(func(txn *store.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(pfxNumber), Reverse: true})
		defer it.Close()
		for it.Seek(numberKey(math.MaxUint64)); it.Valid(); it.Next() {
			if n, ok := parseNumberKey(it.Item().Key()); ok {
				end = n + 1
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("index: stored fragment numbers: %w", err)
	}
	return end, nil
}

// bootAges reads, on the boot's clock, the age of the marked fragments of
// the recorded runs of the present boot: retention must not count their
// age from their time while the correction has not moved them yet. A
// run started at 1970 stores its fragments at the floor; a later run
// that starts on the synchronised clock, or this run once the clock is
// set, reads them as months old until the correction (at its start, at
// the look that sees the sync) moves them, and a retention cycle between
// (the purge of a deleted stream resumed at open, an eviction) would
// drop a week of video recorded minutes ago.
type bootAges struct {
	now  time.Duration // the boot clock now
	id   string
	runs []ClockRun // every recorded run, in number order
}

// bootAges reads the boot and the recorded runs, or returns nil when
// there is nothing to read (no BootClock, no run of this boot, the boot
// unreadable).
func (x *Index) bootAges() (*bootAges, error) {
	if x.opts.BootClock == nil {
		return nil, nil
	}
	var runs []ClockRun
	err := x.view(func(txn *store.Txn) (err error) {
		runs, _, err = x.clockRuns(txn)
		return err
	})
	if err != nil || len(runs) == 0 {
		return nil, err
	}
	id, now, err := x.opts.BootClock()
	if err != nil {
		x.logger.Warn("the boot clock cannot be read: fragments recorded before the clock was set age by their unsynchronised times", "err", err)
		return nil, nil
	}
	return &bootAges{now: now, id: id, runs: runs}, nil
}

// age returns the age of rec on the boot's clock, and false when rec is
// not a marked fragment of a recorded run of this boot. The run's
// timeline read r.Start (with offset r.Offset) at boot time r.BootTime,
// and rec.Server with offset rec.Offset: rec was recorded at boot time
// r.BootTime + (rec.Server − rec.Offset) − (r.Start − r.Offset).
func (b *bootAges) age(rec *fragmentRecord) (time.Duration, bool) {
	if b == nil || !rec.Unsynced {
		return 0, false
	}
	i := sort.Search(len(b.runs), func(i int) bool { return b.runs[i].FirstNumber > rec.Number }) - 1
	if i < 0 || b.runs[i].BootID != b.id {
		return 0, false
	}
	r := &b.runs[i]
	at := r.BootTime + time.Duration((rec.Server-rec.Offset)-(r.Start.UnixNano()-int64(r.Offset)))
	return max(b.now-at, 0), true
}
