package index

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/fxamacker/cbor/v2"

	"github.com/kinedge/kinedge/index/store"
)

// MaxTimelineCells bounds a timeline query: (End-Start)/Step, the number
// of steps it covers (a week at 10 s is 60,480).
const MaxTimelineCells = 100_000

// TimelineQuery asks for a stream's recorded time in [Start, End] at a
// resolution of Step.
type TimelineQuery struct {
	// By is the timestamp the range and the spans are in.
	By TimestampType
	// Start and End bound the timeline; both are required.
	Start, End time.Time
	// Step is the resolution: two recordings less than Step apart make
	// one span; every gap of Step or more between them is reported.
	Step time.Duration
}

// Span is a stretch of recorded time: fragments cover it, with no gap of
// a timeline's Step or more inside it.
type Span struct {
	Start, End time.Time
}

// Timeline returns the recorded spans of stream within q's range, in
// order, clipped to it: the time between two spans, and before the first
// and after the last, is a gap. Gaps shorter than Step are merged into
// the spans around them; the result is exactly that of merging every
// fragment. It reads the time index in one walk that jumps ahead where
// the resolution allows (Step at least six times the stream's longest
// fragment): within a span it jumps to where a gap of Step could begin,
// and where it lands after a gap it reads back the few fragments before
// it to find where recording stopped, so a week at
// minute resolution reads a few fragments a minute rather than every
// one. Fragments beyond retention are not counted.
func (x *Index) Timeline(ctx context.Context, stream string, q TimelineQuery) ([]Span, error) {
	spans, _, err := x.timeline(ctx, stream, q)
	return spans, err
}

// timeline is Timeline, also returning how many index entries it read.
func (x *Index) timeline(ctx context.Context, stream string, q TimelineQuery) ([]Span, int, error) {
	if q.Start.IsZero() || q.End.IsZero() || !q.End.After(q.Start) {
		return nil, 0, fmt.Errorf("index: timeline %q: %w: start %v and end %v must be set, end after start", stream, ErrInvalidQuery, q.Start, q.End)
	}
	if q.Step <= 0 || q.End.Sub(q.Start)/q.Step > MaxTimelineCells {
		return nil, 0, fmt.Errorf("index: timeline %q: %w: step %v gives more than %d steps over %v", stream, ErrInvalidQuery, q.Step, MaxTimelineCells, q.End.Sub(q.Start))
	}
	done, err := x.enter(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer done()
	var spans []Span
	var reads int
	err = x.view(func(txn *store.Txn) error {
		srec, err := getStream(txn, stream)
		if err != nil {
			return err
		}
		var pfx string
		switch q.By {
		case ServerTime:
			pfx = pfxServer
		case ProducerTime:
			pfx = pfxProducer
		default:
			return fmt.Errorf("%w: timestamp type %d", ErrInvalidQuery, int(q.By))
		}
		w := timelineWalk{q: q, cutoff: x.cutoff(&srec, x.opts.Now()).UnixNano()}
		// A fragment that starts up to the longest fragment before Start
		// may reach into the range. Without a known longest fragment the
		// walk starts at the stream's first and never jumps.
		lo := timeKey(pfx, srec.ID, 0, 0)
		if srec.MaxKnown {
			w.maxDur = srec.MaxFragment
			lo = timeKey(pfx, srec.ID, timeBits(q.Start.Add(-time.Duration(srec.MaxFragment))), 0)
		}
		hi := timeKey(pfx, srec.ID, timeBits(q.End), math.MaxUint64)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: sidPrefix(pfx, srec.ID)})
		defer it.Close()
		rit := txn.NewIterator(badger.IteratorOptions{Prefix: sidPrefix(pfx, srec.ID), Reverse: true})
		defer rit.Close()
		spans, err = w.run(ctx, it, rit, lo, hi, func(t time.Time) []byte { return timeKey(pfx, srec.ID, timeBits(t), 0) })
		reads = w.reads
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("index: timeline %q: %w", stream, err)
	}
	return spans, reads, nil
}

// timelineWalk is the state of one Timeline walk.
type timelineWalk struct {
	q      TimelineQuery
	cutoff int64 // oldest visible server time, Unix ns
	maxDur int64 // the stream's longest fragment, ns; 0: unknown (no jumps)
	reads  int   // entries read
}

// spanRecord is the part of a fragmentRecord a timeline reads: decoding
// only these fields (CBOR skips the others) takes a fraction of the time
// of the whole record, tracks and all.
type spanRecord struct {
	Server   int64 `cbor:"4,keyasint"`
	Producer int64 `cbor:"5,keyasint"`
	Duration int64 `cbor:"6,keyasint"`
}

// entry reads the fragment at item: its start and end in the walk's
// timestamp, and whether it is visible (within retention).
func (w *timelineWalk) entry(item *badger.Item) (start, end time.Time, ok bool, err error) {
	w.reads++
	var rec spanRecord
	err = item.Value(func(v []byte) error { return cbor.Unmarshal(v, &rec) })
	if err != nil {
		return start, end, false, fmt.Errorf("%w: fragment: %w", ErrCorrupt, err)
	}
	if rec.Server < w.cutoff {
		return start, end, false, nil
	}
	start = time.Unix(0, rec.Server).UTC()
	if w.q.By == ProducerTime {
		start = time.Unix(0, rec.Producer).UTC()
	}
	return start, start.Add(time.Duration(rec.Duration)), true, nil
}

