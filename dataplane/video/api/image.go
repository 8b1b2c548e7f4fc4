package api

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/kinedge/kinedge/dataplane/video/replay"
	"github.com/kinedge/kinedge/dataplane/video/thumbnail"
	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/index"
)

// image serves GET /v1/streams/{name}/image?at=RFC3339[&width=]: a JPEG of
// the video keyframe at or before at, within the fragment that holds at
// (404 in a gap), scaled to width pixels wide (default: its own size).
// 501 without ffmpeg, 415 for a stream without video. Pictures and the
// keyframe times of fragments are cached (Handler.Thumbnails), so a
// timeline hover that comes back to a moment neither decrypts nor
// decodes.
func (h *Handler) image(w http.ResponseWriter, r *http.Request) {
	if h.Thumbnails == nil {
		h.fail(w, r, &httpError{http.StatusNotImplemented, "pictures are not set up on this appliance"})
		return
	}
	if err := h.Thumbnails.Available(); err != nil {
		h.fail(w, r, &httpError{http.StatusNotImplemented, err.Error()})
		return
	}
	name := r.PathValue("name")
	v := r.URL.Query()
	at, err := ParseTime(v.Get("at"))
	if err != nil || at.IsZero() {
		h.fail(w, r, badRequest("at: a time is required: %v", err))
		return
	}
	width := 0
	if s := v.Get("width"); s != "" {
		if width, err = strconv.Atoi(s); err != nil || width < thumbnail.MinWidth || width > thumbnail.MaxWidth {
			h.fail(w, r, badRequest("width must be %d to %d pixels", thumbnail.MinWidth, thumbnail.MaxWidth))
			return
		}
	}
	// The fragment that holds at: the last one starting at or before it.
	frags, _, err := h.Index.List(r.Context(), name, index.Query{Start: at.Add(-fragment.MaxMax), End: at})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if len(frags) == 0 || !frags[len(frags)-1].ServerTime.Add(frags[len(frags)-1].Duration).After(at) {
		h.fail(w, r, &httpError{http.StatusNotFound, fmt.Sprintf("nothing of stream %q is recorded at %s", name, at.UTC().Format(time.RFC3339Nano))})
		return
	}
	f := frags[len(frags)-1]
	timesKey := fmt.Sprintf("keys/%s/%d", name, f.Number)
	pictureKey := func(i int) string { return fmt.Sprintf("jpeg/%s/%d/%d/%d", name, f.Number, i, width) }
	if b, ok := h.Thumbnails.Cached(timesKey); ok {
		if times := decodeTimes(b); len(times) > 0 {
			i := chooseKey(times, at)
			if jpeg, ok := h.Thumbnails.Cached(pictureKey(i)); ok {
				writeJPEG(w, jpeg, times[i])
				return
			}
		}
	}
	src := replay.Source{Store: h.Index, Opener: h.Opener}
	frame, times, i, err := src.Keyframe(r.Context(), name, replayFragment(f), at)
	if err != nil {
		if errors.Is(err, replay.ErrNoVideo) {
			h.fail(w, r, &httpError{http.StatusUnsupportedMediaType, fmt.Sprintf("stream %q has no video at %s", name, at.UTC().Format(time.RFC3339))})
			return
		}
		h.fail(w, r, err)
		return
	}
	defer clear(frame)
	h.Thumbnails.Remember(timesKey, encodeTimes(times))
	jpeg, err := h.Thumbnails.JPEG(r.Context(), pictureKey(i), frame, width)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJPEG(w, jpeg, times[i])
}

// chooseKey returns the index of the last time at or before at (0 when
// all are after it).
func chooseKey(times []time.Time, at time.Time) int {
	i := 0
	for j, t := range times {
		if !t.After(at) {
			i = j
		}
	}
	return i
}

func encodeTimes(times []time.Time) []byte {
	b := make([]byte, 0, 8*len(times))
	for _, t := range times {
		b = binary.BigEndian.AppendUint64(b, uint64(t.UnixNano()))
	}
	return b
}

func decodeTimes(b []byte) []time.Time {
	out := make([]time.Time, 0, len(b)/8)
	for ; len(b) >= 8; b = b[8:] {
		out = append(out, time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC())
	}
	return out
}

func writeJPEG(w http.ResponseWriter, jpeg []byte, at time.Time) {
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(jpeg)))
	// A stored keyframe never changes.
	w.Header().Set("Cache-Control", "private, max-age=86400")
	w.Header().Set("X-Kinedge-Frame-Time", at.UTC().Format(time.RFC3339Nano))
	w.WriteHeader(http.StatusOK)
	w.Write(jpeg)
}
