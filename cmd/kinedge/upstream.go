package main

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/kinedge/kinedge/dataplane/video/upstream"
	"github.com/kinedge/kinedge/dataplane/video/web"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
)

// openUpstreams starts the upstream manager: a forwarder per entry of
// upstreams (fixed) and per upstream set through the API before (kept in
// the "u/" space). Each sends its stream's stored fragments to the
// upstream KVS with PutMedia, from a cursor in the same space, woken by
// every stored fragment (see dataplane/video/upstream).
func (a *appliance) openUpstreams(cfg *Config, keyring *seal.Keyring, log *slog.Logger) error {
	space, err := a.db.Space("u/")
	if err != nil {
		return err
	}
	fixed := map[string]upstream.Target{}
	for _, u := range cfg.Upstreams {
		fixed[u.Stream] = upstream.Target{Endpoint: u.Upstream.Endpoint, Region: u.Upstream.Region,
			AccessKey: u.Upstream.AccessKey, SecretKey: u.Upstream.SecretKey, Stream: u.Upstream.Stream,
			Window: u.Upstream.Window, BandwidthLimit: int64(u.Upstream.BandwidthLimit)}
	}
	m := &upstream.Manager{Index: a.idx, Space: space, Opener: keyring, Sealer: keyring, Logger: log.With("component", "upstream")}
	if err := m.Start(fixed); err != nil {
		return err
	}
	a.upstreams = m
	prev := a.sources.OnStored
	a.sources.OnStored = func(fr index.Fragment) {
		if prev != nil {
			prev(fr)
		}
		m.Notify(fr)
	}
	return nil
}

// adminOnly refuses the requests that passed the Guard as anonymous
// readers (api.anonymous_read): the upstream routes are the admin's,
// reads included. What the Guard let through with credentials (HTTP Basic,
// a session cookie) was checked there.
func adminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _, basic := r.BasicAuth()
		if c, err := r.Cookie(web.CookieName); !basic && (err != nil || c.Value == "") {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("WWW-Authenticate", `Basic realm="kinedge", charset="UTF-8"`)
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"message": "the upstream routes need the admin: HTTP Basic with the access key and secret key"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// registerUpstreams mounts GET/PUT/DELETE /v1/streams/{name}/upstream on
// api (behind the Guard), admin only.
func (a *appliance) registerUpstreams(api *http.ServeMux) {
	inner := http.NewServeMux()
	a.upstreams.Register(inner)
	api.Handle("/v1/streams/{name}/upstream", adminOnly(inner))
}
