package camsim

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/rtpclock"
)

// session is one RECORD session of a camera.
type session struct {
	client  *gortsplib.Client
	medias  []*description.Media // in track order
	written atomic.Uint64        // RTP packets queued on the client
	ended   chan struct{}        // closed when the client has stopped
	// srAt is when the pacer last sent each track's sender report.
	srAt []time.Time
	ssrc []uint32 // of each track
}

// senderReportPeriod is the time between two RTCP sender reports of a
// track (ffmpeg's period; the first goes with the session's first frame).
const senderReportPeriod = 5 * time.Second

// camera is one simulated camera. Its connection goroutine (connLoop) owns
// the RTSP client; its pacer (paceOne or paceShared) owns the timeline
// fields and sends through whatever session is current.
type camera struct {
	cfg   *Config
	clip  *Clip
	index int
	path  string
	url   string
	log   *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	cur      atomic.Pointer[session] // nil while disconnected
	firstTry chan struct{}           // closed after the first connection attempt
	finished atomic.Bool             // set by the pacer when Duration is published

	// Timeline, owned by the pacer.
	start   time.Time
	limit90 int64 // media time to publish in 90 kHz ticks, 0 = unlimited
	pos     int   // next frame index
	loop    int64
	last    *session
	needKey bool
	seq     []uint16
	tsBase  []uint32
	pkt     rtp.Packet
	// reorder90 is the clip's largest PTS − DTS (B-frames): the camera's
	// clock says it captured a frame that long before its PTS, so that it
	// never claims a capture after the send (a real encoder sends a
	// frame after capturing the B-frames before it; a clip is paced by
	// DTS).
	reorder90 int64

	// Counters, written by the pacer and the connection goroutine.
	frames, videoFrames, audioFrames, keyframes atomic.Int64
	packets, bytes, dropped                     atomic.Int64
	connects, failures, loops                   atomic.Int64
	mediaTime90                                 atomic.Int64
	maxLate                                     atomic.Int64 // time.Duration

	errMu   sync.Mutex
	lastErr error
}

func newCamera(cfg *Config, clip *Clip, index int, base string) *camera {
	path := cfg.Prefix + strconv.Itoa(index)
	c := &camera{
		cfg: cfg, clip: clip, index: index, path: path, url: base + path,
		log:      cfg.Logger.With("camera", path),
		firstTry: make(chan struct{}),
		seq:      make([]uint16, len(clip.tracks)),
		tsBase:   make([]uint32, len(clip.tracks)),
	}
	if cfg.Duration > 0 {
		c.limit90 = max(rescale(int64(cfg.Duration), int64(time.Second), mpegtsClockRate), 1)
	}
	for i := range clip.frames {
		c.reorder90 = max(c.reorder90, clip.frames[i].pts90-clip.frames[i].dts90)
	}
	// RFC 3550 §5.1: random initial sequence numbers and timestamps.
	for t := range clip.tracks {
		c.seq[t] = uint16(rand.Uint32())
		c.tsBase[t] = rand.Uint32()
	}
	return c
}

// stats snapshots the counters.
func (c *camera) stats() CameraStats {
	cs := CameraStats{
		Path:        c.path,
		Frames:      c.frames.Load(),
		VideoFrames: c.videoFrames.Load(),
		AudioFrames: c.audioFrames.Load(),
		Keyframes:   c.keyframes.Load(),
		Packets:     c.packets.Load(),
		Bytes:       c.bytes.Load(),
		Dropped:     c.dropped.Load(),
		Connects:    c.connects.Load(),
		Failures:    c.failures.Load(),
		Loops:       c.loops.Load(),
		MediaTime:   ticksToDuration(c.mediaTime90.Load()),
		MaxLate:     time.Duration(c.maxLate.Load()),
	}
	cs.Reconnects = max(cs.Connects-1, 0)
	if e := c.lastError(); e != nil {
		cs.LastError = e.Error()
	}
	return cs
}

func (c *camera) setError(err error) {
	c.errMu.Lock()
	c.lastErr = err
	c.errMu.Unlock()
}

func (c *camera) lastError() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.lastErr
}

