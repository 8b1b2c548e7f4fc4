package rtsp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/headers"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/kinedge/kinedge/index/streamname"
	"github.com/kinedge/kinedge/ingest/media"
)

// Transports of Puller.Transport.
const (
	// PullTransportAuto tries UDP first and falls back to TCP when the camera
	// refuses UDP or no packet arrives within 3 s (gortsplib's behaviour).
	PullTransportAuto = "auto"
)

// Puller pulls one camera: DESCRIBE, SETUP, PLAY (RFC 2326 §10.2, §10.4,
// §10.5) with gortsplib's Client, decodes the supported tracks (the push
// server's set and limits: at most one video track, H.264 or H.265, and one
// audio track, AAC or Opus) into media.Frames, and hands each connection to
// the Router as one publishing session.
//
// Each connection's PublishRequest is made after SETUP and before PLAY, so
// the Writer receives the first keyframe; its User is "" and its Kick ends
// the connection (the Puller then retries, and gets ErrStreamBusy while the
// newer publisher holds the stream). The Router must not call Close from
// Publish or from a Writer method: Close waits for them.
//
// Whatever ends a connection (the camera reboots or closes the session, the
// link dies, no RTP packet for ReadTimeout, the Router kicks the session, the
// camera answers 401 or has no supported codec, the Router says the stream is
// busy) leads to a new attempt after an exponential, jittered backoff, until
// Close. Each connection's Writer is closed when the connection ends.
//
// The exported fields are read by Start and must not change afterwards.
type Puller struct {
	// Stream is the name of the video stream the frames go to. Required.
	Stream string
	// URL of the camera: rtsp://user:pass@host:port/path or rtsps://…
	// Credentials in the URL answer Basic and Digest challenges (RFC 2617).
	// The password never appears in logs or Status.
	URL string
	// Transport is "tcp" (interleaved, RFC 2326 §10.12), "udp", or "auto"
	// (UDP, then TCP). It defaults to "tcp", which crosses NATs and
	// firewalls and loses nothing on a busy link.
	Transport string
	// Router receives a publishing session per connection. Required.
	Router Router
	// TLSConfig is used for rtsps:// URLs (RFC 7826 §4.2); cameras with
	// self-signed certificates need a RootCAs or a VerifyPeerCertificate.
	// It defaults to the system roots. It is cloned per connection.
	TLSConfig *tls.Config
	// ReadTimeout bounds each RTSP response and the time without any RTP
	// packet before the connection is dropped and retried. It defaults to
	// 10 s.
	ReadTimeout time.Duration
	// BackoffMin and BackoffMax bound the delay between attempts: it starts
	// at BackoffMin, doubles with each failed attempt up to BackoffMax, and
	// is jittered down by up to half. A connection that played resets it.
	// Wrong credentials, a camera without a supported codec and a stream
	// the Router does not know (ErrStreamNotFound) wait BackoffMax: they
	// need a person, not a retry storm. They default to 1 s and 30 s.
	BackoffMin, BackoffMax time.Duration
	// DiscontinuityThreshold and PauseThreshold are the Server's: how far a
	// track's timeline may run ahead of, or fall behind, the arrival clock
	// between two frames before the Writer is told of a discontinuity. They
	// default to 2 s and ReadTimeout.
	DiscontinuityThreshold, PauseThreshold time.Duration
	// Logger receives the puller's log lines. It defaults to discarding.
	Logger *slog.Logger
	// Now is the clock of arrival times and Status. It defaults to time.Now.
	Now func() time.Time
	// Live, if set, relays each connection's RTP to the server's live
	// players of Stream (Server.Relay).
	Live *Server

	u         *base.URL
	remote    string // host:port of the camera
	redacted  string
	password  string
	log       *slog.Logger
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex
	started bool
	status  PullStatus
	stats   *SessionStats // of the current or last connection
	live    bool          // stats is the playing connection's, not in ended yet
	ended   Stats         // sum of the ended connections
}

