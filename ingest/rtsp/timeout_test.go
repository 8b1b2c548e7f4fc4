package rtsp

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// waitClosed reads conn until the server closes it; it fails the test if
// the connection is still open after limit (a generous bound: the point is
// that it closes, not when).
func waitClosed(t *testing.T, conn net.Conn, limit time.Duration) {
	t.Helper()
	if err := closedWithin(conn, limit); err != nil {
		t.Fatal(err)
	}
}

func closedWithin(conn net.Conn, limit time.Duration) error {
	if err := conn.SetReadDeadline(time.Now().Add(limit)); err != nil {
		return err
	}
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("connection still open after %v", limit)
	}
	return nil
}

// TestHostileConnectionsClosed: a connection that sends nothing, trickles
// half a request line, or authenticates and then idles without a session
// is closed by the server (AuthTimeout, IdleTimeout), while each byte of a
// trickle arrives well within any per-read timeout.
func TestHostileConnectionsClosed(t *testing.T) {
	_, _, addr := startServer(t, func(s *Server) {
		s.AuthTimeout = 300 * time.Millisecond
		s.IdleTimeout = 300 * time.Millisecond
	})
	dial := func(t *testing.T) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	t.Run("silent", func(t *testing.T) {
		waitClosed(t, dial(t), 30*time.Second)
	})

	t.Run("trickled request line", func(t *testing.T) {
		c := dial(t)
		closed := make(chan struct{})
		var closeErr error
		go func() {
			defer close(closed)
			closeErr = closedWithin(c, 30*time.Second)
		}()
		defer func() {
			<-closed
			if closeErr != nil {
				t.Error(closeErr)
			}
		}()
		line := "OPTIONS rtsp://" + addr + "/cam1 RTSP/1.0\r\n"
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i = (i + 1) % len(line) {
			select {
			case <-closed:
				return
			case <-tick.C:
			}
			if _, err := c.Write([]byte{line[i]}); err != nil {
				return
			}
		}
	})

	t.Run("options only", func(t *testing.T) {
		c := dial(t)
		if _, err := c.Write([]byte("OPTIONS rtsp://" + addr + "/cam1 RTSP/1.0\r\nCSeq: 1\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, c, 30*time.Second)
	})

	t.Run("idle after authentication", func(t *testing.T) {
		// Its own server: the ANNOUNCE must beat AuthTimeout on a loaded
		// machine.
		_, _, addr := startServer(t, func(s *Server) { s.IdleTimeout = 300 * time.Millisecond })
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		authz := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:pass"))
		if _, err := c.Write([]byte(announce(addr, "cam1", authz))); err != nil {
			t.Fatal(err)
		}
		if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		status, err := br.ReadString('\n')
		if err != nil || !strings.Contains(status, "200") {
			t.Fatalf("ANNOUNCE: %q %v", status, err)
		}
		waitClosed(t, c, 30*time.Second)
	})
}

// TestIdleTimeoutSparesUDPPublisher: an ffmpeg publishing over UDP sends
// nothing on its RTSP connection while its RTP flows; a publish lasting
// several IdleTimeouts must not be cut.
func TestIdleTimeoutSparesUDPPublisher(t *testing.T) {
	if testing.Short() {
		t.Skip("ffmpeg publish takes seconds")
	}
	clip, _ := makeClip(t, "libx264", "aac", 44100)
	_, r, addr := startServer(t, withUDP(t), func(s *Server) { s.IdleTimeout = time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The 2 s clip three times at its own pace (-re): 6 IdleTimeouts.
	out, err := exec.CommandContext(ctx, testtool.Need(t, "ffmpeg"), "-hide_banner", "-loglevel", "error",
		"-re", "-stream_loop", "2", "-i", clip, "-c", "copy", "-muxdelay", "0",
		"-f", "rtsp", "-rtsp_transport", "udp", "rtsp://user:pass@"+addr+"/cam1").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	waitFor(t, 10*time.Second, "session end", func() bool {
		w := r.session(0)
		if w == nil {
			return false
		}
		_, _, closed := w.snapshot()
		return closed
	})
	if n := r.count(); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
	// ffmpeg exiting 0 is the proof: had the server closed the RTSP
	// connection, its TEARDOWN would have failed ("Broken pipe"). The
	// frame count is not: UDP drops packets on a loaded machine.
	if frames, _, _ := r.session(0).snapshot(); len(frames) == 0 {
		t.Fatal("no frames received")
	}
}
