package whep

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/kinedge/kinedge/dataplane/video/live"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/webrtc/rtc"
)

// rtpMTU bounds an RTP payload: below the path MTU of any LAN with room
// for SRTP and TURN overheads.
const rtpMTU = 1200

// session is one WHEP player.
type session struct {
	h      *Handler
	id     string
	stream string
	log    *slog.Logger
	pc     *webrtc.PeerConnection
	viewer *live.Viewer
	video  *sender // nil when not sent
	audio  *sender

	// ice is the ETag and the player's ICE credentials, which an ICE
	// restart changes.
	ice *rtc.ICESession

	ctx       context.Context
	cancel    context.CancelCauseFunc
	connected chan struct{} // closed when the peer connection connects
	connOnce  sync.Once
	done      chan struct{} // closed when the owner goroutine is done

	// Media timeline of the session (owner goroutine only): the PTS of
	// source gen plus offset is the session's media time, which keeps
	// going forward across sources.
	gen       uint64
	offset    time.Duration
	lastMedia time.Duration
	started   bool
	params    paramSets
	hevc      hevcParamSets
}

// sender packetizes one track.
type sender struct {
	track *webrtc.TrackLocalStaticRTP
	rtp   *webrtc.RTPSender
	rate  int64
	seq   uint16
	base  uint32                // random start of the RTP timestamps
	h264  *codecs.H264Payloader // for an H.264 track
	h265  *codecs.H265Payloader // for an H.265 track (RFC 7798)
	// pass packetizes the frames of a VP8, VP9 or AV1 track as they are
	// stored; passCodec is that codec.
	pass      rtp.Payloader
	passCodec media.Codec
}

// newSession negotiates a player's offer and starts its owner goroutine.
func (h *Handler) newSession(ctx context.Context, name, sdpOffer string, o *offer, viewer *live.Viewer) (*session, string, error) {
	p, err := planTracks(viewer.Tracks(), o)
	if err != nil {
		return nil, "", err
	}
	me := &webrtc.MediaEngine{}
	if pc, ok := passCodecs[codecOf(p.video)]; ok {
		if err := me.RegisterCodec(pc.params, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, "", fmt.Errorf("whep: %s: %w", p.video.Codec, err)
		}
	} else if codecOf(p.video) == media.CodecH265 {
		if err := me.RegisterCodec(hevcParams(p.video), webrtc.RTPCodecTypeVideo); err != nil {
			return nil, "", fmt.Errorf("whep: h265: %w", err)
		}
	} else if p.video != nil {
		if err := registerH264(me, p.video); err != nil {
			return nil, "", err
		}
	}
	var audioCap webrtc.RTPCodecCapability
	if p.audio != nil {
		params := audioCodec(p.audio.Codec)
		if err := me.RegisterCodec(params, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, "", fmt.Errorf("whep: %s: %w", p.audio.Codec, err)
		}
		audioCap = params.RTPCodecCapability
		audioCap.SDPFmtpLine = ""
	}
	api, err := h.Network.NewAPI(me)
	if err != nil {
		return nil, "", err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", fmt.Errorf("whep: peer connection: %w", err)
	}
	id := rtc.NewSessionID()
	s := &session{h: h, id: id, ice: rtc.NewICESession(`"`+id[:16]+`"`, o.ufrag, o.pwd), stream: name, pc: pc, viewer: viewer,
		log:       h.logger().With("stream", name, "session", id[:8]),
		connected: make(chan struct{}), done: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	fail := func(err error) (*session, string, error) {
		pc.Close()
		s.cancel(err)
		return nil, "", err
	}
	switch {
	case passCodecs[codecOf(p.video)].newPayloader != nil:
		pc := passCodecs[p.video.Codec]
		if s.video, err = s.addTrack(webrtc.RTPCodecCapability{MimeType: pc.params.MimeType, ClockRate: 90000}, "video"); err != nil {
			return fail(err)
		}
		s.video.pass, s.video.passCodec = pc.newPayloader(), p.video.Codec
	case codecOf(p.video) == media.CodecH265:
		if s.video, err = s.addTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH265, ClockRate: 90000}, "video"); err != nil {
			return fail(err)
		}
		s.video.h265 = &codecs.H265Payloader{}
		s.hevc = hevcParamSets{vps: p.video.VPS, sps: p.video.SPS, pps: p.video.PPS}
	case p.video != nil:
		if s.video, err = s.addTrack(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000}, "video"); err != nil {
			return fail(err)
		}
		s.video.h264 = &codecs.H264Payloader{}
		s.params = paramSets{sps: p.video.SPS, pps: p.video.PPS}
	}
	if p.audio != nil {
		if s.audio, err = s.addTrack(audioCap, "audio"); err != nil {
			return fail(err)
		}
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			s.connOnce.Do(func() { close(s.connected) })
		case webrtc.PeerConnectionStateFailed:
			s.end("ICE or DTLS failed (the player went away)")
		case webrtc.PeerConnectionStateClosed:
			s.end("peer connection closed")
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdpOffer}); err != nil {
		return fail(&offerError{msg: "bad SDP offer: " + err.Error()})
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(&offerError{msg: "no answer to the offer: " + err.Error()})
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(fmt.Errorf("whep: local description: %w", err))
	}
	select {
	case <-gathered: // host candidates on the UDP mux: immediate
	case <-ctx.Done():
		return fail(ctx.Err())
	case <-time.After(5 * time.Second):
		return fail(errors.New("whep: ICE gathering did not complete in 5 s"))
	}
	for _, why := range p.leftOut {
		s.log.Info("whep: track left out of the answer", "track", why)
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return fail(errors.New("whep: the appliance is shutting down"))
	}
	if h.sessions == nil {
		h.sessions = map[string]*session{}
	}
	h.sessions[id] = s
	h.wg.Add(1)
	h.mu.Unlock()
	h.stats.started.Add(1)
	go s.run()
	s.log.Info("whep session started", "tracks", p.describe())
	return s, pc.LocalDescription().SDP, nil
}

