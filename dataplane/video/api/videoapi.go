// Package api serves the plain HTTP video API for people and scripts:
//
//	GET /v1/streams                                  the video streams
//	GET /v1/streams/{name}                           one stream
//	GET /v1/streams/{name}/fragments?start=&end=     fragments in a range
//	GET /v1/streams/{name}/media?start=&end=&format=mkv|mp4
//	GET /v1/streams/{name}/live.m3u8                 live HLS (a redirect, see LiveHLS)
//
// Times are RFC 3339. A fragments query returns the fragments whose start
// lies in [start, end] (KVS ListFragments semantics), by server time or,
// with by=producer, by producer time; limit and next page through it. A
// media query returns everything that overlaps [start, end]: it begins with
// the fragment that contains start, so the file starts at most one fragment
// before the asked time. Errors are JSON {"message": …} with an HTTP status.
// Authentication is the caller's (the appliance wraps this handler).
//
// With an Archive (the appliance's bucket, the second tier), a fragments
// query also lists the archived fragments that are not local, each
// marked "local" and "archived"; without a start it lists the stream's
// whole history, the archive's included, a page at a time; by producer
// time it reads the archive's server times within ProducerSkew of the
// range. A media query by server time replays archived fragments that are
// not local in their place. The archive is read only for what is older
// than the stream's oldest local fragment (tier.go).
//
// A stream the appliance pulls from a camera carries its pull state
// ("pull": pulling or retrying, the last error, the attempts). A pulled
// stream is created in the index at its first connection; until then it is
// listed with status NOT_CREATED and only its pull state, so a camera that
// never answered shows why.
//
// live.m3u8 redirects to a LIVE HLS session that Handler.LiveHLS opens
// (the KVS handler's: the same sessions as GetHLSStreamingSessionURL),
// so players without WebRTC watch live through one HLS implementation.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kinedge/kinedge/dataplane/authz"

	"github.com/kinedge/kinedge/dataplane/video/replay"
	"github.com/kinedge/kinedge/dataplane/video/thumbnail"
	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
)

// Index is what the API reads; *index.Index satisfies it.
type Index interface {
	Streams(ctx context.Context) ([]index.Stream, error)
	Stream(ctx context.Context, name string) (index.Stream, error)
	List(ctx context.Context, stream string, q index.Query) ([]index.Fragment, string, error)
	Iterate(ctx context.Context, stream string, q index.Query, fn func(index.Fragment) error) error
	Blob(ctx context.Context, number uint64) ([]byte, error)
	Timeline(ctx context.Context, stream string, q index.TimelineQuery) ([]index.Span, error)
	Latest(ctx context.Context, stream string) (index.Fragment, error)
}

// Sessions reports the current source of each video stream that has one;
// the appliance's source manager satisfies it.
type Sessions interface {
	Sessions() map[string]SessionJSON
}

// Pulls reports the cameras the appliance pulls; the appliance's pull
// manager satisfies it.
type Pulls interface {
	// PullStates returns the state of every pulled stream, by name.
	PullStates() map[string]PullJSON
}

// LiveHLS opens live HLS sessions; the KVS handler (kvs.Handler) satisfies
// it, so the page's live fallback and KVS's LIVE sessions are one
// implementation.
type LiveHLS interface {
	// LiveSessionURL returns the path and query of a LIVE session's
	// master playlist, or an error with an HTTPStatus() int method.
	LiveSessionURL(ctx context.Context, stream string, expires time.Duration) (string, error)
}

// LiveHLSExpires is how long a live HLS session opened by
// /v1/streams/{name}/live.m3u8 lasts.
const LiveHLSExpires = time.Hour

