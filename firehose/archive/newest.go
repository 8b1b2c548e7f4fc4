package archive

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
)

// Priority is the order a backlog is uploaded in.
type Priority string

// Priorities.
const (
	// Oldest uploads each stream's fragments in server-time order (the
	// default): manifests complete hour by hour, eviction's hold moves
	// with the uploads.
	Oldest Priority = "oldest"
	// Newest uploads the most recent fragments first, across streams,
	// then the backlog from the newest to the oldest.
	Newest Priority = "newest"
)

// ParsePriority reads "oldest" or "newest" ("" is Oldest).
func ParsePriority(s string) (Priority, error) {
	switch Priority(s) {
	case "", Oldest:
		return Oldest, nil
	case Newest:
		return Newest, nil
	}
	return "", fmt.Errorf("archive: priority %q is neither oldest nor newest", s)
}

// pos is a fragment's place in a stream's server-time order.
type pos struct {
	server int64
	number uint64
}

func posOf(f index.Fragment) pos { return pos{f.ServerTime.UnixNano(), f.Number} }

func (p pos) less(q pos) bool {
	return p.server < q.server || p.server == q.server && p.number < q.number
}

// markKey is the done mark of a fragment archived past its stream's
// cursor ("x/", newest first): ordered like the cursor.
func (a *Archiver) markKey(stream string, p pos) []byte {
	k := a.Space.Key([]byte("x/"), []byte(stream), []byte{0})
	k = binary.BigEndian.AppendUint64(k, uint64(p.server))
	return binary.BigEndian.AppendUint64(k, p.number)
}

func (a *Archiver) markPrefix(stream string) []byte {
	return a.Space.Key([]byte("x/"), []byte(stream), []byte{0})
}

// marked returns which of ps carry a done mark.
func (a *Archiver) marked(stream string, ps []pos) (map[pos]bool, error) {
	out := map[pos]bool{}
	err := a.Space.View(func(txn *store.Txn) error {
		for _, p := range ps {
			_, err := txn.Get(a.markKey(stream, p))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out[p] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("archive: done marks of %s: %w", stream, err)
	}
	return out, nil
}

// hasMarks reports whether stream has done marks past its cursor.
func (a *Archiver) hasMarks(stream string) (bool, error) {
	found := false
	err := a.Space.View(func(txn *store.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: a.markPrefix(stream)})
		defer it.Close()
		it.Rewind()
		found = it.Valid()
		return nil
	})
	return found, err
}

// errStop ends an Iterate early.
var errStop = errors.New("stop")

