// Package web is the appliance's page for people: a camera grid, a
// per-camera timeline with thumbnails, click-to-play, clip download and a
// WHEP live view, embedded in the binary (plain HTML, CSS and JavaScript;
// no framework, no CDN). It also owns how a browser authenticates: a login
// form that turns the admin credentials into a session cookie, the CSRF
// check of that cookie, and short-lived media tokens (package mediatoken)
// on the URLs of <video>, <img> and WHEP. Guard is the one middleware in
// front of the plain HTTP API; docs/web-auth.md explains the design.
package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kinedge/kinedge/dataplane/authlimit"
	"github.com/kinedge/kinedge/dataplane/authz"
	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/dataplane/video/mediatoken"
)

//go:embed static
var staticFS embed.FS

// CookieName is the session cookie's name.
const CookieName = "kinedge_session"

// CSRFHeader is the header that carries a session's CSRF token.
const CSRFHeader = "X-CSRF-Token"

// AssetPrefix is where the page's scripts and styles are served.
const AssetPrefix = "/ui/"

// maxLoginBody bounds the login form.
const maxLoginBody = 4 << 10

// Handler serves the page, the login, the media tokens, and guards the API.
type Handler struct {
	// AccessKey and SecretKey are the admin credentials (HTTP Basic, and
	// the login form).
	AccessKey, SecretKey string
	// Users, when set, replaces AccessKey and SecretKey: any user's access
	// key and secret log in, and Guard lets each request through only
	// with the permission it needs (see Guard).
	Users *authz.Store
	// AnonymousRead lets GET and HEAD through without credentials.
	AnonymousRead bool
	// Sessions is the session table. Required.
	Sessions *Sessions
	// Tokens mints and verifies media tokens. Required.
	Tokens *mediatoken.Signer
	// Limiter brakes password guessing on HTTP Basic and the login form
	// (429 with Retry-After once an address is locked out). Nil: no
	// limit.
	Limiter *authlimit.Limiter
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

var pages = template.Must(template.ParseFS(staticFS, "static/index.html", "static/login.html", "static/publish.html"))

// Register adds the page, its assets, login, logout and the token
// endpoint to mux (the mux Guard wraps).
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", h.index)
	mux.HandleFunc("GET /publish", h.publishPage)
	mux.HandleFunc("GET "+AssetPrefix+"{file...}", func(w http.ResponseWriter, r *http.Request) {
		name := "static/" + r.PathValue("file")
		if strings.HasSuffix(name, ".html") || !fs.ValidPath(name) {
			http.NotFound(w, r) // the templates are served by index only
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.ServeFileFS(w, r, staticFS, name)
	})
	mux.HandleFunc("POST /login", h.login)
	mux.HandleFunc("POST /logout", h.logout)
	mux.HandleFunc("GET /v1/streams/{name}/token", h.token)
	mux.HandleFunc("POST /v1/streams/{name}/publish-token", h.publishToken)
}

// securityHeaders are set on both pages: everything from this origin, no
// framing, and no Referer to other origins (media URLs carry tokens;
// "no-referrer" would make Chromium send Origin: null on the login form).
func securityHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "+
		"connect-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
}

// index serves the page to an authenticated browser, the login form to
// one that is not, and the API's 401 to other clients.
func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	a := h.authenticate(r)
	switch {
	case a.ok:
		securityHeaders(w)
		data := struct{ CSRF, Who string }{a.session.CSRF, a.who}
		if err := pages.ExecuteTemplate(w, "index.html", data); err != nil {
			h.logger().Warn("web: page", "err", err)
		}
	case wantsHTML(r):
		h.loginPage(w, http.StatusOK, "")
	default:
		h.unauthorized(w, a)
	}
}

// publishPage serves the publish page (this device's camera over WHIP)
// to an authenticated browser, the login form to one that is not.
func (h *Handler) publishPage(w http.ResponseWriter, r *http.Request) {
	a := h.authenticate(r)
	switch {
	case a.ok && a.who != "anonymous" && a.who != "token":
		securityHeaders(w)
		if err := pages.ExecuteTemplate(w, "publish.html", struct{ CSRF string }{a.session.CSRF}); err != nil {
			h.logger().Warn("web: publish page", "err", err)
		}
	case wantsHTML(r):
		h.loginPage(w, http.StatusOK, "")
	default:
		h.unauthorized(w, a)
	}
}

