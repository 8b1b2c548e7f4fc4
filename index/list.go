package index

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index/store"
)

// TimestampType selects the time index a query runs on (KVS
// FragmentSelectorType).
type TimestampType int

// Timestamp types.
const (
	// ServerTime selects by ServerTime (KVS SERVER_TIMESTAMP).
	ServerTime TimestampType = iota
	// ProducerTime selects by ProducerTime (KVS PRODUCER_TIMESTAMP).
	ProducerTime
)

// String returns the KVS name of t.
func (t TimestampType) String() string {
	switch t {
	case ServerTime:
		return "SERVER_TIMESTAMP"
	case ProducerTime:
		return "PRODUCER_TIMESTAMP"
	}
	return fmt.Sprintf("TimestampType(%d)", int(t))
}

// MaxListLimit is the largest page List returns (KVS ListFragments
// MaxResults is 1 to 1000).
const MaxListLimit = 1000

// Query selects fragments by the start timestamp of the By index (KVS
// ListFragments with a FragmentSelector).
type Query struct {
	// By is the timestamp the range applies to.
	By TimestampType
	// Start and End bound the fragments' start timestamps, both included.
	// A zero Start means the earliest, a zero End the latest.
	Start, End time.Time
	// Limit is the page size of List, 1 to MaxListLimit; 0 means
	// MaxListLimit. For Iterate, 0 means no limit.
	Limit int
	// NextToken resumes a List after the page that returned it.
	NextToken string
}

// tokenLen is the length of a decoded token: version, type, stream id,
// time, number, CRC-32.
const tokenLen = 1 + 1 + 8 + 8 + 8 + 4

// tokenVersion is the first byte of every token.
const tokenVersion = 1

// position is where a listing stopped: the last key returned.
type position struct {
	by                 TimestampType
	sid, tbits, number uint64
}

// encodeToken returns the opaque NextToken for p.
func encodeToken(p position) string {
	b := make([]byte, 0, tokenLen)
	b = append(b, tokenVersion, byte(p.by))
	b = binary.BigEndian.AppendUint64(b, p.sid)
	b = binary.BigEndian.AppendUint64(b, p.tbits)
	b = binary.BigEndian.AppendUint64(b, p.number)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken parses a NextToken (untrusted input from API callers).
func decodeToken(s string) (position, error) {
	var p position
	if len(s) != base64.RawURLEncoding.EncodedLen(tokenLen) {
		return p, fmt.Errorf("%w: length %d", ErrInvalidToken, len(s))
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != tokenLen {
		return p, fmt.Errorf("%w: not base64url", ErrInvalidToken)
	}
	if crc32.ChecksumIEEE(b[:tokenLen-4]) != binary.BigEndian.Uint32(b[tokenLen-4:]) {
		return p, fmt.Errorf("%w: checksum", ErrInvalidToken)
	}
	if b[0] != tokenVersion || (b[1] != byte(ServerTime) && b[1] != byte(ProducerTime)) {
		return p, fmt.Errorf("%w: version %d type %d", ErrInvalidToken, b[0], b[1])
	}
	p.by = TimestampType(b[1])
	p.sid = binary.BigEndian.Uint64(b[2:])
	p.tbits = binary.BigEndian.Uint64(b[10:])
	p.number = binary.BigEndian.Uint64(b[18:])
	return p, nil
}

// scan is one range scan over a time index.
type scan struct {
	pfx    string
	sid    uint64
	lo, hi []byte // inclusive bounds
	cutoff int64  // oldest visible server time, Unix ns
}

// prepare validates q against the stream and returns the scan it asks for.
func (x *Index) prepare(txn *store.Txn, stream string, q Query) (scan, error) {
	srec, err := getStream(txn, stream)
	if err != nil {
		return scan{}, err
	}
	var pfx string
	switch q.By {
	case ServerTime:
		pfx = pfxServer
	case ProducerTime:
		pfx = pfxProducer
	default:
		return scan{}, fmt.Errorf("%w: timestamp type %d", ErrInvalidQuery, int(q.By))
	}
	if !q.Start.IsZero() && !q.End.IsZero() && q.End.Before(q.Start) {
		return scan{}, fmt.Errorf("%w: end %v before start %v", ErrInvalidQuery, q.End, q.Start)
	}
	cutoff := x.cutoff(&srec, x.opts.Now())
	lo := timeKey(pfx, srec.ID, 0, 0)
	if !q.Start.IsZero() {
		lo = timeKey(pfx, srec.ID, timeBits(q.Start), 0)
	}
	if q.By == ServerTime {
		if c := timeKey(pfx, srec.ID, timeBits(cutoff), 0); bytes.Compare(c, lo) > 0 {
			lo = c
		}
	}
	hi := timeKey(pfx, srec.ID, math.MaxUint64, math.MaxUint64)
	if !q.End.IsZero() {
		hi = timeKey(pfx, srec.ID, timeBits(q.End), math.MaxUint64)
	}
	if q.NextToken != "" {
		p, err := decodeToken(q.NextToken)
		if err != nil {
			return scan{}, err
		}
		if p.by != q.By || p.sid != srec.ID {
			return scan{}, fmt.Errorf("%w: issued for another stream or timestamp type", ErrInvalidToken)
		}
		// Resume just after the last key returned.
		after := append(timeKey(pfx, p.sid, p.tbits, p.number), 0)
		if bytes.Compare(after, lo) > 0 {
			lo = after
		}
	}
	return scan{pfx: pfx, sid: srec.ID, lo: lo, hi: hi, cutoff: cutoff.UnixNano()}, nil
}

// page reads up to limit visible fragments of s in one seek and reports
// whether more keys follow in range. It returns the last key examined so
// a later page resumes after it.
func (x *Index) page(ctx context.Context, txn *store.Txn, s scan, limit int, fn func(*fragmentRecord)) (last []byte, more bool, err error) {
	prefetch := limit
	if prefetch > 256 {
		prefetch = 256
	}
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: prefetch, Prefix: sidPrefix(s.pfx, s.sid)})
	defer it.Close()
	n := 0
	for it.Seek(s.lo); it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		if bytes.Compare(k, s.hi) > 0 {
			return last, false, nil
		}
		if n == limit {
			return last, true, nil
		}
		if n%64 == 0 {
			if err := ctx.Err(); err != nil {
				return last, false, err
			}
		}
		rec, err := itemRecord(item)
		if err != nil {
			return last, false, err
		}
		last = item.KeyCopy(last[:0])
		if rec.Server < s.cutoff {
			continue // beyond retention (producer-time index only)
		}
		fn(&rec)
		n++
	}
	return last, false, nil
}