// advance moves stream's cursor over the fragments after it that carry a
// done mark, and deletes the marks it passes (and those of fragments gone
// from the index), in transactions of at most 1000 changes. It reads the
// index in growing chunks: usually the first fragment after the cursor is
// not done and it stops there.
func (a *Archiver) advance(ctx context.Context, stream string) error {
	chunk := 8
	for {
		c, _, err := a.readCursor(stream)
		if err != nil {
			return err
		}
		var next []pos
		err = a.Index.Iterate(ctx, stream, index.Query{By: index.ServerTime, Start: time.Unix(0, c.Server)}, func(f index.Fragment) error {
			if !c.before(f) {
				return nil
			}
			next = append(next, posOf(f))
			if len(next) == chunk {
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return fmt.Errorf("archive: list %s: %w", stream, err)
		}
		done, err := a.marked(stream, next)
		if err != nil {
			return err
		}
		moved := 0
		for _, p := range next {
			if !done[p] {
				break
			}
			moved++
		}
		if moved == 0 {
			return a.dropMarks(ctx, stream, pos{c.Server, c.Number})
		}
		to := next[moved-1]
		cv, err := json.Marshal(cursor{Server: to.server, Number: to.number})
		if err != nil {
			return err
		}
		err = a.Space.Update(ctx, store.Meta, func(txn *store.Txn) error {
			for _, p := range next[:moved] {
				if err := txn.Delete(a.markKey(stream, p)); err != nil {
					return err
				}
			}
			return txn.Set(a.cursorKey(stream), cv)
		})
		if err != nil {
			return fmt.Errorf("archive: move the cursor of %s: %w", stream, err)
		}
		if moved < len(next) || len(next) < chunk {
			return a.dropMarks(ctx, stream, to)
		}
		chunk = min(chunk*4, 1000)
	}
}

// dropMarks deletes stream's marks at or before the cursor c (fragments
// evicted or deleted after they were archived).
func (a *Archiver) dropMarks(ctx context.Context, stream string, c pos) error {
	limit := a.markKey(stream, c)
	var keys [][]byte
	err := a.Space.View(func(txn *store.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: a.markPrefix(stream)})
		defer it.Close()
		for it.Rewind(); it.Valid() && len(keys) < 1000; it.Next() {
			if bytes.Compare(it.Item().Key(), limit) > 0 {
				break
			}
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil || len(keys) == 0 {
		return err
	}
	return a.Space.Update(ctx, store.Meta, func(txn *store.Txn) error {
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// scanDown returns up to need fragments of stream after lower and before
// upper (nil: no bound), not marked done, newest first; all reports
// whether every such fragment was returned. It reads the index in windows
// of server time going back from upper, each twice as long as the last,
// so the newest of a long backlog cost a few short reads.
func (a *Archiver) scanDown(ctx context.Context, stream string, upper *pos, lower pos, need int) (out []index.Fragment, all bool, err error) {
	w := time.Minute
	var end time.Time // zero: the latest
	if upper != nil {
		end = time.Unix(0, upper.server)
	}
	for {
		top := end
		if top.IsZero() {
			top = a.Now()
		}
		start := top.Add(-w)
		last := !start.After(time.Unix(0, lower.server))
		if last {
			start = time.Unix(0, lower.server)
		}
		var win []index.Fragment
		err := a.Index.Iterate(ctx, stream, index.Query{By: index.ServerTime, Start: start, End: end}, func(f index.Fragment) error {
			p := posOf(f)
			if !lower.less(p) || upper != nil && !p.less(*upper) {
				return nil
			}
			win = append(win, f)
			return nil
		})
		if err != nil {
			return nil, false, fmt.Errorf("archive: list %s: %w", stream, err)
		}
		ps := make([]pos, len(win))
		for i, f := range win {
			ps[i] = posOf(f)
		}
		done, err := a.marked(stream, ps)
		if err != nil {
			return nil, false, err
		}
		for i := len(win) - 1; i >= 0; i-- {
			if done[ps[i]] {
				continue
			}
			if len(out) == need {
				return out, false, nil
			}
			out = append(out, win[i])
		}
		if last {
			return out, true, nil
		}
		end = start.Add(-1)
		w *= 2
	}
}

// span is a run of a stream's fragments known to be archived during a
// pass (newest first): every fragment at or after from and at or before
// top. It only saves reading them again; the marks are the record.
type span struct {
	from, top pos
}

// passNewest is pass for Newest: each round takes, per stream, the
// newest fragments not yet archived (those after the span archived so
// far in this pass, then those below it), and uploads the newest of all
// streams first, so that no stream's older fragment goes before another's
// newer one. A fragment is recorded by its done mark, in the transaction
// of its manifest entry; the cursor then moves over the marks that join
// it.
func (a *Archiver) passNewest(ctx context.Context) (held bool, err error) {
	a.stats.passes.Add(1)
	spans := map[string]*span{}
	batch := a.batch
	if batch <= 0 {
		batch = passBatch
	}
	for round := 0; ; round++ {
		// A long backlog does not hold back shredding.
		if err := a.shred(ctx); err != nil {
			return false, err
		}
		streams, err := a.Index.Streams(ctx)
		if err != nil {
			return false, fmt.Errorf("archive: streams: %w", err)
		}
		hold := a.Now().Add(-holdSlack)
		var oldest time.Time
		type cand struct {
			stream   string
			f        index.Fragment
			arrivals int // how many of the stream's candidates are above its span
			allA     bool
			allB     bool
			n        int // the stream's candidates
		}
		var lists [][]cand
		var backlog, backlogBytes int64
		for _, s := range streams {
			c, _, err := a.readCursor(s.Name)
			if err != nil {
				return false, err
			}
			cp := pos{c.Server, c.Number}
			// The oldest pending fragment is the first after the cursor
			// (advance keeps the cursor past the marks that join it).
			var first []index.Fragment
			if round == 0 {
				first, _, err = a.scanUp(ctx, s.Name, cp, -1)
				for _, f := range first {
					backlog++
					backlogBytes += f.Size
				}
			} else {
				first, _, err = a.scanUp(ctx, s.Name, cp, 1)
			}
			if err != nil {
				return false, err
			}
			if len(first) > 0 {
				if first[0].ServerTime.Before(hold) {
					hold = first[0].ServerTime
				}
				if oldest.IsZero() || first[0].ServerTime.Before(oldest) {
					oldest = first[0].ServerTime
				}
			}
			sp := spans[s.Name]
			lower := cp
			if sp != nil && cp.less(sp.top) {
				lower = sp.top
			}
			arr, allA, err := a.scanDown(ctx, s.Name, nil, lower, batch)
			if err != nil {
				return false, err
			}
			list := arr
			allB := false
			if sp != nil && allA && len(arr) < batch && cp.less(sp.from) {
				older, all, err := a.scanDown(ctx, s.Name, &sp.from, cp, batch-len(arr))
				if err != nil {
					return false, err
				}
				list = append(list, older...)
				allB = all
			}
			var cl []cand
			for _, f := range list {
				cl = append(cl, cand{stream: s.Name, f: f, arrivals: len(arr), allA: allA, allB: allB, n: len(list)})
			}
			if len(cl) > 0 {
				lists = append(lists, cl)
			}
		}
		if round == 0 {
			a.stats.backlog.Store(backlog)
			a.stats.backlogBytes.Store(backlogBytes)
		}
		a.holdNs.Store(hold.UnixNano())
		if oldest.IsZero() {
			a.stats.oldestPending.Store(0)
		} else {
			a.stats.oldestPending.Store(oldest.UnixNano())
		}
		if len(lists) == 0 {
			a.stats.backlog.Store(0)
			a.stats.backlogBytes.Store(0)
			return a.flushManifests(ctx)
		}
		// Upload only what is newer than every full list's oldest: the
		// rest waits for the next round, behind the other streams' newer.
		var cutoff pos
		for _, l := range lists {
			if last := l[len(l)-1]; l[0].n == batch && cutoff.less(posOf(last.f)) {
				cutoff = posOf(last.f)
			}
		}
		var all []cand
		for _, l := range lists {
			for _, c := range l {
				if !posOf(c.f).less(cutoff) {
					all = append(all, c)
				}
			}
		}
		sort.SliceStable(all, func(i, j int) bool {
			pi, pj := posOf(all[i].f), posOf(all[j].f)
			if pi.server != pj.server {
				return pi.server > pj.server
			}
			return all[i].stream < all[j].stream
		})
		uploaded := map[string]int{}
		clockHeld := map[string]bool{}
		for _, c := range all {
			if clockHeld[c.stream] {
				continue // uploaded stays the newest prefix of the stream's list
			}
			err := a.archive(ctx, c.stream, c.f)
			if errors.Is(err, errClockHold) {
				clockHeld[c.stream] = true
				continue
			}
			if err != nil {
				return false, err
			}
			uploaded[c.stream]++
		}
		if len(uploaded) == 0 {
			// Everything left waits for the clock.
			return a.flushManifests(ctx)
		}
		// The spans: what this round archived joins what the pass had.
		for _, l := range lists {
			st := l[0].stream
			k := uploaded[st]
			if k == 0 {
				continue
			}
			c := l[0]
			sp := spans[st]
			newest, oldestUp := posOf(l[0].f), posOf(l[k-1].f)
			switch {
			case sp == nil || c.arrivals > 0 && (k < c.arrivals || !c.allA):
				// A new run above an unread gap: the old span is read
				// again if need be (its marks skip it).
				spans[st] = &span{from: oldestUp, top: newest}
				if sp == nil && c.allA && k == c.n {
					spans[st].from = pos{} // everything after the cursor
				}
			default:
				if c.arrivals > 0 {
					sp.top = newest
				}
				if k > c.arrivals {
					sp.from = oldestUp
					if c.allB && k == c.n {
						sp.from = pos{}
					}
				}
			}
		}
		if _, err := a.flushManifests(ctx); err != nil {
			return false, err
		}
	}
}

// scanUp returns the fragments of stream after c in order, up to limit
// (negative: all), and whether they are all. It skips marked ones.
func (a *Archiver) scanUp(ctx context.Context, stream string, c pos, limit int) ([]index.Fragment, bool, error) {
	var out []index.Fragment
	var batch []index.Fragment
	flush := func() error {
		ps := make([]pos, len(batch))
		for i, f := range batch {
			ps[i] = posOf(f)
		}
		done, err := a.marked(stream, ps)
		if err != nil {
			return err
		}
		for _, f := range batch {
			if !done[posOf(f)] && (limit < 0 || len(out) < limit) {
				out = append(out, f)
			}
		}
		batch = batch[:0]
		if limit >= 0 && len(out) >= limit {
			return errStop
		}
		return nil
	}
	err := a.Index.Iterate(ctx, stream, index.Query{By: index.ServerTime, Start: time.Unix(0, c.server)}, func(f index.Fragment) error {
		if !c.less(posOf(f)) {
			return nil
		}
		batch = append(batch, f)
		if len(batch) == 256 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if errors.Is(err, errStop) {
		return out, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("archive: list %s: %w", stream, err)
	}
	return out, true, nil
}
