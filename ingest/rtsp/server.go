package rtsp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/auth"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/kinedge/kinedge/dataplane/authlimit"
	"github.com/kinedge/kinedge/index/streamname"
	"github.com/kinedge/kinedge/ingest/media"
)

// Transports reported in PublishRequest.Transport.
const (
	TransportTCP = "tcp"
	TransportUDP = "udp"
)

// Router is the consumer of ingest sessions (declared here, implemented by
// ingest/sources.Manager). Publish is called once per session when the
// camera sends RECORD, after the name check, authentication and codec
// negotiation. It returns the Writer that receives the session's frames, or
// an error: ErrStreamNotFound (404), ErrStreamBusy (455), an
// UnavailableError (503), anything else (500). The Writer is closed when
// the session ends for any reason.
//
// Publish runs on the session's goroutine and must return quickly; it may
// Kick another session (a takeover). The Writer's methods are called one at
// a time, from gortsplib's reader goroutines, and must not block for long.
type Router interface {
	Publish(req *PublishRequest) (media.Writer, error)
}

// PublishRequest describes a publishing session to the Router.
type PublishRequest struct {
	// Stream is the path of the RTSP URL without its leading slash and
	// query: "cam1" for rtsp://host:8554/cam1?x=y.
	Stream string
	// Tracks are at most one video and one audio track. Parameter sets and
	// picture size are those of the SDP and may be empty: keyframes carry
	// them in-band, so the fragmenter learns them from the frames. The
	// Router owns the slice and the Tracks.
	Tracks []*media.Track
	// RemoteAddr is the camera's address (host:port).
	RemoteAddr string
	// Transport is TransportTCP (interleaved) or TransportUDP.
	Transport string
	// User is the authenticated user name, "" for anonymous publishers.
	User string
	// Kick closes this RTSP session (for a takeover of the stream by a newer
	// publisher). It returns at once; the Writer is closed afterwards.
	Kick func(reason string)
	// Stats counts the session's traffic; safe to read concurrently, for the
	// session's lifetime and after.
	Stats *SessionStats
	// Skipped lists the tracks of the session that are not recorded, each
	// as "<media> <codecs>: <why>".
	Skipped []string
	// ProducerTimes: the frames' Wall times are the producer's own
	// timestamps, stored as sent (PutMedia), not sender-report mappings
	// held at or before arrival (RTSP, WebRTC).
	ProducerTimes bool
}

