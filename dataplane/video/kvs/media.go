package kvs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/dataplane/video/replay"
	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/index"
)

// mediaContentType is the Content-Type of getMedia and
// getMediaForFragmentList responses, as KVS sends it.
const mediaContentType = "video/webm"

// serveMedia returns the http.Handler of a media operation: it reads and
// decodes the body as In and calls fn, which writes the response itself.
// An error fn returns before writing is sent as a KVS error; after the
// first byte, the status is gone and the handler ends the response.
func serveMedia[In any](h *Handler, path string, fn func(ctx context.Context, w *mediaWriter, r *http.Request, in *In) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := awsproto.RequestID(r.Context())
		mw := &mediaWriter{w: w, reqID: reqID, sent: &h.counters.bytes}
		var in In
		var err error
		if h.Index == nil {
			err = ErrNoIndex
		} else if h.Opener == nil {
			err = ErrNoOpener
		} else {
			var body []byte
			if body, err = awsproto.ReadBody(r, maxBody); err == nil {
				if err = awsproto.Decode(awsproto.JSON, body, &in); err == nil {
					err = fn(r.Context(), mw, r, &in)
				}
			}
		}
		if err == nil {
			return
		}
		if mw.wrote {
			if !errors.Is(err, context.Canceled) {
				h.logger().Error("kvs media response failed mid-stream", "op", path, "request_id", reqID, "err", err)
			}
			// The status is sent: cutting the connection is all that
			// is left to tell the client.
			panic(http.ErrAbortHandler)
		}
		e, known := awsError(err)
		if !known {
			h.logger().Error("kvs request failed", "op", path, "request_id", reqID, "err", err)
		}
		writeError(w, reqID, e)
	})
}

// mediaWriter sets a media response's headers on its first write, so
// that an error before any media is still a KVS error.
type mediaWriter struct {
	w           http.ResponseWriter
	reqID       string
	contentType string
	wrote       bool
	// sent counts the bytes written (MediaStats.MediaBytes).
	sent *atomic.Uint64
}

// start sends the status and headers, once.
func (m *mediaWriter) start() {
	if m.wrote {
		return
	}
	m.wrote = true
	hd := m.w.Header()
	hd.Set("Content-Type", m.contentType)
	hd.Set(awsproto.HeaderRequestID, m.reqID)
	hd.Set("Cache-Control", "no-store")
	m.w.WriteHeader(http.StatusOK)
}

func (m *mediaWriter) Write(p []byte) (int, error) {
	m.start()
	n, err := m.w.Write(p)
	m.sent.Add(uint64(n))
	return n, err
}

// Flush implements http.Flusher.
func (m *mediaWriter) Flush() {
	m.start()
	if f, ok := m.w.(http.Flusher); ok {
		f.Flush()
	}
}

// StartSelectorType values (KVS media API, StartSelector).
const (
	selectorNow               = "NOW"
	selectorEarliest          = "EARLIEST"
	selectorFragmentNumber    = "FRAGMENT_NUMBER"
	selectorServerTimestamp   = "SERVER_TIMESTAMP"
	selectorProducerTimestamp = "PRODUCER_TIMESTAMP"
	selectorContinuationToken = "CONTINUATION_TOKEN"
	selectorTypes             = "NOW, EARLIEST, FRAGMENT_NUMBER, SERVER_TIMESTAMP, PRODUCER_TIMESTAMP, CONTINUATION_TOKEN"
)

// Limits of the KVS media API reference.
const (
	maxFragmentNumberLen    = 128 // FragmentNumberString, AfterFragmentNumber
	maxContinuationTokenLen = 128 // ContinuationToken
	// maxFragmentLookback is how far before a timestamp a fragment that
	// contains it may start (KVS fragments are at most 10 s... and
	// producers exceed it: the appliance looks back twice as far).
	maxFragmentLookback = 20 * time.Second
)

// getMediaInput is the GetMedia request.
type getMediaInput struct {
	streamRef
	StartSelector *struct {
		StartSelectorType   string              `json:"StartSelectorType"`
		AfterFragmentNumber string              `json:"AfterFragmentNumber"`
		StartTimestamp      *awsproto.Timestamp `json:"StartTimestamp"`
		ContinuationToken   string              `json:"ContinuationToken"`
	} `json:"StartSelector"`
}

