// Package media is kinedge's one frame model: what every ingest protocol
// (RTSP push and pull, KVS PutMedia; WHIP when it comes) produces and
// what the fragmenter consumes. It imports nothing of the application.
//
// A publishing session is described by its Tracks (at most one video and one
// audio track today; the model does not limit it) and then delivers Frames.
// A Frame is one codec access unit with both clocks a fragment needs:
//
//   - PTS/DTS: the media timeline of the session, as a time.Duration from an
//     arbitrary session origin. DTS <= PTS when the stream has B-frames.
//     Ingest code unwraps RTP timestamps, so the timeline never wraps.
//   - Wall: the producer's wall-clock time of the frame (RTCP sender
//     reports / NTP), or the zero time when the producer sends none.
//
// The arrival (server) time is not carried per frame: the fragmenter maps the
// media timeline to the wall clock once per continuous run, which keeps
// fragment timestamps free of network jitter.
package media
