package main

import (
	"encoding/json"
	"net/http"

	"github.com/kinedge/kinedge/index/store"
)

// health is the body of GET /healthz.
type health struct {
	// Status is "ok", or "unhealthy" (HTTP 503) when the appliance cannot
	// record.
	Status string `json:"status"`
	// Version is the running binary's (kinedge update waits for it).
	Version string        `json:"version"`
	Storage storageHealth `json:"storage"`
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

// healthHandler answers GET /healthz without credentials: 200 while the
// appliance can record, 503 with the reason in words when it cannot (the
// storage is full, denying new media, or read-only).
func healthHandler(db *store.DB) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := db.Status()
		h := health{Status: "ok", Version: version, Storage: storageHealth{
			State: st.State, Reason: st.Reason, Policy: st.Policy, Used: st.Used, Limit: st.Limit, EvictAt: st.EvictAt,
			Free: st.DiskFree, Total: st.DiskTotal, ReadOnly: st.ReadOnly,
		}}
		code := http.StatusOK
		if !st.State.Recording() {
			h.Status, code = "unhealthy", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(h)
	})
}
