package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/kinedge/kinedge/ingest/rtsp"
)

// StreamSource is a camera the appliance pulls (config `streams:` and
// POST /v1/streams).
type StreamSource struct {
	Name   string `yaml:"name" json:"name"`
	Source string `yaml:"source" json:"source"`
}

// sourcesFile keeps the sources added over the API across restarts. It
// holds camera passwords, so it is 0600 like the credentials.
const sourcesFile = "sources.json"

// pullManager owns the pullers: one per pulled stream.
type pullManager struct {
	router *router
	dir    string
	log    *slog.Logger

	mu      sync.Mutex
	pullers map[string]*rtsp.Puller
	api     map[string]string // sources added over the API (persisted)
	closed  bool
}

func newPullManager(rt *router, dataDir string, log *slog.Logger) *pullManager {
	return &pullManager{router: rt, dir: dataDir, log: log, pullers: map[string]*rtsp.Puller{}, api: map[string]string{}}
}

// start pulls the configured sources and those saved from the API.
func (m *pullManager) start(configured []StreamSource) error {
	b, err := os.ReadFile(filepath.Join(m.dir, sourcesFile))
	switch {
	case err == nil:
		var saved []StreamSource
		if err := json.Unmarshal(b, &saved); err != nil {
			return fmt.Errorf("%s: %w", sourcesFile, err)
		}
		for _, s := range saved {
			m.api[s.Name] = s.Source
		}
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	all := slices.Clone(configured)
	for name, src := range m.api {
		if !slices.ContainsFunc(configured, func(s StreamSource) bool { return s.Name == name }) {
			all = append(all, StreamSource{Name: name, Source: src})
		}
	}
	for _, s := range all {
		if err := m.add(s); err != nil {
			return fmt.Errorf("stream %s: %w", s.Name, err)
		}
	}
	return nil
}

var (
	errSourceExists = errors.New("the stream is already pulled")
	errNoSource     = errors.New("the stream is not pulled")
)

func (m *pullManager) add(s StreamSource) error {
	if err := validSource(s); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("appliance is shutting down")
	}
	if _, ok := m.pullers[s.Name]; ok {
		return errSourceExists
	}
	p := &rtsp.Puller{Stream: s.Name, URL: s.Source, Router: m.router, Logger: m.log}
	if err := p.Start(); err != nil {
		return err
	}
	m.pullers[s.Name] = p
	return nil
}

func validSource(s StreamSource) error {
	if s.Name == "" || len(s.Name) > 256 {
		return fmt.Errorf("name must be 1 to 256 characters")
	}
	for _, c := range s.Name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("name %q: only [a-zA-Z0-9_.-]", s.Name)
		}
	}
	u, err := url.Parse(s.Source)
	if err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Host == "" {
		return fmt.Errorf("source must be an rtsp:// or rtsps:// URL with a host")
	}
	return nil
}

// addFromAPI adds and persists a source.
func (m *pullManager) addFromAPI(s StreamSource) error {
	if err := m.add(s); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.api[s.Name] = s.Source
	return m.saveLocked()
}

// remove stops pulling a stream (its recordings stay).
func (m *pullManager) remove(name string) error {
	m.mu.Lock()
	p, ok := m.pullers[name]
	delete(m.pullers, name)
	_, fromAPI := m.api[name]
	delete(m.api, name)
	var err error
	if fromAPI {
		err = m.saveLocked()
	}
	m.mu.Unlock()
	if !ok {
		return errNoSource
	}
	p.Close()
	return err
}

func (m *pullManager) saveLocked() error {
	list := make([]StreamSource, 0, len(m.api))
	for name, src := range m.api {
		list = append(list, StreamSource{Name: name, Source: src})
	}
	slices.SortFunc(list, func(a, b StreamSource) int { return strings.Compare(a.Name, b.Name) })
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(m.dir, sourcesFile), b, 0o600)
}

// close stops every puller.
func (m *pullManager) close() {
	m.mu.Lock()
	m.closed = true
	pullers := m.pullers
	m.pullers = map[string]*rtsp.Puller{}
	m.mu.Unlock()
	for _, p := range pullers {
		p.Close()
	}
}

// register adds the pull routes: POST /v1/streams, DELETE
// /v1/streams/{name}/source.
func (m *pullManager) register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/streams", func(w http.ResponseWriter, r *http.Request) {
		var s StreamSource
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			jsonError(w, http.StatusBadRequest, "body must be JSON {\"name\": …, \"source\": \"rtsp://…\"}: "+err.Error())
			return
		}
		err := m.addFromAPI(s)
		switch {
		case errors.Is(err, errSourceExists):
			jsonError(w, http.StatusConflict, fmt.Sprintf("stream %s is already pulled; DELETE /v1/streams/%s/source first", s.Name, s.Name))
		case err != nil:
			jsonError(w, http.StatusBadRequest, err.Error())
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Location", "/v1/streams/"+s.Name)
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]string{"name": s.Name, "source": rtsp.RedactURL(s.Source)})
		}
	})
	mux.HandleFunc("DELETE /v1/streams/{name}/source", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		switch err := m.remove(name); {
		case errors.Is(err, errNoSource):
			jsonError(w, http.StatusNotFound, fmt.Sprintf("stream %s is not pulled", name))
		case err != nil:
			jsonError(w, http.StatusInternalServerError, err.Error())
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// statuses returns a snapshot of every puller's status, by stream.
func (m *pullManager) statuses() map[string]rtsp.PullStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]rtsp.PullStatus, len(m.pullers))
	for name, p := range m.pullers {
		out[name] = p.Status()
	}
	return out
}
