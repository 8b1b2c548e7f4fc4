package rtc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
)

// Config configures a Network.
type Config struct {
	// UDPAddress is the ICE UDP listen address (host:port). Required.
	UDPAddress string
	// IncludeLoopback adds loopback host candidates (tests, a viewer on the
	// appliance itself).
	IncludeLoopback bool
	// Logger receives pion's warnings and errors. It defaults to
	// discarding.
	Logger *slog.Logger
	// ListenPacket opens the UDP socket. It defaults to net.ListenPacket.
	ListenPacket func(network, address string) (net.PacketConn, error)
}

// Network owns the UDP socket every peer connection shares.
type Network struct {
	cfg  Config
	conn net.PacketConn
	mux  interface{ Close() error }
	se   webrtc.SettingEngine

	mu     sync.Mutex
	closed bool
}

// Listen opens the UDP socket and its ICE mux.
func Listen(cfg Config) (*Network, error) {
	if cfg.UDPAddress == "" {
		return nil, fmt.Errorf("%w: UDPAddress is required", ErrInvalidConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	listen := cfg.ListenPacket
	if listen == nil {
		listen = net.ListenPacket
	}
	conn, err := listen("udp", cfg.UDPAddress)
	if err != nil {
		return nil, fmt.Errorf("rtc: ICE UDP: %w", err)
	}
	lf := &loggerFactory{log: cfg.Logger}
	mux := webrtc.NewICEUDPMux(lf.NewLogger("ice-mux"), conn)
	n := &Network{cfg: cfg, conn: conn, mux: mux}
	se := webrtc.SettingEngine{LoggerFactory: lf}
	se.SetICEUDPMux(mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled) // see the package doc
	// Disconnected after 5 s without traffic, failed after 15 s more: a
	// viewer that went away is noticed without waiting for pion's 25 s.
	se.SetICETimeouts(5*time.Second, 15*time.Second, 2*time.Second)
	n.se = se
	return n, nil
}

// Addr returns the UDP address ICE listens on.
func (n *Network) Addr() net.Addr { return n.conn.LocalAddr() }

// NewAPI returns a pion API for peer connections on the network, with the
// codecs of me and the NACK and RTCP report interceptors.
func (n *Network) NewAPI(me *webrtc.MediaEngine) (*webrtc.API, error) {
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(me, ir); err != nil {
		return nil, fmt.Errorf("rtc: nack: %w", err)
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, fmt.Errorf("rtc: rtcp reports: %w", err)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(n.se), webrtc.WithInterceptorRegistry(ir)), nil
}

// Close closes the mux and the socket. The peer connections on it must be
// closed first. Idempotent.
func (n *Network) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	err := n.mux.Close() // closes the socket too
	if cerr := n.conn.Close(); err == nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("rtc: closing ICE UDP: %w", err)
	}
	return nil
}

// loggerFactory routes pion's log lines to slog: its warnings at debug
// (pion warns of routine events: a pipe closed at the end of a session, a
// ping before the first candidate pair), its errors at warn; the rest is
// dropped.
type loggerFactory struct{ log *slog.Logger }

func (f *loggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return &leveled{log: f.log.With("pion", scope)}
}

type leveled struct{ log *slog.Logger }

func (l *leveled) Trace(string)          {}
func (l *leveled) Tracef(string, ...any) {}
func (l *leveled) Debug(string)          {}
func (l *leveled) Debugf(string, ...any) {}
func (l *leveled) Info(string)           {}
func (l *leveled) Infof(string, ...any)  {}
func (l *leveled) Warn(msg string)       { l.log.Debug(msg) }
func (l *leveled) Warnf(format string, args ...any) {
	l.log.Debug(fmt.Sprintf(format, args...))
}
func (l *leveled) Error(msg string) { l.log.Warn(msg) }
func (l *leveled) Errorf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...))
}