// registerH264 registers H.264 for packetization mode 1 under the
// profiles browsers offer, the source's own first (pion answers with the
// first offered codec that matches one of these).
func registerH264(me *webrtc.MediaEngine, t *media.Track) error {
	profiles := []string{"42e01f", "42001f", "4d001f", "64001f"}
	if pl := profileLevelID(t.SPS); pl != "" {
		profiles = append([]string{pl}, profiles...)
	}
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	seen := map[string]bool{}
	pt := webrtc.PayloadType(102)
	for _, pl := range profiles {
		if seen[pl] {
			continue
		}
		seen[pl] = true
		err := me.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
				SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + pl, RTCPFeedback: fb},
			PayloadType: pt,
		}, webrtc.RTPCodecTypeVideo)
		if err != nil {
			return fmt.Errorf("whep: h264 %s: %w", pl, err)
		}
		pt++
	}
	return nil
}

// hevcParams is the H.265 codec a session answers for track t: its own
// profile and tier (a player whose offer has another profile cannot
// decode it; planTracks has checked), packetized per RFC 7798 with
// pion's payloader, NACK and PLI feedback as for H.264.
func hevcParams(t *media.Track) webrtc.RTPCodecParameters {
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH265, ClockRate: 90000,
			SDPFmtpLine: hevcFormatOf(t.SPS).fmtp(), RTCPFeedback: videoFeedback},
		PayloadType: 116,
	}
}

// addTrack adds a send-only track of the given codec.
func (s *session) addTrack(c webrtc.RTPCodecCapability, kind string) (*sender, error) {
	track, err := webrtc.NewTrackLocalStaticRTP(c, kind, "kinedge-"+s.stream)
	if err != nil {
		return nil, fmt.Errorf("whep: %s track: %w", kind, err)
	}
	tr, err := s.pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, fmt.Errorf("whep: %s transceiver: %w", kind, err)
	}
	id := rtc.NewSessionID()
	return &sender{track: track, rtp: tr.Sender(), rate: int64(c.ClockRate),
		seq: uint16(id[0])<<8 | uint16(id[1]), base: uint32(id[2])<<24 | uint32(id[3])<<16 | uint32(id[4])<<8 | uint32(id[5])}, nil
}

// end ends the session (any goroutine; the first cause wins).
func (s *session) end(cause string) {
	s.cancel(errors.New(cause))
}

// run is the session's owner: it sends the media until the session ends,
// then releases everything and waits for the RTCP readers.
func (s *session) run() {
	h := s.h
	var readers sync.WaitGroup
	for _, snd := range []*sender{s.video, s.audio} {
		if snd == nil {
			continue
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			s.readRTCP(snd.rtp)
		}()
	}
	err := s.send()
	s.cancel(err)
	s.viewer.Close()
	s.pc.Close() // ends the RTCP readers
	readers.Wait()
	h.mu.Lock()
	delete(h.sessions, s.id)
	h.mu.Unlock()
	h.stats.ended.Add(1)
	s.log.Info("whep session ended", "cause", context.Cause(s.ctx), "dropped", s.viewer.Dropped())
	close(s.done)
	h.wg.Done()
}

