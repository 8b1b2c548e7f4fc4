package awsproto

import (
	"net/http"
	"time"
)

// StallHandler bounds how long next's response may stall: each write,
// header and flush must reach the client within stall of being made, or
// the connection's write deadline passes and the write fails (next sees
// the error, the connection is closed). A response that streams for hours
// (a replay, SubscribeToShard) is fine while its client keeps reading; a
// client that stops reading frees its connection and its handler within
// stall. The deadline is moved once more when next returns, for the
// server's final flush.
//
// Set http.Server.WriteTimeout to stall as well: net/http then resets the
// deadline when it reads each request of a keep-alive connection, so a
// deadline moved here never outlives its request.
func StallHandler(next http.Handler, stall time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &stallWriter{ResponseWriter: w, rc: http.NewResponseController(w), stall: stall}
		defer sw.extend()
		next.ServeHTTP(sw, r)
	})
}

// stallWriter moves the write deadline ahead of each write. Unwrap lets
// http.NewResponseController reach the connection through it.
type stallWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration
}

func (s *stallWriter) extend() { _ = s.rc.SetWriteDeadline(time.Now().Add(s.stall)) }

func (s *stallWriter) WriteHeader(code int) {
	s.extend()
	s.ResponseWriter.WriteHeader(code)
}

func (s *stallWriter) Write(p []byte) (int, error) {
	s.extend()
	return s.ResponseWriter.Write(p)
}

// Flush implements http.Flusher (replay asserts it).
func (s *stallWriter) Flush() {
	s.extend()
	_ = s.rc.Flush()
}

// Unwrap returns the wrapped ResponseWriter (for http.ResponseController).
func (s *stallWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