// PullStatus is a snapshot of a Puller.
type PullStatus struct {
	// URL is the camera URL with the password replaced by "***".
	URL string
	// Connected is true while a connection plays.
	Connected bool
	// Since is when Connected last changed (Start for a puller that never
	// connected).
	Since time.Time
	// Attempts counts connection attempts, Connects those that reached
	// PLAY, and Reconnects the Connects after the first.
	Attempts, Connects, Reconnects uint64
	// LastError is why the last attempt or connection ended, "" if none
	// has.
	LastError string
	// Transport of the current or last connection: "tcp" or "udp".
	Transport string
	// Stats of the current or last connection.
	Stats Stats
	// Total is the sum of the stats of every connection since Start: counts
	// that only grow, for metrics.
	Total Stats
}

// Start validates the configuration and starts pulling. It reports every
// configuration problem at once.
func (p *Puller) Start() error {
	var problems []string
	if p.Router == nil {
		problems = append(problems, "Router is required")
	}
	if err := streamname.Check(p.Stream); err != nil {
		problems = append(problems, err.Error())
	}
	u, err := base.ParseURL(p.URL)
	switch {
	case p.URL == "":
		problems = append(problems, "URL is required")
	case err != nil:
		// url.Parse errors quote the whole URL, password included.
		problems = append(problems, fmt.Sprintf("URL %s is not an rtsp:// or rtsps:// URL", RedactURL(p.URL)))
	case u.Host == "":
		problems = append(problems, fmt.Sprintf("URL %s has no host", RedactURL(p.URL)))
	}
	switch p.Transport {
	case "", TransportTCP, TransportUDP, PullTransportAuto:
	default:
		problems = append(problems, fmt.Sprintf("Transport %q is not tcp, udp or auto", p.Transport))
	}
	if p.ReadTimeout < 0 || p.BackoffMin < 0 || p.BackoffMax < 0 ||
		p.DiscontinuityThreshold < 0 || p.PauseThreshold < 0 {
		problems = append(problems, "durations must not be negative")
	}
	if p.BackoffMin > 0 && p.BackoffMax > 0 && p.BackoffMin > p.BackoffMax {
		problems = append(problems, "BackoffMin exceeds BackoffMax")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(problems, "; "))
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started {
		return fmt.Errorf("%w: Start after Start", ErrInvalidConfig)
	}
	p.started = true
	if p.Transport == "" {
		p.Transport = TransportTCP
	}
	if p.ReadTimeout == 0 {
		p.ReadTimeout = 10 * time.Second
	}
	if p.BackoffMin == 0 {
		p.BackoffMin = time.Second
		if p.BackoffMax > 0 {
			p.BackoffMin = min(p.BackoffMin, p.BackoffMax)
		}
	}
	if p.BackoffMax == 0 {
		p.BackoffMax = max(30*time.Second, p.BackoffMin)
	}
	if p.DiscontinuityThreshold == 0 {
		p.DiscontinuityThreshold = 2 * time.Second
	}
	if p.PauseThreshold == 0 {
		p.PauseThreshold = p.ReadTimeout
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	p.u = u
	p.remote = u.Host
	if u.Port() == "" {
		port := "554" // RFC 2326 §3.2; rtsps: RFC 7826 §4.2
		if u.Scheme == "rtsps" {
			port = "322"
		}
		p.remote = net.JoinHostPort(u.Hostname(), port)
	}
	if u.User != nil {
		p.password, _ = u.User.Password()
	}
	p.redacted = RedactURL(p.URL)
	p.log = p.Logger.With("stream", p.Stream, "source", p.redacted)
	p.status = PullStatus{URL: p.redacted, Since: p.Now()}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.done = make(chan struct{})
	go p.run()
	return nil
}

// Close stops pulling: it ends the connection (closing its Writer) or the
// backoff wait, and waits for the puller's goroutines. It is idempotent and
// may be called without Start.
func (p *Puller) Close() {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		started := p.started
		p.started = true // a later Start fails
		p.mu.Unlock()
		if !started {
			return
		}
		p.cancel()
		<-p.done
		p.log.Info("rtsp pull stopped")
	})
}