// run walks the keys in [lo, hi] of it, jumping where it can and asking
// back (a reverse iterator, rit) what a jump skipped when that matters.
// key returns the first key of a time.
//
// A jump from a span known to reach cur.End (perhaps further: a jump may
// have skipped the fragment that ends it) goes to the first fragment g
// starting at or after target = cur.End + Step - longest. A skipped
// fragment starts before target: no gap of Step fits between the span's
// true end and the start of the last fragment skipped, so the only gap
// of Step a jump can hide is the one just before g, and then g starts
// Step or more after cur.End. There, and at the end of the range, the
// walk probes: it reads back from g the fragments that start within one
// longest fragment of the one before g, whose latest end is exactly where
// recording stopped before g, and decides the gap on that.
func (w *timelineWalk) run(ctx context.Context, it, rit *badger.Iterator, lo, hi []byte, key func(time.Time) []byte) ([]Span, error) {
	step := w.q.Step
	maxDur := time.Duration(w.maxDur)
	// A jump costs a seek, which costs several sequential reads: jump
	// only where it skips several fragments.
	jumps := w.maxDur > 0 && step >= 6*maxDur
	var (
		spans  []Span
		open   bool
		cur    Span
		first  []byte // the key of the span's first fragment
		jumped bool   // cur.End may be short of the span's true end
	)
	// settle makes cur.End exact up to until, after a jump.
	settle := func(until []byte) error {
		if !jumped {
			return nil
		}
		jumped = false
		last, err := w.probe(rit, first, until, maxDur)
		if last.After(cur.End) {
			cur.End = last
		}
		return err
	}
	for it.Seek(lo); ; {
		if !it.Valid() || bytes.Compare(it.Item().Key(), hi) > 0 {
			if err := settle(hi); err != nil {
				return nil, err
			}
			break
		}
		item := it.Item()
		if w.reads%256 == 255 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		start, end, ok, err := w.entry(item)
		if err != nil {
			return nil, err
		}
		if !ok || !end.After(w.q.Start) {
			it.Next()
			continue
		}
		if open && start.Sub(cur.End) >= step {
			if err := settle(item.Key()); err != nil {
				return nil, err
			}
		}
		switch {
		case !open:
			cur, open = Span{Start: start, End: end}, true
			first = item.KeyCopy(first[:0])
		case start.Sub(cur.End) >= step:
			spans = append(spans, cur)
			cur = Span{Start: start, End: end}
			first = item.KeyCopy(first[:0])
		case end.After(cur.End):
			cur.End = end
		}
		it.Next()
		if !jumps {
			continue
		}
		target := cur.End.Add(step - maxDur)
		if !target.Before(w.q.End) {
			continue
		}
		tk := key(target)
		if !it.Valid() || bytes.Compare(it.Item().Key(), tk) >= 0 {
			continue // the next fragment is past the target anyway
		}
		it.Seek(tk)
		jumped = true
	}
	if open {
		spans = append(spans, cur)
	}
	for i := range spans {
		spans[i].Start = maxTime(spans[i].Start, w.q.Start).UTC()
		spans[i].End = minTime(spans[i].End, w.q.End).UTC()
	}
	return spans, nil
}

// probe returns the latest end of the visible fragments whose keys lie
// after from (included) and before until (excluded) and that start
// within longest of the last of them: the end of recording before until.
func (w *timelineWalk) probe(rit *badger.Iterator, from, until []byte, longest time.Duration) (time.Time, error) {
	var last, floor time.Time
	found := false
	for rit.Seek(until); rit.Valid(); rit.Next() {
		item := rit.Item()
		k := item.Key()
		if bytes.Compare(k, from) < 0 {
			break
		}
		if bytes.Equal(k, until) {
			continue
		}
		start, end, ok, err := w.entry(item)
		if err != nil {
			return last, err
		}
		if !ok {
			continue
		}
		if found && start.Before(floor) {
			break
		}
		if !found {
			found, floor = true, start.Add(-longest)
		}
		if end.After(last) {
			last = end
		}
	}
	return last, nil
}

// Clip returns the part of s within [start, end]; ok is false when none
// of it is.
func (s Span) Clip(start, end time.Time) (c Span, ok bool) {
	c = Span{Start: maxTime(s.Start, start), End: minTime(s.End, end)}
	return c, c.End.After(c.Start)
}

// MergeSpans sorts spans by start and joins those less than step apart,
// in place: what Timeline does with fragments, for spans from elsewhere
// (an archive).
func MergeSpans(spans []Span, step time.Duration) []Span {
	slices.SortFunc(spans, func(a, b Span) int { return a.Start.Compare(b.Start) })
	out := spans[:0]
	for _, s := range spans {
		if n := len(out); n > 0 && s.Start.Sub(out[n-1].End) < step {
			if s.End.After(out[n-1].End) {
				out[n-1].End = s.End
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
