package kvs

import (
	"net/http"
	"strings"

	"github.com/kinedge/kinedge/dataplane/awsproto"
)

// UnknownOperation returns the handler of a path the KVS endpoint does
// not serve: HTTP 404 with an UnknownOperationException naming the
// method and path, in KVS's REST-JSON error shape (what AWS answers to a
// signed request for an operation it does not have).
func (h *Handler) UnknownOperation() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		if len(path) > 256 {
			path = path[:256] + "..."
		}
		writeError(w, awsproto.RequestID(r.Context()), &awsproto.Error{
			Type:    awsproto.UnknownOperationException,
			Message: "No operation at " + r.Method + " " + path + " on this Kinesis Video Streams endpoint.",
			Status:  http.StatusNotFound,
		})
	})
}

// Signed reports whether r carries AWS Signature Version 4 credentials, in
// the Authorization header or presigned in the query: a request for the
// AWS APIs rather than for the web page or plain API (which use Basic
// auth and cookies). The signature itself is not checked here.
func Signed(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") ||
		r.URL.Query().Get("X-Amz-Algorithm") == "AWS4-HMAC-SHA256"
}

// Fallback returns the handler for the paths no operation claims on a mux
// shared with other handlers: a POST signed with SigV4 goes through wrap
// (the SigV4 middleware, so a bad signature gets its AWS error) to
// UnknownOperation, anything else to other (the web page and plain API
// behind their own authentication). A correctly signed request for a path
// that does not exist is thus answered like AWS, never with the other
// handler's HTTP Basic challenge.
func (h *Handler) Fallback(wrap func(http.Handler) http.Handler, other http.Handler) http.Handler {
	if wrap == nil {
		wrap = func(next http.Handler) http.Handler { return next }
	}
	unknown := wrap(h.UnknownOperation())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && Signed(r) {
			unknown.ServeHTTP(w, r)
			return
		}
		other.ServeHTTP(w, r)
	})
}
