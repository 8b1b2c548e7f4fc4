// Package live fans the frames of each video stream's current source out
// to its live viewers (WHEP today; anything that wants access units).
//
// Both kinds of source feed it the same way: the sources manager attaches a
// Feed for every session it records, pushed (RTSP ANNOUNCE/RECORD) or pulled
// (rtsp.Puller), and tees every frame into it before the recorder gets the
// frame. A Feed with no viewers costs a map lookup per frame; with viewers
// it copies the frame once and shares the copy (read-only) among them.
//
// # One bounded queue per viewer
//
// Each Viewer has its own queue, bounded in frames and in bytes
// (QueueFrames, QueueBytes). The viewers share one copy of each frame, so
// a stream's live view holds about one queue's worth at most, however
// many viewers lag. Writing into it never blocks: when a frame
// does not fit, the viewer's whole queue is dropped and the viewer skips
// every frame until the next video keyframe ("drop until keyframe": a
// decoder cannot use the P-frames after a hole anyway). Dropped frames are
// counted per stream (Stats.Dropped, kinedge_live_frames_dropped_total).
// So a slow or stalled viewer costs at most its queue's bytes and never
// slows the source or the recording.
//
// # Joining mid-GOP
//
// A new viewer receives nothing until the next video keyframe of the
// stream (audio included, so that audio and video start together). The hub
// keeps no GOP cache: with the 1 to 2 s GOPs of IP cameras the wait is
// short, and starting at a fresh keyframe keeps the viewer at the live edge
// instead of replaying a cached GOP faster than real time. A stream without
// a video track starts at once.
//
// # Sources come and go
//
// Viewers subscribe to a stream name, not to a session: when a camera
// reconnects (or another takes over), its frames reach the same viewers,
// who wait for its first keyframe. Each Item carries its Track and the
// Feed's generation, so a consumer notices the change (WHEP rebases its RTP
// timestamps). Between sources a viewer simply receives nothing; its owner
// decides how long to wait (whep.Handler's NoMediaTimeout).
package live
