package api

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
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
	// Fragments returns the first limit (0: all) of stream's archived
	// fragments whose server time is in [start, end] (start zero: from
	// the archive's beginning), in server-time order. Each one's From is
	// the replay.Source that fetches and opens it.
	Fragments(ctx context.Context, stream string, start, end time.Time, limit int) ([]ArchivedFragment, error)
	// ArchivedThrough returns the position through which stream's local
	// fragments are archived: every one at or before (server time,
	// number), in server-time order, is in the archive; ok is false when
	// none is. It answers from the appliance's own state, without reading
	// the bucket.
	ArchivedThrough(ctx context.Context, stream string) (server time.Time, number uint64, ok bool, err error)
}

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

// tiered reports whether a query consults the archive: it needs one and
// server time (its manifests are by server time).
func (h *Handler) tiered(q index.Query) bool {
	return h.Archive != nil && q.By == index.ServerTime
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
// fragments in [start, end] (end zero: now) that are not local. The
// appliance drops a stream's media oldest first (retention and eviction
// both cut by time), so what it stores of a stream is everything from its
// oldest local fragment on: only the part of the range before that is
// read from the archive, and a range that is all local costs no bucket
// request. oldest is the stream's oldest local fragment, if hasLocal.
func (h *Handler) archived(ctx context.Context, stream string, start, end time.Time, oldest index.Fragment, hasLocal bool, limit int) ([]ArchivedFragment, error) {
	if end.IsZero() {
		end = h.now()
	}
	if hasLocal && !end.Before(oldest.ServerTime) {
		end = oldest.ServerTime.Add(-time.Nanosecond)
	}
	if end.Before(start) {
		return nil, nil
	}
	return h.Archive.Fragments(ctx, stream, start, end, limit)
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

// listTiered lists the archived fragments of the range that are not
// local, then the local ones, in server-time order (the archived ones
// are all older than the oldest local one, see archived), each marked
// local or archived (or both), limit at a time with its own next token.
// Without a start it lists the stream's whole history, the archive's
// included; without an end, up to now.
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
	lq := index.Query{By: index.ServerTime, Start: q.Start, End: q.End}
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
	arch, aerr := h.archived(ctx, name, lq.Start, q.End, oldest, hasLocal, limit+2)
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
	out := make([]FragmentJSON, 0, min(limit+1, len(arch)+8))
	var keys []tierToken
	for _, a := range arch {
		if after != nil && !after.before(a.ServerTime, a.Number) {
			continue
		}
		out = append(out, archivedFragmentJSON(a))
		keys = append(keys, tierToken{a.ServerTime, a.Number})
	}
	if !localMissing && len(out) <= limit {
		cur, curNumber, archivedSome, err := h.Archive.ArchivedThrough(ctx, name)
		if err != nil {
			h.logger().Warn("archive state unreadable; local fragments not marked archived", "stream", name, "err", err)
		}
		err = h.Index.Iterate(ctx, name, lq, func(f index.Fragment) error {
			if after != nil && !after.before(f.ServerTime, f.Number) {
				return nil
			}
			js := fragmentJSON(f)
			js.Archived = archivedSome && !(tierToken{cur, curNumber}).before(f.ServerTime, f.Number)
			out = append(out, js)
			keys = append(keys, tierToken{f.ServerTime, f.Number})
			if len(out) > limit {
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			h.fail(w, r, err)
			return
		}
	}
	page := struct {
		Fragments []FragmentJSON `json:"fragments"`
		Next      string         `json:"next,omitempty"`
	}{Fragments: out}
	if len(out) > limit {
		page.Fragments = out[:limit]
		page.Next = keys[limit-1].String()
	}
	writeJSON(w, http.StatusOK, page)
}
