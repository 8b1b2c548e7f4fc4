package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/kinedge/kinedge/firehose/archive"
	"github.com/kinedge/kinedge/firmware/clock"
	"github.com/kinedge/kinedge/firmware/tlscert"
	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/ingest/rtsp"
)

// Health states of GET /healthz.
const (
	healthOK        = "ok"
	healthDegraded  = "degraded"
	healthUnhealthy = "unhealthy"
)

// archiveLagDegraded is the archive lag above which /healthz says
// "degraded": an hour without an upload window, a day and an hour with
// one (a nightly window legitimately leaves a day's backlog).
const (
	archiveLagDegraded       = time.Hour
	archiveLagDegradedWindow = 25 * time.Hour
)

// clockJumpRecent is how long a clock jump degrades /healthz.
const clockJumpRecent = time.Hour

// health is the body of GET /healthz.
type health struct {
	// Status is "ok"; "degraded" (HTTP 200) when the appliance records
	// but something needs a look (the clock is not synchronised, a
	// camera is retrying, the archive lags); or "unhealthy" (HTTP 503)
	// when it cannot record (storage) or records wrong times (the clock
	// reads a time before any real one).
	Status string `json:"status"`
	// Version is the running binary's (kinedge update waits for it).
	Version string `json:"version"`
	// Reasons say in words why the status is not "ok".
	Reasons []string       `json:"reasons"`
	Storage storageHealth  `json:"storage"`
	Clock   *clockHealth   `json:"clock,omitempty"`
	Ingest  *ingestHealth  `json:"ingest,omitempty"`
	Archive *archiveHealth `json:"archive,omitempty"`
	TLS     *tlsHealth     `json:"tls,omitempty"`
}

// tlsHealth is the TLS certificate's part of /healthz (with TLS on): what
// a client pins, and when it must be replaced. Every TLS client sees the
// certificate anyway: nothing here is secret.
type tlsHealth struct {
	Fingerprint  string    `json:"sha256_fingerprint"`
	PublicKeyPin string    `json:"public_key_pin"`
	NotAfter     time.Time `json:"not_after"`
}

// storageHealth is the storage part of /healthz.
type storageHealth struct {
	State    store.State  `json:"state"`
	Reason   string       `json:"reason,omitempty"`
	Policy   store.Policy `json:"policy"`
	Used     int64        `json:"used_bytes"`
	Limit    int64        `json:"limit_bytes"`
	EvictAt  int64        `json:"evict_at_bytes"`
	Free     int64        `json:"disk_free_bytes"`
	Total    int64        `json:"disk_total_bytes"`
	ReadOnly bool         `json:"read_only,omitempty"`
}

// clockHealth is the clock part of /healthz; Synchronized is null when
// the kernel cannot tell.
type clockHealth struct {
	Synchronized *bool `json:"synchronized"`
	Plausible    bool  `json:"plausible"`
	Jumps        int   `json:"jumps"`
}

// ingestHealth is the pulled cameras' part of /healthz.
type ingestHealth struct {
	Cameras  int              `json:"cameras"`
	Retrying []retryingCamera `json:"retrying"`
}

type retryingCamera struct {
	Stream    string `json:"stream"`
	LastError string `json:"last_error"`
}

// archiveHealth is the archive's part of /healthz (with archive.bucket).
type archiveHealth struct {
	Backlog int64   `json:"backlog_fragments"`
	Lag     float64 `json:"lag_seconds"`
}

// healthState is what /healthz decides from: each part is nil when the
// appliance has no such component.
type healthState struct {
	Storage store.Status
	Clock   *clock.Report
	// Jumps counts the clock's jumps since start, LastJump is when the
	// last was (zero: none); one within clockJumpRecent of the Clock's
	// reading degrades health (the first NTP sync of a board without a
	// real-time clock is a jump: not a reason for ever).
	Jumps    int
	LastJump time.Time
	Pulls    map[string]rtsp.PullStatus
	Archive  *archive.Stats
	// ArchiveLagLimit is the lag above which the archive degrades health.
	ArchiveLagLimit time.Duration
	// TLS is the certificate of HTTPS and RTSPS (nil: TLS off); within
	// tlsExpiryWarning of its end it degrades health.
	TLS *tlscert.Cert
	// Now is the time expiries are judged at.
	Now time.Time
}

