package api

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/kinedge/kinedge/dataplane/video/replay"
	"github.com/kinedge/kinedge/index"
)

// Archive is the appliance's archive in a bucket, the second tier of
// replay: fragments that were evicted locally, or never were local (a
// replacement appliance), are listed and replayed from it. The appliance
// implements it on firehose/archive's Remote (cmd/kinedge); this package
// does not import the archive.
type Archive interface {
	// Streams returns the names of the archived streams.
	Streams(ctx context.Context) ([]string, error)
	// Fragments returns the archived fragments of stream that q selects,
	// in server-time order. Each one's From is the replay.Source that
	// fetches and opens it.
	Fragments(ctx context.Context, stream string, q ArchiveQuery) ([]ArchivedFragment, error)
	// Archived returns a test of whether a local fragment of stream (by
	// server time and number) is in the archive and its manifest. It
	// answers from the appliance's own state, without reading the
	// bucket.
	Archived(ctx context.Context, stream string) (func(server time.Time, number uint64) bool, error)
}

// ArchiveQuery selects archived fragments: those whose server time is in
// [Start, End] (Start zero: from the archive's beginning) and, when
// ByProducer, whose producer time is in [ProducerStart, ProducerEnd] (a
// zero bound is open); the first Limit of them (0: all) in server-time
// order.
type ArchiveQuery struct {
	Start, End                 time.Time
	ByProducer                 bool
	ProducerStart, ProducerEnd time.Time
	Limit                      int
}

// Keep reports whether a fragment with producer time t passes the
// producer-time bounds.
func (q ArchiveQuery) Keep(t time.Time) bool {
	return !q.ByProducer || (q.ProducerStart.IsZero() || !t.Before(q.ProducerStart)) && (q.ProducerEnd.IsZero() || !t.After(q.ProducerEnd))
}

// DefaultProducerSkew is Handler.ProducerSkew's default.
const DefaultProducerSkew = time.Hour

// ArchivedFragment is a fragment as its archive's manifest lists it.
type ArchivedFragment struct {
	replay.Fragment
	Size  int64
	KeyID string
	Gap   bool
}

// StatusArchived is the status of a stream that is in the archive only:
// the appliance has no local copy of it (a replacement appliance).
const StatusArchived = "ARCHIVED"

// tiered reports whether a query consults the archive.
func (h *Handler) tiered(q index.Query) bool {
	return h.Archive != nil
}

func (h *Handler) producerSkew() time.Duration {
	if h.ProducerSkew <= 0 {
		return DefaultProducerSkew
	}
	return h.ProducerSkew
}

