package api

import (
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
	spans, err := h.Index.Timeline(r.Context(), name, index.TimelineQuery{By: q.By, Start: q.Start, End: q.End, Step: step})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := TimelineJSON{
		Stream: name, By: "server", Start: q.Start.UTC(), End: q.End.UTC(), StepMS: step.Milliseconds(),
		Ranges: make([]SpanJSON, 0, len(spans)), Gaps: make([]SpanJSON, 0, len(spans)+1),
	}
	if q.By == index.ProducerTime {
		out.By = "producer"
	}
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