// Handler serves the API.
type Handler struct {
	Index Index
	// Pulls, if set, adds the pull state to the streams it pulls.
	Pulls Pulls
	// Sessions, if set, adds the current source to the streams that have
	// one, and with Pulls makes each stream's State.
	Sessions Sessions
	Opener   replay.Opener
	// Archive, if set, is the second tier: fragments and media queries by
	// server time add the archived fragments that are not local, and
	// streams that are only archived are listed.
	Archive Archive
	// ProducerSkew is how far from a producer-time range the server times
	// of the archived fragments it may hold are sought (the archive's
	// manifests are by server time); DefaultProducerSkew when zero.
	ProducerSkew time.Duration
	// MaxRange bounds one media request. It defaults to 7 days.
	MaxRange time.Duration
	Logger   *slog.Logger
	// Now is the clock (time.Now if nil): a timeline without an end
	// ends now, and so does a tiered listing.
	Now func() time.Time
	// Thumbnails makes the pictures of /image; nil answers 501.
	Thumbnails *thumbnail.Maker
	// LiveHLS, if set, serves /v1/streams/{name}/live.m3u8 (else 501).
	LiveHLS LiveHLS
}

// Register adds the routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/streams", h.listStreams)
	mux.HandleFunc("GET /v1/streams/{name}", h.describeStream)
	mux.HandleFunc("GET /v1/streams/{name}/fragments", h.listFragments)
	mux.HandleFunc("GET /v1/streams/{name}/media", h.media)
	mux.HandleFunc("GET /v1/streams/{name}/timeline", h.timeline)
	mux.HandleFunc("GET /v1/streams/{name}/image", h.image)
	mux.HandleFunc("GET /v1/streams/{name}/live.m3u8", h.liveHLS)
}