// Server receives RTSP publishers (ANNOUNCE/RECORD, RFC 2326 §10.3 and
// §10.11) over TCP (interleaved, §10.12) and UDP, and turns each session
// into media.Frames for the Router.
type Server struct {
	// Address is the RTSP TCP address. It defaults to ":8554".
	Address string
	// TLSAddress, with TLSConfig, is the RTSPS address (RFC 7826 §4.2:
	// TLS from the first byte; kinedge uses ":8322"). Its connections
	// publish and play like plain ones, with interleaved RTP inside TLS;
	// UDP transport is refused to them (461). Empty: no RTSPS.
	TLSAddress string
	// TLSConfig holds the RTSPS certificate. Required with TLSAddress.
	TLSConfig *tls.Config
	// TLSOnly serves RTSPS alone: Address is not listened on.
	TLSOnly bool
	// UDPRTPAddress and UDPRTCPAddress are the UDP addresses of RTP and RTCP
	// (the ports must be consecutive, RTP even; kinedge uses ":8000" and
	// ":8001"). Both empty disable the UDP transport.
	UDPRTPAddress, UDPRTCPAddress string
	// UDPReadBufferSize is the socket receive buffer of the UDP listeners,
	// which all UDP cameras share: a 4 Mbit/s camera's keyframe is a burst of
	// 100-200 kB. It defaults to 4 MiB; Linux caps it at net.core.rmem_max
	// (212992 on a stock kernel: raise that sysctl for many UDP cameras).
	UDPReadBufferSize int
	// Router receives the publishing sessions. Required.
	Router Router
	// Auth returns the publish credentials of a stream. Nil refuses every
	// publish with 401 (nothing is open without credentials).
	Auth Authenticator
	// ReadAuth returns the credentials a player must present to watch a
	// stream live (DESCRIBE/SETUP/PLAY): the publisher's RTP packets are
	// relayed to it as they arrive, each player behind its own bounded
	// queue that drops packets when the player is slow, so a player never
	// slows recording. Nil serves no players (501).
	ReadAuth Authenticator
	// Limiter counts failed authentications (publish and play) per
	// source address; a locked-out address is answered 503 Service
	// Unavailable with Retry-After before its credentials are checked.
	// It defaults to an authlimit.Limiter of its own with the defaults
	// (shared with the HTTP surfaces in kinedge serve).
	Limiter *authlimit.Limiter
	// ReadTimeout and WriteTimeout of the connections. They default to 10 s.
	// ReadTimeout also bounds the silence of a recording session: its RTP
	// over TCP, or its RTP and RTCP over UDP.
	ReadTimeout, WriteTimeout time.Duration
	// AuthTimeout is how long a new connection has to authenticate: to send
	// an ANNOUNCE with valid credentials (or for an anonymous stream). A
	// client that sends nothing, trickles a request, or only asks OPTIONS
	// is disconnected then, whatever the pace of its bytes. It defaults to
	// 10 s.
	AuthTimeout time.Duration
	// IdleTimeout is how long an authenticated connection may go without
	// a request while it has no recording session (between ANNOUNCE and
	// RECORD, or after a refused RECORD). A recording session's connection
	// is not idle: over TCP its RTP is bounded by ReadTimeout, over UDP the
	// connection may stay silent while the session's RTP flows. It defaults
	// to 60 s.
	IdleTimeout time.Duration
	// DiscontinuityThreshold is how far the media timeline may jump ahead
	// of the arrival clock between two frames of a track before the Writer
	// is told of a discontinuity. It defaults to 2 s.
	DiscontinuityThreshold time.Duration
	// PauseThreshold is how long frames may arrive without their timeline
	// advancing before the Writer is told of a discontinuity (a camera that
	// paused and resumed its clock). Shorter gaps are network or scheduling
	// stalls: the frames are late, not discontinuous, and the recorder's
	// clock anchor absorbs them. It defaults to ReadTimeout.
	PauseThreshold time.Duration
	// Logger receives the server's log lines. It defaults to discarding.
	Logger *slog.Logger
	// Now is the clock of arrival times. It defaults to time.Now.
	Now func() time.Time

	rs       *gortsplib.Server
	mu       sync.Mutex
	ln       net.Listener // the plain listener; nil with TLSOnly
	tlsLn    net.Listener // the RTSPS listener; nil without TLSAddress
	sessions map[*gortsplib.ServerSession]*session
	ended    map[string]Stats                   // per stream, the sum of its ended sessions
	live     map[string]*gortsplib.ServerStream // per stream being published, its relay to players
	closed   bool
}

// SessionInfo is a snapshot of a publishing session.
type SessionInfo struct {
	// Stream, RemoteAddr, Transport and User as in the PublishRequest.
	Stream, RemoteAddr, Transport, User string
	// Tracks as the session knows them now, with the parameter sets and
	// picture size learned from the stream.
	Tracks []*media.Track
	// Stats at the time of the snapshot.
	Stats Stats
}

