package s3test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Proxy is a reverse proxy in front of a Server that records the
// requests it passes: a test points a client at it to count what that
// client asks the S3 server. The client signs for the proxy's host, which
// the proxy passes on unchanged, so signatures hold.
type Proxy struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []string
}

// Proxy starts a recording proxy in front of s, closed with the test.
func (s *Server) Proxy(t testing.TB) *Proxy {
	t.Helper()
	target, err := url.Parse(s.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.reqs = append(p.reqs, r.Method+" "+r.URL.RequestURI())
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// Endpoint returns the proxy's http://host:port.
func (p *Proxy) Endpoint() string { return p.srv.URL }

// Requests returns the requests passed so far ("GET /bucket/key?query"),
// in order, and forgets them.
func (p *Proxy) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.reqs
	p.reqs = nil
	return out
}

// Reads returns what Requests returns without the writes (PUT, POST,
// DELETE) and the client's bucket-location probes: what a reader asked.
func (p *Proxy) Reads() []string {
	var out []string
	for _, r := range p.Requests() {
		if (strings.HasPrefix(r, "GET ") || strings.HasPrefix(r, "HEAD ")) && !strings.HasSuffix(r, "?location=") {
			out = append(out, r)
		}
	}
	return out
}
