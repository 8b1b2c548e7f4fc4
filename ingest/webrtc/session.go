package webrtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/pion/rtcp"
	pion "github.com/pion/webrtc/v4"

	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/rtpclock"
	"github.com/kinedge/kinedge/ingest/webrtc/rtc"
)

// frameQueue bounds the frames between the track readers and the owner.
const frameQueue = 512

// session is one WHIP publisher.
type session struct {
	h      *Handler
	id     string
	stream string
	log    *slog.Logger
	pc     *pion.PeerConnection
	w      media.Writer
	start  time.Time
	// index of the media.Track of each kind in the PublishRequest, and
	// its codec.
	index  map[pion.RTPCodecType]int
	codecs map[pion.RTPCodecType]*choice

	// ice is the ETag and the publisher's ICE credentials, which an ICE
	// restart changes.
	ice *rtc.ICESession

	ctx        context.Context
	cancel     context.CancelCauseFunc
	resultOnce sync.Once
	result     string // why the session ended, for the metric; set once
	connected  chan struct{}
	connOnce   sync.Once
	frames     chan *media.Frame // readers → owner; bounded, never blocks a reader
	videoSSRC  chan uint32       // a video track started: the owner sends its first PLI
	done       chan struct{}     // closed when the owner is done

	mu      sync.Mutex // guards ending, reading and the readers' Add
	ending  bool
	reading map[pion.RTPCodecType]bool
	readers sync.WaitGroup

	clockMu sync.Mutex
	clock   rtpclock.Mapper
}

// newSession negotiates the offer, starts the recording and the owner
// goroutine, and returns the answer.
func (h *Handler) newSession(r *http.Request, name, sdpOffer string, o *offer) (*session, string, error) {
	me := &pion.MediaEngine{}
	var tracks []*media.Track
	s := &session{h: h, stream: name, index: map[pion.RTPCodecType]int{}, codecs: map[pion.RTPCodecType]*choice{},
		connected: make(chan struct{}), frames: make(chan *media.Frame, frameQueue),
		videoSSRC: make(chan uint32, 1), done: make(chan struct{}), reading: map[pion.RTPCodecType]bool{}}
	for _, k := range []struct {
		c   *choice
		typ pion.RTPCodecType
	}{{o.video, pion.RTPCodecTypeVideo}, {o.audio, pion.RTPCodecTypeAudio}} {
		if k.c == nil {
			continue
		}
		if err := me.RegisterCodec(k.c.params, k.typ); err != nil {
			return nil, "", fmt.Errorf("%w: %s: %v", ErrBadOffer, k.c.codec, err)
		}
		if k.c.rtx != nil {
			// Repaired packets come on the RTX stream; pion's receiver
			// unwraps them into the track's ReadRTP.
			if err := me.RegisterCodec(*k.c.rtx, k.typ); err != nil {
				return nil, "", fmt.Errorf("%w: RTX for %s: %v", ErrBadOffer, k.c.codec, err)
			}
		}
		s.index[k.typ] = len(tracks)
		s.codecs[k.typ] = k.c
		tracks = append(tracks, k.c.track())
	}
	api, err := h.Network.NewAPI(me)
	if err != nil {
		return nil, "", err
	}
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return nil, "", fmt.Errorf("whip: peer connection: %w", err)
	}
	s.pc = pc
	s.id = rtc.NewSessionID()
	s.ice = rtc.NewICESession(`"`+s.id[:16]+`"`, o.ufrag, o.pwd)
	s.log = h.logger().With("stream", name, "session", s.id[:8])
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	fail := func(err error) (*session, string, error) {
		pc.Close()
		s.cancel(err)
		return nil, "", err
	}
	pc.OnConnectionStateChange(func(st pion.PeerConnectionState) {
		switch st {
		case pion.PeerConnectionStateConnected:
			s.connOnce.Do(func() { close(s.connected) })
		case pion.PeerConnectionStateFailed:
			s.end("failed", "ICE or DTLS failed (the publisher went away)")
		case pion.PeerConnectionStateClosed:
			s.end("closed", "peer connection closed")
		}
	})
	pc.OnTrack(s.onTrack)
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: sdpOffer}); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadOffer, err))
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(fmt.Errorf("%w: no answer to it: %v", ErrBadOffer, err))
	}
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(fmt.Errorf("whip: local description: %w", err))
	}
	select {
	case <-gathered: // host candidates on the UDP mux: immediate
	case <-r.Context().Done():
		return fail(r.Context().Err())
	case <-time.After(5 * time.Second):
		return fail(errors.New("whip: ICE gathering did not complete in 5 s"))
	}
	var skipped []string
	for _, o := range o.offered {
		skipped = append(skipped, o+": not stored")
	}
	w, err := h.Publisher.Publish(&PublishRequest{Stream: name, Tracks: tracks, RemoteAddr: r.RemoteAddr,
		Kick: func(reason string) { s.end("kicked", reason) }, Skipped: skipped})
	if err != nil {
		return fail(err)
	}
	s.w = w
	s.start = h.now()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		w.Close()
		return fail(errors.New("whip: the appliance is shutting down"))
	}
	if h.sessions == nil {
		h.sessions = map[string]*session{}
	}
	h.sessions[s.id] = s
	h.wg.Add(1)
	h.mu.Unlock()
	h.stats.started.Add(1)
	go s.run()
	s.log.Info("whip session started", "remote", r.RemoteAddr, "tracks", describe(tracks), "skipped", skipped)
	return s, pc.LocalDescription().SDP, nil
}

func describe(tracks []*media.Track) string {
	out := ""
	for i, t := range tracks {
		if i > 0 {
			out += "+"
		}
		out += string(t.Codec)
	}
	return out
}