// Start validates the configuration, listens and serves until Close.
func (s *Server) Start() error {
	if s.Router == nil {
		return fmt.Errorf("%w: Router is required", ErrInvalidConfig)
	}
	s.mu.Lock()
	started := s.rs != nil || s.closed
	s.mu.Unlock()
	if started {
		return fmt.Errorf("%w: Start after Start or Close", ErrInvalidConfig)
	}
	if (s.UDPRTPAddress == "") != (s.UDPRTCPAddress == "") {
		return fmt.Errorf("%w: UDPRTPAddress and UDPRTCPAddress go together", ErrInvalidConfig)
	}
	if (s.TLSAddress == "") != (s.TLSConfig == nil) {
		return fmt.Errorf("%w: TLSAddress and TLSConfig go together", ErrInvalidConfig)
	}
	if s.TLSOnly && s.TLSAddress == "" {
		return fmt.Errorf("%w: TLSOnly needs TLSAddress", ErrInvalidConfig)
	}
	if s.Address == "" {
		s.Address = ":8554"
	}
	if s.ReadTimeout == 0 {
		s.ReadTimeout = 10 * time.Second
	}
	if s.WriteTimeout == 0 {
		s.WriteTimeout = 10 * time.Second
	}
	if s.AuthTimeout == 0 {
		s.AuthTimeout = 10 * time.Second
	}
	if s.IdleTimeout == 0 {
		s.IdleTimeout = 60 * time.Second
	}
	if s.DiscontinuityThreshold == 0 {
		s.DiscontinuityThreshold = 2 * time.Second
	}
	if s.UDPReadBufferSize == 0 {
		s.UDPReadBufferSize = 4 << 20
	}
	if s.PauseThreshold == 0 {
		s.PauseThreshold = s.ReadTimeout
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Limiter == nil {
		s.Limiter = &authlimit.Limiter{Now: s.Now, Logger: s.Logger}
	}
	s.sessions = map[*gortsplib.ServerSession]*session{}
	s.ended = map[string]Stats{}
	s.live = map[string]*gortsplib.ServerStream{}

	rs := &gortsplib.Server{
		Handler:           &handler{s: s},
		RTSPAddress:       s.Address,
		UDPRTPAddress:     s.UDPRTPAddress,
		UDPRTCPAddress:    s.UDPRTCPAddress,
		UDPReadBufferSize: s.UDPReadBufferSize,
		ReadTimeout:       s.ReadTimeout,
		WriteTimeout:      s.WriteTimeout,
		AuthMethods:       authMethods(),
		Listen: func(network, address string) (net.Listener, error) {
			ln, err := s.listen(network, address)
			if err != nil {
				return nil, err
			}
			return &guardListener{Listener: ln, authTimeout: s.AuthTimeout, idleTimeout: s.IdleTimeout, now: time.Now}, nil
		},
	}
	if err := rs.Start(); err != nil {
		return fmt.Errorf("rtsp: start: %w", err)
	}
	s.mu.Lock()
	s.rs = rs
	s.mu.Unlock()
	plain, rtsps := "off", "off"
	if a := s.Addr(); a != nil {
		plain = a.String()
	}
	if a := s.TLSAddr(); a != nil {
		rtsps = a.String()
	}
	s.Logger.Info("rtsp server listening", "addr", plain, "rtsps", rtsps, "udp", s.UDPRTPAddress != "")
	return nil
}

// listen opens the plain listener (unless TLSOnly) and the RTSPS one
// (with TLSAddress), merged into one for gortsplib.
func (s *Server) listen(network, address string) (net.Listener, error) {
	var lns []net.Listener
	var plain, secure net.Listener
	if !s.TLSOnly {
		ln, err := net.Listen(network, address)
		if err != nil {
			return nil, err
		}
		plain = ln
		lns = append(lns, ln)
	}
	if s.TLSAddress != "" {
		ln, err := net.Listen(network, s.TLSAddress)
		if err != nil {
			if plain != nil {
				plain.Close()
			}
			return nil, fmt.Errorf("rtsps: %w", err)
		}
		secure = ln
		lns = append(lns, tls.NewListener(ln, s.TLSConfig))
	}
	s.mu.Lock()
	s.ln, s.tlsLn = plain, secure
	s.mu.Unlock()
	if len(lns) == 1 {
		return lns[0], nil
	}
	return newMergedListener(lns...), nil
}

// Addr returns the plain TCP address the server listens on (useful with
// ":0"), or nil before Start and with TLSOnly.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// TLSAddr returns the RTSPS address the server listens on, or nil before
// Start and without TLSAddress.
func (s *Server) TLSAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tlsLn == nil {
		return nil
	}
	return s.tlsLn.Addr()
}

// Close stops the server, ends every session (closing their Writers) and
// waits for all goroutines. It is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed || s.rs == nil {
		s.closed = true
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.rs.Close()
}

// Sessions returns a snapshot of the publishing sessions.
func (s *Server) Sessions() []SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SessionInfo, 0, len(s.sessions))
	for _, sess := range s.sessions {
		out = append(out, sess.info())
	}
	return out
}

