package rtc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Config configures a Network.
type Config struct {
	// UDPAddress is the ICE UDP listen address (host:port). Required.
	UDPAddress string
	// TCPAddress, when set, is the ICE-TCP listen address (host:port):
	// passive TCP host candidates on one port beside the UDP ones, the
	// fallback for a peer whose UDP is blocked. Empty: no ICE-TCP.
	TCPAddress string
	// PublicIPs, when set, are the addresses a NAT in front of the
	// appliance maps 1:1 to it: the host candidates carry them instead of
	// the interfaces' addresses. Each must be an IP address.
	PublicIPs []string
	// IncludeLoopback adds loopback host candidates (tests, a viewer on the
	// appliance itself).
	IncludeLoopback bool
	// Logger receives pion's warnings and errors. It defaults to
	// discarding.
	Logger *slog.Logger
	// ListenPacket opens the UDP socket. It defaults to net.ListenPacket.
	ListenPacket func(network, address string) (net.PacketConn, error)
}

// validate checks what Listen cannot learn by listening.
func (c *Config) validate() error {
	if c.UDPAddress == "" {
		return fmt.Errorf("%w: UDPAddress is required", ErrInvalidConfig)
	}
	for _, ip := range c.PublicIPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("%w: public IP %q is not an IP address", ErrInvalidConfig, ip)
		}
	}
	return nil
}

// Network owns the UDP socket every peer connection shares.
type Network struct {
	cfg  Config
	conn net.PacketConn
	mux  interface{ Close() error }
	// tcp and tcpMux are nil without Config.TCPAddress.
	tcp    net.Listener
	tcpMux interface{ Close() error }
	se     webrtc.SettingEngine

	nacks atomic.Uint64 // NACK packets sent

	mu     sync.Mutex
	closed bool
}

// NACKsSent returns how many RTCP NACK packets the peer connections of
// the network have sent (each asks for one or more lost RTP packets).
func (n *Network) NACKsSent() uint64 { return n.nacks.Load() }

// nackCounter counts the NACKs on their way out.
type nackCounter struct {
	interceptor.NoOp
	n *atomic.Uint64
}

func (c *nackCounter) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, a interceptor.Attributes) (int, error) {
		for _, p := range pkts {
			if _, ok := p.(*rtcp.TransportLayerNack); ok {
				c.n.Add(1)
			}
		}
		return w.Write(pkts, a)
	})
}

type nackCounterFactory struct{ n *atomic.Uint64 }

func (f nackCounterFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &nackCounter{n: f.n}, nil
}

// udpReadBuffer is the receive buffer asked for the ICE UDP socket. Every
// WHIP camera and WHEP player shares that one socket: at the default
// (212,992 bytes on Linux) 32 WHIP cameras of 720p H.264 at 2 Mbit/s
// overflowed it at their keyframes on a loaded 2-core machine, and lost
// frames NACK did not recover (BenchmarkIngestWHIPvsRTSP in cmd/kinedge:
// 2,110 datagrams and 78 of 8,000 frames lost before, see README).
const udpReadBuffer = 4 << 20

// Listen opens the UDP socket and its ICE mux.
func Listen(cfg Config) (*Network, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
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
	if rb, ok := conn.(interface{ SetReadBuffer(int) error }); ok {
		// Best effort: the kernel caps it at net.core.rmem_max.
		if err := rb.SetReadBuffer(udpReadBuffer); err != nil {
			cfg.Logger.Warn("rtc: ICE UDP receive buffer not enlarged", "err", err)
		}
	}
	lf := &loggerFactory{log: cfg.Logger}
	mux := webrtc.NewICEUDPMux(lf.NewLogger("ice-mux"), conn)
	n := &Network{cfg: cfg, conn: conn, mux: mux}
	se := webrtc.SettingEngine{LoggerFactory: lf}
	se.SetICEUDPMux(mux)
	types := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if cfg.TCPAddress != "" {
		ln, err := net.Listen("tcp", cfg.TCPAddress)
		if err != nil {
			mux.Close()
			conn.Close()
			return nil, fmt.Errorf("rtc: ICE TCP: %w", err)
		}
		// 8 KiB per connection for reading: a packet of ICE-TCP is
		// framed by a 2-byte length (RFC 4571), at most 64 KiB, but media
		// packets stay under the MTU.
		tmux := webrtc.NewICETCPMux(lf.NewLogger("ice-tcp"), ln, 8<<10)
		n.tcp, n.tcpMux = ln, tmux
		se.SetICETCPMux(tmux)
		types = append(types, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6)
	}
	if len(cfg.PublicIPs) > 0 {
		// Replace the host candidates' addresses, as pion's NAT 1:1
		// did (SetNAT1To1IPs is deprecated for these rules).
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{External: cfg.PublicIPs, AsCandidateType: webrtc.ICECandidateTypeHost}); err != nil {
			n.closeAll()
			return nil, fmt.Errorf("%w: public IPs: %w", ErrInvalidConfig, err)
		}
	}
	se.SetNetworkTypes(types)
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

// TCPAddr returns the ICE-TCP address, nil without one.
func (n *Network) TCPAddr() net.Addr {
	if n.tcp == nil {
		return nil
	}
	return n.tcp.Addr()
}

// maxNACKs bounds the NACKs for one lost packet (a lost repair is asked
// for again).
const maxNACKs = 3

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
	ir.Add(nackCounterFactory{&n.nacks}) // first: sees what leaves
	// A packet is asked for at most maxNACKs times: pion's generator does
	// not see repairs that come on an RTX stream (RFC 4588) and would ask
	// again every 100 ms until the packet leaves its window.
	if err := webrtc.ConfigureNackWithOptions(me, ir, []nack.GeneratorOption{nack.GeneratorMaxNacksPerPacket(maxNACKs)}); err != nil {
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
	return n.closeAll()
}

func (n *Network) closeAll() error {
	var tcpErr error
	if n.tcpMux != nil {
		tcpErr = n.tcpMux.Close() // closes the listener too
		if cerr := n.tcp.Close(); tcpErr == nil && !errors.Is(cerr, net.ErrClosed) {
			tcpErr = cerr
		}
	}
	err := n.mux.Close() // closes the socket too
	if cerr := n.conn.Close(); err == nil && !errors.Is(cerr, net.ErrClosed) {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("rtc: closing ICE UDP: %w", err)
	}
	if tcpErr != nil {
		return fmt.Errorf("rtc: closing ICE TCP: %w", tcpErr)
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
