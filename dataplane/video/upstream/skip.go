package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/ingest/putmedia"
)

// DefaultSkipAfter is how many permanent refusals of one fragment in a
// row make the forwarder skip it.
const DefaultSkipAfter = 3

// MaxSkips is how many skips a stream's record keeps (the latest).
const MaxSkips = 100

// Skip is a fragment the forwarder skipped: the upstream refused it for
// good SkipAfter times in a row.
type Skip struct {
	Stream    string           `json:"stream"`
	Number    uint64           `json:"fragment_number"`
	ErrorID   putmedia.ErrorID `json:"error_id"`
	ErrorCode string           `json:"error_code"`
	Message   string           `json:"message"`
	Endpoint  string           `json:"endpoint"`
	Remote    string           `json:"remote_stream"`
	At        time.Time        `json:"at"`
}

// skipRecord is a stream's skips, kept under k/<stream>: the total and
// the latest MaxSkips.
type skipRecord struct {
	Total uint64 `json:"total"`
	Last  []Skip `json:"last"`
}

func (f *Forwarder) skipKey() []byte {
	return f.Space.Key([]byte("k/"), []byte(f.Stream))
}

func (f *Forwarder) readSkips(txn *store.Txn) (skipRecord, error) {
	var rec skipRecord
	item, err := txn.Get(f.skipKey())
	if errors.Is(err, badger.ErrKeyNotFound) {
		return rec, nil
	}
	if err != nil {
		return rec, err
	}
	err = item.Value(func(v []byte) error { return json.Unmarshal(v, &rec) })
	return rec, err
}

// Skips returns how many fragments of the stream were skipped in all and
// the latest (at most MaxSkips, oldest first).
func (f *Forwarder) Skips() (total uint64, last []Skip, err error) {
	var rec skipRecord
	err = f.Space.View(func(txn *store.Txn) error {
		var err error
		rec, err = f.readSkips(txn)
		return err
	})
	if err != nil {
		return 0, nil, fmt.Errorf("upstream: skips of %s: %w", f.Stream, err)
	}
	return rec.Total, rec.Last, nil
}

// refused counts a permanent refusal of fr (the loop goroutine's count of
// refusals in a row of one fragment) and, at the SkipAfter-th, skips it:
// the cursor moves past it and the skip is recorded, in one transaction.
// It reports whether fr was skipped. Only the first fragment not
// persisted (first) is skipped: the cursor never moves past one not
// persisted; a later one refused is sent first in its own session next
// (send), and skipped then.
func (f *Forwarder) refused(ctx context.Context, fr index.Fragment, ae *AckError, first bool) (bool, error) {
	if f.refusedNumber != fr.Number {
		f.refusedNumber, f.refusedCount = fr.Number, 0
	}
	f.refusedCount++
	if f.refusedCount < f.SkipAfter || !first {
		f.Logger.Warn("upstream refused a fragment for good", "stream", f.Stream, "fragment", fr.Number,
			"error_id", int(ae.ID), "error_code", ae.Code, "refusals", f.refusedCount, "skip_after", f.SkipAfter)
		return false, nil
	}
	s := Skip{Stream: f.Stream, Number: fr.Number, ErrorID: ae.ID, ErrorCode: ae.Code, Message: ae.Error(),
		Endpoint: f.Client.Endpoint, Remote: f.Remote, At: f.Now().UTC()}
	cur, _ := json.Marshal(cursor{Server: fr.ServerTime.UnixNano(), Number: fr.Number}) // plain fields
	var total uint64
	err := f.Space.Update(ctx, store.Meta, func(txn *store.Txn) error {
		rec, err := f.readSkips(txn)
		if err != nil {
			return err
		}
		rec.Total++
		rec.Last = append(rec.Last, s)
		if n := len(rec.Last); n > MaxSkips {
			rec.Last = append(rec.Last[:0:0], rec.Last[n-MaxSkips:]...)
		}
		total = rec.Total
		v, _ := json.Marshal(rec) // plain fields
		if err := txn.Set(f.skipKey(), v); err != nil {
			return err
		}
		return txn.Set(f.cursorKey(), cur)
	})
	if err != nil {
		return false, fmt.Errorf("upstream: skip fragment %d of %s: %w", fr.Number, f.Stream, err)
	}
	f.refusedNumber, f.refusedCount = 0, 0
	f.stats.skipped.Store(total)
	f.stats.backlog.Add(-1)
	f.Logger.Warn("upstream fragment skipped: refused for good", "stream", f.Stream, "fragment", fr.Number,
		"error_id", int(ae.ID), "error_code", ae.Code, "refusals", f.SkipAfter, "endpoint", f.Client.Endpoint, "remote_stream", f.Remote)
	return true, nil
}
