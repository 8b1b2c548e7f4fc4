package rtsp

import (
	"net"
	"sync"
	"time"
)

// guardListener hands gortsplib guardConns: gortsplib's server sets no read
// deadline while it waits for a request (only while a session records over
// TCP), so without them a client that sends nothing, or half a request
// line, holds a connection and its goroutines for ever.
type guardListener struct {
	net.Listener
	authTimeout, idleTimeout time.Duration
	now                      func() time.Time
}

func (l *guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	now := l.now()
	return &guardConn{Conn: c, l: l, opened: now, lastRequest: now}, nil
}

// guardConn applies the server's deadline to every read, on top of the
// deadline gortsplib asks for (the earlier wins):
//
//   - until the client authenticates: AuthTimeout after the connection
//     opened, a fixed point in time, so trickling bytes does not extend it;
//   - authenticated, without a recording session: IdleTimeout after the
//     last request;
//   - recording: none of ours (gortsplib bounds RTP over TCP by
//     ReadTimeout; over UDP the RTSP connection may be silent while the
//     session's RTP flows, and gortsplib's session timeout ends it).
type guardConn struct {
	net.Conn
	l      *guardListener
	opened time.Time

	mu          sync.Mutex
	authed      bool
	recording   bool
	lastRequest time.Time
	asked       time.Time // the read deadline gortsplib set; zero for none
}

// deadline returns the read deadline to apply now.
func (c *guardConn) deadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ours time.Time
	switch {
	case !c.authed:
		ours = c.opened.Add(c.l.authTimeout)
	case !c.recording:
		ours = c.lastRequest.Add(c.l.idleTimeout)
	}
	if ours.IsZero() || (!c.asked.IsZero() && c.asked.Before(ours)) {
		return c.asked
	}
	return ours
}

func (c *guardConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(c.deadline()); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *guardConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.asked = t
	c.mu.Unlock()
	return c.Conn.SetReadDeadline(c.deadline())
}

func (c *guardConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

// request notes a complete request: the idle timeout starts again.
func (c *guardConn) request() {
	c.mu.Lock()
	c.lastRequest = c.l.now()
	c.mu.Unlock()
}

// authenticated ends the AuthTimeout: the client proved its credentials.
func (c *guardConn) authenticated() {
	c.mu.Lock()
	c.authed = true
	c.lastRequest = c.l.now()
	c.mu.Unlock()
}

// record marks the connection as carrying a recording session.
func (c *guardConn) record() {
	c.mu.Lock()
	c.recording = true
	c.mu.Unlock()
}

// guardOf returns the guardConn under a gortsplib connection, nil if there
// is none (a connection that did not come from guardListener).
func guardOf(nc net.Conn) *guardConn {
	g, _ := nc.(*guardConn)
	return g
}
