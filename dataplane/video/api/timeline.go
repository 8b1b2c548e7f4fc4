package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/kinedge/kinedge/index"
)

// DefaultTimelineRange is the range of a timeline request without a
// start: the day before its end.
const DefaultTimelineRange = 24 * time.Hour

// timelineCells is how many steps a timeline without a step is cut into:
// about one per pixel of a wide screen.
const timelineCells = 1440

// SpanJSON is a stretch of time on a timeline.
type SpanJSON struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// TimelineJSON is a stream's recorded time in a range, at a resolution.
type TimelineJSON struct {
	Stream string    `json:"stream"`
	By     string    `json:"by"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	// StepMS is the resolution: gaps shorter than it are inside ranges.
	StepMS int64 `json:"step_ms"`
	// Ranges are the recorded stretches, in order; Gaps the rest of
	// [Start, End], in order.
	Ranges []SpanJSON `json:"ranges"`
	Gaps   []SpanJSON `json:"gaps"`
	// RecordedMS is the length of the ranges together.
	RecordedMS int64 `json:"recorded_ms"`
	// Archived are the parts of Ranges that only the archive holds
	// (evicted locally, or recorded before a replacement appliance), in
	// order; the rest of Ranges is local. Without an archive it is empty.
	Archived []SpanJSON `json:"archived"`
	// ArchiveError says why the archive could not be read; Ranges then
	// hold the local recordings only.
	ArchiveError string `json:"archive_error,omitempty"`
}

// timeline serves GET /v1/streams/{name}/timeline?start=&end=&step=&by=:
// the recorded ranges and the gaps of a stream at a resolution (step: a
// Go duration such as 1m, or seconds), from one walk of the index.
// Without end it ends now, without start it starts DefaultTimelineRange
// before end, and without step the range is cut into about 1,440 steps
// (a minute for a day).
func (h *Handler) timeline(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if q.End.IsZero() {
		q.End = h.now()
	}
	if q.Start.IsZero() {
		q.Start = q.End.Add(-DefaultTimelineRange)
	}
	if !q.End.After(q.Start) {
		h.fail(w, r, badRequest("end must be after start"))
		return
	}
	step, err := parseStep(r.URL.Query().Get("step"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if step == 0 {
		step = max(q.End.Sub(q.Start)/timelineCells, time.Second).Round(time.Second)
	}
	name := r.PathValue("name")
	ctx := r.Context()
	spans, err := h.Index.Timeline(ctx, name, index.TimelineQuery{By: q.By, Start: q.Start, End: q.End, Step: step})
	localMissing := errors.Is(err, index.ErrStreamNotFound)
	if err != nil && !(localMissing && h.archivedStream(ctx, name)) {
		h.fail(w, r, err)
		return
	}
	out := TimelineJSON{
		Stream: name, By: "server", Start: q.Start.UTC(), End: q.End.UTC(), StepMS: step.Milliseconds(),
		Archived: []SpanJSON{},
	}
	if q.By == index.ProducerTime {
		out.By = "producer"
	}
	if h.Archive != nil {
		arch, err := h.archivedSpans(ctx, name, q, step, localMissing)
		switch {
		case err != nil && localMissing:
			h.fail(w, r, err)
			return
		case err != nil:
			h.logger().Warn("archive unreadable; the timeline shows local recordings only", "stream", name, "err", err)
			out.ArchiveError = err.Error()
		}
		for _, s := range arch {
			out.Archived = append(out.Archived, SpanJSON{Start: s.Start, End: s.End})
		}
		spans = index.MergeSpans(append(spans, arch...), step)
	}
	out.Ranges = make([]SpanJSON, 0, len(spans))
	out.Gaps = make([]SpanJSON, 0, len(spans)+1)
	at := out.Start
	for _, s := range spans {
		if s.Start.After(at) {
			out.Gaps = append(out.Gaps, SpanJSON{Start: at, End: s.Start})
		}
		out.Ranges = append(out.Ranges, SpanJSON{Start: s.Start, End: s.End})
		out.RecordedMS += s.End.Sub(s.Start).Milliseconds()
		at = s.End
	}
	if out.End.After(at) {
		out.Gaps = append(out.Gaps, SpanJSON{Start: at, End: out.End})
	}
	writeJSON(w, http.StatusOK, out)
}

// archivePage is how many archived fragments a timeline reads from the
// archive at a time: a week of 2 s fragments is read in pages, merged as
// it goes, so that the handler holds spans rather than every fragment.
const archivePage = 4096

// archivedSpans returns the recorded spans of stream in q's range that
// only the archive holds (the archived fragments older than the oldest
// local one; see archived), merged at step and clipped to the range.
func (h *Handler) archivedSpans(ctx context.Context, stream string, q index.Query, step time.Duration, localMissing bool) ([]index.Span, error) {
	var oldest index.Fragment
	hasLocal := false
	if !localMissing {
		var err error
		oldest, hasLocal, err = h.oldestLocal(ctx, stream)
		if err != nil && !errors.Is(err, index.ErrStreamNotFound) {
			return nil, err
		}
	}
	at := func(a ArchivedFragment) time.Time {
		if q.By == index.ProducerTime {
			return a.ProducerTime
		}
		return a.ServerTime
	}
	var spans []index.Span
	start := q.Start
	for {
		// By producer time the archive answers in server-time order, so
		// it is read in one piece.
		limit := archivePage
		if q.By == index.ProducerTime {
			limit = 0
		}
		page, err := h.archived(ctx, stream, q.By, start, q.End, oldest, hasLocal, limit)
		if err != nil {
			return index.MergeSpans(spans, step), err
		}
		for _, a := range page {
			if s, ok := (index.Span{Start: at(a), End: at(a).Add(a.Duration)}).Clip(q.Start, q.End); ok {
				spans = append(spans, s)
			}
		}
		spans = index.MergeSpans(spans, step)
		if limit == 0 || len(page) < limit {
			return spans, nil
		}
		start = page[len(page)-1].ServerTime.Add(time.Nanosecond)
	}
}

// parseStep reads a timeline's step: a Go duration (30s, 1m, 1h) or
// seconds; empty is 0 (the default).
func parseStep(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || !(f > 0 && f <= 1e9) { // NaN too
			return 0, badRequest("step %q is not a duration (30s, 1m, 1h) or a number of seconds", s)
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d < time.Millisecond {
		return 0, badRequest("step %q is below 1ms", s)
	}
	return d, nil
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}
