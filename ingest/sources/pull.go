package sources

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kinedge/kinedge/firmware/atomicfile"
	"github.com/kinedge/kinedge/index/streamname"
	"github.com/kinedge/kinedge/ingest/rtsp"
)

// Pull is a camera the appliance pulls (config `streams:` and POST
// /v1/streams).
type Pull struct {
	// Name is the video stream the camera's frames go to.
	Name string `yaml:"name" json:"name"`
	// Source is the camera's rtsp:// or rtsps:// URL, credentials
	// included.
	Source string `yaml:"source" json:"source"`
}

// Validate checks the name against the video stream name rule and the
// source URL; the error wraps ErrInvalidPull and never holds the
// password.
func (p Pull) Validate() error {
	if err := streamname.Check(p.Name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPull, err)
	}
	u, err := url.Parse(p.Source)
	if err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Host == "" {
		return fmt.Errorf("%w: source must be an rtsp:// or rtsps:// URL with a host", ErrInvalidPull)
	}
	return nil
}

// SourcesFile is the file under Manager.Dir that keeps the cameras added
// over the API across restarts. It holds camera passwords, so it is 0600
// like the credentials.
const SourcesFile = "sources.json"

// startPulls pulls the configured cameras and those saved from the API;
// the configuration wins for a name in both.
func (m *Manager) startPulls() error {
	path := filepath.Join(m.Dir, SourcesFile)
	b, err := os.ReadFile(path)
	var saved []Pull
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &saved); err != nil {
			return fmt.Errorf("sources: %s: %w", path, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("sources: %w", err)
	}
	all := slices.Clone(m.Pulls)
	m.mu.Lock()
	for _, s := range saved {
		m.api[s.Name] = s.Source
		if !slices.ContainsFunc(m.Pulls, func(c Pull) bool { return c.Name == s.Name }) {
			all = append(all, s)
		}
	}
	m.mu.Unlock()
	for _, p := range all {
		if err := m.startPull(p); err != nil {
			return fmt.Errorf("sources: pulled camera %s: %w", p.Name, err)
		}
	}
	return nil
}

// startPull starts the puller of p.
func (m *Manager) startPull(p Pull) error {
	if err := p.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if _, ok := m.pullers[p.Name]; ok {
		return fmt.Errorf("%w: %s", ErrPullExists, p.Name)
	}
	pl := &rtsp.Puller{Stream: p.Name, URL: p.Source, Router: m, Logger: m.Logger, Live: m.Live}
	if err := pl.Start(); err != nil {
		return err
	}
	m.pullers[p.Name] = pl
	return nil
}

// AddPull starts pulling a camera and saves it in the sources file, so it
// is pulled again after a restart. Errors: ErrInvalidPull,
// ErrPullExists.
func (m *Manager) AddPull(p Pull) error {
	if err := m.startPull(p); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.api[p.Name] = p.Source
	return m.saveLocked()
}

// RemovePull stops pulling a video stream (its recordings stay) and
// removes it from the sources file. Error: ErrNotPulled.
func (m *Manager) RemovePull(name string) error {
	m.mu.Lock()
	pl, ok := m.pullers[name]
	delete(m.pullers, name)
	_, fromAPI := m.api[name]
	delete(m.api, name)
	var err error
	if fromAPI {
		err = m.saveLocked()
	}
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotPulled, name)
	}
	pl.Close()
	return err
}

// PullStatus returns the status of each puller, by video stream.
func (m *Manager) PullStatus() map[string]rtsp.PullStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]rtsp.PullStatus, len(m.pullers))
	for name, p := range m.pullers {
		out[name] = p.Status()
	}
	return out
}

// saveLocked writes the pulls added over the API to the sources file.
func (m *Manager) saveLocked() error {
	list := make([]Pull, 0, len(m.api))
	for name, src := range m.api {
		list = append(list, Pull{Name: name, Source: src})
	}
	slices.SortFunc(list, func(a, b Pull) int { return strings.Compare(a.Name, b.Name) })
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return fmt.Errorf("sources: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(m.Dir, SourcesFile), b, 0o600); err != nil {
		return fmt.Errorf("sources: save %s: %w", SourcesFile, err)
	}
	return nil
}

// writeFileAtomic writes data to path via a synced temporary file and a
