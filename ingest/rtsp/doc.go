// Package rtsp is kinedge's RTSP ingest. Push: cameras publish with
// ANNOUNCE/RECORD (RFC 2326) to rtsp://HOST:8554/<stream> over TCP
// (interleaved) or UDP, and each publishing session becomes media.Frames for
// a Router, which returns the media.Writer of the stream. Pull: a Puller
// plays a camera's URL (DESCRIBE/SETUP/PLAY), hands each connection to the
// same Router as one publishing session, and reconnects with backoff until
// closed.
//
// The server is gortsplib's (v4.16.2). This package adds:
//
//   - authentication: Basic and Digest-MD5 (RFC 2617) against per-stream
//     Credentials, 401 with WWW-Authenticate; failures go to an
//     authlimit.Limiter (shared with the HTTP surfaces), and a locked-out
//     address is answered 503 Service Unavailable with Retry-After
//     (RFC 2326 §12.31) before its credentials are checked: ffmpeg and
//     gortsplib report it and stop, where a 401 would bring them back
//     with the same credentials (and tell a camera its password is wrong);
//   - timeouts against clients that would hold connections: gortsplib sets
//     no read deadline while it waits for a request, so every connection
//     is wrapped (guard.go) to get one: AuthTimeout (10 s) from accept to
//     a successful ANNOUNCE, fixed so that trickled bytes do not extend
//     it, then IdleTimeout (60 s) between requests until RECORD; a
//     recording connection is left to gortsplib (ReadTimeout on RTP over
//     TCP; over UDP the RTSP connection may stay silent while RTP flows);
//   - RTSPS (RFC 7826 §4.2): with TLSAddress and TLSConfig a second
//     listener takes TLS connections into the same gortsplib server
//     (listener.go), so publishers and live players are the same for both
//     schemes; media goes interleaved inside TLS and UDP is refused to
//     RTSPS connections (461). gortsplib's own TLS mode is not used: it
//     turns the whole server to RTSPS and wants SRTP profiles (MIKEY),
//     which ffmpeg, GStreamer and cameras do not send over TCP; a client
//     that insists on SRTP (gortsplib's own publisher) is refused with
//     461. TLSOnly turns the plain listener off;
//   - codec negotiation: at most one video (H.264, H.265) and one audio (AAC
//     mpeg4-generic or MP4A-LATM, Opus) track; others are ignored, and an
//     SDP with none is refused with 415;
//   - the decode step (trackDecoder, independent of the server so a pull
//     client can reuse it): RTP payload → access unit, unwrapped PTS,
//     DTS for H.264/H.265 (B-frames), keyframes with in-band parameter sets
//     in AVCC, one frame per AAC access unit, producer wall time from RTCP
//     sender reports (ingest/rtpclock, per session: never after a frame's
//     arrival; docs/producer-time.md);
//   - discontinuity detection against the arrival clock, per-session stats
//     (packets, frames, drops, decode errors, lost packets), rate-limited
//     logging of bad input; the stats add up per stream over sessions
//     (Server.StreamStats) and over a Puller's connections
//     (PullStatus.Total), so metrics read counts that only grow;
//   - the pull client (Puller, pull.go): gortsplib's Client over TCP, UDP or
//     UDP-then-TCP, credentials from the URL (Basic, Digest), the push
//     server's codec set, an RTP timeout, jittered exponential backoff, and
//     passwords redacted from every log line (RedactURL).
//
// # Track alignment
//
// A session's tracks share one timeline, gortsplib's (PacketPTS2, as in
// mediamtx): the first track to send starts it at 0, and every other
// track starts where that timeline is when its own first packet arrives;
// from there each track counts its RTP timestamps. The tracks are thus
// as aligned as their first packets were in arrival. A camera's encoders
// run before the session and send as they encode, so that is to a few
// milliseconds. A publisher that holds its streams back and sends each
// backlog as a burst when RECORD starts (GStreamer's rtspclientsink
// behind a slow-starting software encoder, on a loaded host) is recorded
// with the difference between the bursts as an A/V offset for the whole
// session; the producer's RTCP sender reports would tell it, and are
// used so far only for the producer time (docs/producer-time.md).
package rtsp