// decideHealth turns the components' states into the /healthz body and
// its HTTP status: 503 only when unhealthy.
func decideHealth(s healthState) (health, int) {
	st := s.Storage
	h := health{Status: healthOK, Version: version, Reasons: []string{}, Storage: storageHealth{
		State: st.State, Reason: st.Reason, Policy: st.Policy, Used: st.Used, Limit: st.Limit, EvictAt: st.EvictAt,
		Free: st.DiskFree, Total: st.DiskTotal, ReadOnly: st.ReadOnly,
	}}
	worst := 0 // 0 ok, 1 degraded, 2 unhealthy
	say := func(level int, format string, args ...any) {
		worst = max(worst, level)
		h.Reasons = append(h.Reasons, fmt.Sprintf(format, args...))
	}
	if !st.State.Recording() {
		reason := st.Reason
		if reason == "" {
			reason = string(st.State)
		}
		say(2, "storage cannot record: %s", reason)
	}
	// StateLow with DELETE_OLDEST_MEDIA is the steady state of a full
	// budget (the oldest media is evicted): not a reason.
	if r := s.Clock; r != nil {
		ch := &clockHealth{Plausible: r.Plausible(), Jumps: s.Jumps}
		if r.Sync != clock.SyncUnknown {
			synced := r.Sync == clock.Synced
			ch.Synchronized = &synced
		}
		h.Clock = ch
		if !r.Plausible() {
			say(2, "system clock reads %s, a time before any real one: recording times are wrong until the clock is set (no real-time clock and no time source yet?)", r.Wall.UTC().Format(time.RFC3339))
		} else if r.Sync == clock.Unsynced {
			say(1, "system clock not synchronized (no NTP sync since boot): recording times are only as right as the clock")
		}
		if s.Jumps > 0 && !s.LastJump.IsZero() && r.Wall.Sub(s.LastJump) < clockJumpRecent {
			say(1, "system clock jumped at %s (%d jumps since start): recordings around it have a step in their wall-clock times", s.LastJump.UTC().Format(time.RFC3339), s.Jumps)
		}
	}
	if s.Pulls != nil {
		in := &ingestHealth{Cameras: len(s.Pulls), Retrying: []retryingCamera{}}
		names := make([]string, 0, len(s.Pulls))
		for name := range s.Pulls {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			p := s.Pulls[name]
			// A puller that has not failed yet is still connecting.
			if p.Connected || p.LastError == "" {
				continue
			}
			in.Retrying = append(in.Retrying, retryingCamera{Stream: name, LastError: p.LastError})
			say(1, "camera %s (%s) is not connected, retrying: %s", name, p.URL, p.LastError)
		}
		h.Ingest = in
	}
	if a := s.Archive; a != nil {
		h.Archive = &archiveHealth{Backlog: a.Backlog, Lag: a.Lag.Seconds()}
		if s.ArchiveLagLimit > 0 && a.Lag > s.ArchiveLagLimit {
			say(1, "archive lags %s behind (over %s): %d fragments wait for upload (is the S3 endpoint reachable?)",
				a.Lag.Round(time.Second), s.ArchiveLagLimit, a.Backlog)
		}
	}
	if c := s.TLS; c != nil {
		h.TLS = &tlsHealth{Fingerprint: c.Fingerprint(), PublicKeyPin: c.PublicKeyPin(), NotAfter: c.Leaf.NotAfter.UTC()}
		if left := c.Leaf.NotAfter.Sub(s.Now); left < tlsExpiryWarning {
			say(1, "TLS certificate %s expires %s: replace it (self-signed: delete it and its key and restart)",
				c.CertFile, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	h.Status = []string{healthOK, healthDegraded, healthUnhealthy}[worst]
	if worst == 2 {
		return h, http.StatusServiceUnavailable
	}
	return h, http.StatusOK
}

// healthHandler answers GET /healthz without credentials: 200 while the
// appliance records ("ok" or "degraded" with reasons), 503 with the
// reasons in words when it cannot record or records wrong times.
func healthHandler(state func() healthState) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, code := decideHealth(state())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(h)
	})
}

// healthState gathers the running components' states for /healthz.
func (a *appliance) healthState() healthState {
	s := healthState{Storage: a.db.Status(), TLS: a.tlsCert, Now: time.Now()}
	if a.clock != nil {
		r, jumps, last := a.clock.state()
		s.Clock, s.Jumps, s.LastJump = &r, jumps, last
	}
	if a.sources != nil {
		s.Pulls = a.sources.PullStatus()
	}
	if a.archive != nil {
		st := a.archive.Stats()
		s.Archive, s.ArchiveLagLimit = &st, a.archiveLagLimit
	}
	return s
}