func (h *Handler) loginPage(w http.ResponseWriter, status int, msg string) {
	securityHeaders(w)
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, "login.html", struct{ Error string }{msg}); err != nil {
		h.logger().Warn("web: login page", "err", err)
	}
}

func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// crossSite reports a request a browser marks as sent by another site
// (Sec-Fetch-Site), or, from a browser that does not send that header,
// whose Origin is not this host.
func crossSite(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		return s != "same-origin" && s != "none"
	}
	if o := r.Header.Get("Origin"); o != "" {
		host, ok := strings.CutPrefix(o, "http://")
		if !ok {
			host, ok = strings.CutPrefix(o, "https://")
		}
		return !ok || host != r.Host
	}
	return false
}

// login checks the admin credentials of the form and starts a session.
// A cross-site form is refused (login CSRF).
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if crossSite(r) {
		h.loginPage(w, http.StatusForbidden, "This login came from another site and was refused.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		h.loginPage(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	if wait, ok := h.Limiter.Check(r.RemoteAddr); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)))
		h.loginPage(w, http.StatusTooManyRequests, fmt.Sprintf("Too many failed logins from this address: try again in %d s.", int(wait/time.Second)))
		return
	}
	u, ok := h.lookup(r.PostForm.Get("access_key"), r.PostForm.Get("secret_key"))
	if !ok {
		h.Limiter.Fail(r.RemoteAddr, "login")
		h.logger().Info("web: login refused", "remote", r.RemoteAddr)
		h.loginPage(w, http.StatusUnauthorized, "Wrong access key or secret key.")
		return
	}
	h.Limiter.Succeed(r.RemoteAddr)
	sess, err := h.Sessions.New()
	if err == nil {
		sess = h.Sessions.setUser(sess.ID, u.AccessKey)
	}
	if err != nil {
		h.logger().Error("web: new session", "err", err)
		h.loginPage(w, http.StatusInternalServerError, "The session could not be created.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: sess.ID, Path: "/", Expires: sess.Expires,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	h.logger().Info("web: login", "remote", r.RemoteAddr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the cookie's session (Guard has checked its CSRF token).
func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(CookieName); err == nil {
		h.Sessions.Delete(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	w.WriteHeader(http.StatusNoContent)
}

// TokenJSON is the answer of GET /v1/streams/{name}/token.
type TokenJSON struct {
	Token   string    `json:"token"`
	Stream  string    `json:"stream"`
	Start   time.Time `json:"start,omitzero"`
	End     time.Time `json:"end,omitzero"`
	Expires time.Time `json:"expires"`
}

// token serves GET /v1/streams/{name}/token?start=&end=: a media token for
// the stream and the range (without both: live view only).
func (h *Handler) token(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	start, err1 := videoapi.ParseTime(q.Get("start"))
	end, err2 := videoapi.ParseTime(q.Get("end"))
	if err1 != nil || err2 != nil {
		writeJSON(w, http.StatusBadRequest, message{"start and end must be RFC 3339 times (2026-11-25T20:00:00Z) or Unix seconds"})
		return
	}
	name := r.PathValue("name")
	tok, exp, err := h.Tokens.Mint(name, start, end)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, message{err.Error()})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, TokenJSON{Token: tok, Stream: name, Start: start.UTC(), End: end.UTC(), Expires: exp.UTC()})
}

// publishToken serves POST /v1/streams/{name}/publish-token: a publish
// token of the stream, which WHIP takes as its bearer (the publish page
// sends it). Guard has checked the admin session and its CSRF token.
func (h *Handler) publishToken(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	tok, exp, err := h.Tokens.MintPublish(name)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, message{err.Error()})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, TokenJSON{Token: tok, Stream: name, Expires: exp.UTC()})
}

type message struct {
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
