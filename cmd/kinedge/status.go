package main

import (
	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/ingest/rtsp"
	"github.com/kinedge/kinedge/ingest/sources"
)

// pullStates shows the pull manager's pullers in the video API's stream
// JSON (videoapi.Pulls).
type pullStates struct{ m *sources.Manager }

// PullStates implements videoapi.Pulls.
func (p pullStates) PullStates() map[string]videoapi.PullJSON {
	all := p.m.PullStatus()
	out := make(map[string]videoapi.PullJSON, len(all))
	for name, st := range all {
		out[name] = pullJSON(st)
	}
	return out
}

func pullJSON(st rtsp.PullStatus) videoapi.PullJSON {
	state := videoapi.PullStateRetrying
	if st.Connected {
		state = videoapi.PullStatePulling
	}
	return videoapi.PullJSON{Source: st.URL, State: state, Since: st.Since.UTC(), Transport: st.Transport,
		Attempts: st.Attempts, Connects: st.Connects, LastError: st.LastError}
}

// sessionStates shows the sources manager's current sessions in the
// video API's stream JSON (videoapi.Sessions).
type sessionStates struct{ m *sources.Manager }

// Sessions implements videoapi.Sessions.
func (s sessionStates) Sessions() map[string]videoapi.SessionJSON {
	all := s.m.Sessions()
	out := make(map[string]videoapi.SessionJSON, len(all))
	for name, ss := range all {
		out[name] = videoapi.SessionJSON{Since: ss.Since.UTC(), Remote: ss.Remote, Transport: ss.Transport, User: ss.User, Pulled: ss.Pulled, SkippedTracks: ss.Skipped}
	}
	return out
}
