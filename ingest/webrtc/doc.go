// Package webrtc receives cameras, browsers and OBS publishing over WebRTC:
// WHIP, RFC 9725. A publisher POSTs an SDP offer to /whip/<stream>
// (Authorization: Bearer <token>) and receives the answer, with the
// session's resource in Location and its ETag; DELETE on that resource ends
// the session; PATCH (application/trickle-ice-sdpfrag) adds trickled
// candidates or restarts ICE; OPTIONS answers CORS preflights so a page of another origin
// can publish.
//
// # Design decisions
//
//   - The package is protocol code: it knows pion, media and rtpclock, not
//     the appliance. What it needs of the rest is injected: a Publisher
//     (the sources manager, through an adapter in cmd/kinedge: one source
//     per stream, takeover, auto-create, storage refusals are its rules)
//     and a Verifier for the bearer token. A wrong bearer (not a missing
//     one) is reported to the Handler's authlimit.Limiter; an address it
//     has locked out gets 429 with Retry-After before its bearer is
//     checked.
//   - One codec per kind in the answer. The handler picks, per m-line, the
//     first codec of the offer the appliance can store (the publisher's
//     preference) and registers only that one, with the offer's payload
//     type and fmtp, so the publisher cannot switch codecs mid-session and
//     the recorder's tracks are known before the answer is sent. Video:
//     H.264 (packetization-mode 1), H.265 (without DONL), VP8, VP9, AV1.
//     Audio: Opus, PCMU, PCMA. An offer with nothing storable gets
//     400 naming what it offered. RTX (RFC 4588) is answered when the
//     offer has it for the chosen video codec (apt=): pion's receiver
//     unwraps the repairs into the track; otherwise NACKed packets are
//     resent on the media SSRC. pion's NACK generator does not see RTX
//     repairs, so it asks for a lost packet up to 3 times (rtc).
//   - Whole frames: pion's samplebuilder (bounded by maxLate packets)
//     reorders and reassembles each track; H.264 comes out AVCC with the
//     in-band SPS/PPS of browsers' keyframes, H.265 likewise (pion's
//     depacketizer, its frames ending only at the RTP marker); AV1 temporal units are
//     normalised with package bitstream, which also tells VP8/VP9/AV1
//     keyframes. Video before the first keyframe is dropped.
//   - Timestamps: a track's first frame is placed at its arrival since the
//     session's start, later ones by their RTP timestamps; DTS is PTS
//     (WebRTC has no B-frames). Producer wall-clock time comes from the
//     publisher's RTCP sender reports through rtpclock (one Mapper per
//     session, one Track per RTP stream), which keeps producer times at or
//     before arrival.
//   - Keyframes: browsers send few. A PLI goes out when a video track
//     starts, and again every PLIInterval while no keyframe came for
//     longer than KeyframeTarget (the fragment target), checked every
//     eighth of the target, so fragments stay near their target (1.1 s
//     for a 1 s target with a publisher that keyframes only on PLI:
//     TestWHIPPLICutsFragments in cmd/kinedge). NACKs come from pion's interceptors.
//   - One owner goroutine per session writes every frame to the
//     media.Writer and ends the session: on DELETE, ICE/DTLS failure or
//     close, a kick from the Publisher (takeover, storage), no connection
//     within ConnectTimeout, or no media for IdleTimeout. Track readers
//     hand frames over a bounded channel; a full channel drops the frame
//     (counted) rather than stall pion. On end the Writer is closed, so the
//     open fragment is stored.
//   - A video frame is stored only whole: its packets share one RTP
//     timestamp and the last carries the marker. Chromium abandons a VP9
//     frame's tail when it answers a PLI (the sequence numbers go on, so
//     no NACK brings it back), and the sample builder would emit the head
//     alone or glued to the next frame: such a frame is dropped, and so
//     are the delta frames after it until a keyframe.
//   - ICE-TCP and a NAT 1:1 address: package rtc.
//   - ICE restart (RFC 9725 section 4.4): a PATCH with new ICE
//     credentials restarts ICE on the same peer connection (rtc.ICESession):
//     200 with the appliance's new credentials and candidates, a new
//     ETag; the session, its tracks and its recording go on.
package webrtc
