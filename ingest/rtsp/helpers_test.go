package rtsp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinedge/kinedge/ingest/media"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recWriter records what a session delivers.
type recWriter struct {
	r      *recRouter
	req    *PublishRequest
	mu     sync.Mutex
	frames []*media.Frame
	// arrivals[i] is when frames[i] reached the writer.
	arrivals []time.Time
	events   []string // "frame" / "disc:<reason>" in order
	closed   bool
	misuse   []string // calls after Close, double Close
}

func (w *recWriter) WriteFrame(f *media.Frame) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.misuse = append(w.misuse, "WriteFrame after Close")
	}
	w.frames = append(w.frames, f)
	w.arrivals = append(w.arrivals, time.Now())
	w.events = append(w.events, "frame")
}

func (w *recWriter) Discontinuity(reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, "disc:"+reason)
}

func (w *recWriter) Close() {
	w.mu.Lock()
	if w.closed {
		w.misuse = append(w.misuse, "double Close")
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.mu.Unlock()
	w.r.mu.Lock()
	if w.r.active[w.req.Stream] == w {
		delete(w.r.active, w.req.Stream)
	}
	w.r.mu.Unlock()
}

func (w *recWriter) snapshot() (frames []*media.Frame, discs []string, closed bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.events {
		if len(e) > 5 && e[:5] == "disc:" {
			discs = append(discs, e[5:])
		}
	}
	return append([]*media.Frame(nil), w.frames...), discs, w.closed
}

// recRouter accepts any stream but "missing", one publisher at a time.
type recRouter struct {
	mu       sync.Mutex
	active   map[string]*recWriter
	sessions []*recWriter
	fail     error
}

func (r *recRouter) Publish(req *PublishRequest) (media.Writer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return nil, r.fail
	}
	if req.Stream == "missing" {
		return nil, fmt.Errorf("%w: %s", ErrStreamNotFound, req.Stream)
	}
	if r.active == nil {
		r.active = map[string]*recWriter{}
	}
	if _, ok := r.active[req.Stream]; ok {
		return nil, fmt.Errorf("%w: %s", ErrStreamBusy, req.Stream)
	}
	w := &recWriter{r: r, req: req}
	r.active[req.Stream] = w
	r.sessions = append(r.sessions, w)
	return w, nil
}

func (r *recRouter) session(i int) *recWriter {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i >= len(r.sessions) {
		return nil
	}
	return r.sessions[i]
}

func (r *recRouter) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// freeUDPPair finds an even/odd pair of free UDP ports on loopback.
func freeUDPPair(t *testing.T) (rtp, rtcp string) {
	t.Helper()
	for range 50 {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		port &^= 1
		a, err1 := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		b, err2 := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port+1))
		if a != nil {
			a.Close()
		}
		if b != nil {
			b.Close()
		}
		if err1 == nil && err2 == nil {
			return fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", port+1)
		}
	}
	t.Fatal("no free UDP port pair")
	return "", ""
}

type serverOpt func(*Server)

func withUDP(t *testing.T) serverOpt {
	return func(s *Server) { s.UDPRTPAddress, s.UDPRTCPAddress = freeUDPPair(t) }
}

// startServer runs a Server on loopback with user "user" / "pass".
func startServer(t *testing.T, opts ...serverOpt) (*Server, *recRouter, string) {
	t.Helper()
	r := &recRouter{}
	s := &Server{
		Address: "127.0.0.1:0",
		Router:  r,
		Auth:    StaticCredentials("user", "pass"),
		Logger:  testLogger(t),
	}
	for _, o := range opts {
		o(s)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, r, s.Addr().String()
}

var errTest = errors.New("test router failure")
