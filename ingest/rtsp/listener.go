package rtsp

import (
	"crypto/tls"
	"net"
	"sync"
)

// mergedListener accepts from a plain RTSP listener and an RTSPS one (RFC
// 7826 §4.2: TLS from the first byte) as one: gortsplib runs one server,
// so publishers, players and live relays are the same for both schemes.
// gortsplib is not told about TLS (its TLSConfig stays nil): it would
// turn the whole server to RTSPS and require SRTP profiles; the RTSPS
// connections arrive as *tls.Conn and carry interleaved RTP inside TLS.
// UDP transport from an RTSPS connection is refused at SETUP (the RTP
// would leave the TLS session in the clear).
type mergedListener struct {
	lns    []net.Listener
	conns  chan net.Conn
	errc   chan error
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	closed error
}

func newMergedListener(lns ...net.Listener) *mergedListener {
	m := &mergedListener{lns: lns, conns: make(chan net.Conn), errc: make(chan error, len(lns)), done: make(chan struct{})}
	for _, ln := range lns {
		m.wg.Add(1)
		go m.accept(ln)
	}
	return m
}

// accept hands ln's connections to Accept until ln fails or m closes.
func (m *mergedListener) accept(ln net.Listener) {
	defer m.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			m.errc <- err
			return
		}
		select {
		case m.conns <- c:
		case <-m.done:
			c.Close()
			return
		}
	}
}

func (m *mergedListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case err := <-m.errc:
		return nil, err
	case <-m.done:
		return nil, net.ErrClosed
	}
}

// Close closes every listener and waits for their accept loops.
func (m *mergedListener) Close() error {
	m.once.Do(func() {
		close(m.done)
		for _, ln := range m.lns {
			if err := ln.Close(); err != nil && m.closed == nil {
				m.closed = err
			}
		}
		m.wg.Wait()
	})
	return m.closed
}

// Addr is the first listener's address.
func (m *mergedListener) Addr() net.Addr { return m.lns[0].Addr() }

// isTLS reports whether nc (or the connection a guardConn wraps) is RTSPS.
func isTLS(nc net.Conn) bool {
	if g, ok := nc.(*guardConn); ok {
		nc = g.Conn
	}
	_, ok := nc.(*tls.Conn)
	return ok
}
