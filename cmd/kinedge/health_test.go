package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/firehose/archive"
	"github.com/kinedge/kinedge/firmware/clock"
	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/ingest/rtsp"
)

func TestDecideHealth(t *testing.T) {
	now := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	synced := &clock.Report{Wall: now, Sync: clock.Synced}
	okStorage := store.Status{State: store.StateOK, Policy: store.DeleteOldestMedia}
	for _, tc := range []struct {
		name    string
		in      healthState
		status  string
		code    int
		reasons []string // each a substring of one reason, in order
	}{
		{name: "all well", in: healthState{Storage: okStorage, Clock: synced,
			Pulls:   map[string]rtsp.PullStatus{"cam1": {Connected: true}},
			Archive: &archive.Stats{Backlog: 3, Lag: time.Minute}, ArchiveLagLimit: time.Hour},
			status: "ok", code: 200},
		{name: "storage low is the steady state", in: healthState{Storage: store.Status{State: store.StateLow, Reason: "evicting"}, Clock: synced},
			status: "ok", code: 200},
		{name: "storage full", in: healthState{Storage: store.Status{State: store.StateFull, Reason: "the disk is full"}, Clock: synced},
			status: "unhealthy", code: 503, reasons: []string{"storage cannot record: the disk is full"}},
		{name: "clock unsynced", in: healthState{Storage: okStorage, Clock: &clock.Report{Wall: now, Sync: clock.Unsynced}},
			status: "degraded", code: 200, reasons: []string{"not synchronized"}},
		{name: "clock unknown is no reason", in: healthState{Storage: okStorage, Clock: &clock.Report{Wall: now, SyncErr: clock.ErrNoKernel}},
			status: "ok", code: 200},
		{name: "clock implausible", in: healthState{Storage: okStorage, Clock: &clock.Report{Wall: time.Unix(10, 0), BeforeFloor: true, Sync: clock.Unsynced}},
			status: "unhealthy", code: 503, reasons: []string{"1970-01-01T00:00:10Z, a time before any real one"}},
		{name: "clock jumped", in: healthState{Storage: okStorage, Clock: synced, Jumps: 2, LastJump: now.Add(-time.Minute)},
			status: "degraded", code: 200, reasons: []string{"jumped at 2026-12-03T06:59:00Z (2 jumps since start)"}},
		{name: "clock jumped long ago", in: healthState{Storage: okStorage, Clock: synced, Jumps: 1, LastJump: now.Add(-2 * time.Hour)},
			status: "ok", code: 200},
		{name: "camera retrying", in: healthState{Storage: okStorage, Clock: synced, Pulls: map[string]rtsp.PullStatus{
			"b": {URL: "rtsp://u:***@10.0.0.2/s", LastError: "dial tcp: connection refused"},
			"a": {Connected: true},
			"c": {URL: "rtsp://10.0.0.3/s"}, // connecting, never failed
		}}, status: "degraded", code: 200, reasons: []string{"camera b (rtsp://u:***@10.0.0.2/s) is not connected, retrying: dial tcp: connection refused"}},
		{name: "archive lag", in: healthState{Storage: okStorage, Clock: synced, Archive: &archive.Stats{Backlog: 40, Lag: 2 * time.Hour}, ArchiveLagLimit: time.Hour},
			status: "degraded", code: 200, reasons: []string{"archive lags 2h0m0s behind (over 1h0m0s): 40 fragments"}},
		{name: "worst wins", in: healthState{Storage: store.Status{State: store.StateDenying, Reason: "budget reached"}, Clock: &clock.Report{Wall: now, Sync: clock.Unsynced}},
			status: "unhealthy", code: 503, reasons: []string{"storage cannot record: budget reached", "not synchronized"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, code := decideHealth(tc.in)
			if h.Status != tc.status || code != tc.code {
				t.Errorf("status %q %d, want %q %d (reasons %q)", h.Status, code, tc.status, tc.code, h.Reasons)
			}
			if len(h.Reasons) != len(tc.reasons) {
				t.Fatalf("reasons %q, want %d like %q", h.Reasons, len(tc.reasons), tc.reasons)
			}
			for i, want := range tc.reasons {
				if !strings.Contains(h.Reasons[i], want) {
					t.Errorf("reason %d %q lacks %q", i, h.Reasons[i], want)
				}
			}
		})
	}
}

func TestDecideHealthParts(t *testing.T) {
	h, _ := decideHealth(healthState{Storage: store.Status{State: store.StateOK}})
	if h.Clock != nil || h.Ingest != nil || h.Archive != nil || h.Reasons == nil {
		t.Errorf("absent components shown: %+v", h)
	}
	h, _ = decideHealth(healthState{
		Clock: &clock.Report{Wall: time.Now(), Sync: clock.Synced}, Jumps: 1,
		Pulls:   map[string]rtsp.PullStatus{"x": {LastError: "refused"}, "y": {Connected: true}},
		Archive: &archive.Stats{Backlog: 7, Lag: 1500 * time.Millisecond},
	})
	if h.Clock == nil || h.Clock.Synchronized == nil || !*h.Clock.Synchronized || !h.Clock.Plausible || h.Clock.Jumps != 1 {
		t.Errorf("clock %+v", h.Clock)
	}
	if h.Ingest == nil || h.Ingest.Cameras != 2 || len(h.Ingest.Retrying) != 1 || h.Ingest.Retrying[0] != (retryingCamera{"x", "refused"}) {
		t.Errorf("ingest %+v", h.Ingest)
	}
	if h.Archive == nil || h.Archive.Backlog != 7 || h.Archive.Lag != 1.5 {
		t.Errorf("archive %+v", h.Archive)
	}
	h, _ = decideHealth(healthState{Clock: &clock.Report{Wall: time.Now(), SyncErr: errors.New("no kernel")}})
	if h.Clock.Synchronized != nil {
		t.Errorf("unknown sync shown as %v", *h.Clock.Synchronized)
	}
}