// oldestLocal returns stream's oldest local fragment by server time; ok
// is false when it has none.
func (h *Handler) oldestLocal(ctx context.Context, stream string) (f index.Fragment, ok bool, err error) {
	err = h.Index.Iterate(ctx, stream, index.Query{By: index.ServerTime, Limit: 1}, func(g index.Fragment) error {
		f, ok = g, true
		return errStop
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return f, ok, err
}

// archived returns the first limit (0: all) of stream's archived
// fragments in [start, end] (end zero: now) that are not local, by
// server time or, by producer time, those whose producer time is there
// (in server-time order). The appliance drops a stream's media oldest
// first (retention and eviction both cut by server time), so what it
// stores of a stream is everything from its oldest local fragment on:
// only the archived fragments older than that are read from the archive,
// and a range that is all local costs no bucket request. oldest is the
// stream's oldest local fragment, if hasLocal.
//
// The manifests are by server time: by producer time, the server times
// within ProducerSkew of the range are read (a camera whose clock is off
// by more is found by server time only).
func (h *Handler) archived(ctx context.Context, stream string, by index.TimestampType, start, end time.Time, oldest index.Fragment, hasLocal bool, limit int) ([]ArchivedFragment, error) {
	aq := ArchiveQuery{Start: start, End: end, Limit: limit}
	if by == index.ProducerTime {
		aq = ArchiveQuery{ByProducer: true, ProducerStart: start, ProducerEnd: end, Limit: limit}
		if !start.IsZero() {
			aq.Start = start.Add(-h.producerSkew())
		}
		if !end.IsZero() {
			aq.End = end.Add(h.producerSkew())
		}
	}
	if now := h.now(); aq.End.IsZero() || aq.End.After(now) {
		aq.End = now
	}
	if hasLocal && !aq.End.Before(oldest.ServerTime) {
		aq.End = oldest.ServerTime.Add(-time.Nanosecond)
	}
	if aq.End.Before(aq.Start) {
		return nil, nil
	}
	return h.Archive.Fragments(ctx, stream, aq)
}

// archivedFragmentJSON shows an archived fragment that is not local.
func archivedFragmentJSON(a ArchivedFragment) FragmentJSON {
	return FragmentJSON{
		FragmentNumber:               strconv.FormatUint(a.Number, 10),
		ServerTimestamp:              a.ServerTime.UTC(),
		ProducerTimestamp:            a.ProducerTime.UTC(),
		FragmentLengthInMilliseconds: a.Duration.Milliseconds(),
		FragmentSizeInBytes:          a.Size,
		Codecs:                       a.Codecs,
		KeyID:                        a.KeyID,
		Gap:                          a.Gap,
		Archived:                     true,
	}
}

// sameFragment reports whether an archived fragment is the local one: a
// replacement appliance numbers its fragments afresh, so the number alone
// does not tell.
func sameFragment(a ArchivedFragment, f index.Fragment) bool {
	return a.Number == f.Number && a.ServerTime.Equal(f.ServerTime)
}

// tierToken is the position of a merged (local and archived) listing:
// after the fragment with this server time and number.
type tierToken struct {
	t      time.Time
	number uint64
}

func (k tierToken) String() string {
	b := binary.BigEndian.AppendUint64([]byte{'T'}, uint64(k.t.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, k.number)
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseTierToken(s string) (tierToken, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 17 || b[0] != 'T' {
		return tierToken{}, badRequest("next %q is not a token of this listing", s)
	}
	return tierToken{t: time.Unix(0, int64(binary.BigEndian.Uint64(b[1:]))), number: binary.BigEndian.Uint64(b[9:])}, nil
}

func (k tierToken) before(t time.Time, number uint64) bool {
	return t.After(k.t) || (t.Equal(k.t) && number > k.number)
}

func (k tierToken) compare(o tierToken) int {
	if c := k.t.Compare(o.t); c != 0 {
		return c
	}
	return cmp.Compare(k.number, o.number)
}

// listTiered lists the archived fragments of the range that are not
// local, then the local ones, in the query's time order (by server time
// the archived ones are all older than the oldest local one, see
// archived; by producer time the two are merged), each marked local or
// archived (or both), limit at a time with its own next token. Without a
// start it lists the stream's whole history, the archive's included;
// without an end, up to now.
func (h *Handler) listTiered(w http.ResponseWriter, r *http.Request, name string, q index.Query) {
	ctx := r.Context()
	limit := q.Limit
	if limit == 0 {
		limit = index.MaxListLimit
	}
	var after *tierToken
	if q.NextToken != "" {
		k, err := parseTierToken(q.NextToken)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		after = &k
	}
	at := func(server, producer time.Time) time.Time {
		if q.By == index.ProducerTime {
			return producer
		}
		return server
	}
	lq := index.Query{By: q.By, Start: q.Start, End: q.End}
	if after != nil {
		lq.Start = after.t
	}
	oldest, hasLocal, err := h.oldestLocal(ctx, name)
	localMissing := errors.Is(err, index.ErrStreamNotFound)
	if err != nil && !localMissing {
		h.fail(w, r, err)
		return
	}
	// One more than a page, and one for a fragment at the token's time.
	arch, aerr := h.archived(ctx, name, q.By, lq.Start, q.End, oldest, hasLocal, limit+2)
	if aerr != nil {
		if localMissing {
			h.fail(w, r, aerr)
			return
		}
		h.logger().Warn("archive unreadable; listing local fragments only", "stream", name, "err", aerr)
	}
	if localMissing && len(arch) == 0 {
		h.fail(w, r, err)
		return
	}
	type item struct {
		js  FragmentJSON
		key tierToken
	}
	var remote []item
	for _, a := range arch {
		k := tierToken{at(a.ServerTime, a.ProducerTime), a.Number}
		if after == nil || after.before(k.t, k.number) {
			remote = append(remote, item{archivedFragmentJSON(a), k})
		}
	}
	slices.SortStableFunc(remote, func(a, b item) int { return a.key.compare(b.key) })
	var local []item
	if !localMissing {
		isArchived, err := h.Archive.Archived(ctx, name)
		if err != nil {
			h.logger().Warn("archive state unreadable; local fragments not marked archived", "stream", name, "err", err)
		}
		err = h.Index.Iterate(ctx, name, lq, func(f index.Fragment) error {
			k := tierToken{at(f.ServerTime, f.ProducerTime), f.Number}
			if after != nil && !after.before(k.t, k.number) {
				return nil
			}
			js := fragmentJSON(f)
			js.Archived = isArchived != nil && isArchived(f.ServerTime, f.Number)
			local = append(local, item{js, k})
			if len(local) > limit {
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			h.fail(w, r, err)
			return
		}
	}
	// Both are in order and at most a page and one long: merge them.
	out := make([]item, 0, min(limit+1, len(remote)+len(local)))
	for i, j := 0, 0; len(out) <= limit && (i < len(remote) || j < len(local)); {
		if j == len(local) || i < len(remote) && remote[i].key.compare(local[j].key) <= 0 {
			out = append(out, remote[i])
			i++
		} else {
			out = append(out, local[j])
			j++
		}
	}
	page := struct {
		Fragments []FragmentJSON `json:"fragments"`
		Next      string         `json:"next,omitempty"`
	}{Fragments: make([]FragmentJSON, 0, len(out))}
	if len(out) > limit {
		out = out[:limit]
		page.Next = out[limit-1].key.String()
	}
	for _, it := range out {
		page.Fragments = append(page.Fragments, it.js)
	}
	writeJSON(w, http.StatusOK, page)
}
