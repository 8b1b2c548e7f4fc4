// Package rtpclock maps RTP timestamps to the producer's wall clock with
// RTCP sender reports (RFC 3550 §6.4.1), and refuses to store times a
// producer cannot have meant.
//
// A sender report pairs an NTP time (RFC 5905 §6: 32-bit seconds since
// 1900, 32-bit binary fraction) with the RTP timestamp of the same instant
// on one RTP stream's clock. A frame whose RTP timestamp is ts is then
// captured at
//
//	ntp + (ts - rtp) / clockRate
//
// on the producer's clock, with the difference taken modulo 2^32 and
// extended frame by frame, so a session outlives any number of RTP
// timestamp wraps. Each track (RTP stream) maps with its own latest
// report; a new report re-anchors the mapping.
//
// The rules, for clocks that are off (docs/producer-time.md has the
// measurements behind them):
//
//   - Ahead: a frame cannot be captured after it arrived. When a mapped
//     time lies after the frame's arrival, the producer's clock is ahead
//     of ours: the Mapper subtracts a correction, the least that puts
//     every frame so far at or before its arrival, from every later
//     frame of every track (one correction per sender keeps its tracks in
//     sync). Frames stay evenly spaced; the first offending frame lands on
//     its arrival. A correction above Tolerance is an EventAhead (log it,
//     count it); below, it is network-level noise between two
//     NTP-synchronised hosts and is corrected silently.
//   - Behind: a producer time before arrival is what a real encoder
//     produces (ffmpeg's libx264 lookahead puts frames 1.2 s before their
//     arrival), so it is kept as sent; Stats.Latency shows it.
//   - Jumps: a report that disagrees with the previous report of its
//     track by more than JumpThreshold (a producer's clock stepped) is an
//     EventJump. The new report wins and the ahead-correction is
//     recomputed from scratch.
//   - Nanosecond fractions: gortsplib up to v4.16 (and so mediamtx and
//     other servers built on it) writes the NTP fraction as nanoseconds
//     instead of units of 2^-32 s, and reads it back the same way. A
//     track whose two consecutive reports only agree with their RTP
//     timestamps when read that way is switched to that reading
//     (EventNanosecondNTP); until then it is read per RFC 5905.
//
// The package imports nothing of the application: RTSP ingest and WHIP
// ingest feed it the same way. A Mapper is not safe for concurrent use.
package rtpclock
