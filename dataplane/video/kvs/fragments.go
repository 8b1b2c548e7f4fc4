package kvs

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"math"
	"net/http"
	"time"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/index"
)

// Limits of ListFragments (KVS archived media API reference).
const (
	maxListFragments     = index.MaxListLimit // MaxResults 1 to 1000
	defaultListFragments = index.MaxListLimit
)

// FragmentSelectorType values.
const (
	serverTimestamp   = "SERVER_TIMESTAMP"
	producerTimestamp = "PRODUCER_TIMESTAMP"
)

// listFragmentsInput is the ListFragments request.
type listFragmentsInput struct {
	streamRef
	MaxResults       *int64 `json:"MaxResults"`
	NextToken        string `json:"NextToken"`
	FragmentSelector *struct {
		FragmentSelectorType string `json:"FragmentSelectorType"`
		TimestampRange       *struct {
			StartTimestamp *awsproto.Timestamp `json:"StartTimestamp"`
			EndTimestamp   *awsproto.Timestamp `json:"EndTimestamp"`
		} `json:"TimestampRange"`
	} `json:"FragmentSelector"`
}

// fragmentJSON is the KVS Fragment shape.
type fragmentJSON struct {
	FragmentNumber               string             `json:"FragmentNumber"`
	FragmentSizeInBytes          int64              `json:"FragmentSizeInBytes"`
	ProducerTimestamp            awsproto.Timestamp `json:"ProducerTimestamp"`
	ServerTimestamp              awsproto.Timestamp `json:"ServerTimestamp"`
	FragmentLengthInMilliseconds int64              `json:"FragmentLengthInMilliseconds"`
}

type listFragmentsOutput struct {
	Fragments []fragmentJSON `json:"Fragments"`
	NextToken string         `json:"NextToken,omitempty"`
}

