// Package whep serves live view over WebRTC: WHEP, the egress sibling of
// WHIP (RFC 9725; draft-ietf-wish-whep). A player POSTs an SDP offer to
// /whep/<stream> and receives the answer, with the session's resource in
// Location; DELETE on that resource ends the session; PATCH
// (application/trickle-ice-sdpfrag) adds the player's trickled
// candidates.
//
// # Media path
//
// Frames, not packets: a session subscribes to the stream's live.Hub (fed
// by every recorded source, pushed or pulled), and re-packetizes each
// access unit itself — H.264 with pion's payloader (RFC 6184,
// packetization-mode 1), H.265 with pion's (RFC 7798), VP8, VP9 and AV1 with pion's (RFC 7741, RFC 9628
// non-flexible mode, the AV1 RTP payload format), Opus as it came (RFC 7587), G.711 cut into
// 20 ms packets (RFC 3551: a camera's are often far longer, and a long
// one would not fit a LAN's MTU with SRTP's overhead). The RTP timestamps
// are the frames' PTS on the clock of the codec, rebased when the stream's
// source changes so the player's timeline keeps going forward. Each
// H.264 keyframe carries its SPS and PPS in-band (taken from the track, or
// the last ones seen, when the camera sent them out of band only):
// browsers need them before every IDR.
//
// Codecs: H.264, H.265, VP8, VP9 (offered as profile 0: a 10-bit profile 2
// camera plays only where the player decodes it) or AV1 video, Opus and G.711 (PCMU, PCMA; 8 kHz mono, the only
// G.711 WebRTC has) audio. AAC (many RTSP cameras' audio)
// does not exist in WebRTC: such an audio track is left out of the answer
// and the session logs it.
//
// H.265 goes out with pion's payloader (RFC 7798: single NAL unit,
// aggregation and fragmentation packets), answered under the stream's
// own profile-id and tier-flag read from its SPS
// (draft-ietf-avtcore-hevc-webrtc; pion matches on those two and tx-mode,
// not on level-id). Each keyframe carries the VPS, SPS and PPS, from the
// track or the last ones seen, as for H.264: x265 and many cameras write
// them once. Browsers decode H.265 over WebRTC only where the platform
// has a decoder, so a browser that does not offer it is told so.
//
// An offer with a video section must be able to receive the stream's
// video (H.264, H.265, VP8, VP9 or AV1, and for H.265 the stream's
// profile and tier): otherwise it gets 400 naming the codec and why, as when it
// can receive none of the tracks, rather than a session with sound only.
// An offer with audio sections only gets the sound; so does any player of
// a camera whose video WebRTC cannot carry (MJPEG).
//
// # Joining, loss, slowness
//
// A new session's first picture is the stream's next keyframe (live.Hub:
// no GOP cache). A player's PLI cannot be forwarded: the appliance records
// what the camera sends and must not ask it for extra keyframes (a pulled
// camera would not understand, a pushed one may not offer RTCP back), so
// PLIs are counted and the player recovers at the next keyframe — one GOP
// at most. NACKs are answered from pion's send buffer. A player that does
// not keep up loses frames in its own queue (live.Viewer), never the
// recording's.
//
// # Lifecycle
//
// Each session has one owner goroutine that sends its media and ends it:
// on DELETE, on ICE/DTLS failure or close, when it did not connect within
// ConnectTimeout, or when its stream delivered nothing for NoMediaTimeout
// (the camera left and did not come back). Handler.Close ends them all and
// waits.
//
// The pion setup (one UDP port for ICE, interceptors) is rtc.Network,
// shared with WHIP ingest. Authentication is the router's job: Register
// mounts the routes on a mux that is already guarded.
package whep
