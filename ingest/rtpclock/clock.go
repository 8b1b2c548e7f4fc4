package rtpclock

import (
	"time"
)

// Defaults of the Mapper's thresholds.
const (
	// DefaultTolerance is how far ahead of arrival a producer's clock may
	// be before it is reported: two hosts synchronised by NTP on a LAN
	// agree to a few milliseconds, and a frame takes at least a few to
	// arrive.
	DefaultTolerance = 50 * time.Millisecond
	// DefaultJumpThreshold is how far a sender report may disagree with
	// the previous one of its track before it is a jump. ffmpeg's and
	// gortsplib's reports agree to a millisecond; GStreamer's pair the
	// send time of the last packet with its RTP timestamp, so with
	// B-frames two of them disagree by up to the reorder delay (160 ms
	// measured with x264enc bframes=2 at 25 fps). A clock step (NTP
	// sync after boot) is seconds.
	DefaultJumpThreshold = 500 * time.Millisecond
)

// A track switches to reading NTP fractions as nanoseconds when two
// consecutive reports agree within nanosAgree read that way, and
// disagree by more than nanosDisagree read per RFC 5905. Both fractions
// must be below 10^9, which a real fraction is only 23 % of the time.
const (
	nanosAgree    = 5 * time.Millisecond
	nanosDisagree = 20 * time.Millisecond
)

// Event reports what a call found; zero when nothing worth telling.
type Event uint8

// Events. Callers log each kind once per session and count them.
const (
	// EventAhead: the producer's clock is ahead of arrival by more than
	// Tolerance; the correction grew (Stats.Correction).
	EventAhead Event = 1 << iota
	// EventJump: a sender report disagreed with the previous one of its
	// track by more than JumpThreshold (Stats.LastJump).
	EventJump
	// EventNanosecondNTP: the track's reports carry nanoseconds in the NTP
	// fraction (gortsplib up to v4.16); they are read that way from now on.
	EventNanosecondNTP
)

// Stats describes a Mapper's sender and what was done to its times.
type Stats struct {
	// Reports is the number of sender reports taken.
	Reports uint64
	// Jumps counts EventJump.
	Jumps uint64
	// Corrected counts frames whose mapped time lay after their arrival
	// and that moved the correction.
	Corrected uint64
	// Correction is what is subtracted from mapped times now: how far the
	// producer's clock is ahead of ours (0 when it is not).
	Correction time.Duration
	// MaxAhead is the largest correction seen in the session.
	MaxAhead time.Duration
	// LastJump is the disagreement of the last jump (new report minus what
	// the previous one predicted).
	LastJump time.Duration
	// Latency is arrival minus producer time of the last frame mapped:
	// encoder and network delay, plus how far the producer's clock is
	// behind ours.
	Latency time.Duration
	// NanosecondNTP is set once a track's reports were found to carry
	// nanosecond fractions.
	NanosecondNTP bool
}

// Mapper maps the RTP timestamps of one sender's tracks (one RTSP
// session, one WebRTC peer connection) to its wall clock. The zero
// value is ready to use with the default thresholds.
type Mapper struct {
	// Tolerance: a correction up to this is not reported as EventAhead. It
	// defaults to DefaultTolerance.
	Tolerance time.Duration
	// JumpThreshold: reports that disagree by more are a jump. It defaults
	// to DefaultJumpThreshold.
	JumpThreshold time.Duration

	correction time.Duration
	reported   time.Duration // correction last reported as EventAhead
	stats      Stats
}

// Track is the mapping of one RTP stream (one SSRC) of a Mapper's sender.
type Track struct {
	m         *Mapper
	clockRate int64

	haveSR   bool
	srRaw    uint64 // NTP timestamp of the last report, as sent
	srNTP    time.Time
	srRTP    uint32
	nanos    bool // read NTP fractions as nanoseconds
	haveLast bool
	lastTS   uint32
	lastDiff int64 // lastTS - srRTP, extended past 32 bits
}