// send waits for the connection, then writes the viewer's frames. It
// returns the reason the session ends.
func (s *session) send() error {
	connect := s.h.ConnectTimeout
	if connect <= 0 {
		connect = DefaultConnectTimeout
	}
	t := time.NewTimer(connect)
	select {
	case <-s.connected:
		t.Stop()
	case <-t.C:
		return fmt.Errorf("the player did not connect within %v", connect)
	case <-s.ctx.Done():
		t.Stop()
		return context.Cause(s.ctx)
	}
	idle := s.h.NoMediaTimeout
	if idle <= 0 {
		idle = DefaultNoMediaTimeout
	}
	for {
		ctx, cancel := context.WithTimeout(s.ctx, idle)
		it, err := s.viewer.Next(ctx)
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded) && s.ctx.Err() == nil:
			return fmt.Errorf("video stream %s sent nothing for %v", s.stream, idle)
		case errors.Is(err, live.ErrViewerClosed):
			return errors.New("live view closed (the appliance is shutting down)")
		case err != nil:
			return context.Cause(s.ctx)
		}
		if err := s.write(it); err != nil {
			return err
		}
	}
}

// write sends one frame.
func (s *session) write(it live.Item) error {
	f := it.Frame
	if !s.started || it.Gen != s.gen {
		// A new source: its timeline starts just after what was sent.
		if s.started {
			s.offset = s.lastMedia + 40*time.Millisecond - f.PTS
		} else {
			s.offset = -f.PTS
		}
		s.gen, s.started = it.Gen, true
		s.params = paramSets{} // the new source's, from its track or its keyframes
		s.hevc = hevcParamSets{}
	}
	at := f.PTS + s.offset
	if at > s.lastMedia {
		s.lastMedia = at
	}
	var snd *sender
	var payloads [][]byte
	switch it.Track.Codec {
	case media.CodecH264:
		if s.video == nil {
			return nil
		}
		if s.video.h264 == nil {
			return fmt.Errorf("the stream's video changed to %s; reconnect", it.Track.Codec)
		}
		snd = s.video
		if f.Key && len(it.Track.SPS) > 0 && len(it.Track.PPS) > 0 && len(s.params.sps) == 0 {
			s.params = paramSets{sps: it.Track.SPS, pps: it.Track.PPS}
		}
		au, err := annexB(f.Data, f.Key, &s.params)
		if err != nil {
			s.log.Debug("whep: frame skipped", "err", err)
			return nil
		}
		payloads = snd.h264.Payload(rtpMTU, au)
	case media.CodecH265:
		if s.video == nil {
			return nil
		}
		if s.video.h265 == nil {
			return fmt.Errorf("the stream's video changed to %s; reconnect", it.Track.Codec)
		}
		snd = s.video
		if f.Key && !s.hevc.complete() {
			s.hevc = hevcParamSets{vps: it.Track.VPS, sps: it.Track.SPS, pps: it.Track.PPS}
		}
		au, err := hevcAnnexB(f.Data, f.Key, &s.hevc)
		if err != nil {
			s.log.Debug("whep: frame skipped", "err", err)
			return nil
		}
		payloads = snd.h265.Payload(rtpMTU, au)
	case media.CodecVP8, media.CodecVP9, media.CodecAV1:
		if s.video == nil {
			return nil
		}
		if s.video.passCodec != it.Track.Codec {
			return fmt.Errorf("the stream's video changed to %s; reconnect", it.Track.Codec)
		}
		snd = s.video
		payloads = snd.pass.Payload(rtpMTU, f.Data)
	case media.CodecOpus:
		if s.audio == nil {
			return nil
		}
		snd = s.audio
		payloads = [][]byte{f.Data}
	case media.CodecPCMU, media.CodecPCMA:
		if s.audio == nil || s.audio.track.Codec().MimeType != audioCodec(it.Track.Codec).MimeType {
			return nil
		}
		return s.writeG711(f.Data, rtpTime(s.audio, at))
	default:
		if it.Track.Kind() == media.KindVideo && s.video != nil {
			// A new source with another video codec: the negotiated
			// H.264 track cannot carry it.
			return fmt.Errorf("the stream's video changed to %s; reconnect", it.Track.Codec)
		}
		return nil
	}
	ts := rtpTime(snd, at)
	for i, p := range payloads {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, Marker: i == len(payloads)-1 && snd == s.video,
			SequenceNumber: snd.seq, Timestamp: ts}, Payload: p}
		snd.seq++
		if err := snd.track.WriteRTP(&pkt); err != nil {
			return fmt.Errorf("writing RTP: %w", err)
		}
	}
	s.h.stats.frames.Add(1)
	s.h.stats.packets.Add(uint64(len(payloads)))
	return nil
}

