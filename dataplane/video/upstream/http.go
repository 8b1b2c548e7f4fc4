package upstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// maxTargetBody bounds the body of PUT /v1/streams/{name}/upstream.
const maxTargetBody = 64 << 10

// Register adds the upstream routes of the REST API to mux (behind the
// caller's admin authentication):
//
//	GET    /v1/streams/{name}/upstream  → 200 the target (no credentials) and its progress
//	PUT    /v1/streams/{name}/upstream  {"endpoint", "region", "access_key", "secret_key", "stream", "window", "bandwidth_limit"} → 200
//	DELETE /v1/streams/{name}/upstream  → 204
//
// Errors are JSON {"message": …}: 400 for a bad body or target, 404 for a
// stream without upstream, 409 for one the config file sets. Credentials
// are never returned; a PUT without them keeps the current ones.
func (m *Manager) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/streams/{name}/upstream", m.handleGet)
	mux.HandleFunc("PUT /v1/streams/{name}/upstream", m.handlePut)
	mux.HandleFunc("DELETE /v1/streams/{name}/upstream", m.handleDelete)
}

// TargetJSON is what GET and PUT answer: the target without credentials,
// where it comes from and the forwarder's progress.
type TargetJSON struct {
	LocalStream    string `json:"local_stream"`
	Endpoint       string `json:"endpoint"`
	Region         string `json:"region"`
	Stream         string `json:"stream"`
	Window         string `json:"window"`
	BandwidthLimit int64  `json:"bandwidth_limit"`
	Credentials    string `json:"credentials"` // always "<redacted>"
	// ConfigFile is true for an upstream the config file sets (the API
	// cannot change it).
	ConfigFile bool `json:"config_file"`
	// Progress, as the metrics kinedge_upstream_* report it.
	BacklogFragments int64   `json:"backlog_fragments"`
	LagSeconds       float64 `json:"lag_seconds"`
	Fragments        uint64  `json:"fragments"`
	Failures         uint64  `json:"failures"`
	// Skipped is the fragments skipped (refused for good SkipAfter times
	// in a row) and LastSkips the latest (at most MaxSkips, oldest
	// first).
	Skipped   uint64 `json:"skipped"`
	LastSkips []Skip `json:"last_skips"`
}

func (m *Manager) describe(stream string) (TargetJSON, error) {
	m.mu.Lock()
	e, ok := m.streams[stream]
	m.mu.Unlock()
	if !ok {
		return TargetJSON{}, ErrNotSet
	}
	st := e.f.Stats()
	skipped, last, err := e.f.Skips()
	if err != nil {
		return TargetJSON{}, err
	}
	if last == nil {
		last = []Skip{}
	}
	return TargetJSON{Skipped: skipped, LastSkips: last, LocalStream: stream, Endpoint: e.target.Endpoint, Region: e.target.Region, Stream: e.f.Remote,
		Window: e.target.Window, BandwidthLimit: e.target.BandwidthLimit, Credentials: "<redacted>", ConfigFile: e.fixed,
		BacklogFragments: st.Backlog, LagSeconds: st.Lag.Seconds(), Fragments: st.Fragments, Failures: st.Failures}, nil
}

func (m *Manager) handleGet(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	d, err := m.describe(name)
	if err != nil {
		m.httpError(w, name, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (m *Manager) handlePut(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var t Target
	dec := json.NewDecoder(io.LimitReader(r.Body, maxTargetBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": `body must be JSON {"endpoint": …, "region": …, "access_key": …, "secret_key": …, "stream": …, "window": …, "bandwidth_limit": …}: ` + err.Error()})
		return
	}
	if err := m.Set(r.Context(), name, t); err != nil {
		m.httpError(w, name, err)
		return
	}
	d, err := m.describe(name)
	if err != nil {
		m.httpError(w, name, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (m *Manager) handleDelete(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := m.Delete(r.Context(), name); err != nil {
		m.httpError(w, name, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (m *Manager) httpError(w http.ResponseWriter, name string, err error) {
	status := http.StatusInternalServerError
	msg := err.Error()
	switch {
	case errors.Is(err, ErrInvalidTarget):
		status = http.StatusBadRequest
	case errors.Is(err, ErrNotSet):
		status, msg = http.StatusNotFound, fmt.Sprintf("video stream %s has no upstream", name)
	case errors.Is(err, ErrFixed):
		status, msg = http.StatusConflict, fmt.Sprintf("the upstream of video stream %s is set in the config file (upstreams:); change it there", name)
	default:
		m.Logger.Error("upstream API", "stream", name, "err", err)
	}
	writeJSON(w, status, map[string]string{"message": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
