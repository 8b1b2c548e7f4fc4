package rtsp

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/kinedge/kinedge/dataplane/authlimit"
	"github.com/pion/rtp"
)

// TestLivePlayers relays a publisher's packets to a player (gortsplib's
// client, with the read credentials), refuses wrong credentials and
// streams nobody publishes, and keeps recording every frame while a
// second player has stopped reading its connection.
func TestLivePlayers(t *testing.T) {
	_, r, addr := startServer(t, func(s *Server) { s.ReadAuth = StaticCredentials("viewer", "seeit") })
	desc := &description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{h264Format()}}}}
	c, err := publish(t, "rtsp://user:pass@"+addr+"/cam1", desc)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "publish", func() bool { return r.count() == 1 })
	w := r.session(0)

	// A stalled player: PLAY over TCP with Basic credentials, then it
	// never reads again.
	stalled := stalledPlayer(t, addr, "cam1", "viewer", "seeit")
	defer stalled.Close()

	// A player that reads.
	var got atomic.Int64
	u, err := base.ParseURL("rtsp://viewer:seeit@" + addr + "/cam1")
	if err != nil {
		t.Fatal(err)
	}
	p := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: tcpTransport()}
	if err := p.Start2(); err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pdesc, _, err := p.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	if len(pdesc.Medias) != 1 || pdesc.Medias[0].Formats[0].Codec() != "H264" {
		t.Fatalf("player's description: %+v", pdesc.Medias)
	}
	if err := p.SetupAll(pdesc.BaseURL, pdesc.Medias); err != nil {
		t.Fatal(err)
	}
	p.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) { got.Add(1) })
	if _, err := p.Play(nil); err != nil {
		t.Fatal(err)
	}

	// 2,000 access units of 1 KiB: more than a stalled player's queue
	// (256 packets) and its socket buffers hold.
	v := &videoSender{t: t, c: c, m: desc.Medias[0], ntp0: time.Now()}
	idr := append([]byte{0x65}, make([]byte, 1023)...)
	p1 := append([]byte{0x41}, make([]byte, 1023)...)
	const n = 2000
	for i := range n {
		nal := p1
		if i%50 == 0 {
			nal = idr
		}
		v.au(uint32(i*3600), nal)
		if i%100 == 99 {
			// The publisher's own client queue and each player's queue
			// hold 256 packets: let the recording and the reading player
			// catch up (the stalled player must hold neither back). A
			// player that falls further behind loses packets, by design.
			waitFor(t, 20*time.Second, "recording and the reading player keep up", func() bool {
				f, _, _ := w.snapshot()
				return len(f) >= i-1 && got.Load() >= int64(i)
			})
		}
	}
	waitFor(t, 20*time.Second, "every frame recorded", func() bool { f, _, _ := w.snapshot(); return len(f) >= n-1 })
	waitFor(t, 20*time.Second, "the reading player's packets", func() bool { return got.Load() >= n-1 })

	// Wrong credentials, and a stream nobody publishes.
	for _, tc := range []struct {
		url  string
		want int
	}{
		{"rtsp://viewer:wrong@" + addr + "/cam1", 401},
		{"rtsp://user:pass@" + addr + "/cam1", 401}, // the publish credentials do not play
		{"rtsp://viewer:seeit@" + addr + "/nobody", 404},
	} {
		u, _ := base.ParseURL(tc.url)
		q := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: tcpTransport()}
		if err := q.Start2(); err != nil {
			t.Fatal(err)
		}
		_, _, err := q.Describe(u)
		q.Close()
		if statusOf(err) != tc.want {
			t.Fatalf("%s: %v, want %d", tc.url, err, tc.want)
		}
	}

	// The publisher leaves: the players are disconnected.
	c.Close()
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the player stayed connected after the publisher left")
	}
}

// stalledPlayer plays stream over TCP with Basic credentials and returns
// the connection, which the caller never reads again.
func stalledPlayer(t *testing.T, addr, stream, user, pass string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(4096) // a small window: the server's writes back up soon
	}
	br := bufio.NewReader(conn)
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	session := ""
	for i, req := range []string{
		fmt.Sprintf("DESCRIBE rtsp://%s/%s RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\nAuthorization: %s\r\n\r\n", addr, stream, auth),
		fmt.Sprintf("SETUP rtsp://%s/%s/trackID=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nAuthorization: %s\r\n\r\n", addr, stream, auth),
		fmt.Sprintf("PLAY rtsp://%s/%s RTSP/1.0\r\nCSeq: 3\r\nSession: %%s\r\nAuthorization: %s\r\n\r\n", addr, stream, auth),
	} {
		if i == 2 {
			req = fmt.Sprintf(req, session)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		status, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(status, "RTSP/1.0 200") {
			t.Fatalf("stalled player, request %d: %q %v", i+1, status, err)
		}
		length := 0
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if l == "\r\n" {
				break
			}
			if k, v, ok := strings.Cut(l, ":"); ok {
				switch strings.ToLower(k) {
				case "session":
					session, _, _ = strings.Cut(strings.TrimSpace(v), ";")
				case "content-length":
					fmt.Sscan(strings.TrimSpace(v), &length)
				}
			}
		}
		if _, err := br.Discard(length); err != nil {
			t.Fatal(err)
		}
	}
	conn.SetDeadline(time.Time{})
	return conn
}

// TestPlayerLockout: wrong read credentials lock the player's address out
// (503, the right credentials unchecked) while a player at another
// address (127.0.0.2) still gets past authentication (404: nobody
// publishes).
func TestPlayerLockout(t *testing.T) {
	lim := &authlimit.Limiter{MaxFailures: 2}
	_, _, addr := startServer(t, func(s *Server) {
		s.ReadAuth = StaticCredentials("viewer", "seeit")
		s.Limiter = lim
	})
	describe := func(userinfo string, from net.IP) error {
		u, _ := base.ParseURL("rtsp://" + userinfo + "@" + addr + "/cam1")
		q := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: tcpTransport(),
			DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: from}}).DialContext}
		if err := q.Start2(); err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		_, _, err := q.Describe(u)
		return err
	}
	here, there := net.IPv4(127, 0, 0, 1), net.IPv4(127, 0, 0, 2)
	for range 2 {
		if err := describe("viewer:wrong", here); statusOf(err) != 401 {
			t.Fatalf("wrong password: %v, want 401", err)
		}
	}
	if err := describe("viewer:seeit", here); statusOf(err) != 503 {
		t.Fatalf("locked out: %v, want 503", err)
	}
	if err := describe("viewer:seeit", there); statusOf(err) != 404 {
		t.Fatalf("player at 127.0.0.2: %v, want 404 (past authentication)", err)
	}
	if s := lim.Stats(); s.Failures["rtsp"] != 2 || s.Lockouts != 1 || s.Refused != 1 {
		t.Fatalf("stats %+v", s)
	}
}