// liveHLS is the live view's HLS fallback (players without WebRTC): a
// redirect to a LIVE HLS session of the stream (the newest fragments,
// sliding), whose playlists and segments its session token opens for
// LiveHLSExpires.
func (h *Handler) liveHLS(w http.ResponseWriter, r *http.Request) {
	if h.LiveHLS == nil {
		h.fail(w, r, &httpError{status: http.StatusNotImplemented, msg: "live HLS is not served here"})
		return
	}
	u, err := h.LiveHLS.LiveSessionURL(r.Context(), r.PathValue("name"), LiveHLSExpires)
	if err != nil {
		var st interface{ HTTPStatus() int }
		if errors.As(err, &st) && st.HTTPStatus() < 500 {
			h.fail(w, r, &httpError{status: st.HTTPStatus(), msg: strings.TrimPrefix(err.Error(), "awsproto: ")})
			return
		}
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u, http.StatusFound)
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// StreamJSON is a stream as the API shows it.
type StreamJSON struct {
	Name           string    `json:"name"`
	ARN            string    `json:"arn,omitempty"`
	Created        time.Time `json:"created,omitzero"`
	RetentionHours int       `json:"retention_hours"`
	MediaType      string    `json:"media_type,omitempty"`
	KeyAlias       string    `json:"key_alias,omitempty"`
	// Status is the index's (ACTIVE …), or StatusNotCreated.
	Status  string `json:"status"`
	Version string `json:"version,omitempty"`
	// Pull is the state of the camera the appliance pulls the stream
	// from; absent for pushed streams.
	Pull *PullJSON `json:"pull,omitempty"`
	// State is the source's: StatePushing, StatePulling, StateRetrying
	// (a pulled camera between attempts: Pull.LastError says why) or
	// StateIdle (no source).
	State string `json:"state"`
	// Session is the current source, absent when idle.
	Session *SessionJSON `json:"session,omitempty"`
	// LastFragment is the newest stored fragment, absent when there is
	// none within retention.
	LastFragment *LastFragmentJSON `json:"last_fragment,omitempty"`
}

// Source states.
const (
	StatePushing  = "pushing"
	StatePulling  = "pulling"
	StateRetrying = "retrying"
	StateIdle     = "idle"
)

// SessionJSON is a stream's current source.
type SessionJSON struct {
	Since     time.Time `json:"since"`
	Remote    string    `json:"remote,omitempty"`
	Transport string    `json:"transport,omitempty"`
	User      string    `json:"user,omitempty"`
	Pulled    bool      `json:"pulled"`
	// SkippedTracks are the source's tracks that are not recorded, each
	// with why (a codec the appliance does not store).
	SkippedTracks []string `json:"skipped_tracks,omitempty"`
}

// LastFragmentJSON is the newest fragment of a stream and what it says
// of the camera: bitrate (sealed bytes over the duration), frame rate of
// the video track, codecs and picture size.
type LastFragmentJSON struct {
	FragmentNumber  string    `json:"fragment_number"`
	ServerTimestamp time.Time `json:"server_timestamp"`
	DurationMS      int64     `json:"duration_ms"`
	BitrateBPS      int64     `json:"bitrate_bps"`
	FPS             float64   `json:"fps,omitempty"`
	Codecs          []string  `json:"codecs"`
	Width           int       `json:"width,omitempty"`
	Height          int       `json:"height,omitempty"`
}

func lastFragmentJSON(f index.Fragment) *LastFragmentJSON {
	out := &LastFragmentJSON{
		FragmentNumber:  f.NumberString(),
		ServerTimestamp: f.ServerTime.UTC(),
		DurationMS:      f.Duration.Milliseconds(),
		Codecs:          make([]string, 0, len(f.Tracks)),
	}
	secs := f.Duration.Seconds()
	if secs > 0 {
		out.BitrateBPS = int64(float64(f.Size*8) / secs)
	}
	for _, t := range f.Tracks {
		out.Codecs = append(out.Codecs, t.Codec)
		if t.Kind == "video" {
			out.Width, out.Height = t.Width, t.Height
			if secs > 0 && t.Frames > 0 {
				out.FPS = math.Round(float64(t.Frames)/secs*100) / 100
			}
		}
	}
	return out
}

// addSource fills js's State, Session and Pull from the current sources
// and pulls, and LastFragment from the index.
func (h *Handler) addSource(ctx context.Context, js *StreamJSON, sessions map[string]SessionJSON, pulls map[string]PullJSON) {
	js.State = StateIdle
	if p, ok := pulls[js.Name]; ok {
		js.Pull = &p
		js.State = StateRetrying
		if p.State == PullStatePulling {
			js.State = StatePulling
		}
	}
	if s, ok := sessions[js.Name]; ok {
		js.Session = &s
		if !s.Pulled {
			js.State = StatePushing
		} else {
			js.State = StatePulling
		}
	}
	if js.Status == StatusNotCreated || js.Status == StatusArchived {
		return
	}
	if f, err := h.Index.Latest(ctx, js.Name); err == nil {
		js.LastFragment = lastFragmentJSON(f)
	} else if !errors.Is(err, index.ErrFragmentNotFound) && !errors.Is(err, index.ErrStreamNotFound) {
		h.logger().Warn("video api: latest fragment", "stream", js.Name, "err", err)
	}
}

func (h *Handler) sessions() map[string]SessionJSON {
	if h.Sessions == nil {
		return nil
	}
	return h.Sessions.Sessions()
}

// StatusNotCreated is the status of a pulled stream whose first connection
// has not happened yet: it is not in the index.
const StatusNotCreated = "NOT_CREATED"

// PullJSON is the state of a pulled camera.
type PullJSON struct {
	// Source is the camera URL with its password replaced by "***".
	Source string `json:"source"`
	// State is PullStatePulling while a connection plays, else
	// PullStateRetrying (waiting for the next attempt, or in one).
	State string `json:"state"`
	// Since is when State last changed.
	Since time.Time `json:"since"`
	// Transport of the current or last connection, "tcp" or "udp".
	Transport string `json:"transport,omitempty"`
	// Attempts counts connection attempts, Connects those that played.
	Attempts uint64 `json:"attempts"`
	Connects uint64 `json:"connects"`
	// LastError is why the last attempt or connection ended.
	LastError string `json:"last_error,omitempty"`
}

// Pull states.
const (
	PullStatePulling  = "pulling"
	PullStateRetrying = "retrying"
)

func streamJSON(s index.Stream) StreamJSON {
	return StreamJSON{Name: s.Name, ARN: s.ARN, Created: s.Created, RetentionHours: s.RetentionHours,
		MediaType: s.MediaType, KeyAlias: s.KeyAlias, Status: s.Status, Version: s.Version}
}

func (h *Handler) pullStates() map[string]PullJSON {
	if h.Pulls == nil {
		return nil
	}
	return h.Pulls.PullStates()
}

// FragmentJSON is a fragment as the API shows it; the names follow KVS
// ListFragments.
type FragmentJSON struct {
	FragmentNumber               string    `json:"fragment_number"`
	ServerTimestamp              time.Time `json:"server_timestamp"`
	ProducerTimestamp            time.Time `json:"producer_timestamp"`
	FragmentLengthInMilliseconds int64     `json:"fragment_length_ms"`
	FragmentSizeInBytes          int64     `json:"fragment_size_bytes"`
	Frames                       int       `json:"frames"`
	Codecs                       []string  `json:"codecs"`
	KeyID                        string    `json:"key_id"`
	Gap                          bool      `json:"gap,omitempty"`
	// ClockUnsynced: recorded before the system clock was set, on the
	// boot's monotonic timeline; its timestamps move when the clock is
	// set (docs/clock.md).
	ClockUnsynced bool `json:"clock_unsynced,omitempty"`
	// Local says the appliance stores the fragment; Archived that the
	// archive has it (set only with an Archive: for a local fragment, the
	// archiver's state says it is uploaded and in its hour's manifest).
	Local    bool `json:"local"`
	Archived bool `json:"archived"`
}

func fragmentJSON(f index.Fragment) FragmentJSON {
	codecs := make([]string, len(f.Tracks))
	for i, t := range f.Tracks {
		codecs[i] = t.Codec
	}
	return FragmentJSON{
		FragmentNumber:               f.NumberString(),
		ServerTimestamp:              f.ServerTime.UTC(),
		ProducerTimestamp:            f.ProducerTime.UTC(),
		FragmentLengthInMilliseconds: f.Duration.Milliseconds(),
		FragmentSizeInBytes:          f.Size,
		Frames:                       f.Frames,
		Codecs:                       codecs,
		KeyID:                        f.KeyID,
		Gap:                          f.Gap,
		ClockUnsynced:                f.ClockUnsynced,
		Local:                        true,
	}
}

func (h *Handler) listStreams(w http.ResponseWriter, r *http.Request) {
	streams, err := h.Index.Streams(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	pulls, sessions := h.pullStates(), h.sessions()
	out := struct {
		Streams []StreamJSON `json:"streams"`
	}{Streams: make([]StreamJSON, 0, len(streams))}
	for _, s := range streams {
		js := streamJSON(s)
		h.addSource(r.Context(), &js, sessions, pulls)
		delete(pulls, s.Name)
		out.Streams = append(out.Streams, js)
	}
	pending := make([]StreamJSON, 0, len(pulls))
	for name := range pulls {
		js := StreamJSON{Name: name, Status: StatusNotCreated}
		h.addSource(r.Context(), &js, sessions, pulls)
		pending = append(pending, js)
	}
	slices.SortFunc(pending, func(a, b StreamJSON) int { return strings.Compare(a.Name, b.Name) })
	out.Streams = append(out.Streams, pending...)
	if h.Archive != nil {
		names, err := h.Archive.Streams(r.Context())
		if err != nil {
			h.logger().Warn("archive unreadable; listing local streams only", "err", err)
		}
		for _, n := range names {
			if !slices.ContainsFunc(out.Streams, func(s StreamJSON) bool { return s.Name == n }) {
				out.Streams = append(out.Streams, StreamJSON{Name: n, Status: StatusArchived, State: StateIdle})
			}
		}
	}
	if u, ok := authz.UserFrom(r.Context()); ok { // a user sees the streams it may read
		out.Streams = slices.DeleteFunc(out.Streams, func(s StreamJSON) bool { return !u.Can(authz.Read, s.Name) })
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) describeStream(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	pulls, sessions := h.pullStates(), h.sessions()
	_, pulled := pulls[name]
	s, err := h.Index.Stream(r.Context(), name)
	var js StreamJSON
	switch {
	case errors.Is(err, index.ErrStreamNotFound) && pulled:
		js = StreamJSON{Name: name, Status: StatusNotCreated}
	case errors.Is(err, index.ErrStreamNotFound) && h.archivedStream(r.Context(), name):
		js = StreamJSON{Name: name, Status: StatusArchived}
	case err != nil:
		h.fail(w, r, err)
		return
	default:
		js = streamJSON(s)
	}
	h.addSource(r.Context(), &js, sessions, pulls)
	writeJSON(w, http.StatusOK, js)
}

func (h *Handler) listFragments(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > index.MaxListLimit {
			h.fail(w, r, badRequest("limit must be 1 to %d", index.MaxListLimit))
			return
		}
		q.Limit = n
	}
	q.NextToken = r.URL.Query().Get("next")
	if h.tiered(q) {
		h.listTiered(w, r, r.PathValue("name"), q)
		return
	}
	frags, next, err := h.Index.List(r.Context(), r.PathValue("name"), q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := struct {
		Fragments []FragmentJSON `json:"fragments"`
		Next      string         `json:"next,omitempty"`
	}{Fragments: make([]FragmentJSON, 0, len(frags)), Next: next}
	for _, f := range frags {
		out.Fragments = append(out.Fragments, fragmentJSON(f))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) media(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	format := r.URL.Query().Get("format")
	switch format {
	case "", "mkv":
		format = "mkv"
	case "mp4":
	default:
		h.fail(w, r, badRequest("format %q is not mkv or mp4", format))
		return
	}
	q, err := parseQuery(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if q.Start.IsZero() || q.End.IsZero() {
		h.fail(w, r, badRequest("media needs both start and end"))
		return
	}
	maxRange := h.MaxRange
	if maxRange <= 0 {
		maxRange = 7 * 24 * time.Hour
	}
	if q.End.Sub(q.Start) > maxRange {
		h.fail(w, r, badRequest("range %v exceeds the limit of %v", q.End.Sub(q.Start), maxRange))
		return
	}
	_, err = h.Index.Stream(r.Context(), name)
	local := err == nil
	if err != nil && !(errors.Is(err, index.ErrStreamNotFound) && h.tiered(q) && q.By == index.ServerTime) {
		h.fail(w, r, err)
		return
	}
	start := q.Start
	// Begin with the fragment that contains start: it began at most one
	// (capped) fragment duration earlier.
	q.Start = start.Add(-fragment.MaxMax)
	// The archived fragments of the range that are not local are merged
	// in server-time order (tiered replay).
	var arch []ArchivedFragment
	if h.tiered(q) && q.By == index.ServerTime {
		var oldest index.Fragment
		var hasLocal bool
		if local {
			if oldest, hasLocal, err = h.oldestLocal(r.Context(), name); err != nil {
				h.fail(w, r, err)
				return
			}
		}
		arch, err = h.archived(r.Context(), name, index.ServerTime, q.Start, q.End, oldest, hasLocal, 0)
		switch {
		case err != nil && !local:
			h.fail(w, r, err)
			return
		case err != nil:
			h.logger().Warn("archive unreadable; replaying local fragments only", "stream", name, "err", err)
		}
		arch = slices.DeleteFunc(arch, func(a ArchivedFragment) bool { return !a.ServerTime.Add(a.Duration).After(start) })
		if !local && len(arch) == 0 {
			h.fail(w, r, index.ErrStreamNotFound)
			return
		}
	}
	src := replay.Source{Store: h.Index, Opener: h.Opener}
	seq := func(yield func(replay.Fragment, error) bool) {
		i := 0
		var err error
		if local {
			err = h.Index.Iterate(r.Context(), name, q, func(f index.Fragment) error {
				t := f.ServerTime
				if q.By == index.ProducerTime {
					t = f.ProducerTime
				}
				if !t.Add(f.Duration).After(start) {
					return nil
				}
				for ; i < len(arch) && !arch[i].ServerTime.After(f.ServerTime); i++ {
					if sameFragment(arch[i], f) {
						continue
					}
					if !yield(arch[i].Fragment, nil) {
						return errStop
					}
				}
				if !yield(replayFragment(f), nil) {
					return errStop
				}
				return nil
			})
		}
		if err != nil {
			if !errors.Is(err, errStop) {
				yield(replay.Fragment{}, err)
			}
			return
		}
		for ; i < len(arch); i++ {
			if !yield(arch[i].Fragment, nil) {
				return
			}
		}
	}
	// One walk of the metadata (no media read) finds the file's length, a
	// change of video size, and where the codecs change: the file ends
	// there, and the headers say where the rest begins (see
	// docs/replay-across-changes.md).
	survey, err := replay.SurveyRange(seq)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	lw := &lazyHeader{w: w, name: name, start: start, format: format, cut: survey.Cut}
	if r.Method == http.MethodHead {
		// HEAD answers from the metadata alone: whether there is media,
		// and where the codecs change (a page offers the rest as a second
		// file), without opening a fragment.
		if survey.Fragments == 0 {
			h.fail(w, r, &httpError{http.StatusNotFound, fmt.Sprintf("stream %s has no fragments between %s and %s", name, start.Format(time.RFC3339), q.End.Format(time.RFC3339))})
			return
		}
		lw.header()
		w.WriteHeader(http.StatusOK)
		return
	}
	body := replay.Before(seq, survey.Cut)
	var st replay.Stats
	if format == "mp4" {
		st, err = src.WriteMP4With(r.Context(), lw, name, replay.MP4Options{InBandParameters: survey.Resized}, body)
	} else {
		st, err = src.WriteMKVWith(r.Context(), lw, name, replay.MKVOptions{Title: name, Duration: survey.Duration, Cues: true}, body)
	}
	switch {
	case err == nil:
		h.logger().Info("replay", "stream", name, "format", format, "fragments", st.Fragments, "bytes", st.Bytes, "resized", survey.Resized, "cut", survey.Cut != nil, "remote", r.RemoteAddr)
	case !lw.wrote:
		if errors.Is(err, replay.ErrNoFragments) {
			h.fail(w, r, &httpError{http.StatusNotFound, fmt.Sprintf("stream %s has no fragments between %s and %s", name, start.Format(time.RFC3339), q.End.Format(time.RFC3339))})
			return
		}
		if errors.Is(err, replay.ErrUnsupportedMP4) {
			// 415: the range's media type cannot be had as MP4 (the
			// codec is named); MKV carries every recorded codec.
			h.fail(w, r, &httpError{http.StatusUnsupportedMediaType, err.Error() + "; use format=mkv"})
			return
		}
		h.fail(w, r, err)
	default:
		// The status is sent; cutting the connection short is all that is
		// left to tell the client.
		h.logger().Error("replay failed mid-stream", "stream", name, "fragments", st.Fragments, "err", err)
		panic(http.ErrAbortHandler)
	}
}

var errStop = errors.New("stop")

// archivedStream reports whether the archive has stream.
func (h *Handler) archivedStream(ctx context.Context, name string) bool {
	if h.Archive == nil {
		return false
	}
	names, err := h.Archive.Streams(ctx)
	if err != nil {
		h.logger().Warn("archive unreadable", "err", err)
	}
	return slices.Contains(names, name)
}

// lazyHeader sets the media headers on the first write, so that an error
// before any media is still a clean HTTP error.
type lazyHeader struct {
	w     http.ResponseWriter
	name  string
	start time.Time
	// format is "mkv" or "mp4".
	format string
	// cut, if set, is the first fragment left out: its codecs differ.
	cut   *replay.Fragment
	wrote bool
}

// Headers of a media response that ends before the range does because the
// codecs change (the rest is a second request from HeaderNextStart).
const (
	// HeaderTruncated is "codecs-changed" then, with the codecs after.
	HeaderTruncated = "X-Kinedge-Truncated"
	// HeaderNextStart is the server time (RFC 3339) of the first fragment
	// left out: a media request from it gets the rest.
	HeaderNextStart = "X-Kinedge-Next-Start"
)

func (l *lazyHeader) Write(p []byte) (int, error) {
	l.header()
	return l.w.Write(p)
}

// header sets the media headers once.
func (l *lazyHeader) header() {
	if !l.wrote {
		l.wrote = true
		h := l.w.Header()
		ctype := "video/x-matroska"
		if l.format == "mp4" {
			ctype = "video/mp4"
		}
		h.Set("Content-Type", ctype)
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.%s"`, l.name, l.start.UTC().Format("20060102T150405Z"), l.format))
		h.Set("Cache-Control", "no-store")
		if l.cut != nil {
			h.Set(HeaderTruncated, "codecs-changed; codecs="+strings.Join(l.cut.Codecs, ","))
			h.Set(HeaderNextStart, l.cut.ServerTime.UTC().Format(time.RFC3339Nano))
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

func (l *lazyHeader) Flush() {
	if f, ok := l.w.(http.Flusher); ok {
		f.Flush()
	}
}

func parseQuery(r *http.Request) (index.Query, error) {
	var q index.Query
	v := r.URL.Query()
	var err error
	if q.Start, err = ParseTime(v.Get("start")); err != nil {
		return q, badRequest("start: %v", err)
	}
	if q.End, err = ParseTime(v.Get("end")); err != nil {
		return q, badRequest("end: %v", err)
	}
	if !q.Start.IsZero() && !q.End.IsZero() && q.End.Before(q.Start) {
		return q, badRequest("end %s is before start %s", v.Get("end"), v.Get("start"))
	}
	switch by := strings.ToLower(v.Get("by")); by {
	case "", "server", "server_timestamp":
		q.By = index.ServerTime
	case "producer", "producer_timestamp":
		q.By = index.ProducerTime
	default:
		return q, badRequest("by %q is not server or producer", by)
	}
	return q, nil
}

// ParseTime reads a time of the API's queries: RFC 3339 (with or without
// fractional seconds) or Unix seconds; empty is the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 && f < 1e11 {
		return time.UnixMilli(int64(f * 1000)), nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time (2026-11-25T20:00:00Z) or Unix seconds", s)
}

type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, "internal error"
	var he *httpError
	switch {
	case errors.As(err, &he):
		status, msg = he.status, he.msg
	case errors.Is(err, index.ErrStreamNotFound):
		status, msg = http.StatusNotFound, fmt.Sprintf("stream %q not found", r.PathValue("name"))
	case errors.Is(err, index.ErrInvalidToken), errors.Is(err, index.ErrInvalidQuery):
		status, msg = http.StatusBadRequest, err.Error()
	case errors.Is(err, seal.ErrKeyDestroyed):
		// Crypto-shredded (a deleted stream, or retention): for good.
		status, msg = http.StatusGone, err.Error()
	case errors.Is(err, thumbnail.ErrDecode):
		status, msg = http.StatusUnprocessableEntity, err.Error()
	case errors.Is(err, context.Canceled):
		return
	default:
		h.logger().Error("video api", "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, map[string]string{"message": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