// StreamStats returns, per stream, the sum of the stats of every session
// that published to it since Start, the live ones included: counts that
// only grow, for metrics. A stream appears once a session of it reached
// RECORD and the Router accepted it.
func (s *Server) StreamStats() map[string]Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Stats, len(s.ended))
	for name, st := range s.ended {
		out[name] = st
	}
	for _, p := range s.sessions {
		out[p.stream] = out[p.stream].Add(p.stats.Snapshot())
	}
	return out
}

// sessionConfig returns what the server's sessions need.
func (s *Server) sessionConfig() sessionConfig {
	return sessionConfig{now: s.Now, discontinuity: s.DiscontinuityThreshold, pause: s.PauseThreshold}
}

// handler implements gortsplib's ServerHandler interfaces, keeping them out
// of Server's exported method set.
type handler struct{ s *Server }

// OnConnOpen gives each connection its Digest nonce.
func (h *handler) OnConnOpen(ctx *gortsplib.ServerHandlerOnConnOpenCtx) {
	nonce, err := auth.GenerateNonce()
	if err != nil {
		ctx.Conn.Close()
		return
	}
	ctx.Conn.SetUserData(&connState{nonce: nonce})
	h.s.Logger.Debug("rtsp connection opened", "remote", ctx.Conn.NetConn().RemoteAddr().String())
}

// OnRequest restarts the connection's idle timeout.
func (h *handler) OnRequest(c *gortsplib.ServerConn, _ *base.Request) {
	if g := guardOf(c.NetConn()); g != nil {
		g.request()
	}
}

// OnConnClose logs why a connection ended (garbage, timeout, teardown).
func (h *handler) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	h.s.Logger.Debug("rtsp connection closed", "remote", ctx.Conn.NetConn().RemoteAddr().String(), "err", ctx.Error)
}

// OnSessionClose ends the ingest of a session.
func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	sess, _ := ctx.Session.UserData().(*session)
	if sess == nil {
		return
	}
	sess.live.Close() // its players are disconnected
	h.s.mu.Lock()
	if _, ok := h.s.sessions[ctx.Session]; ok {
		delete(h.s.sessions, ctx.Session)
		// Packets no longer arrive: gortsplib closes the session's readers first.
		h.s.ended[sess.stream] = h.s.ended[sess.stream].Add(sess.stats.Snapshot())
	}
	h.s.mu.Unlock()
	sess.close(ctx.Error)
}

// Relay is the relay of a stream's RTP to its live players.
type Relay struct {
	s      *Server
	stream string
	st     *gortsplib.ServerStream
}

// Relay starts relaying stream to live players with the medias (the
// source's, whose packets WritePacketRTP takes) and replaces the
// stream's previous relay. It returns nil, which relays nothing, when
// players are not served (ReadAuth) or the server is not running.
func (s *Server) Relay(stream string, medias []*description.Media) *Relay {
	if s.ReadAuth == nil || len(medias) == 0 {
		return nil
	}
	s.mu.Lock()
	rs, closed := s.rs, s.closed
	s.mu.Unlock()
	if rs == nil || closed {
		return nil
	}
	st := &gortsplib.ServerStream{Server: rs, Desc: &description.Session{Medias: medias}}
	if err := st.Initialize(); err != nil {
		s.Logger.Warn("rtsp: live relay not available", "stream", stream, "err", err)
		return nil
	}
	r := &Relay{s: s, stream: stream, st: st}
	s.mu.Lock()
	s.live[stream] = st
	s.mu.Unlock()
	return r
}

// WritePacketRTP relays pkt of medi to the players, each behind its own
// bounded queue: it never blocks.
func (r *Relay) WritePacketRTP(medi *description.Media, pkt *rtp.Packet) {
	if r != nil {
		r.st.WritePacketRTP(medi, pkt) //nolint:errcheck // a closed relay drops the packet
	}
}

// Close ends the relay and disconnects its players.
func (r *Relay) Close() {
	if r == nil {
		return
	}
	r.s.mu.Lock()
	if r.s.live[r.stream] == r.st {
		delete(r.s.live, r.stream)
	}
	r.s.mu.Unlock()
	r.st.Close()
}

