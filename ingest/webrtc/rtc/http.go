package rtc

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// The HTTP side WHIP (RFC 9725) and WHEP share: both are an SDP offer
// POSTed to an endpoint, a session resource at Location that PATCH
// trickles candidates into and DELETE ends, CORS so that a page of
// another origin can use them, and errors as JSON {"message": …} like the
// rest of the plain API.

// MaxBody bounds an offer or a trickle fragment.
const MaxBody = 64 << 10

// CORS sets the CORS headers of every response: a page on another
// origin reads the Location, ETag, Accept-Patch and Link headers.
func CORS(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("Access-Control-Expose-Headers", "Location, ETag, Accept-Patch, Link")
}

// Preflight answers OPTIONS: on a session resource (a "session" path
// value) PATCH and DELETE, on the endpoint POST with links (the Link
// headers of ICE servers, RFC 9725 section 4.6).
func Preflight(w http.ResponseWriter, r *http.Request, links []string) {
	CORS(w)
	hd := w.Header()
	methods := "OPTIONS, POST"
	if r.PathValue("session") != "" {
		methods = "OPTIONS, PATCH, DELETE"
		hd.Set("Accept-Patch", "application/trickle-ice-sdpfrag")
	} else {
		hd.Set("Accept-Post", "application/sdp")
		for _, l := range links {
			hd.Add("Link", l)
		}
	}
	hd.Set("Allow", methods)
	hd.Set("Access-Control-Allow-Methods", methods)
	hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
	hd.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// Fail writes an error response with a JSON message.
func Fail(w http.ResponseWriter, code int, format string, args ...any) {
	CORS(w)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b, _ := json.Marshal(map[string]string{"message": fmt.Sprintf(format, args...)})
	w.Write(append(b, '\n'))
}

// ReadBody checks the content type and reads a body of at most MaxBody
// bytes. On failure it returns the status to answer (415, 413 or 400)
// and why; it writes nothing.
func ReadBody(w http.ResponseWriter, r *http.Request, want string) ([]byte, int, string) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != want {
		return nil, http.StatusUnsupportedMediaType, fmt.Sprintf("content type must be %s, not %q", want, r.Header.Get("Content-Type"))
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", MaxBody)
		}
		return nil, http.StatusBadRequest, fmt.Sprintf("reading the body: %v", err)
	}
	return b, 0, ""
}

// NewSessionID returns a random session id (128 bits, hex).
func NewSessionID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