// List returns the fragments of stream whose q.By start timestamp lies in
// [q.Start, q.End], in that timestamp's order, at most q.Limit of them,
// and a NextToken when more may follow (KVS ListFragments). One seek per
// call. Fragments beyond the stream's retention are never returned.
func (x *Index) List(ctx context.Context, stream string, q Query) ([]Fragment, string, error) {
	limit := q.Limit
	if limit <= 0 || limit > MaxListLimit {
		limit = MaxListLimit
	}
	out, token, err := x.readPage(ctx, stream, q, limit)
	if err != nil {
		return nil, "", fmt.Errorf("index: list %q: %w", stream, err)
	}
	return out, token, nil
}

// readPage reads up to limit fragments of q in one short transaction and
// returns the token of the next page ("" at the end).
func (x *Index) readPage(ctx context.Context, stream string, q Query, limit int) ([]Fragment, string, error) {
	done, err := x.enter(ctx)
	if err != nil {
		return nil, "", err
	}
	defer done()
	var out []Fragment
	var token string
	err = x.view(func(txn *store.Txn) error {
		s, err := x.prepare(txn, stream, q)
		if err != nil {
			return err
		}
		last, more, err := x.page(ctx, txn, s, limit, func(r *fragmentRecord) { out = append(out, r.fragment()) })
		if err != nil {
			return err
		}
		if more {
			sid, tbits, number, _ := parseTimeKey(last)
			token = encodeToken(position{by: q.By, sid: sid, tbits: tbits, number: number})
		}
		return nil
	})
	return out, token, err
}

// iteratePage is how many fragments Iterate reads per transaction.
const iteratePage = 256

// Iterate calls fn for each fragment List would return for q, across all
// pages, until fn returns an error (which Iterate returns) or q.Limit
// fragments (0: no limit). It streams: it reads pages of 256 records in
// short transactions and calls fn outside them, so a slow consumer
// replaying a week (300k fragments) holds neither memory nor a badger
// transaction. Fragments that expire or are deleted during the walk stop
// appearing from the next page on.
func (x *Index) Iterate(ctx context.Context, stream string, q Query, fn func(Fragment) error) error {
	n := 0
	for {
		batch, token, err := x.readPage(ctx, stream, q, iteratePage)
		if err != nil {
			return fmt.Errorf("index: iterate %q: %w", stream, err)
		}
		for _, f := range batch {
			if q.Limit > 0 && n == q.Limit {
				return nil
			}
			if err := fn(f); err != nil {
				return err
			}
			n++
		}
		if token == "" {
			return nil
		}
		q.NextToken = token
	}
}

// Latest returns the stream's fragment with the latest server time (for
// GetMedia NOW), or an error wrapping ErrFragmentNotFound.
func (x *Index) Latest(ctx context.Context, stream string) (Fragment, error) {
	return x.edge(ctx, stream, true)
}

// Earliest returns the stream's oldest fragment still within retention
// (for GetMedia EARLIEST), or an error wrapping ErrFragmentNotFound.
func (x *Index) Earliest(ctx context.Context, stream string) (Fragment, error) {
	return x.edge(ctx, stream, false)
}

// edge finds the first (or, reverse, the last) visible fragment by server
// time in one seek.
func (x *Index) edge(ctx context.Context, stream string, reverse bool) (Fragment, error) {
	done, err := x.enter(ctx)
	if err != nil {
		return Fragment{}, err
	}
	defer done()
	var out Fragment
	err = x.view(func(txn *store.Txn) error {
		srec, err := getStream(txn, stream)
		if err != nil {
			return err
		}
		cutoff := x.cutoff(&srec, x.opts.Now())
		it := txn.NewIterator(badger.IteratorOptions{Prefix: sidPrefix(pfxServer, srec.ID), Reverse: reverse})
		defer it.Close()
		if reverse {
			it.Seek(timeKey(pfxServer, srec.ID, math.MaxUint64, math.MaxUint64))
		} else {
			it.Seek(timeKey(pfxServer, srec.ID, timeBits(cutoff), 0))
		}
		if !it.Valid() {
			return fmt.Errorf("%w: stream %q has no fragments", ErrFragmentNotFound, stream)
		}
		rec, err := itemRecord(it.Item())
		if err != nil {
			return err
		}
		if rec.Server < cutoff.UnixNano() {
			return fmt.Errorf("%w: stream %q has no fragments within retention", ErrFragmentNotFound, stream)
		}
		out = rec.fragment()
		return nil
	})
	return out, err
}