// passCodec is a video codec whose stored frames a session packetizes
// as they are: VP8 (RFC 7741), VP9 (RFC 9628, non-flexible mode, profile
// 0 as negotiated: a 10-bit profile 2 camera needs a player that decodes
// it) and AV1 (RTP Payload Format for AV1; the stored temporal units are
// the low-overhead OBUs pion's payloader reads). NACK and PLI feedback
// as for H.264.
type passCodec struct {
	sdpName      string // the rtpmap encoding name, upper case
	params       webrtc.RTPCodecParameters
	newPayloader func() rtp.Payloader
}

var videoFeedback = []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}

var passCodecs = map[media.Codec]passCodec{
	media.CodecVP8: {"VP8", webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback},
		PayloadType:        96,
	}, func() rtp.Payloader { return &codecs.VP8Payloader{} }},
	media.CodecVP9: {"VP9", webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP9, ClockRate: 90000, SDPFmtpLine: "profile-id=0", RTCPFeedback: videoFeedback},
		PayloadType:        98,
	}, func() rtp.Payloader { return &codecs.VP9Payloader{} }},
	media.CodecAV1: {"AV1", webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeAV1, ClockRate: 90000, RTCPFeedback: videoFeedback},
		PayloadType:        45,
	}, func() rtp.Payloader { return &codecs.AV1Payloader{} }},
}

// codecOf is t's codec, "" for no track.
func codecOf(t *media.Track) media.Codec {
	if t == nil {
		return ""
	}
	return t.Codec
}

// g711Rate is the only G.711 clock WebRTC has (RFC 3551 section 4.5.14).
const g711Rate = 8000

// g711Packet is the samples a G.711 packet carries: 20 ms, as WebRTC
// peers send (a camera's packets are often far longer).
const g711Packet = 160

// audioCodec returns the WebRTC codec of an audio track's codec.
func audioCodec(c media.Codec) webrtc.RTPCodecParameters {
	switch c {
	case media.CodecPCMU:
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: g711Rate, Channels: 1}, PayloadType: 0}
	case media.CodecPCMA:
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMA, ClockRate: g711Rate, Channels: 1}, PayloadType: 8}
	}
	return webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        111,
	}
}

// rtpTime is the RTP timestamp of a frame at media time at on snd.
func rtpTime(snd *sender, at time.Duration) uint32 {
	return snd.base + uint32(int64(at)*snd.rate/int64(time.Second))
}

// writeG711 sends a G.711 frame (one sample a byte, 8 kHz mono) in
// packets of g711Packet samples, each stamped with its first sample.
func (s *session) writeG711(data []byte, ts uint32) error {
	snd := s.audio
	n := 0
	for off := 0; off < len(data); off += g711Packet {
		p := data[off:min(off+g711Packet, len(data))]
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: snd.seq, Timestamp: ts + uint32(off)}, Payload: p}
		snd.seq++
		if err := snd.track.WriteRTP(&pkt); err != nil {
			return fmt.Errorf("writing RTP: %w", err)
		}
		n++
	}
	s.h.stats.frames.Add(1)
	s.h.stats.packets.Add(uint64(n))
	return nil
}

// readRTCP reads a sender's RTCP so the interceptors see it (NACKs are
// answered there) and counts the PLIs and FIRs it cannot act on.
func (s *session) readRTCP(r *webrtc.RTPSender) {
	for {
		pkts, _, err := r.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				s.h.stats.plis.Add(1)
			}
		}
	}
}

// describe returns the session's tracks for logs.
func (p plan) describe() string {
	var out []string
	if p.video != nil {
		out = append(out, string(p.video.Codec))
	}
	if p.audio != nil {
		out = append(out, string(p.audio.Codec))
	}
	return strings.Join(out, "+")
}
