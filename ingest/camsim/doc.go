// Package camsim simulates IP cameras that publish to an RTSP server.
//
// A clip (MPEG-TS with H.264 or H.265 video and AAC or Opus audio) is read
// into memory once and packetized once (RFC 6184 for H.264, RFC 7798 for
// H.265, RFC 3640 AAC-hbr for MPEG-4 audio, RFC 7587 for Opus). Then N
// cameras publish it with RTSP ANNOUNCE/SETUP/RECORD (RFC 2326 §10.3, §10.11)
// through gortsplib's Client to <base URL><prefix><i>, in real time, looping
// the clip with continuous timestamps: loop L presents frame k at
// PTS_k + L×period, so RTP timestamps (RFC 3550 §5.1) keep increasing across
// the loop boundary. Each camera sends RTCP sender reports (RFC 3550 §6.4.1)
// that map RTP time to its wall clock, one with a session's first frame of
// each track and then every 5 s; gortsplib's own are off, as v4.16.2 writes
// nanoseconds in their NTP fraction. The clock claims each frame captured
// the clip's largest B-frame delay before its PTS, so no frame is claimed
// captured after it was sent.
//
// Like real cameras, a simulated camera keeps its clock running while it is
// disconnected, reconnects with exponential backoff when the server goes away,
// and resumes at the next keyframe. Start times are staggered so that the
// keyframes of many cameras do not all land at the same instant.
package camsim
