package rtsp

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/kinedge/kinedge/ingest/media"
)

// SessionStats counts a publishing session's traffic; safe to read
// concurrently.
type SessionStats struct {
	// Packets is the number of RTP packets of ingested tracks.
	Packets atomic.Uint64
	// Frames delivered to the Writer.
	Frames atomic.Uint64
	// FramesDropped: access units not delivered (video before a keyframe,
	// after a DTS extraction error, before timestamps are known).
	FramesDropped atomic.Uint64
	// DecodeErrors: RTP packets or payloads that could not be decoded.
	DecodeErrors atomic.Uint64
	// PacketsLost: gaps in RTP sequence numbers.
	PacketsLost atomic.Uint64
	// Discontinuities signalled to the Writer.
	Discontinuities atomic.Uint64
	// TracksSkipped: tracks of the session that are not recorded (a codec
	// the appliance does not store, or a second track of a kind).
	TracksSkipped atomic.Uint64
}

// Stats is a snapshot of SessionStats; the fields mean the same.
type Stats struct {
	Packets, Frames, FramesDropped, DecodeErrors, PacketsLost, Discontinuities, TracksSkipped uint64
}

// Add returns the sum of s and o, field by field.
func (s Stats) Add(o Stats) Stats {
	return Stats{
		Packets:         s.Packets + o.Packets,
		Frames:          s.Frames + o.Frames,
		FramesDropped:   s.FramesDropped + o.FramesDropped,
		DecodeErrors:    s.DecodeErrors + o.DecodeErrors,
		PacketsLost:     s.PacketsLost + o.PacketsLost,
		Discontinuities: s.Discontinuities + o.Discontinuities,
		TracksSkipped:   s.TracksSkipped + o.TracksSkipped,
	}
}

// Snapshot returns the current counts.
func (s *SessionStats) Snapshot() Stats {
	return Stats{
		Packets:         s.Packets.Load(),
		Frames:          s.Frames.Load(),
		FramesDropped:   s.FramesDropped.Load(),
		DecodeErrors:    s.DecodeErrors.Load(),
		PacketsLost:     s.PacketsLost.Load(),
		Discontinuities: s.Discontinuities.Load(),
		TracksSkipped:   s.TracksSkipped.Load(),
	}
}

// logInterval is the minimum time between two log lines of one kind of
// per-packet trouble in a session.
const logInterval = 5 * time.Second

// session is one RTSP ingest session: a camera's push (ANNOUNCE/RECORD on
// the Server) or one connection of a Puller (PLAY); both feed the Router's
// Writer the same way. Packet callbacks arrive on
// gortsplib's reader goroutines (the connection's for TCP, the UDP
// listener's for UDP) and the close on the session's: mu serialises every
// call to the Writer, which is never used after Close.
type session struct {
	cfg       sessionConfig
	ss        packetTimer
	stream    string
	user      string
	remote    string
	transport string
	log       *slog.Logger
	medias    []*description.Media
	formats   []format.Format
	stats     *SessionStats
	skipped   []string // tracks not recorded, and why
	live      *Relay   // the relay to live players; nil relays nothing

	mu     sync.Mutex
	decs   []*trackDecoder
	w      media.Writer
	closed bool
	watch  []trackWatch
	srs    map[*description.Media]senderReport

	logMu   sync.Mutex
	lastLog map[string]logState
}

// packetTimer gives the timestamps of a session's packets: a
// gortsplib.ServerSession (push) or a gortsplib.Client (pull).
type packetTimer interface {
	PacketPTS2(medi *description.Media, pkt *rtp.Packet) (int64, bool)
	PacketNTP(medi *description.Media, pkt *rtp.Packet) (time.Time, bool)
}

// sessionConfig is what a session needs of its owner (Server or Puller).
type sessionConfig struct {
	// now is the arrival clock.
	now func() time.Time
	// discontinuity and pause are the Server's DiscontinuityThreshold and
	// PauseThreshold.
	discontinuity, pause time.Duration
}

// trackWatch remembers the last frame of a track for discontinuity checks.
type trackWatch struct {
	set     bool
	dts     time.Duration
	arrival time.Time
}

// senderReport is the last RTCP sender report of a media (RFC 3550 §6.4.1).
type senderReport struct {
	ntp time.Time
	rtp uint32
}

// onRTCP keeps the sender reports of a media. gortsplib's own NTP mapping
// ignores a report that arrives before the first RTP packet (it does not
// know the SSRC yet), which is exactly when ffmpeg sends its first one.
func (s *session) onRTCP(medi *description.Media, pkt rtcp.Packet) {
	sr, ok := pkt.(*rtcp.SenderReport)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srs == nil {
		s.srs = map[*description.Media]senderReport{}
	}
	s.srs[medi] = senderReport{ntp: ntpTime(sr.NTPTime), rtp: sr.RTPTime}
}

// ntpTime converts a 64-bit NTP timestamp (RFC 5905 §6) to a time.
func ntpTime(v uint64) time.Time {
	const unixOffset = 2208988800 // 1900-01-01 to 1970-01-01 in seconds
	secs := int64(v>>32) - unixOffset
	frac := (v & 0xffffffff) * 1e9 >> 32
	return time.Unix(secs, int64(frac)).UTC()
}