// connLoop keeps one RECORD session up until the camera's context is done,
// reconnecting with exponential backoff and jitter (so that many cameras do
// not hammer a restarting server in lockstep).
func (c *camera) connLoop() {
	var once sync.Once
	tried := func() { once.Do(func() { close(c.firstTry) }) }
	defer tried()
	backoff := c.cfg.BackoffMin
	failing := false
	for c.ctx.Err() == nil {
		s, err := c.connect()
		if err != nil {
			c.failures.Add(1)
			c.setError(err)
			tried()
			if !failing && c.ctx.Err() == nil {
				var bad liberrors.ErrClientBadStatusCode
				if errors.As(err, &bad) && bad.Code == base.StatusCode(455) {
					c.log.Warn("camsim: the stream is busy: another publisher has it (camsim --prefix gives its cameras other names); retrying quietly",
						"url", redact(c.url), "err", err)
				} else {
					c.log.Warn("camsim: cannot publish, retrying", "url", redact(c.url), "err", err)
				}
			}
			failing = true
			wait := backoff/2 + rand.N(backoff/2+1)
			backoff = min(backoff*2, c.cfg.BackoffMax)
			t := time.NewTimer(wait)
			select {
			case <-c.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		failing = false
		backoff = c.cfg.BackoffMin
		n := c.connects.Add(1)
		c.log.Info("camsim: publishing", "url", redact(c.url), "session", n)
		// The session is current before the clocks may start (tried), so
		// that the first keyframe goes out on it.
		c.cur.Store(s)
		tried()

		stop := afterFunc(c.ctx, func() { c.closeSession(s) })
		err = s.client.Wait()
		close(s.ended)
		c.cur.Store(nil)
		stop()
		s.client.Close()
		if c.ctx.Err() == nil {
			c.setError(err)
			c.log.Warn("camsim: session ended, reconnecting", "err", err)
		}
	}
}

// drainTimeout bounds how long a finished camera waits for its queued
// packets to leave before closing the session.
const drainTimeout = 2 * time.Second

// closeSession closes a session. When the camera has published its whole
// Duration it first lets the client's write queue drain (polling its
// counters with a deadline), so that the last frames are not discarded.
func (c *camera) closeSession(s *session) {
	if c.finished.Load() {
		deadline := c.cfg.Now().Add(drainTimeout)
		tick := time.NewTicker(5 * time.Millisecond)
		for sentPackets(s.client) < s.written.Load() && c.cfg.Now().Before(deadline) {
			select {
			case <-tick.C:
			case <-s.ended:
			}
		}
		tick.Stop()
	}
	s.client.Close()
}

// sentPackets is the number of RTP packets the client has written out.
func sentPackets(cl *gortsplib.Client) uint64 {
	var n uint64
	for _, m := range cl.Stats().Session.Medias {
		for _, f := range m.Formats {
			n += f.RTPPacketsSent
		}
	}
	return n
}

// connect opens a client and runs ANNOUNCE, SETUP and RECORD (RFC 2326
// §10.3, §10.4, §10.11), abandoning them when the camera's context is done.
func (c *camera) connect() (*session, error) {
	u, err := base.ParseURL(c.url)
	if err != nil {
		return nil, err
	}
	desc := c.clip.description()
	tr := gortsplib.TransportTCP
	if c.cfg.Transport == TransportUDP {
		tr = gortsplib.TransportUDP
	}
	cl := &gortsplib.Client{
		// gortsplib v4.16.2 writes nanoseconds in the NTP fraction of its
		// sender reports (RFC 5905 wants units of 2^-32 s): the pacer
		// writes them.
		DisableRTCPSenderReports: true,
		Scheme:                   u.Scheme,
		Host:                     u.Host,
		Transport:                &tr,
		ListenPacket:             listenPacketNear(u.Hostname()),
		WriteQueueSize:           c.cfg.WriteQueueSize,
		UserAgent:                "kinedge-camsim",
		OnPacketsLost: func(lost uint64) {
			c.log.Debug("camsim: packets lost", "lost", lost)
		},
		OnDecodeError: func(err error) {
			c.log.Debug("camsim: decode error", "err", err)
		},
		OnTransportSwitch: func(err error) {
			c.log.Debug("camsim: transport switch", "err", err)
		},
	}
	if err := cl.Start2(); err != nil {
		return nil, err
	}
	stop := afterFunc(c.ctx, cl.Close)
	defer stop()
	if _, err := cl.Announce(u, desc); err != nil {
		cl.Close()
		return nil, err
	}
	if err := cl.SetupAll(u, desc.Medias); err != nil {
		cl.Close()
		return nil, err
	}
	if _, err := cl.Record(); err != nil {
		cl.Close()
		return nil, err
	}
	sess := &session{client: cl, medias: desc.Medias, ended: make(chan struct{}),
		srAt: make([]time.Time, len(desc.Medias)), ssrc: make([]uint32, len(desc.Medias))}
	// the SSRC of each track, so that a track's first sender report can
	// go before its first packet (the server maps that packet with it).
	st := cl.Stats()
	for i, m := range desc.Medias {
		sess.ssrc[i] = st.Session.Medias[m].Formats[m.Formats[0]].LocalSSRC
	}
	return sess, nil
}

// due returns the wall-clock time at which the next frame is due, and false
// when the camera has published its Duration.
func (c *camera) due() (time.Time, bool) {
	f := &c.clip.frames[c.pos]
	off := c.loop*c.clip.period90 + f.dts90
	if c.limit90 > 0 && off >= c.limit90 {
		return time.Time{}, false
	}
	return c.start.Add(ticksToDuration(off)), true
}

// sendDue sends every frame due up to now+ahead and returns when the next
// one is due, or false when the camera is finished. It records how late a
// frame went out (the pacer's own delay).
func (c *camera) sendDue(now time.Time, ahead time.Duration) (time.Time, bool) {
	until := now.Add(ahead)
	for {
		d, ok := c.due()
		if !ok {
			c.finished.Store(true)
			return time.Time{}, false
		}
		if d.After(until) {
			return d, true
		}
		if late := c.cfg.Now().Sub(d); late > time.Duration(c.maxLate.Load()) {
			c.maxLate.Store(int64(late))
		}
		c.send()
	}
}

// send sends the frame at c.pos on the current session and advances.
func (c *camera) send() {
	f := &c.clip.frames[c.pos]
	loop := c.loop
	c.pos++
	if c.pos == len(c.clip.frames) {
		c.pos = 0
		c.loop++
		c.loops.Add(1)
	}
	c.mediaTime90.Store(loop*c.clip.period90 + f.dts90 + f.dur90)

	s := c.cur.Load()
	if s != c.last {
		c.last = s
		c.needKey = true // a new session starts at a keyframe
	}
	video := c.clip.tracks[f.track].codec.Kind() == media.KindVideo
	if s == nil || (c.needKey && video && !f.key) {
		c.dropped.Add(1)
		return
	}
	if video && f.key {
		c.needKey = false
	}

	pts90 := loop*c.clip.period90 + f.pts90
	tr := &c.clip.tracks[f.track]
	ts := c.tsBase[f.track] + uint32(rescale(pts90, mpegtsClockRate, int64(tr.clockRate)))
	// A frame may go out SendAhead early: the clock says it was captured
	// before that too.
	ntp := c.start.Add(ticksToDuration(pts90 - c.reorder90)).Add(-max(c.cfg.SendAhead, 0))
	medi := s.medias[f.track]
	if now := c.cfg.Now(); s.srAt[f.track].IsZero() || now.Sub(s.srAt[f.track]) >= senderReportPeriod {
		// RFC 3550 §6.4.1: this frame's RTP timestamp and the camera's
		// clock at it.
		s.srAt[f.track] = now
		if err := s.client.WritePacketRTCP(medi, &rtcp.SenderReport{SSRC: s.ssrc[f.track],
			NTPTime: rtpclock.NTPTimestamp(ntp), RTPTime: ts}); err != nil {
			c.log.Debug("camsim: sender report not sent", "err", err)
		}
	}
	pt := medi.Formats[0].PayloadType()
	for i, p := range f.payloads {
		// WritePacketRTPWithNTP marshals the packet before returning, so one
		// packet struct per camera is reused.
		c.pkt = rtp.Packet{
			Header: rtp.Header{
				Version:        2,
				Marker:         f.markers[i],
				PayloadType:    pt,
				SequenceNumber: c.seq[f.track],
				Timestamp:      ts,
			},
			Payload: p,
		}
		c.seq[f.track]++
		if err := s.client.WritePacketRTPWithNTP(medi, &c.pkt, ntp); err != nil {
			// Closed session or full queue: the rest of the frame is lost,
			// so video must wait for the next keyframe.
			c.dropped.Add(1)
			c.needKey = true
			return
		}
		s.written.Add(1)
		c.packets.Add(1)
		c.bytes.Add(int64(len(p)))
	}
	c.frames.Add(1)
	if video {
		c.videoFrames.Add(1)
		if f.key {
			c.keyframes.Add(1)
		}
	} else {
		c.audioFrames.Add(1)
	}
}

// afterFunc runs f when ctx is done, like context.AfterFunc; its stop
// function also waits for a started f to return, so that no goroutine
// outlives the caller.
func afterFunc(ctx context.Context, f func()) (stop func()) {
	done := make(chan struct{})
	st := context.AfterFunc(ctx, func() {
		defer close(done)
		f()
	})
	return func() {
		if !st() {
			<-done
		}
	}
}

// listenPacketNear returns the UDP listen function of a client: when the
// server is a loopback address, the client's RTP/RTCP ports are bound to that
// address instead of every interface (gortsplib binds ":port").
func listenPacketNear(serverHost string) func(network, address string) (net.PacketConn, error) {
	ip := net.ParseIP(serverHost)
	return func(network, address string) (net.PacketConn, error) {
		host, port, err := net.SplitHostPort(address)
		if err == nil && host == "" && ip != nil && ip.IsLoopback() {
			address = net.JoinHostPort(ip.String(), port)
			if ip.To4() != nil && network == "udp" {
				network = "udp4"
			}
		}
		return net.ListenPacket(network, address)
	}
}