// Status returns a snapshot of the puller's state.
func (p *Puller) Status() PullStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.status
	st.Total = p.ended
	if p.stats != nil {
		st.Stats = p.stats.Snapshot()
		if p.live {
			st.Total = st.Total.Add(st.Stats)
		}
	}
	return st
}

// errPullWait marks attempt errors after which the puller waits BackoffMax.
type errPullWait struct{ error }

func (e errPullWait) Unwrap() error { return e.error }

// run is the puller's goroutine: connect, wait for the end, back off.
func (p *Puller) run() {
	defer close(p.done)
	p.log.Info("rtsp pull started", "transport", p.Transport)
	failures := 0
	for {
		played, err := p.connect()
		// The connection's client is closed: its counts are final.
		p.mu.Lock()
		if p.live {
			p.ended = p.ended.Add(p.stats.Snapshot())
			p.live = false
		}
		p.mu.Unlock()
		if p.ctx.Err() != nil {
			return
		}
		msg := p.scrub(err.Error())
		p.mu.Lock()
		p.status.LastError = msg
		p.mu.Unlock()
		if played {
			failures = 0
		}
		delay := p.backoff(failures)
		var wait errPullWait
		if errors.As(err, &wait) {
			delay = p.BackoffMax
		}
		failures++
		p.logAttempt(err, msg, delay)
		t := time.NewTimer(delay)
		select {
		case <-p.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// logAttempt says why an attempt failed, at a level that fits.
func (p *Puller) logAttempt(err error, msg string, delay time.Duration) {
	switch {
	case errors.Is(err, ErrPullAuth):
		p.log.Error("rtsp pull: the camera refused the credentials of the URL; check user and password",
			"err", msg, "retry_in", delay)
	case errors.Is(err, ErrNoSupportedTrack):
		p.log.Error("rtsp pull: the camera offers no supported codec", "err", msg, "retry_in", delay)
	case errors.Is(err, ErrStreamNotFound):
		p.log.Error("rtsp pull: the stream does not exist", "err", msg, "retry_in", delay)
	case errors.Is(err, ErrStreamBusy):
		p.log.Warn("rtsp pull: the stream is published by another session", "err", msg, "retry_in", delay)
	case errors.Is(err, ErrUnavailable):
		p.log.Warn("rtsp pull: the appliance cannot record now", "err", msg, "retry_in", delay)
	default:
		p.log.Warn("rtsp pull: connection ended", "err", msg, "retry_in", delay)
	}
}

// backoff returns the jittered delay after failures failed attempts:
// BackoffMin·2^failures capped at BackoffMax, minus up to half of it.
func (p *Puller) backoff(failures int) time.Duration {
	d := p.BackoffMin
	for range failures {
		if d >= p.BackoffMax/2 {
			d = p.BackoffMax
			break
		}
		d *= 2
	}
	d = min(d, p.BackoffMax)
	if half := int64(d / 2); half > 0 {
		d -= time.Duration(rand.Int64N(half + 1))
	}
	return d
}

// scrub removes the password from a message, should a library quote the
// URL.
func (p *Puller) scrub(s string) string {
	if p.password == "" {
		return s
	}
	s = strings.ReplaceAll(s, p.password, "***")
	if esc := url.QueryEscape(p.password); esc != p.password {
		s = strings.ReplaceAll(s, esc, "***")
	}
	return s
}

// connect makes one connection and returns when it ends, with the reason.
// played reports whether it reached PLAY.
func (p *Puller) connect() (played bool, err error) {
	p.mu.Lock()
	p.status.Attempts++
	p.mu.Unlock()

	// connCtx ends the connection: Close, or a Kick by the Router.
	connCtx, connCancel := context.WithCancelCause(p.ctx)
	defer connCancel(nil)

	stats := &SessionStats{}
	c := &gortsplib.Client{
		Scheme:      p.u.Scheme,
		Host:        p.u.Host,
		ReadTimeout: p.ReadTimeout,
		TLSConfig:   p.TLSConfig.Clone(), // gortsplib sets its ServerName
		OnTransportSwitch: func(err error) {
			// "auto": no UDP packet within 3 s, gortsplib plays again over TCP.
			p.log.Info("rtsp pull: switching to TCP", "reason", err)
			p.mu.Lock()
			p.status.Transport = TransportTCP
			p.mu.Unlock()
		},
		// counted; the session's end log line reports them
		OnPacketsLost: func(lost uint64) { stats.PacketsLost.Add(lost) },
		OnDecodeError: func(error) { stats.DecodeErrors.Add(1) },
	}
	switch p.Transport {
	case TransportTCP:
		v := gortsplib.TransportTCP
		c.Transport = &v
	case TransportUDP:
		v := gortsplib.TransportUDP
		c.Transport = &v
	}
	if err := c.Start2(); err != nil {
		return false, fmt.Errorf("rtsp: pull client: %w", err)
	}
	// The client's requests block until an answer, a timeout or Close; the
	// watcher closes it when connCtx ends, and is waited for below.
	closed := make(chan struct{})
	stop := context.AfterFunc(connCtx, func() {
		c.Close()
		close(closed)
	})
	defer func() {
		if stop() {
			c.Close()
		} else {
			<-closed
		}
	}()

	u := p.u.Clone() // the client keeps and derives from it
	desc, _, err := c.Describe(u)
	if err != nil {
		return false, p.requestErr("DESCRIBE", err)
	}
	tracks, found, skipped := selectTracks(desc.Medias, p.log)
	if len(tracks) == 0 {
		what := "no media"
		if len(found) > 0 {
			what = "found " + strings.Join(found, ", ")
		}
		return false, errPullWait{fmt.Errorf("%w: %s; supported %s", ErrNoSupportedTrack, what, supportedCodecs)}
	}

	transport := TransportUDP
	for _, t := range tracks {
		res, err := c.Setup(desc.BaseURL, t.medi, 0, 0)
		if err != nil {
			return false, p.requestErr("SETUP", err)
		}
		var th headers.Transport
		if th.Unmarshal(res.Header["Transport"]) == nil && th.Protocol == headers.TransportProtocolTCP {
			transport = TransportTCP
		}
	}

	mtracks := make([]*media.Track, len(tracks))
	decs := make([]*trackDecoder, len(tracks))
	medias := make([]*description.Media, len(tracks))
	formats := make([]format.Format, len(tracks))
	codecs := make([]string, len(tracks))
	for i, t := range tracks {
		mtracks[i] = t.dec.Track().Clone()
		decs[i], medias[i], formats[i] = t.dec, t.medi, t.forma
		codecs[i] = string(mtracks[i].Codec)
	}
	log := p.log.With("transport", transport)
	sess := &session{
		cfg:       sessionConfig{now: p.Now, discontinuity: p.DiscontinuityThreshold, pause: p.PauseThreshold},
		ss:        c,
		stream:    p.Stream,
		remote:    p.remote,
		transport: transport,
		log:       log,
		decs:      decs,
		medias:    medias,
		formats:   formats,
		stats:     stats,
		watch:     make([]trackWatch, len(tracks)),
	}
	stats.TracksSkipped.Add(uint64(len(skipped)))
	var live *Relay
	if p.Live != nil {
		live = p.Live.Relay(p.Stream, medias)
		defer live.Close()
	}
	var lastPacket atomic.Int64 // arrival of the last RTP packet, Unix ns
	for i := range tracks {
		medi, d := medias[i], decs[i]
		c.OnPacketRTP(medi, formats[i], func(pkt *rtp.Packet) {
			lastPacket.Store(p.Now().UnixNano())
			live.WritePacketRTP(medi, pkt)
			sess.onPacket(d, medi, pkt)
		})
		c.OnPacketRTCP(medi, func(pkt rtcp.Packet) { sess.onRTCP(medi, pkt) })
	}

	// The Writer is ready before PLAY, so the first keyframe is not lost.
	w, err := p.Router.Publish(&PublishRequest{
		Stream:     p.Stream,
		Tracks:     mtracks,
		RemoteAddr: p.remote,
		Transport:  transport,
		Stats:      sess.stats,
		Skipped:    skipped,
		Kick: func(reason string) {
			log.Info("rtsp pull session kicked", "reason", reason)
			connCancel(fmt.Errorf("rtsp: kicked: %s", reason))
		},
	})
	if err != nil {
		err = fmt.Errorf("rtsp: publish %s: %w", p.Stream, err)
		if errors.Is(err, ErrStreamNotFound) {
			err = errPullWait{err} // the stream must be created first
		}
		return false, err
	}
	sess.start(w)
	var cause error
	defer func() { sess.close(cause) }()

	if _, err := c.Play(nil); err != nil {
		cause = p.requestErr("PLAY", err)
		return false, cause
	}
	now := p.Now()
	lastPacket.Store(now.UnixNano())
	p.mu.Lock()
	p.status.Connects++
	p.status.Reconnects = p.status.Connects - 1
	p.status.Connected = true
	p.status.Since = now
	p.status.Transport = transport
	p.stats, p.live = sess.stats, true
	p.mu.Unlock()
	log.Info("rtsp pull playing", "tracks", strings.Join(codecs, ","))
	defer func() {
		p.mu.Lock()
		p.status.Connected = false
		p.status.Since = p.Now()
		p.mu.Unlock()
	}()

	cause = p.waitEnd(c, connCtx, &lastPacket)
	return true, cause
}

// waitEnd waits for the end of a playing connection: the client fails, the
// connection is cancelled, or no RTP packet arrives for ReadTimeout.
func (p *Puller) waitEnd(c *gortsplib.Client, connCtx context.Context, lastPacket *atomic.Int64) error {
	errc := make(chan error, 1)
	go func() { errc <- c.Wait() }()
	tick := time.NewTicker(max(p.ReadTimeout/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case err := <-errc:
			if cause := context.Cause(connCtx); cause != nil {
				return cause
			}
			return fmt.Errorf("rtsp: connection lost: %w", err)
		case <-tick.C:
			idle := p.Now().Sub(time.Unix(0, lastPacket.Load()))
			if idle >= p.ReadTimeout {
				c.Close()
				<-errc
				return fmt.Errorf("%w for %v", ErrPullTimeout, idle.Round(time.Millisecond))
			}
		}
	}
}

// requestErr classifies the failure of a request.
func (p *Puller) requestErr(method string, err error) error {
	var bad liberrors.ErrClientBadStatusCode
	if errors.As(err, &bad) && bad.Code == base.StatusUnauthorized {
		if p.u.User == nil {
			return errPullWait{fmt.Errorf("%w: %s: 401 and the URL has no credentials", ErrPullAuth, method)}
		}
		return errPullWait{fmt.Errorf("%w: %s: 401 for user %q", ErrPullAuth, method, p.u.User.Username())}
	}
	return fmt.Errorf("rtsp: %s: %w", method, err)
}

// RedactURL returns a camera URL with its password replaced by "***", for
// logs, APIs and printed configuration: rtsp://user:***@host/path. It never
// returns the password of a URL gortsplib would send, and cuts whatever
// precedes the last '@' of URLs it cannot parse.
func RedactURL(raw string) string {
	u, err := base.ParseURL(raw)
	if err == nil {
		if u.User == nil {
			return u.String()
		}
		if _, ok := u.User.Password(); !ok {
			return u.String()
		}
		c := *(*url.URL)(u)
		c.User = nil
		rest := strings.TrimPrefix(c.String(), c.Scheme+"://")
		return c.Scheme + "://" + url.User(u.User.Username()).String() + ":***@" + rest
	}
	// Unparsable: whatever precedes the last '@' of the URL may be user
	// information (a password may hold '@', '/' or ':').
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !validScheme(scheme) {
		return "<invalid URL>"
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return raw
	}
	user, _, _ := strings.Cut(rest[:at], ":")
	user, _, _ = strings.Cut(user, "/")
	return scheme + "://" + user + ":***@" + rest[at+1:]
}

// validScheme reports whether s is a URL scheme (RFC 3986 §3.1).
func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}