// end ends the session (any goroutine; the first result and cause win).
func (s *session) end(result, cause string) {
	s.resultOnce.Do(func() { s.result = result })
	s.cancel(errors.New(cause))
}

// onTrack starts the reader of a remote track (pion's goroutine).
func (s *session) onTrack(tr *pion.TrackRemote, rcv *pion.RTPReceiver) {
	kind := tr.Kind()
	s.mu.Lock()
	c := s.codecs[kind]
	if s.ending || c == nil || s.reading[kind] {
		s.mu.Unlock()
		s.log.Info("whip: track not recorded", "kind", kind, "codec", tr.Codec().MimeType)
		return
	}
	s.reading[kind] = true
	s.readers.Add(2)
	s.mu.Unlock()
	s.clockMu.Lock()
	ct := s.clock.Track(int(c.params.ClockRate))
	s.clockMu.Unlock()
	go func() {
		defer s.readers.Done()
		s.readRTCP(rcv, ct)
	}()
	if kind == pion.RTPCodecTypeVideo {
		select {
		case s.videoSSRC <- uint32(tr.SSRC()):
		default:
		}
	}
	defer s.readers.Done()
	s.readTrack(tr, c, s.index[kind], ct)
}

// readRTCP feeds a receiver's sender reports to the track's producer
// clock; reading also lets the interceptors see the RTCP.
func (s *session) readRTCP(rcv *pion.RTPReceiver, ct *rtpclock.Track) {
	for {
		pkts, _, err := rcv.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				s.clockMu.Lock()
				ct.SenderReport(sr.NTPTime, sr.RTPTime)
				s.clockMu.Unlock()
			}
		}
	}
}

// readTrack reassembles a track's frames and hands them to the owner.
func (s *session) readTrack(tr *pion.TrackRemote, c *choice, index int, ct *rtpclock.Track) {
	asm, err := newAssembler(c.codec, int(c.params.ClockRate))
	if err != nil {
		s.end("failed", err.Error())
		return
	}
	for {
		pkt, _, err := tr.ReadRTP()
		if err != nil {
			// The peer connection closed: the frames still in the
			// reorder buffer go to the owner, which drains them.
			asm.sb.Flush()
		} else {
			asm.push(pkt)
		}
		for {
			now := s.h.now()
			f, ts, err := asm.pop(now.Sub(s.start))
			if f == nil && err == nil {
				break
			}
			if err != nil {
				s.h.stats.dropped.Add(1)
				if !errors.Is(err, errNotKey) {
					s.log.Debug("whip: frame skipped", "err", err)
				}
				continue
			}
			s.clockMu.Lock()
			f.Wall, _ = ct.Wall(ts, now)
			s.clockMu.Unlock()
			f.Track = index
			select {
			case s.frames <- f:
			default:
				s.h.stats.dropped.Add(1)
			}
		}
		if err != nil {
			return
		}
	}
}

// run is the session's owner: it writes the frames, asks for keyframes,
// watches the timeouts, and at the end releases everything and closes the
// Writer.
func (s *session) run() {
	h := s.h
	idle := durOr(h.IdleTimeout, DefaultIdleTimeout)
	target := durOr(h.KeyframeTarget, DefaultKeyframeTarget)
	pliEvery := durOr(h.PLIInterval, DefaultPLIInterval)
	connect := time.NewTimer(durOr(h.ConnectTimeout, DefaultConnectTimeout))
	defer connect.Stop()
	// The tick bounds how late past the target a PLI goes out: an eighth
	// of it (a 1 s ticker let 1 s fragments grow to 2 s).
	tick := time.NewTicker(min(pliEvery, idle/4, target/8))
	defer tick.Stop()
	connected := s.connected
	var isConnected bool
	var ssrc uint32
	var lastMedia, lastKey, lastPLI time.Time
	pli := func(now time.Time) {
		if err := s.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
			s.log.Debug("whip: PLI not sent", "err", err)
			return
		}
		lastPLI = now
		h.stats.plis.Add(1)
	}
	write := func(f *media.Frame) {
		if f.Key && f.Track == s.index[pion.RTPCodecTypeVideo] && s.codecs[pion.RTPCodecTypeVideo] != nil {
			lastKey = h.now()
		}
		s.w.WriteFrame(f)
		h.stats.frames.Add(1)
	}
loop:
	for {
		select {
		case <-s.ctx.Done():
			break loop
		case <-connected:
			connected, isConnected = nil, true
			lastMedia = h.now()
		case <-connect.C:
			if !isConnected {
				s.end("failed", fmt.Sprintf("the publisher did not connect within %v", durOr(h.ConnectTimeout, DefaultConnectTimeout)))
			}
		case ssrc = <-s.videoSSRC:
			now := h.now()
			lastKey = now
			pli(now)
		case f := <-s.frames:
			lastMedia = h.now()
			write(f)
		case <-tick.C:
			now := h.now()
			if isConnected && now.Sub(lastMedia) > idle {
				s.end("idle", fmt.Sprintf("no media for %v", idle))
				continue
			}
			if ssrc != 0 && now.Sub(lastKey) > target && now.Sub(lastPLI) >= pliEvery {
				pli(now)
			}
		}
	}
	s.mu.Lock()
	s.ending = true
	s.mu.Unlock()
	s.pc.Close() // ends the readers
	s.readers.Wait()
	for drained := false; !drained; {
		select {
		case f := <-s.frames:
			write(f)
		default:
			drained = true
		}
	}
	s.w.Close() // the open fragment is stored
	h.mu.Lock()
	delete(h.sessions, s.id)
	h.mu.Unlock()
	h.stats.end(s.result)
	s.log.Info("whip session ended", "cause", context.Cause(s.ctx), "result", s.result)
	close(s.done)
	h.wg.Done()
}
