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
	// Fragments returns stream's archived fragments whose server time is
	// in [start, end], in server-time order. Each one's From is the
	// replay.Source that fetches and opens it.
	Fragments(ctx context.Context, stream string, start, end time.Time) ([]ArchivedFragment, error)
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

// tiered reports whether a query consults the archive: it needs one, a
// start (the archive is read hour by hour) and server time (its manifests
// are by server time).
func (h *Handler) tiered(q index.Query) bool {
	return h.Archive != nil && !q.Start.IsZero() && q.By == index.ServerTime
}

// archived returns stream's archived fragments in [start, end] (end zero:
// now).
func (h *Handler) archived(ctx context.Context, stream string, start, end time.Time) ([]ArchivedFragment, error) {
	if end.IsZero() {
		end = time.Now()
	}
	return h.Archive.Fragments(ctx, stream, start, end)
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

// listTiered lists the local fragments of the range and the archived ones
// that are not local, in server-time order, each marked local or archived
// (or both), limit at a time with its own next token.
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
	var local []index.Fragment
	err := h.Index.Iterate(ctx, name, lq, func(f index.Fragment) error {
		if after != nil && !after.before(f.ServerTime, f.Number) {
			return nil
		}
		local = append(local, f)
		if len(local) > limit {
			return errStop
		}
		return nil
	})
	localMissing := errors.Is(err, index.ErrStreamNotFound)
	if err != nil && !errors.Is(err, errStop) && !localMissing {
		h.fail(w, r, err)
		return
	}
	arch, aerr := h.archived(ctx, name, lq.Start, q.End)
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
	type id struct {
		ns     int64
		number uint64
	}
	inArchive := make(map[id]bool, len(arch))
	for _, a := range arch {
		inArchive[id{a.ServerTime.UnixNano(), a.Number}] = true
	}
	out := make([]FragmentJSON, 0, min(limit+1, len(local)+len(arch)))
	var keys []tierToken
	i := 0
	for _, f := range local {
		for ; i < len(arch) && !arch[i].ServerTime.After(f.ServerTime); i++ {
			a := arch[i]
			if after != nil && !after.before(a.ServerTime, a.Number) {
				continue
			}
			if sameFragment(a, f) {
				continue
			}
			out = append(out, archivedFragmentJSON(a))
			keys = append(keys, tierToken{a.ServerTime, a.Number})
		}
		js := fragmentJSON(f)
		js.Archived = inArchive[id{f.ServerTime.UnixNano(), f.Number}]
		out = append(out, js)
		keys = append(keys, tierToken{f.ServerTime, f.Number})
	}
	// The local fragments may have stopped at limit+1: archived ones after
	// the last are on a later page, as its token starts after it.
	for ; i < len(arch) && len(local) <= limit; i++ {
		a := arch[i]
		if after != nil && !after.before(a.ServerTime, a.Number) {
			continue
		}
		out = append(out, archivedFragmentJSON(a))
		keys = append(keys, tierToken{a.ServerTime, a.Number})
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
