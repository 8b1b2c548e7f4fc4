package awsproto

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// stallServer serves h behind StallHandler with WriteTimeout = stall, as
// kinedge does.
func stallServer(t *testing.T, stall time.Duration, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(StallHandler(h, stall))
	srv.Config.WriteTimeout = stall
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// TestStallHandlerCutsAStalledReader: a client that requests an endless
// response and reads nothing frees the handler: once the socket buffers
// are full, a write fails within the stall.
func TestStallHandlerCutsAStalledReader(t *testing.T) {
	ended := make(chan error, 1)
	srv := stallServer(t, 300*time.Millisecond, func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 64<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				ended <- err
				return
			}
			w.(http.Flusher).Flush() // replay's way of flushing
		}
	})
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c, ok := c.(*net.TCPConn); ok {
		c.SetReadBuffer(4 << 10) // the socket buffers fill sooner
	}
	if _, err := io.WriteString(c, "GET /replay HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if !strings.Contains(err.Error(), "timeout") {
			t.Errorf("the handler's write failed with %v, want a timeout", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a client that read nothing held the handler for a minute")
	}
}

// TestStallHandlerKeepsAReadingClient: a response that streams past the
// stall (and past WriteTimeout) reaches a client that keeps reading, and
// the next request on the same connection gets a fresh deadline.
func TestStallHandlerKeepsAReadingClient(t *testing.T) {
	const stall = time.Second
	srv := stallServer(t, stall, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/short" {
			io.WriteString(w, "ok\n")
			return
		}
		tick := time.NewTicker(stall / 4)
		defer tick.Stop()
		end := time.Now().Add(5 * stall / 2)
		for i := 0; time.Now().Before(end); i++ {
			<-tick.C
			if _, err := io.WriteString(w, "line\n"); err != nil {
				t.Errorf("write %d failed: %v", i, err)
				return
			}
			w.(http.Flusher).Flush()
		}
		io.WriteString(w, "end\n")
	})
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for _, path := range []string{"/stream", "/short"} {
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: body cut: %v after %q", path, err, body)
		}
		if want := map[string]string{"/stream": "end\n", "/short": "ok\n"}[path]; !strings.HasSuffix(string(body), want) {
			t.Fatalf("%s: body %q does not end with %q", path, body, want)
		}
	}
}