// unavailablePhrase is the status line's reason phrase of a refusal: the
// Router's reason on one line, or the standard phrase.
func unavailablePhrase(err error) string {
	var ue *UnavailableError
	if errors.As(err, &ue) && ue.Reason != "" {
		return "Service Unavailable: " + strings.Join(strings.Fields(ue.Reason), " ")
	}
	return "Service Unavailable"
}

func response(code base.StatusCode, reason string) *base.Response {
	return &base.Response{StatusCode: code, StatusMessage: reason}
}

// OnAnnounce checks the video stream name, authenticates the camera and
// picks the tracks it can ingest.
func (h *handler) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	s := h.s
	remote := ctx.Conn.NetConn().RemoteAddr()
	stream := strings.Trim(ctx.Path, "/")
	log := s.Logger.With("stream", stream, "remote", remote.String())
	if err := streamname.Check(stream); err != nil {
		// Refused before anything else, in the camera's terms: 400 with
		// the rule in the reason phrase (ffmpeg prints it).
		log.Warn("rtsp publish refused: invalid video stream name", "rule", streamname.Rule)
		return response(base.StatusBadRequest, "Bad Request: "+streamname.Rule), fmt.Errorf("%w: %w", ErrInvalidStreamName, err)
	}

	user, res, err := h.authenticate(ctx.Conn, ctx.Request, stream, log)
	if res != nil {
		return res, err
	}
	if g := guardOf(ctx.Conn.NetConn()); g != nil {
		g.authenticated()
	}

	selected, found, skipped := selectTracks(ctx.Description.Medias, log)
	decs := make([]*trackDecoder, len(selected))
	medias := make([]*description.Media, len(selected))
	formats := make([]format.Format, len(selected))
	for i, t := range selected {
		decs[i], medias[i], formats[i] = t.dec, t.medi, t.forma
	}
	if len(decs) == 0 {
		reason := "No Supported Codec (found " + strings.Join(found, ", ") + "; supported " + supportedCodecs + ")"
		if len(found) == 0 {
			reason = "No Supported Codec (no media; supported " + supportedCodecs + ")"
		}
		log.Warn("rtsp publish refused: no supported codec", "found", strings.Join(found, ","))
		return response(base.StatusUnsupportedMediaType, reason), fmt.Errorf("%w: %s", ErrNoSupportedTrack, strings.Join(found, ", "))
	}

	sess := &session{
		cfg:     s.sessionConfig(),
		ss:      ctx.Session,
		stream:  stream,
		user:    user,
		remote:  remote.String(),
		log:     log,
		decs:    decs,
		medias:  medias,
		formats: formats,
		stats:   &SessionStats{},
		skipped: skipped,
		watch:   make([]trackWatch, len(decs)),
	}
	sess.stats.TracksSkipped.Add(uint64(len(skipped)))
	ctx.Session.SetUserData(sess)
	return response(base.StatusOK, ""), nil
}

// authenticate returns the user on success, or the response to send.
func (h *handler) authenticate(conn *gortsplib.ServerConn, req *base.Request, stream string,
	log *slog.Logger,
) (string, *base.Response, error) {
	return h.authenticateWith(conn, req, h.s.Auth, stream, "publish", log)
}