// Track returns the mapping of an RTP stream with the given clock rate
// (Hz). Every track of one sender shares the Mapper's correction.
func (m *Mapper) Track(clockRate int) *Track {
	return &Track{m: m, clockRate: int64(clockRate)}
}

// Stats returns what the Mapper has seen so far.
func (m *Mapper) Stats() Stats { return m.stats }

func (m *Mapper) tolerance() time.Duration {
	if m.Tolerance > 0 {
		return m.Tolerance
	}
	return DefaultTolerance
}

func (m *Mapper) jumpThreshold() time.Duration {
	if m.JumpThreshold > 0 {
		return m.JumpThreshold
	}
	return DefaultJumpThreshold
}

// ticks converts clock-rate units to a duration without overflow for any
// session length.
func (t *Track) ticks(v int64) time.Duration {
	secs, rem := v/t.clockRate, v%t.clockRate
	return time.Duration(secs)*time.Second + time.Duration(rem*int64(time.Second)/t.clockRate)
}

func (t *Track) decode(raw uint64) time.Time {
	if t.nanos {
		return ntpTimeNanos(raw)
	}
	return NTPTime(raw)
}

// SenderReport takes a sender report of the track: ntp is its 64-bit NTP
// timestamp as sent, rtpTime its RTP timestamp. Reports may come before
// the track's first RTP packet (ffmpeg sends one then).
func (t *Track) SenderReport(ntp uint64, rtpTime uint32) Event {
	if t.clockRate <= 0 {
		return 0
	}
	m := t.m
	m.stats.Reports++
	var ev Event
	if t.haveSR {
		elapsed := t.ticks(int64(int32(rtpTime - t.srRTP)))
		off := NTPTime(ntp).Sub(NTPTime(t.srRaw)) - elapsed
		offNanos := ntpTimeNanos(ntp).Sub(ntpTimeNanos(t.srRaw)) - elapsed
		if t.nanos {
			off = offNanos
		}
		switch {
		case !t.nanos && off.Abs() > nanosDisagree && offNanos.Abs() <= nanosAgree &&
			ntp&0xffffffff < 1e9 && t.srRaw&0xffffffff < 1e9:
			t.nanos = true
			m.stats.NanosecondNTP = true
			ev |= EventNanosecondNTP
		case off.Abs() > m.jumpThreshold():
			m.stats.Jumps++
			m.stats.LastJump = off
			m.correction, m.reported = 0, 0
			m.stats.Correction = 0
			ev |= EventJump
		}
	}
	if t.haveLast {
		// re-base the extended difference of the last frame on the new
		// report, so the next frame extends from it.
		t.lastDiff = int64(int32(t.lastTS - rtpTime))
	}
	t.haveSR, t.srRaw, t.srRTP = true, ntp, rtpTime
	t.srNTP = t.decode(ntp)
	return ev
}

// Wall returns the producer time of a frame whose RTP timestamp is ts and
// that arrived at arrival (on the caller's clock, the clock the rules
// compare against), or the zero time before the track's first sender
// report. The result is never after arrival.
func (t *Track) Wall(ts uint32, arrival time.Time) (time.Time, Event) {
	if !t.haveSR || t.clockRate <= 0 {
		return time.Time{}, 0
	}
	diff := int64(int32(ts - t.srRTP))
	if t.haveLast {
		diff = t.lastDiff + int64(int32(ts-t.lastTS))
	}
	t.haveLast, t.lastTS, t.lastDiff = true, ts, diff
	m := t.m
	wall := t.srNTP.Add(t.ticks(diff)).Add(-m.correction)
	var ev Event
	if ahead := wall.Sub(arrival); ahead > 0 {
		m.correction += ahead
		m.stats.Corrected++
		m.stats.Correction = m.correction
		m.stats.MaxAhead = max(m.stats.MaxAhead, m.correction)
		wall = arrival
		if m.correction > m.tolerance() && m.correction > m.reported+m.tolerance() {
			m.reported = m.correction
			ev |= EventAhead
		}
	}
	m.stats.Latency = arrival.Sub(wall)
	return wall, ev
}