// cursor is a position in a stream's fragments, in the order getMedia
// sends them: by server time, then fragment number. The zero cursor is
// before every fragment.
type cursor struct {
	t time.Time
	n uint64
}

// before reports whether f comes after c.
func (c cursor) before(f *index.Fragment) bool {
	return f.ServerTime.After(c.t) || f.ServerTime.Equal(c.t) && f.Number > c.n
}

// at returns the cursor on f: what follows f.
func at(f *index.Fragment) cursor { return cursor{t: f.ServerTime, n: f.Number} }

// justBefore returns the cursor that f is the first fragment after.
func justBefore(f *index.Fragment) cursor {
	if f.Number == 0 {
		return cursor{t: f.ServerTime.Add(-1)}
	}
	return cursor{t: f.ServerTime, n: f.Number - 1}
}

// token returns c as a continuation token: "<fragment number>_<server
// time in Unix ns>". The time lets a token resume after its fragment
// expired; it fits KVS's ContinuationToken pattern [a-zA-Z0-9_.-]+.
func (c cursor) token() string {
	var ns int64
	if !c.t.IsZero() {
		ns = c.t.UnixNano()
	}
	return strconv.FormatUint(c.n, 10) + "_" + strconv.FormatInt(ns, 10)
}

// parseToken parses a continuation token (untrusted).
func parseToken(s string) (cursor, bool) {
	ns, ts, ok := strings.Cut(s, "_")
	if !ok || len(s) > maxContinuationTokenLen {
		return cursor{}, false
	}
	n, err := strconv.ParseUint(ns, 10, 64)
	if err != nil {
		return cursor{}, false
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || t < 0 {
		return cursor{}, false
	}
	if t == 0 {
		return cursor{n: n}, true
	}
	return cursor{t: time.Unix(0, t).UTC(), n: n}, true
}

// parseFragmentNumber parses a FragmentNumberString; ok is false when it
// is not one (checked by the caller's validation) or is beyond what the
// appliance numbers (which no stored fragment has).
func parseFragmentNumber(s string) (uint64, bool) {
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// validFragmentNumber reports whether s matches FragmentNumberString:
// 1 to 128 digits.
func validFragmentNumber(s string) bool {
	if len(s) < 1 || len(s) > maxFragmentNumberLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validTokenChars reports whether s matches [a-zA-Z0-9_.-]+.
func validTokenChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return s != ""
}

// checkGetMedia validates a GetMedia request as KVS does.
func checkGetMedia(in *getMediaInput) error {
	var c checker
	if in.StreamName == "" && in.StreamARN == "" {
		c.required("streamName")
	}
	sel := in.StartSelector
	if sel == nil {
		c.required("startSelector")
		return c.err()
	}
	switch sel.StartSelectorType {
	case "":
		c.required("startSelector.startSelectorType")
	case selectorNow, selectorEarliest:
	case selectorFragmentNumber:
		if sel.AfterFragmentNumber == "" {
			return errorf(awsproto.InvalidArgumentException, "AfterFragmentNumber must be specified when StartSelectorType is FRAGMENT_NUMBER.")
		}
	case selectorServerTimestamp, selectorProducerTimestamp:
		if sel.StartTimestamp == nil {
			return errorf(awsproto.InvalidArgumentException, "StartTimestamp must be specified when StartSelectorType is %s.", sel.StartSelectorType)
		}
	case selectorContinuationToken:
		if sel.ContinuationToken == "" {
			return errorf(awsproto.InvalidArgumentException, "ContinuationToken must be specified when StartSelectorType is CONTINUATION_TOKEN.")
		}
	default:
		c.fail("startSelector.startSelectorType", sel.StartSelectorType, "Member must satisfy enum value set: ["+selectorTypes+"]")
	}
	if s := sel.AfterFragmentNumber; s != "" && !validFragmentNumber(s) {
		c.fail("startSelector.afterFragmentNumber", s, "Member must satisfy regular expression pattern: ^[0-9]+$")
	}
	if s := sel.ContinuationToken; s != "" {
		if c.length("startSelector.continuationToken", s, 1, maxContinuationTokenLen) && !validTokenChars(s) {
			c.fail("startSelector.continuationToken", s, "Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\\.\\-]+$")
		}
	}
	if err := c.err(); err != nil {
		return err
	}
	if sel.StartSelectorType == selectorContinuationToken {
		if _, ok := parseToken(sel.ContinuationToken); !ok {
			return errorf(awsproto.InvalidArgumentException, "ContinuationToken %s is not a continuation token this endpoint returned.", sel.ContinuationToken)
		}
	}
	return nil
}

// fragmentNotFound is KVS's ResourceNotFoundException for a fragment.
func fragmentNotFound(number string) *awsproto.Error {
	return errorf(awsproto.ResourceNotFoundException, "Fragment %s is not found in the stream.", number)
}

// fragmentOf returns fragment number of stream st, or a
// ResourceNotFoundException when the stream has no such fragment.
func (h *Handler) fragmentOf(ctx context.Context, st index.Stream, number string) (index.Fragment, error) {
	n, ok := parseFragmentNumber(number)
	if !ok {
		return index.Fragment{}, fragmentNotFound(number)
	}
	f, err := h.Index.Fragment(ctx, n)
	if errors.Is(err, index.ErrFragmentNotFound) || err == nil && f.Stream != st.Name {
		return index.Fragment{}, fragmentNotFound(number)
	}
	return f, err
}

// startCursor returns where a GetMedia with the (validated) selector
// begins.
func (h *Handler) startCursor(ctx context.Context, st index.Stream, in *getMediaInput) (cursor, error) {
	sel := in.StartSelector
	switch sel.StartSelectorType {
	case selectorEarliest:
		return cursor{}, nil
	case selectorNow:
		f, err := h.Index.Latest(ctx, st.Name)
		if errors.Is(err, index.ErrFragmentNotFound) {
			return cursor{}, nil
		}
		if err != nil {
			return cursor{}, err
		}
		return justBefore(&f), nil
	case selectorFragmentNumber:
		f, err := h.fragmentOf(ctx, st, sel.AfterFragmentNumber)
		if err != nil {
			return cursor{}, err
		}
		return at(&f), nil
	case selectorContinuationToken:
		c, _ := parseToken(sel.ContinuationToken)
		return c, nil
	}
	// SERVER_TIMESTAMP, PRODUCER_TIMESTAMP: the fragment that holds the
	// timestamp, or the first after it.
	ts := clampTime(sel.StartTimestamp.Time)
	by := index.ServerTime
	if sel.StartSelectorType == selectorProducerTimestamp {
		by = index.ProducerTime
	}
	var first *index.Fragment
	err := h.Index.Iterate(ctx, st.Name, index.Query{By: by, Start: clampTime(ts.Add(-maxFragmentLookback))}, func(f index.Fragment) error {
		t := f.ServerTime
		if by == index.ProducerTime {
			t = f.ProducerTime
		}
		if t.Add(f.Duration).After(ts) {
			first = &f
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return cursor{}, err
	}
	switch {
	case first != nil:
		return justBefore(first), nil
	case by == index.ServerTime:
		return cursor{t: ts.Add(-1)}, nil
	}
	// No fragment reaches that producer time yet: the next ones will.
	f, err := h.Index.Latest(ctx, st.Name)
	if errors.Is(err, index.ErrFragmentNotFound) {
		return cursor{}, nil
	}
	if err != nil {
		return cursor{}, err
	}
	return at(&f), nil
}

var errStop = errors.New("kvs: stop")

// getMedia is KVS GetMedia: from the selected fragment on, every
// fragment of the stream as a self-contained Matroska file (EBML header
// and Segment) with KVS's tags, flushed one by one; once caught up, each
// new fragment as soon as it is stored (index.Stored), until the client
// goes away or the stream stays idle for GetMediaIdle, when a last
// Segment holding only a Tags element with the continuation token ends
// the response.
func (h *Handler) getMedia(ctx context.Context, w *mediaWriter, _ *http.Request, in *getMediaInput) error {
	if err := checkGetMedia(in); err != nil {
		return err
	}
	st, err := h.resolve(ctx, in.StreamName, in.StreamARN)
	if err != nil {
		return err
	}
	if !h.limiter.allow(st.Name, h.getMediaCalls(), h.now()) {
		h.counters.throttled.Add(1)
		return errorf(ClientLimitExceededException, "Kinesis Video Streams has throttled the request because you have exceeded the limit of allowed client calls (%g GetMedia calls per second per stream). Try making the call later.", h.getMediaCalls())
	}
	cur, err := h.startCursor(ctx, st, in)
	if err != nil {
		return err
	}
	// Counted before the client can see the 200: a client that reads
	// the stats after its answer finds its session there.
	h.counters.started.Add(1)
	h.counters.sessions.Add(1)
	defer h.counters.sessions.Add(-1)
	w.contentType = mediaContentType
	w.Flush() // the session is open: the client sees 200 at once
	src := replay.Source{Store: h.Index, Opener: h.Opener}
	pace := &pacer{rate: h.getMediaBytes()}
	idle := h.getMediaIdle()
	var buf []byte
	timer := time.NewTimer(idle)
	defer timer.Stop()
	for {
		stored := h.Index.Stored(st.Name)
		sent := 0
		err := h.Index.Iterate(ctx, st.Name, index.Query{By: index.ServerTime, Start: cur.t}, func(f index.Fragment) error {
			if !cur.before(&f) {
				return nil
			}
			next := at(&f)
			behind := max(h.now().Sub(f.ServerTime).Milliseconds(), 0)
			var err error
			buf, err = src.AppendFragmentMKV(ctx, buf[:0], st.Name, replayFragment(f), f.NumberString(),
				mkv.SimpleTag{Name: mkv.TagContinuationToken, Value: next.token()},
				mkv.SimpleTag{Name: mkv.TagMillisBehindNow, Value: strconv.FormatInt(behind, 10)})
			if errors.Is(err, index.ErrFragmentNotFound) {
				// Expired between the listing and the read: it is gone
				// as if it had never been listed.
				cur = next
				return nil
			}
			if err != nil {
				return err
			}
			if err := pace.wait(ctx, len(buf)); err != nil {
				return err
			}
			if _, err := w.Write(buf); err != nil {
				return fmt.Errorf("kvs: getMedia write: %w", err)
			}
			w.Flush()
			clear(buf)
			cur = next
			sent++
			return nil
		})
		switch {
		case ctx.Err() != nil:
			return nil // the client went away
		case errors.Is(err, index.ErrStreamNotFound), errors.Is(err, index.ErrClosed):
			// The stream was deleted, or the appliance is shutting down.
			return nil
		case err != nil:
			return err
		}
		if sent > 0 {
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
			timer.Reset(idle)
			continue
		}
		select {
		case <-stored:
		case <-ctx.Done():
			return nil
		case <-timer.C:
			// Idle: end with the token that resumes here, as KVS does.
			behind := int64(0)
			if !cur.t.IsZero() {
				behind = max(h.now().Sub(cur.t).Milliseconds(), 0)
			}
			b := mkv.AppendEBMLHeader(nil)
			b = mkv.AppendSegmentStart(b)
			b = mkv.AppendTags(b, []mkv.SimpleTag{
				{Name: mkv.TagContinuationToken, Value: cur.token()},
				{Name: mkv.TagMillisBehindNow, Value: strconv.FormatInt(behind, 10)},
			})
			if _, err := w.Write(b); err != nil {
				return fmt.Errorf("kvs: getMedia write: %w", err)
			}
			return nil
		}
	}
}

// replayFragment is what replay needs of a stored fragment.
func replayFragment(f index.Fragment) replay.Fragment {
	rf := replay.Fragment{Number: f.Number, ServerTime: f.ServerTime, ProducerTime: f.ProducerTime, Duration: f.Duration,
		Codecs: make([]string, len(f.Tracks))}
	for j, t := range f.Tracks {
		rf.Codecs[j] = t.Codec
		if t.Kind == "video" && rf.Width == 0 {
			rf.Width, rf.Height = t.Width, t.Height
		}
	}
	return rf
}