// authenticateWith checks req against the credentials auth gives for
// stream; what names the act in the log ("publish", "play").
func (h *handler) authenticateWith(conn *gortsplib.ServerConn, req *base.Request, auth Authenticator, stream, what string,
	log *slog.Logger,
) (string, *base.Response, error) {
	s := h.s
	var want Credentials
	if auth != nil {
		want = auth(stream)
	}
	if want.Anonymous {
		return "", nil, nil
	}
	cs, _ := conn.UserData().(*connState)
	if cs == nil {
		return "", response(base.StatusInternalServerError, ""), fmt.Errorf("%w: connection without state", ErrUnexpectedRequest)
	}
	addr := conn.NetConn().RemoteAddr().String()
	if wait, ok := s.Limiter.Check(addr); !ok {
		// 503 + Retry-After (RFC 2326 §12.31), not 401: the client is
		// told to come back later, and a 401 would send ffmpeg and
		// cameras straight back with the same credentials. The Limiter
		// logged the lockout once.
		res := response(base.StatusServiceUnavailable, "")
		res.Header = base.Header{"Retry-After": base.HeaderValue{strconv.Itoa(int(wait / time.Second))}}
		return "", res, ErrAuthLocked
	}
	challenge := response(base.StatusUnauthorized, "")
	challenge.Header = base.Header{"WWW-Authenticate": authChallenge(cs.nonce)}
	if _, ok := req.Header["Authorization"]; !ok {
		return "", challenge, nil // RFC 2326 §D: first challenge, the client retries
	}
	ok, allowed := verify(req, want, cs.nonce)
	if !ok {
		s.Limiter.Fail(addr, "rtsp")
		// Info, not Warn: a guesser's every try must not fill the log;
		// the Limiter warns once per lockout.
		log.Info("rtsp "+what+" refused: wrong credentials", "user", requestUser(req))
		return "", challenge, ErrAuth
	}
	s.Limiter.Succeed(addr) // the right password, whatever it may do
	if !allowed {
		log.Warn("rtsp "+what+" refused: no permission", "user", requestUser(req))
		return "", response(base.StatusForbidden, ""), fmt.Errorf("%w: %s may not %s %s", ErrForbidden, requestUser(req), what, stream)
	}
	return requestUser(req), nil, nil
}

// OnSetup accepts the SETUPs of publishers, and of players of a live
// stream (ReadAuth).
func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Transport != gortsplib.TransportTCP && isTLS(ctx.Conn.NetConn()) {
		// RTP over UDP would leave the TLS session in the clear. The
		// connection stays: the client may SETUP again with TCP.
		h.s.Logger.Info("rtsp: UDP transport over RTSPS refused", "remote", ctx.Conn.NetConn().RemoteAddr().String(), "path", ctx.Path)
		return response(base.StatusUnsupportedTransport, "Unsupported Transport: RTSPS carries media interleaved (TCP) only"), nil, nil
	}
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return response(base.StatusOK, ""), nil, nil
	}
	return h.player(ctx.Conn, ctx.Request, ctx.Path)
}

// OnDescribe answers players of a live stream with its description.
func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return h.player(ctx.Conn, ctx.Request, ctx.Path)
}

// OnPlay starts a player: its connection is no longer idle.
func (h *handler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	if g := guardOf(ctx.Conn.NetConn()); g != nil {
		g.record()
	}
	return response(base.StatusOK, ""), nil
}

// player authenticates a player of the stream at path and returns the
// stream's relay: 501 when players are not served, 404 when nothing
// publishes the stream now.
func (h *handler) player(conn *gortsplib.ServerConn, req *base.Request, path string) (*base.Response, *gortsplib.ServerStream, error) {
	s := h.s
	if s.ReadAuth == nil {
		return response(base.StatusNotImplemented, "Reading Is Not Supported"), nil, nil
	}
	stream := strings.Trim(path, "/")
	if i := strings.Index(stream, "/"); i >= 0 {
		stream = stream[:i] // SETUP of a track: <stream>/trackID=<n>
	}
	log := s.Logger.With("stream", stream, "remote", conn.NetConn().RemoteAddr().String())
	if err := streamname.Check(stream); err != nil {
		return response(base.StatusBadRequest, "Bad Request: "+streamname.Rule), nil, fmt.Errorf("%w: %w", ErrInvalidStreamName, err)
	}
	if _, res, err := h.authenticateWith(conn, req, s.ReadAuth, stream, "play", log); res != nil {
		return res, nil, err
	}
	if g := guardOf(conn.NetConn()); g != nil {
		g.authenticated()
	}
	s.mu.Lock()
	st := s.live[stream]
	s.mu.Unlock()
	if st == nil {
		return response(base.StatusNotFound, "Stream "+stream+" is not live"), nil, fmt.Errorf("%w: %s is not live", ErrStreamNotFound, stream)
	}
	if req.Method == base.Describe {
		log.Info("rtsp player connected")
	}
	return response(base.StatusOK, ""), st, nil
}

