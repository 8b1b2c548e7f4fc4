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
	"github.com/kinedge/kinedge/ingest/rtpclock"
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
	// ClockCorrections: frames whose producer time (from RTCP sender
	// reports) lay after their arrival and moved the correction that
	// keeps every producer time at or before arrival (rtpclock).
	ClockCorrections atomic.Uint64
	// ClockJumps: sender reports that disagreed with the previous one of
	// their track (the producer's clock stepped).
	ClockJumps atomic.Uint64
	// ClockCorrection is how far the producer's clock is ahead of ours,
	// in nanoseconds: what is subtracted from its times (0 when it is not
	// ahead).
	ClockCorrection atomic.Int64
	// ProducerLatency is arrival minus producer time of the last frame
	// with a producer time, in nanoseconds: encoder and network delay,
	// plus how far the producer's clock is behind ours.
	ProducerLatency atomic.Int64
}

// Stats is a snapshot of SessionStats; the fields mean the same.
type Stats struct {
	Packets, Frames, FramesDropped, DecodeErrors, PacketsLost, Discontinuities, TracksSkipped uint64
	ClockCorrections, ClockJumps                                                              uint64
	// ClockCorrection and ProducerLatency: in a sum (a stream's
	// sessions), the later session's once it has a producer time.
	ClockCorrection, ProducerLatency time.Duration
}

// Add returns the sum of s and o, field by field.
func (s Stats) Add(o Stats) Stats {
	gauges := s
	if o.ClockCorrection != 0 || o.ProducerLatency != 0 {
		gauges = o
	}
	return Stats{
		Packets:          s.Packets + o.Packets,
		Frames:           s.Frames + o.Frames,
		FramesDropped:    s.FramesDropped + o.FramesDropped,
		DecodeErrors:     s.DecodeErrors + o.DecodeErrors,
		PacketsLost:      s.PacketsLost + o.PacketsLost,
		Discontinuities:  s.Discontinuities + o.Discontinuities,
		TracksSkipped:    s.TracksSkipped + o.TracksSkipped,
		ClockCorrections: s.ClockCorrections + o.ClockCorrections,
		ClockJumps:       s.ClockJumps + o.ClockJumps,
		ClockCorrection:  gauges.ClockCorrection,
		ProducerLatency:  gauges.ProducerLatency,
	}
}

// Snapshot returns the current counts.
func (s *SessionStats) Snapshot() Stats {
	return Stats{
		Packets:          s.Packets.Load(),
		Frames:           s.Frames.Load(),
		FramesDropped:    s.FramesDropped.Load(),
		DecodeErrors:     s.DecodeErrors.Load(),
		PacketsLost:      s.PacketsLost.Load(),
		Discontinuities:  s.Discontinuities.Load(),
		TracksSkipped:    s.TracksSkipped.Load(),
		ClockCorrections: s.ClockCorrections.Load(),
		ClockJumps:       s.ClockJumps.Load(),
		ClockCorrection:  time.Duration(s.ClockCorrection.Load()),
		ProducerLatency:  time.Duration(s.ProducerLatency.Load()),
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
	// clock maps RTP timestamps to the producer's wall clock; clocks
	// holds its track of each media.
	clock       rtpclock.Mapper
	clocks      map[*description.Media]*rtpclock.Track
	clockLogged rtpclock.Event

	logMu   sync.Mutex
	lastLog map[string]logState
}

// packetTimer gives the timestamps of a session's packets: a
// gortsplib.ServerSession (push) or a gortsplib.Client (pull).
type packetTimer interface {
	PacketPTS2(medi *description.Media, pkt *rtp.Packet) (int64, bool)
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

// onRTCP takes the sender reports of a media. gortsplib's own NTP mapping
// is not used: v4.16 reads the NTP fraction as nanoseconds (a real
// camera's reports then map up to 3.3 s into the future), and it ignores
// a report that arrives before the first RTP packet, which is exactly
// when ffmpeg sends its first one. rtpclock has the rules.
func (s *session) onRTCP(medi *description.Media, pkt rtcp.Packet) {
	sr, ok := pkt.(*rtcp.SenderReport)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if tr := s.clockTrack(medi); tr != nil {
		s.clockEvent(tr.SenderReport(sr.NTPTime, sr.RTPTime))
	}
}

// clockTrack returns the producer-clock mapping of a media's RTP stream,
// nil for a media that is not recorded.
func (s *session) clockTrack(medi *description.Media) *rtpclock.Track {
	if tr, ok := s.clocks[medi]; ok {
		return tr
	}
	for i, m := range s.medias {
		if m == medi && i < len(s.decs) {
			if s.clocks == nil {
				s.clocks = map[*description.Media]*rtpclock.Track{}
			}
			tr := s.clock.Track(int(s.decs[i].clockRate))
			s.clocks[medi] = tr
			return tr
		}
	}
	return nil
}

// clockEvent counts what the producer-clock mapping found and logs each
// kind once per session.
func (s *session) clockEvent(ev rtpclock.Event) {
	if ev == 0 {
		return
	}
	st := s.clock.Stats()
	if ev&rtpclock.EventJump != 0 {
		s.stats.ClockJumps.Add(1)
	}
	for _, k := range []struct {
		ev  rtpclock.Event
		msg string
	}{
		{rtpclock.EventAhead, "producer clock ahead of arrival: its times are moved back so no frame is captured after it arrived"},
		{rtpclock.EventJump, "producer clock jumped between two RTCP sender reports: the new report wins"},
		{rtpclock.EventNanosecondNTP, "producer writes nanoseconds in the NTP fraction of its sender reports (gortsplib up to v4.16, e.g. mediamtx): read that way"},
	} {
		if ev&k.ev == 0 || s.clockLogged&k.ev != 0 {
			continue
		}
		s.clockLogged |= k.ev
		s.log.Warn(k.msg, "correction", st.Correction, "jump", st.LastJump, "latency", st.Latency)
	}
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
	arrival := s.cfg.now()

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.w == nil {
		return
	}
	var wall time.Time
	if tr := s.clockTrack(medi); tr != nil {
		var ev rtpclock.Event
		wall, ev = tr.Wall(pkt.Timestamp, arrival)
		s.clockEvent(ev)
		if !wall.IsZero() {
			st := s.clock.Stats()
			s.stats.ClockCorrections.Store(st.Corrected)
			s.stats.ClockCorrection.Store(int64(st.Correction))
			s.stats.ProducerLatency.Store(int64(st.Latency))
		}
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
