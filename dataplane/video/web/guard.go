package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kinedge/kinedge/dataplane/authz"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/dataplane/video/mediatoken"
)

// auth is who a request is.
type auth struct {
	ok      bool
	who     string  // "admin", "session", "token", "anonymous"
	session Session // for who == "session"
	// staleCookie: the request carried a session cookie the table does
	// not know (expired, logged out, or from before a restart).
	staleCookie bool
	// status and msg, when not ok and the request must be refused with
	// something other than 401.
	status int
	msg    string
	// retryAfter, for status 429: how long the address stays locked out.
	retryAfter time.Duration
	// user is the user of "admin" (HTTP Basic) and "session".
	user authz.User
}

// Guard is the one middleware in front of the plain HTTP API (and the
// page, and WHEP). A request passes with any of:
//   - HTTP Basic with the admin access key and secret key;
//   - the session cookie: GET and HEAD freely; other methods need the
//     session's CSRF token in the X-CSRF-Token header, and are refused
//     when the browser says they come from another site (Sec-Fetch-Site
//     or Origin);
//   - a valid media token (`token` query parameter) on a media route of
//     its stream: GET /v1/streams/{name}/media and /image inside the
//     token's range, and /whep/{name}[/…] (live view);
//   - nothing, for GET and HEAD, when AnonymousRead is set.
//
// The pages (/ and /publish), their assets, the login form and WHEP's CORS preflights
// (OPTIONS) pass without credentials.
// Refusals are JSON {"message": …}: 401 without credentials (with a Basic
// challenge unless a session cookie was sent, so the page's own requests
// do not pop up the browser's dialog), 403 for a wrong CSRF token or a
// token that is expired or does not cover the request, 429 with
// Retry-After for Basic credentials from an address the Limiter has
// locked out (checked before the credentials; wrong ones count).
func (h *Handler) Guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if public(r) {
			next.ServeHTTP(w, r)
			return
		}
		a := h.authenticate(r)
		if !a.ok {
			h.unauthorized(w, a)
			return
		}
		if a.who == "admin" || a.who == "session" {
			if act, stream, ok := permitted(r, a.user); !ok {
				msg := "user " + a.user.Name + " is not allowed to " + string(act)
				if stream != "" {
					msg += " on stream " + stream
				}
				writeJSON(w, http.StatusForbidden, message{msg})
				return
			}
			r = r.WithContext(authz.WithUser(r.Context(), a.user))
		} else if a.who == "anonymous" && strings.HasPrefix(r.URL.Path, "/v1/users") {
			writeJSON(w, http.StatusForbidden, message{"the users are for admins only"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// public reports the requests that need no credentials: the page (which
// shows the login form itself), its assets and the login.
func public(r *http.Request) bool {
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case read && (r.URL.Path == "/" || r.URL.Path == "/publish" || strings.HasPrefix(r.URL.Path, AssetPrefix)):
		return true
	case r.Method == http.MethodPost && r.URL.Path == "/login":
		return true
	case r.Method == http.MethodOptions && strings.HasPrefix(r.URL.Path, "/whep/"):
		// A CORS preflight never carries credentials (Fetch standard);
		// WHEP's answer to it holds no data.
		return true
	}
	return false
}

func (h *Handler) unauthorized(w http.ResponseWriter, a auth) {
	if a.status != 0 {
		if a.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(a.retryAfter/time.Second)))
		}
		writeJSON(w, a.status, message{a.msg})
		return
	}
	msg := "authentication required: HTTP Basic with the access key and secret key"
	if a.staleCookie {
		msg = "your session has ended: log in again"
	} else {
		w.Header().Set("WWW-Authenticate", `Basic realm="kinedge", charset="UTF-8"`)
	}
	writeJSON(w, http.StatusUnauthorized, message{msg})
}

// authenticate decides who r is; see Guard.
func (h *Handler) authenticate(r *http.Request) auth {
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	if user, pass, ok := r.BasicAuth(); ok {
		if wait, ok := h.Limiter.Check(r.RemoteAddr); !ok {
			return lockedOut(wait)
		}
		if u, ok := h.lookup(user, pass); ok {
			h.Limiter.Succeed(r.RemoteAddr)
			return auth{ok: true, who: "admin", user: u}
		}
		h.Limiter.Fail(r.RemoteAddr, "http")
		return auth{} // a wrong password is not rescued by anonymous reads
	}
	var stale bool
	var refused auth // a cookie's request that failed the CSRF check
	if c, err := r.Cookie(CookieName); err == nil && c.Value != "" {
		sess, ok := h.Sessions.Get(c.Value)
		u, known := h.sessionUser(sess)
		if !ok || !known {
			stale = true
		} else if read {
			return auth{ok: true, who: "session", session: sess, user: u}
		} else if crossSite(r) {
			refused = auth{status: http.StatusForbidden, msg: "refused: the request comes from another site"}
		} else if got := r.Header.Get(CSRFHeader); got == "" || !constantTimeEqual(got, sess.CSRF) {
			refused = auth{status: http.StatusForbidden, msg: "refused: a missing or wrong " + CSRFHeader + " header (reload the page)"}
		} else {
			return auth{ok: true, who: "session", session: sess, user: u}
		}
	}
	if tok := r.URL.Query().Get("token"); tok != "" {
		scope, ok := mediaScope(r)
		if !ok {
			return auth{status: http.StatusForbidden, msg: "a media token opens only a stream's media, image and live view"}
		}
		if _, err := h.Tokens.Verify(tok, scope); err != nil {
			return auth{status: http.StatusForbidden, msg: strings.TrimPrefix(err.Error(), "mediatoken: ")}
		}
		return auth{ok: true, who: "token"}
	}
	if refused.status != 0 {
		return refused
	}
	if h.AnonymousRead && read {
		return auth{ok: true, who: "anonymous"}
	}
	return auth{staleCookie: stale}
}