// OnRecord hands the session to the Router and starts decoding.
func (h *handler) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	s := h.s
	sess, _ := ctx.Session.UserData().(*session)
	if sess == nil {
		return response(base.StatusBadRequest, ""), fmt.Errorf("%w: RECORD without ANNOUNCE", ErrUnexpectedRequest)
	}
	sess.transport = TransportUDP
	if t := ctx.Session.SetuppedTransport(); t != nil && *t == gortsplib.TransportTCP {
		sess.transport = TransportTCP
	}
	sess.log = sess.log.With("transport", sess.transport)

	setupped := map[*description.Media]bool{}
	for _, m := range ctx.Session.SetuppedMedias() {
		setupped[m] = true
	}
	tracks := make([]*media.Track, len(sess.decs))
	for i, d := range sess.decs {
		tracks[i] = d.Track().Clone()
	}
	ss := ctx.Session
	req := &PublishRequest{
		Stream:     sess.stream,
		Tracks:     tracks,
		RemoteAddr: sess.remote,
		Transport:  sess.transport,
		User:       sess.user,
		Stats:      sess.stats,
		Skipped:    sess.skipped,
		Kick: func(reason string) {
			sess.log.Info("rtsp session kicked", "reason", reason)
			ss.Close()
		},
	}
	w, err := s.Router.Publish(req)
	if err != nil {
		switch {
		case errors.Is(err, ErrStreamNotFound):
			sess.log.Warn("rtsp publish refused: stream not found")
			return response(base.StatusNotFound, "Stream "+sess.stream+" not found"), err
		case errors.Is(err, ErrStreamBusy):
			sess.log.Warn("rtsp publish refused: stream busy")
			return response(base.StatusMethodNotValidInThisState,
				"Stream "+sess.stream+" is already being published"), err
		case errors.Is(err, ErrUnavailable):
			sess.log.Warn("rtsp publish refused: cannot record now", "err", err)
			return response(base.StatusServiceUnavailable, unavailablePhrase(err)), err
		}
		sess.log.Error("rtsp publish refused", "err", err)
		return response(base.StatusInternalServerError, ""), err
	}
	sess.start(w)
	if g := guardOf(ctx.Conn.NetConn()); g != nil {
		g.record()
	}

	// The relay to players: the medias the publisher set up, as it
	// described them.
	var medias []*description.Media
	for _, m := range sess.medias {
		if setupped[m] {
			medias = append(medias, m)
		}
	}
	live := s.Relay(sess.stream, medias)
	for i := range sess.decs {
		medi, forma, d := sess.medias[i], sess.formats[i], sess.decs[i]
		if !setupped[medi] {
			continue
		}
		ss.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
			live.WritePacketRTP(medi, pkt) // queued per player; never blocks
			sess.onPacket(d, medi, pkt)
		})
		ss.OnPacketRTCP(medi, func(pkt rtcp.Packet) { sess.onRTCP(medi, pkt) })
	}
	sess.live = live
	s.mu.Lock()
	s.sessions[ss] = sess
	s.mu.Unlock()
	codecs := make([]string, len(tracks))
	for i, t := range tracks {
		codecs[i] = string(t.Codec)
	}
	sess.log.Info("rtsp publish started", "user", sess.user, "tracks", strings.Join(codecs, ","))
	return response(base.StatusOK, ""), nil
}

// OnPacketsLost counts RTP sequence gaps.
func (h *handler) OnPacketsLost(ctx *gortsplib.ServerHandlerOnPacketsLostCtx) {
	if sess, _ := ctx.Session.UserData().(*session); sess != nil {
		sess.stats.PacketsLost.Add(ctx.Lost)
		sess.logLimited("lost", "rtsp RTP packets lost", "lost", ctx.Lost)
	}
}

// OnDecodeError counts RTP/RTCP packets gortsplib could not parse.
func (h *handler) OnDecodeError(ctx *gortsplib.ServerHandlerOnDecodeErrorCtx) {
	if sess, _ := ctx.Session.UserData().(*session); sess != nil {
		sess.stats.DecodeErrors.Add(1)
		sess.logLimited("decode", "rtsp decode error", "err", ctx.Error)
	}
}