// listFragments is KVS ListFragments (archived media): the fragments whose
// selected timestamp lies in the range, in that timestamp's order. The
// NextToken carries the selector, so a request with only a NextToken
// resumes the same listing, as KVS allows.
func (h *Handler) listFragments(ctx context.Context, _ *http.Request, in *listFragmentsInput) (any, error) {
	var c checker
	if in.StreamName == "" && in.StreamARN == "" {
		c.required("streamName")
	}
	q := index.Query{Limit: defaultListFragments}
	if in.MaxResults != nil {
		if n := *in.MaxResults; n < 1 || n > maxListFragments {
			c.fail("maxResults", itoa(n), "Member must have value between 1 and 1000")
		} else {
			q.Limit = int(n)
		}
	}
	if sel := in.FragmentSelector; sel != nil {
		switch sel.FragmentSelectorType {
		case serverTimestamp:
			q.By = index.ServerTime
		case producerTimestamp:
			q.By = index.ProducerTime
		case "":
			c.required("fragmentSelector.fragmentSelectorType")
		default:
			c.fail("fragmentSelector.fragmentSelectorType", sel.FragmentSelectorType, "Member must satisfy enum value set: [PRODUCER_TIMESTAMP, SERVER_TIMESTAMP]")
		}
		switch tr := sel.TimestampRange; {
		case tr == nil:
			c.required("fragmentSelector.timestampRange")
		case tr.StartTimestamp == nil:
			c.required("fragmentSelector.timestampRange.startTimestamp")
		case tr.EndTimestamp == nil:
			c.required("fragmentSelector.timestampRange.endTimestamp")
		default:
			q.Start, q.End = clampTime(tr.StartTimestamp.Time), clampTime(tr.EndTimestamp.Time)
			if q.End.Before(q.Start) {
				c.fail("fragmentSelector.timestampRange.endTimestamp", q.End.UTC().Format(time.RFC3339Nano), "Member must not be before startTimestamp")
			}
		}
	}
	if in.NextToken != "" {
		tq, ok := decodeFragmentsToken(in.NextToken)
		if !ok {
			c.fail("nextToken", in.NextToken, "Member must be a NextToken returned by ListFragments")
		}
		q.By, q.Start, q.End, q.NextToken = tq.By, tq.Start, tq.End, tq.NextToken
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	st, err := h.resolve(ctx, in.StreamName, in.StreamARN)
	if err != nil {
		return nil, err
	}
	frags, next, err := h.Index.List(ctx, st.Name, q)
	if err != nil {
		return nil, err
	}
	out := listFragmentsOutput{Fragments: make([]fragmentJSON, len(frags))}
	for i := range frags {
		f := &frags[i]
		out.Fragments[i] = fragmentJSON{
			FragmentNumber:               f.NumberString(),
			FragmentSizeInBytes:          f.Size,
			ProducerTimestamp:            awsproto.Timestamp{Time: f.ProducerTime},
			ServerTimestamp:              awsproto.Timestamp{Time: f.ServerTime},
			FragmentLengthInMilliseconds: f.Duration.Milliseconds(),
		}
	}
	if next != "" {
		q.NextToken = next
		out.NextToken = encodeFragmentsToken(q)
	}
	return out, nil
}

// fragmentsTokenVersion is the first byte of a ListFragments NextToken:
// version, timestamp type, flags (1: has start, 2: has end), start and
// end (Unix ns), then the index's own token (which carries its checksum).
// It is sent as standard base64, KVS's NextToken pattern
// [a-zA-Z0-9+/]+={0,2}.
const fragmentsTokenVersion = 1

// fragmentsTokenHeader is the length of the fixed part of a token.
const fragmentsTokenHeader = 1 + 1 + 1 + 8 + 8

// Flags of a ListFragments NextToken.
const (
	tokenHasStart = 1 << iota
	tokenHasEnd
)

func encodeFragmentsToken(q index.Query) string {
	b := make([]byte, 0, fragmentsTokenHeader+len(q.NextToken))
	var flags byte
	if !q.Start.IsZero() {
		flags |= tokenHasStart
	}
	if !q.End.IsZero() {
		flags |= tokenHasEnd
	}
	b = append(b, fragmentsTokenVersion, byte(q.By), flags)
	b = binary.BigEndian.AppendUint64(b, uint64(clampTime(q.Start).UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(clampTime(q.End).UnixNano()))
	b = append(b, q.NextToken...)
	return base64.StdEncoding.EncodeToString(b)
}

// decodeFragmentsToken parses a ListFragments NextToken (untrusted). The
// index checks the inner token.
func decodeFragmentsToken(tok string) (index.Query, bool) {
	var q index.Query
	if len(tok) > maxFragmentsToken {
		return q, false
	}
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil || len(b) <= fragmentsTokenHeader || b[0] != fragmentsTokenVersion || b[2]&^(tokenHasStart|tokenHasEnd) != 0 {
		return q, false
	}
	switch index.TimestampType(b[1]) {
	case index.ServerTime, index.ProducerTime:
		q.By = index.TimestampType(b[1])
	default:
		return q, false
	}
	if b[2]&tokenHasStart != 0 {
		q.Start = time.Unix(0, int64(binary.BigEndian.Uint64(b[3:]))).UTC()
	}
	if b[2]&tokenHasEnd != 0 {
		q.End = time.Unix(0, int64(binary.BigEndian.Uint64(b[11:]))).UTC()
	}
	if !q.Start.IsZero() && !q.End.IsZero() && q.End.Before(q.Start) {
		return q, false
	}
	q.NextToken = string(b[fragmentsTokenHeader:])
	return q, true
}

// clampTime limits t to the times Unix nanoseconds in an int64 hold (1678
// to 2262), which the index's keys are made of. The zero time stays zero.
func clampTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	lo, hi := time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)
	switch {
	case t.Before(lo):
		return lo.UTC()
	case t.After(hi):
		return hi.UTC()
	}
	return t
}