// lockedOut is the refusal of an address locked out by the Limiter.
func lockedOut(wait time.Duration) auth {
	return auth{status: http.StatusTooManyRequests, retryAfter: wait,
		msg: fmt.Sprintf("too many failed authentications from this address: try again in %d s", int(wait/time.Second))}
}

// lookup returns the user of an access key and secret: from Users, or
// the admin of AccessKey and SecretKey without Users.
func (h *Handler) lookup(key, secret string) (authz.User, bool) {
	if h.Users != nil {
		u, ok := h.Users.ByAccessKey(key)
		return u, ok && u.SecretEqual(secret)
	}
	if h.AccessKey != "" && constantTimeEqual(key, h.AccessKey) && constantTimeEqual(secret, h.SecretKey) {
		return authz.User{Name: "admin", AccessKey: h.AccessKey, Grants: []authz.Grant{{Action: authz.Admin, Streams: "*"}}}, true
	}
	return authz.User{}, false
}

// sessionUser returns the user of a session, now: a user removed or
// rotated since the login has none.
func (h *Handler) sessionUser(sess Session) (authz.User, bool) {
	if h.Users == nil {
		return authz.User{Name: "admin", Grants: []authz.Grant{{Action: authz.Admin, Streams: "*"}}}, true
	}
	return h.Users.ByAccessKey(sess.AccessKey)
}

// permitted reports whether u may make request r, and if not the action
// and stream it lacks:
//   - GET or HEAD of /v1/streams/{name}[/…] (its media, image, token…) and
//     anything under /whep/{name}: read on the stream;
//   - GET /v1/streams (the list): read on some stream;
//   - POST /v1/streams/{name}/publish-token: publish on the stream;
//   - POST /logout: anyone;
//   - anything else (sources, users, /metrics…): admin.
func permitted(r *http.Request, u authz.User) (authz.Action, string, bool) {
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	p := r.URL.Path
	if rest, ok := strings.CutPrefix(p, "/whep/"); ok {
		name, _, _ := strings.Cut(rest, "/")
		return authz.Read, name, u.Can(authz.Read, name)
	}
	if rest, ok := strings.CutPrefix(p, "/v1/streams/"); ok {
		name, what, _ := strings.Cut(rest, "/")
		switch {
		case read && name != "":
			return authz.Read, name, u.Can(authz.Read, name)
		case r.Method == http.MethodPost && what == "publish-token":
			return authz.Publish, name, u.Can(authz.Publish, name)
		}
	}
	switch {
	case read && p == "/v1/streams":
		return authz.Read, "", u.CanSome(authz.Read)
	case r.Method == http.MethodPost && p == "/logout":
		return "", "", true
	}
	return authz.Admin, "", u.Can(authz.Admin, "")
}

// mediaScope returns what a media route reads, for the token check: the
// stream and the range of GET /v1/streams/{name}/media, the instant of
// /image, or live view for /whep/{name}[/…] and /v1/streams/{name}/live.m3u8.
func mediaScope(r *http.Request) (mediatoken.Scope, bool) {
	p := r.URL.Path
	if rest, ok := strings.CutPrefix(p, "/whep/"); ok {
		name, _, _ := strings.Cut(rest, "/")
		return mediatoken.Scope{Stream: name, Live: true}, name != ""
	}
	rest, ok := strings.CutPrefix(p, "/v1/streams/")
	if !ok || !(r.Method == http.MethodGet || r.Method == http.MethodHead) {
		return mediatoken.Scope{}, false
	}
	name, what, ok := strings.Cut(rest, "/")
	if !ok || name == "" {
		return mediatoken.Scope{}, false
	}
	q := r.URL.Query()
	switch what {
	case "media":
		start, err1 := videoapi.ParseTime(q.Get("start"))
		end, err2 := videoapi.ParseTime(q.Get("end"))
		if err1 != nil || err2 != nil {
			start, end = time.Time{}, time.Time{} // Verify says the range is missing
		}
		return mediatoken.Scope{Stream: name, Start: start, End: end}, true
	case "live.m3u8":
		return mediatoken.Scope{Stream: name, Live: true}, true
	case "image":
		at, err := videoapi.ParseTime(q.Get("at"))
		if err != nil {
			at = time.Time{}
		}
		return mediatoken.Scope{Stream: name, Start: at, End: at}, true
	}
	return mediatoken.Scope{}, false
}
