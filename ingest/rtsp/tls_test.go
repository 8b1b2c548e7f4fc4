package rtsp

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// withTLS adds an RTSPS listener on loopback with cert.
func withTLS(cert tls.Certificate, only bool) serverOpt {
	return func(s *Server) {
		s.TLSAddress = "127.0.0.1:0"
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.TLSOnly = only
	}
}

// TestFFmpegPublishRTSPS: ffmpeg publishes over RTSPS (TLS from the
// first byte, interleaved RTP) next to the plain listener, and a player
// reads it live over RTSPS; UDP over RTSPS is refused.
func TestFFmpegPublishRTSPS(t *testing.T) {
	if testing.Short() {
		t.Skip("ffmpeg publish takes seconds")
	}
	cert, pool := selfSigned(t)
	clip, counts := makeClip(t, "libx264", "aac", 44100)
	s, r, _ := startServer(t, withTLS(cert, false))
	if s.TLSAddr() == nil || s.Addr() == nil {
		t.Fatal("want both listeners")
	}
	secure := s.TLSAddr().String()
	ffmpeg := testtool.Need(t, "ffmpeg")
	publish := func(transport, addr, stream string, extra ...string) ([]byte, error) {
		args := append([]string{"-hide_banner", "-loglevel", "error", "-re", "-i", clip, "-c", "copy", "-muxdelay", "0"}, extra...)
		args = append(args, "-f", "rtsp", "-rtsp_transport", transport, "rtsps://user:pass@"+addr+"/"+stream)
		return testtool.Command(t, 2*time.Minute, ffmpeg, args...).CombinedOutput()
	}
	// ffmpeg's RTSP muxer does not pass its TLS options (-tls_verify,
	// -ca_file) to the TLS connection (checked with ffmpeg 5.1: a wrong
	// CA file publishes too), so it publishes without verifying; the
	// gortsplib client below verifies the certificate.
	if out, err := publish("tcp", secure, "cam1"); err != nil {
		t.Fatalf("ffmpeg over RTSPS: %v\n%s", err, out)
	}
	waitFor(t, 10*time.Second, "session end", func() bool {
		w := r.session(0)
		if w == nil {
			return false
		}
		_, _, closed := w.snapshot()
		return closed
	})
	w := r.session(0)
	frames, _, _ := w.snapshot()
	if w.req.Stream != "cam1" || w.req.Transport != TransportTCP {
		t.Fatalf("request %+v", w.req)
	}
	video := 0
	for _, f := range frames {
		if f.Track == 0 {
			video++
		}
	}
	if video != counts[0] {
		t.Fatalf("%d video frames over RTSPS, clip has %d", video, counts[0])
	}
	// A plain RTSP client talking to the RTSPS port gets no RTSP answer.
	u, _ := base.ParseURL("rtsp://" + secure + "/cam1")
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
	if err := c.Start2(); err == nil {
		_, err = c.Options(u)
		c.Close()
		if err == nil {
			t.Fatal("plain RTSP on the RTSPS port answered")
		}
	}
	// An RTSPS client verifying against the pinned certificate is
	// answered; one trusting nothing fails the handshake.
	u, _ = base.ParseURL("rtsps://user:pass@" + secure + "/cam1")
	untrusting := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
	if err := untrusting.Start2(); err == nil {
		_, err = untrusting.Options(u)
		untrusting.Close()
		if err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("OPTIONS over RTSPS without trusting the certificate: %v", err)
		}
	}
	tc := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, TLSConfig: &tls.Config{RootCAs: pool}}
	if err := tc.Start2(); err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, err := tc.Options(u); err != nil {
		t.Fatalf("OPTIONS over RTSPS: %v", err)
	}
}

// TestRTSPSOnly: with TLSOnly there is no plain listener.
func TestRTSPSOnly(t *testing.T) {
	cert, _ := selfSigned(t)
	s, _, _ := startServerTLSOnly(t, cert)
	if s.Addr() != nil {
		t.Fatalf("plain listener %v with TLSOnly", s.Addr())
	}
	conn, err := tls.Dial("tcp", s.TLSAddr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only the handshake is tested
	if err != nil {
		t.Fatalf("RTSPS handshake: %v", err)
	}
	conn.Close()
	for _, bad := range []func(*Server){
		func(s *Server) { s.TLSAddress = "127.0.0.1:0" },
		func(s *Server) { s.TLSOnly = true },
	} {
		s := &Server{Address: "127.0.0.1:0", Router: &recRouter{}}
		bad(s)
		if err := s.Start(); !errors.Is(err, ErrInvalidConfig) {
			s.Close()
			t.Fatalf("Start: %v, want ErrInvalidConfig", err)
		}
	}
}

func startServerTLSOnly(t *testing.T, cert tls.Certificate) (*Server, *recRouter, string) {
	t.Helper()
	r := &recRouter{}
	s := &Server{Router: r, Auth: StaticCredentials("user", "pass"), Logger: testLogger(t)}
	withTLS(cert, true)(s)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	// Address was never listened on.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if c, err := (&net.Dialer{}).DialContext(ctx, "tcp", "127.0.0.1:8554"); err == nil {
		c.Close()
	}
	return s, r, s.TLSAddr().String()
}

