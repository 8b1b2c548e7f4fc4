package webrtc

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinedge/kinedge/dataplane/authlimit"
	"github.com/kinedge/kinedge/index/streamname"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/webrtc/rtc"
)

// PublishRequest describes a WHIP session to the Publisher.
type PublishRequest struct {
	// Stream is the path's stream name.
	Stream string
	// Tracks are at most one video and one audio track, in the order of
	// the frames' Track index. H.264 parameter sets are empty: they come
	// in-band with keyframes.
	Tracks []*media.Track
	// RemoteAddr is the HTTP peer's address.
	RemoteAddr string
	// Kick ends the session (a takeover, a storage refusal). It returns at
	// once; the Writer is closed afterwards.
	Kick func(reason string)
	// Skipped lists the offered media that are not recorded, and why.
	Skipped []string
}

// Publisher starts the recording of a session: the sources manager. Its
// errors wrap ErrStreamNotFound, ErrStreamBusy or ErrUnavailable to choose
// the status; anything else is 500. The Writer is used by one goroutine
// and closed when the session ends.
type Publisher interface {
	Publish(req *PublishRequest) (media.Writer, error)
}

// Verifier checks the bearer token of a request for a stream: nil admits.
// token is "" when the request has none.
type Verifier func(stream, token string) error

// Defaults of the Handler.
const (
	DefaultIdleTimeout    = 10 * time.Second
	DefaultConnectTimeout = 20 * time.Second
	DefaultKeyframeTarget = 4 * time.Second
	DefaultPLIInterval    = time.Second
)

// Handler serves WHIP. Set the fields, then Register; Close ends every
// session.
type Handler struct {
	// Network is the pion setup (ICE UDP port). Without it every POST is
	// answered 503.
	Network *rtc.Network
	// Publisher records the sessions. Required.
	Publisher Publisher
	// Verify checks the bearer token. Required (a Verifier that admits
	// everyone is anonymous publishing).
	Verify Verifier
	// Limiter counts refused bearers per source address; a locked-out
	// address gets 429 with Retry-After before its bearer is checked.
	// Nil: no limit.
	Limiter *authlimit.Limiter
	// ICEServers are STUN/TURN URLs announced in Link headers (RFC 9725
	// section 4.6) for the publisher's own use. Optional.
	ICEServers []string
	// IdleTimeout ends a session without media that long. Default
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// ConnectTimeout ends a session not connected that long after the
	// answer. Default DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// KeyframeTarget is the fragment target: once a video track went
	// that long without a keyframe, PLIs ask for one every PLIInterval.
	KeyframeTarget, PLIInterval time.Duration
	// Now is the clock (arrival times). Default time.Now.
	Now func() time.Time
	// Logger defaults to discarding.
	Logger *slog.Logger

	stats counters

	mu       sync.Mutex
	closed   bool
	sessions map[string]*session
	wg       sync.WaitGroup
}

type counters struct {
	started, frames, dropped, plis atomic.Uint64
	mu                             sync.Mutex
	ended                          map[string]uint64 // by result
	refused                        map[int]uint64    // by HTTP status
}

// Stats is a snapshot of the handler's counters.
type Stats struct {
	// Sessions now.
	Sessions int
	// Started sessions; Ended by result ("deleted", "idle", "failed",
	// "kicked", "closed", "shutdown").
	Started uint64
	Ended   map[string]uint64
	// Refused POSTs by HTTP status.
	Refused map[int]uint64
	// Frames written; Dropped frames (before a keyframe, bad payloads,
	// full queue); PLIs sent.
	Frames, Dropped, PLIs uint64
}

// Stats returns the current counters.
func (h *Handler) Stats() Stats {
	h.mu.Lock()
	n := len(h.sessions)
	h.mu.Unlock()
	st := Stats{Sessions: n, Started: h.stats.started.Load(), Frames: h.stats.frames.Load(),
		Dropped: h.stats.dropped.Load(), PLIs: h.stats.plis.Load(), Ended: map[string]uint64{}, Refused: map[int]uint64{}}
	h.stats.mu.Lock()
	for k, v := range h.stats.ended {
		st.Ended[k] = v
	}
	for k, v := range h.stats.refused {
		st.Refused[k] = v
	}
	h.stats.mu.Unlock()
	return st
}

func (c *counters) end(result string) {
	c.mu.Lock()
	if c.ended == nil {
		c.ended = map[string]uint64{}
	}
	c.ended[result]++
	c.mu.Unlock()
}

// Register mounts the WHIP routes on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /whip/{name}", h.post)
	mux.HandleFunc("OPTIONS /whip/{name}", h.options)
	mux.HandleFunc("PATCH /whip/{name}/{session}", h.patch)
	mux.HandleFunc("DELETE /whip/{name}/{session}", h.delete)
	mux.HandleFunc("OPTIONS /whip/{name}/{session}", h.options)
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func durOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// linkHeaders are the Link headers naming the ICE servers.
func (h *Handler) linkHeaders() []string {
	var l []string
	for _, u := range h.ICEServers {
		l = append(l, "<"+u+`>; rel="ice-server"`)
	}
	return l
}

func (h *Handler) links(w http.ResponseWriter) {
	for _, l := range h.linkHeaders() {
		w.Header().Add("Link", l)
	}
}

func (h *Handler) options(w http.ResponseWriter, r *http.Request) {
	rtc.Preflight(w, r, h.linkHeaders())
}

