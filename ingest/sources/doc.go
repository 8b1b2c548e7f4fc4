// Package sources owns the source of every video stream: the one session
// that feeds it, whether a camera pushing RTSP (ANNOUNCE/RECORD) or a
// pulled camera's connection (a Puller's PLAY), and the pullers themselves.
// It is kinedge's counterpart of mediamtx's path manager.
//
// A Manager implements rtsp.Router. For each publish it
//
//   - refuses it while the storage cannot record (503 with the reason);
//   - finds the video stream, or creates it on first publish when
//     AutoCreate is set (else 404);
//   - enforces one source per video stream: a second publish is refused
//     (455, stream busy) or, with Takeover, the current session is kicked,
//     its last fragment stored, and the newcomer takes the stream;
//   - finds the resume point: a stream recorded before marks the new
//     session's first fragment as a gap and places nothing before the end
//     of the last stored fragment (Recorder.Resumed and NotBefore), so a
//     camera that reconnects never overlaps what it sent before;
//   - starts the session's fragment.Recorder, which stores straight into
//     the index (the frame's walk: rtsp session → Recorder → index);
//   - under DENY_NEW_MEDIA, ends a session whose fragments the storage
//     budget refuses, so the camera learns it at once (its next publish
//     gets 503) instead of streaming into a void. Under DELETE_OLDEST_MEDIA
//     a refusal is transient (eviction makes room) and the session goes on.
//
// Pulled cameras come from the configuration (Manager.Pulls) and from the
// REST API (POST /v1/streams, DELETE /v1/streams/{name}/source; see
// Register). Those added over the API are kept across restarts in
// <Dir>/sources.json, mode 0600 since camera URLs carry passwords; the
// configuration wins over the file for a name listed in both.
//
// Every name that enters here is checked against the video stream name
// rule (package index/streamname) before anything else.
//
// Goroutines: the Manager starts none of its own. Each session's Recorder
// has one (owned by the Recorder, ended by the Writer's Close), each Puller
// has one (ended by RemovePull or Close). Close stops the pullers, refuses
// new sessions, kicks the current ones and waits until each has stored its
// last fragment.
package sources
