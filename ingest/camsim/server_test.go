package camsim

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/kinedge/kinedge/ingest/rtpclock"
)

// recServer is a real RTSP server (gortsplib's) in-process on loopback that
// accepts publishers and records what arrives, per path.
type recServer struct {
	t          *testing.T
	srv        *gortsplib.Server
	addr       string
	user, pass string

	mu    sync.Mutex
	paths map[string]*recPath
}

// recPath is what one stream path received, over all its sessions.
type recPath struct {
	sessions int
	codecs   []string // codec names of the last ANNOUNCE, in media order
	medias   []*recMedia
}

// recMedia is what one media of a path received.
type recMedia struct {
	codec     string
	clockRate int
	video     bool
	packets   int
	seqGaps   int    // sequence number discontinuities within a session
	lastSeq   uint16 // of the current session
	haveSeq   bool
	aus       []uint32 // RTP timestamps of access units, in arrival order
	first     []byte   // payload of the first packet of the last session
	ntpOK     int      // packets whose NTP time was known (after an RTCP SR)
	// ntpSkew is the smallest |NTP time − arrival time| seen: the error
	// of the RTP-to-NTP mapping plus the least delay a packet had (the
	// largest is the machine's scheduling, unbounded under load).
	ntpSkew time.Duration
	ssrcs   map[uint32]bool
	// the last RTCP sender report: NTP time and RTP timestamp.
	srNTP  time.Time
	srRTP  uint32
	haveSR bool
}

type recServerOpts struct {
	addr       string // "" = 127.0.0.1:0
	udp        bool
	user, pass string
}

func startRecServer(t *testing.T, o recServerOpts) *recServer {
	t.Helper()
	rs := &recServer{t: t, user: o.user, pass: o.pass, paths: map[string]*recPath{}}
	addr := o.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var got string
	rs.srv = &gortsplib.Server{
		Handler:     rs,
		RTSPAddress: addr,
		Listen: func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			if err == nil {
				got = l.Addr().String()
			}
			return l, err
		},
	}
	if o.udp {
		rtpAddr, rtcpAddr := freeUDPPair(t)
		rs.srv.UDPRTPAddress, rs.srv.UDPRTCPAddress = rtpAddr, rtcpAddr
	}
	if err := rs.srv.Start(); err != nil {
		t.Fatalf("start RTSP server on %s: %v", addr, err)
	}
	rs.addr = got
	return rs
}

// freeUDPPair finds an even UDP port on loopback whose successor is free too
// (RFC 3550 §11: RTP on an even port, RTCP on the next one).
func freeUDPPair(t *testing.T) (string, string) {
	t.Helper()
	for range 100 {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if p%2 == 1 {
			p--
		}
		a, errA := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		b, errB := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1)))
		if a != nil {
			a.Close()
		}
		if b != nil {
			b.Close()
		}
		if errA == nil && errB == nil {
			return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1))
		}
	}
	t.Fatal("no free UDP port pair")
	return "", ""
}

func (rs *recServer) close() { rs.srv.Close() }

// url is the base URL cameras publish under, with credentials if any.
func (rs *recServer) url() string {
	if rs.user != "" {
		return "rtsp://" + rs.user + ":" + rs.pass + "@" + rs.addr + "/"
	}
	return "rtsp://" + rs.addr + "/"
}

// snapshot returns a deep copy of what a path received (nil if nothing).
func (rs *recServer) snapshot(path string) *recPath {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	p := rs.paths[path]
	if p == nil {
		return nil
	}
	cp := &recPath{sessions: p.sessions, codecs: append([]string(nil), p.codecs...)}
	for _, m := range p.medias {
		mc := *m
		mc.aus = append([]uint32(nil), m.aus...)
		cp.medias = append(cp.medias, &mc)
	}
	return cp
}

// OnAnnounce implements gortsplib.ServerHandlerOnAnnounce.
func (rs *recServer) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	if rs.user != "" && !ctx.Conn.VerifyCredentials(ctx.Request, rs.user, rs.pass) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (rs *recServer) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStateInitial {
		return &base.Response{StatusCode: base.StatusNotImplemented}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, nil, nil
}

// OnRecord implements gortsplib.ServerHandlerOnRecord.
func (rs *recServer) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	path := strings.Trim(ctx.Path, "/")
	desc := ctx.Session.AnnouncedDescription()

	rs.mu.Lock()
	p := rs.paths[path]
	if p == nil {
		p = &recPath{}
		rs.paths[path] = p
	}
	p.sessions++
	p.codecs = nil
	first := p.medias == nil
	for i, medi := range desc.Medias {
		forma := medi.Formats[0]
		p.codecs = append(p.codecs, forma.Codec())
		if first {
			p.medias = append(p.medias, &recMedia{
				codec: forma.Codec(), clockRate: forma.ClockRate(),
				video: medi.Type == description.MediaTypeVideo, ssrcs: map[uint32]bool{},
			})
		}
		if i < len(p.medias) {
			p.medias[i].haveSeq = false // a new session restarts the check
			p.medias[i].first = nil
		}
	}
	rs.mu.Unlock()

	for i, medi := range desc.Medias {
		if i >= len(p.medias) {
			break
		}
		m := p.medias[i]
		ctx.Session.OnPacketRTP(medi, medi.Formats[0], func(pkt *rtp.Packet) {
			rs.mu.Lock()
			defer rs.mu.Unlock()
			m.packets++
			if m.first == nil {
				m.first = slices.Clone(pkt.Payload)
			}
			m.ssrcs[pkt.SSRC] = true
			if m.haveSeq && pkt.SequenceNumber != m.lastSeq+1 {
				m.seqGaps++
			}
			m.lastSeq, m.haveSeq = pkt.SequenceNumber, true
			// RFC 3550 §6.4.1, read per RFC 5905 (not gortsplib's
			// PacketNTP, which reads nanoseconds in the fraction).
			if m.haveSR {
				ntp := m.srNTP.Add(time.Duration(int32(pkt.Timestamp-m.srRTP)) * time.Second / time.Duration(m.clockRate))
				m.ntpOK++
				if skew := time.Until(ntp).Abs(); m.ntpOK == 1 || skew < m.ntpSkew {
					m.ntpSkew = skew
				}
			}
			if !m.video || pkt.Marker {
				m.aus = append(m.aus, pkt.Timestamp)
			}
		})
		ctx.Session.OnPacketRTCP(medi, func(pkt rtcp.Packet) {
			if sr, ok := pkt.(*rtcp.SenderReport); ok {
				rs.mu.Lock()
				defer rs.mu.Unlock()
				m.srNTP, m.srRTP, m.haveSR = rtpclock.NTPTime(sr.NTPTime), sr.RTPTime, true
			}
		})
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// waitFor polls cond until it is true or the deadline passes (no sleeping to
// synchronise: a bounded poll).
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