func (h *Handler) refuse(w http.ResponseWriter, code int, format string, args ...any) {
	h.stats.mu.Lock()
	if h.stats.refused == nil {
		h.stats.refused = map[int]uint64{}
	}
	h.stats.refused[code]++
	h.stats.mu.Unlock()
	rtc.Fail(w, code, format, args...)
}

// bearer returns the bearer token of a request, "" without one.
func bearer(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// authorize answers 401 and returns false when the request's bearer does
// not admit it to the stream.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, stream string) bool {
	if h.Verify == nil {
		h.refuse(w, http.StatusInternalServerError, "whip: no Verifier configured")
		return false
	}
	tok := bearer(r)
	if tok != "" {
		if wait, ok := h.Limiter.Check(r.RemoteAddr); !ok {
			secs := int(wait / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			h.refuse(w, http.StatusTooManyRequests, "too many failed authentications from this address: try again in %d s", secs)
			return false
		}
	}
	if err := h.Verify(stream, tok); errors.Is(err, ErrForbidden) {
		h.Limiter.Succeed(r.RemoteAddr) // the right secret, without the permission
		h.refuse(w, http.StatusForbidden, "publishing to %s: %v", stream, err)
		return false
	} else if err != nil {
		if tok != "" {
			h.Limiter.Fail(r.RemoteAddr, "whip")
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="kinedge"`)
		h.refuse(w, http.StatusUnauthorized, "publishing to %s needs Authorization: Bearer <publish pass or publish token>: %v", stream, err)
		return false
	}
	if tok != "" {
		h.Limiter.Succeed(r.RemoteAddr)
	}
	return true
}

func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := streamname.Check(name); err != nil {
		h.refuse(w, http.StatusBadRequest, "invalid video stream name %q: %s", name, streamname.Rule)
		return
	}
	if !h.authorize(w, r, name) {
		return
	}
	body, code, msg := rtc.ReadBody(w, r, "application/sdp")
	if code != 0 {
		h.refuse(w, code, "%s", msg)
		return
	}
	if h.Publisher == nil {
		h.refuse(w, http.StatusInternalServerError, "whip: no Publisher configured")
		return
	}
	if h.Network == nil {
		h.refuse(w, http.StatusServiceUnavailable, "WebRTC is off on this appliance (webrtc_udp is empty)")
		return
	}
	o, err := parseOffer(body)
	if err != nil {
		h.refuse(w, http.StatusBadRequest, "%v", err)
		return
	}
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		h.refuse(w, http.StatusServiceUnavailable, "the appliance is shutting down")
		return
	}
	s, answer, err := h.newSession(r, name, string(body), o)
	if err != nil {
		switch {
		case errors.Is(err, ErrBadOffer), errors.Is(err, ErrNoStorableCodec):
			h.refuse(w, http.StatusBadRequest, "%v", err)
		case errors.Is(err, ErrStreamNotFound):
			h.refuse(w, http.StatusNotFound, "%v", err)
		case errors.Is(err, ErrStreamBusy):
			h.refuse(w, http.StatusConflict, "%v", err)
		case errors.Is(err, ErrUnavailable):
			w.Header().Set("Retry-After", "30")
			h.refuse(w, http.StatusServiceUnavailable, "%v", err)
		default:
			h.logger().Error("whip session failed to start", "stream", name, "err", err)
			h.refuse(w, http.StatusInternalServerError, "starting the WebRTC session: %v", err)
		}
		return
	}
	rtc.CORS(w)
	h.links(w)
	w.Header().Set("Location", "/whip/"+name+"/"+s.id)
	w.Header().Set("ETag", s.ice.ETag())
	w.Header().Set("Accept-Patch", "application/trickle-ice-sdpfrag")
	w.Header().Set("Content-Type", "application/sdp")
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer)
}

// session returns the session a request names, answering 404 itself.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) *session {
	h.mu.Lock()
	s := h.sessions[r.PathValue("session")]
	h.mu.Unlock()
	if s == nil || s.stream != r.PathValue("name") {
		rtc.Fail(w, http.StatusNotFound, "WHIP session %s of %s not found (it ended, or never existed)", r.PathValue("session"), r.PathValue("name"))
		return nil
	}
	return s
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	if !h.authorize(w, r, r.PathValue("name")) {
		return
	}
	s := h.session(w, r)
	if s == nil {
		return
	}
	s.end("deleted", "deleted by the publisher")
	<-s.done
	rtc.CORS(w)
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) patch(w http.ResponseWriter, r *http.Request) {
	if !h.authorize(w, r, r.PathValue("name")) {
		return
	}
	s := h.session(w, r)
	if s == nil {
		return
	}
	body, code, msg := rtc.ReadBody(w, r, "application/trickle-ice-sdpfrag")
	if code != 0 {
		rtc.Fail(w, code, "%s", msg)
		return
	}
	s.ice.Patch(w, r, s.pc, body) // trickle, or an ICE restart
}

// Close ends every session and waits for them (their Writers are closed);
// later POSTs get 503. Idempotent.
func (h *Handler) Close() {
	h.mu.Lock()
	h.closed = true
	all := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		all = append(all, s)
	}
	h.mu.Unlock()
	for _, s := range all {
		s.end("shutdown", "the appliance is shutting down")
	}
	h.wg.Wait()
}