// TestRTSPSRefusesUDP: a publisher on an RTSPS connection that asks for
// UDP transport (its RTP would travel in the clear) gets 461, while the
// server does offer UDP to plain RTSP.
func TestRTSPSRefusesUDP(t *testing.T) {
	cert, _ := selfSigned(t)
	s, r, _ := startServer(t, withUDP(t), withTLS(cert, false))
	conn, err := tls.Dial("tcp", s.TLSAddr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the refusal is tested, not the certificate
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	url := "rtsps://" + s.TLSAddr().String() + "/cam1"
	sdp := "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n"
	basic := "Authorization: Basic dXNlcjpwYXNz\r\n" // user:pass
	status := func(req string) string {
		t.Helper()
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		return line
	}
	if got := status("ANNOUNCE " + url + " RTSP/1.0\r\nCSeq: 1\r\n" + basic + "Content-Type: application/sdp\r\nContent-Length: " +
		strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp); !strings.HasPrefix(got, "RTSP/1.0 200") {
		t.Fatalf("ANNOUNCE: %q", got)
	}
	if got := status("SETUP " + url + "/trackID=0 RTSP/1.0\r\nCSeq: 2\r\n" + basic +
		"Transport: RTP/AVP;unicast;client_port=50000-50001;mode=record\r\n\r\n"); !strings.HasPrefix(got, "RTSP/1.0 461") {
		t.Fatalf("SETUP with UDP over RTSPS: %q, want 461", got)
	}
	if got := status("SETUP " + url + "/trackID=0 RTSP/1.0\r\nCSeq: 3\r\n" + basic +
		"Transport: RTP/AVP/TCP;unicast;interleaved=0-1;mode=record\r\n\r\n"); !strings.HasPrefix(got, "RTSP/1.0 200") {
		t.Fatalf("SETUP with TCP over RTSPS: %q, want 200", got)
	}
	if r.count() != 0 {
		t.Fatal("a session was published before RECORD")
	}
}

// TestLivePlayerRTSPS: a publisher on plain RTSP is played live over
// RTSPS by a client that verifies the certificate: one relay for both
// schemes, the media interleaved inside TLS.
func TestLivePlayerRTSPS(t *testing.T) {
	cert, pool := selfSigned(t)
	s, r, addr := startServer(t, withTLS(cert, false), func(s *Server) { s.ReadAuth = StaticCredentials("viewer", "seeit") })
	desc := &description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{h264Format()}}}}
	c, err := publish(t, "rtsp://user:pass@"+addr+"/cam1", desc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, 5*time.Second, "publish", func() bool { return r.count() == 1 })

	var got atomic.Int64
	u, err := base.ParseURL("rtsps://viewer:seeit@" + s.TLSAddr().String() + "/cam1")
	if err != nil {
		t.Fatal(err)
	}
	p := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, TLSConfig: &tls.Config{RootCAs: pool}}
	if err := p.Start2(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pdesc, _, err := p.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetupAll(pdesc.BaseURL, pdesc.Medias); err != nil {
		t.Fatal(err)
	}
	p.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) { got.Add(1) })
	if _, err := p.Play(nil); err != nil {
		t.Fatal(err)
	}
	v := &videoSender{t: t, c: c, m: desc.Medias[0], ntp0: time.Now()}
	idr := append([]byte{0x65}, make([]byte, 100)...)
	const n = 50
	for i := range n {
		v.au(uint32(i*3600), idr)
		waitFor(t, 10*time.Second, "the RTSPS player's packet", func() bool { return got.Load() >= int64(i+1) })
	}
}

// TestRTSPSSilentClientCut: a client that connects to the RTSPS port and
// never completes the TLS handshake is cut at AuthTimeout, as on plain
// RTSP.
func TestRTSPSSilentClientCut(t *testing.T) {
	cert, _ := selfSigned(t)
	s, _, _ := startServer(t, withTLS(cert, false), func(s *Server) { s.AuthTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", s.TLSAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	if _, err := conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read on a silent RTSPS connection: %v, want it closed by the server", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cut after %v", d)
	}
}