// wallFromSR maps an RTP timestamp to the wall clock with the last sender
// report of the media, zero when there is none.
func (s *session) wallFromSR(medi *description.Media, ts uint32, clockRate int64) time.Time {
	sr, ok := s.srs[medi]
	if !ok || clockRate <= 0 {
		return time.Time{}
	}
	diff := int64(int32(ts - sr.rtp))
	return sr.ntp.Add(time.Duration(diff * int64(time.Second) / clockRate))
}

type logState struct {
	at         time.Time
	suppressed int
}

func (s *session) start(w media.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w = w
}

func (s *session) info() SessionInfo {
	s.mu.Lock()
	tracks := make([]*media.Track, len(s.decs))
	for i, d := range s.decs {
		tracks[i] = d.Track().Clone()
	}
	s.mu.Unlock()
	return SessionInfo{
		Stream: s.stream, RemoteAddr: s.remote, Transport: s.transport, User: s.user,
		Tracks: tracks, Stats: s.stats.Snapshot(),
	}
}

// close ends the session: the Writer is closed once.
func (s *session) close(cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.w == nil {
		return
	}
	s.w.Close()
	st := s.stats.Snapshot()
	s.log.Info("rtsp publish ended", "cause", cause, "packets", st.Packets, "frames", st.Frames,
		"dropped", st.FramesDropped, "decode_errors", st.DecodeErrors, "lost", st.PacketsLost,
		"discontinuities", st.Discontinuities)
}

// onPacket decodes one RTP packet of track d and delivers its frames.
func (s *session) onPacket(d *trackDecoder, medi *description.Media, pkt *rtp.Packet) {
	s.stats.Packets.Add(1)
	pts, ptsOK := s.ss.PacketPTS2(medi, pkt)
	wall, wallOK := s.ss.PacketNTP(medi, pkt)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.w == nil {
		return
	}
	if !wallOK {
		wall = s.wallFromSR(medi, pkt.Timestamp, d.clockRate)
	}
	frames, err := d.Decode(pkt, pts, wall)
	switch {
	case err == nil:
	case errors.Is(err, ErrNeedMorePackets):
		return
	case errors.Is(err, ErrFrameDropped):
		s.stats.FramesDropped.Add(1)
		s.logLimited("dropped", "rtsp frame dropped", "err", err)
		return
	case errors.Is(err, errDecoderPanic):
		s.stats.DecodeErrors.Add(1)
		s.log.Error("rtsp decoder failed; packet skipped", "err", err)
		return
	default:
		s.stats.DecodeErrors.Add(1)
		s.logLimited("decode", "rtsp decode error", "err", err)
		return
	}
	if !ptsOK {
		// gortsplib has no timeline for this track yet.
		s.stats.FramesDropped.Add(uint64(len(frames)))
		return
	}
	now := s.cfg.now()
	for _, f := range frames {
		s.checkTimeline(f, now)
		s.w.WriteFrame(f)
		s.stats.Frames.Add(1)
	}
}

// checkTimeline signals a discontinuity when a track's decode timeline goes
// backwards, jumps ahead of the arrival clock by more than
// DiscontinuityThreshold, or falls behind it by more than PauseThreshold.
// After one, every track starts a new run, so a jump seen by video and audio
// is signalled once.
func (s *session) checkTimeline(f *media.Frame, now time.Time) {
	tw := &s.watch[f.Track]
	if tw.set {
		mediaDelta := f.DTS - tw.dts
		jump := mediaDelta - now.Sub(tw.arrival)
		thr := s.cfg.discontinuity
		var reason string
		switch {
		case mediaDelta < 0:
			reason = fmt.Sprintf("track %d timestamps went back by %v", f.Track, -mediaDelta)
		case jump > thr:
			reason = fmt.Sprintf("track %d timestamps jumped ahead of arrival by %v", f.Track, jump)
		case jump < -s.cfg.pause:
			reason = fmt.Sprintf("track %d timestamps fell behind arrival by %v", f.Track, -jump)
		}
		if reason != "" {
			s.w.Discontinuity(reason)
			s.stats.Discontinuities.Add(1)
			s.log.Info("rtsp timeline discontinuity", "reason", reason)
			for i := range s.watch {
				s.watch[i].set = false
			}
		}
	}
	*tw = trackWatch{set: true, dts: f.DTS, arrival: now}
}

// logLimited logs at most one line per kind and logInterval, counting what
// it suppressed.
func (s *session) logLimited(kind, msg string, args ...any) {
	now := s.cfg.now()
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if s.lastLog == nil {
		s.lastLog = map[string]logState{}
	}
	st := s.lastLog[kind]
	if !st.at.IsZero() && now.Sub(st.at) < logInterval {
		st.suppressed++
		s.lastLog[kind] = st
		return
	}
	if st.suppressed > 0 {
		args = append(args, "suppressed", st.suppressed)
	}
	s.log.Warn(msg, args...)
	s.lastLog[kind] = logState{at: now}
}
