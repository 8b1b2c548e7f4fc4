package web

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/dataplane/authlimit"
	"github.com/kinedge/kinedge/dataplane/video/mediatoken"
)

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// fixture is a Handler in front of a mux with stand-ins for the API's
// routes, on an injected clock.
type fixture struct {
	t   *testing.T
	now time.Time
	h   *Handler
	srv http.Handler
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, now: t0}
	clock := func() time.Time { return f.now }
	tokens, err := mediatoken.NewRandom()
	if err != nil {
		t.Fatal(err)
	}
	tokens.Now = clock
	f.h = &Handler{AccessKey: "admin", SecretKey: "adminsecret", Sessions: &Sessions{Now: clock}, Tokens: tokens,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	mux := http.NewServeMux()
	f.h.Register(mux)
	ok := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "reached "+r.Method+" "+r.URL.Path) }
	mux.HandleFunc("GET /v1/streams", ok)
	mux.HandleFunc("POST /v1/streams", ok)
	mux.HandleFunc("GET /v1/streams/{name}/media", ok)
	mux.HandleFunc("GET /v1/streams/{name}/image", ok)
	mux.HandleFunc("GET /v1/streams/{name}/live.m3u8", ok)
	mux.HandleFunc("GET /v1/streams/{name}/fragments", ok)
	mux.HandleFunc("POST /whep/{name}", ok)
	mux.HandleFunc("DELETE /whep/{name}/{id}", ok)
	mux.HandleFunc("OPTIONS /whep/{name}", ok)
	f.srv = f.h.Guard(mux)
	return f
}

type req struct {
	method, target string
	cookie         string
	basic          bool
	header         map[string]string
	form           url.Values
	tls            bool
	remote         string // RemoteAddr; httptest's 192.0.2.1:1234 when empty
}

func (f *fixture) do(q req) *httptest.ResponseRecorder {
	f.t.Helper()
	var body io.Reader
	if q.form != nil {
		body = strings.NewReader(q.form.Encode())
	}
	r := httptest.NewRequest(q.method, q.target, body)
	if q.form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if q.cookie != "" {
		r.AddCookie(&http.Cookie{Name: CookieName, Value: q.cookie})
	}
	if q.basic {
		r.SetBasicAuth("admin", "adminsecret")
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	if q.tls {
		r.TLS = &tls.ConnectionState{}
	}
	if q.remote != "" {
		r.RemoteAddr = q.remote
	}
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, r)
	return w
}

// login posts the form and returns the session cookie.
func (f *fixture) login(tls bool) *http.Cookie {
	f.t.Helper()
	w := f.do(req{method: "POST", target: "/login", tls: tls,
		form: url.Values{"access_key": {"admin"}, "secret_key": {"adminsecret"}}})
	if w.Code != http.StatusSeeOther {
		f.t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == CookieName {
			return c
		}
	}
	f.t.Fatalf("login set no %s cookie", CookieName)
	return nil
}

func wantStatus(t *testing.T, w *httptest.ResponseRecorder, status int, contains string) {
	t.Helper()
	if w.Code != status || !strings.Contains(w.Body.String(), contains) {
		t.Fatalf("got %d %q, want %d containing %q", w.Code, w.Body, status, contains)
	}
}

// wantJSONMessage checks a refusal is the API's JSON shape.
func wantJSONMessage(t *testing.T, w *httptest.ResponseRecorder, status int, contains string) {
	t.Helper()
	wantStatus(t, w, status, contains)
	var m struct{ Message string }
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || m.Message == "" || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("not a JSON message (%s): %q", w.Header().Get("Content-Type"), w.Body)
	}
}

func TestNoCookie(t *testing.T) {
	f := newFixture(t)
	// A browser at / gets the login form.
	w := f.do(req{method: "GET", target: "/", header: map[string]string{"Accept": "text/html,application/xhtml+xml"}})
	wantStatus(t, w, http.StatusOK, `action="/login"`)
	if strings.Contains(w.Body.String(), "csrf-token") {
		t.Fatal("the login page carries a CSRF token")
	}
	// An API client gets the 401 JSON with a Basic challenge, at / and elsewhere.
	for _, target := range []string{"/", "/v1/streams", "/v1/streams/cam1/media?start=2026-12-02T11:00:00Z&end=2026-12-02T11:01:00Z"} {
		w = f.do(req{method: "GET", target: target})
		wantJSONMessage(t, w, http.StatusUnauthorized, "authentication required")
		if w.Header().Get("WWW-Authenticate") == "" {
			t.Fatalf("%s: no WWW-Authenticate", target)
		}
	}
	// A WHEP CORS preflight passes (browsers send no credentials on it);
	// the offer itself does not.
	wantStatus(t, f.do(req{method: "OPTIONS", target: "/whep/cam1"}), http.StatusOK, "reached OPTIONS")
	wantJSONMessage(t, f.do(req{method: "POST", target: "/whep/cam1"}), http.StatusUnauthorized, "authentication required")
	wantJSONMessage(t, f.do(req{method: "OPTIONS", target: "/v1/streams"}), http.StatusUnauthorized, "authentication required")
	// The page's assets are public; the templates are not served raw.
	wantStatus(t, f.do(req{method: "GET", target: "/ui/app.js"}), http.StatusOK, "mintToken")
	wantStatus(t, f.do(req{method: "GET", target: "/ui/index.html"}), http.StatusNotFound, "")
}

func TestBasic(t *testing.T) {
	f := newFixture(t)
	wantStatus(t, f.do(req{method: "GET", target: "/v1/streams", basic: true}), http.StatusOK, "reached")
	wantStatus(t, f.do(req{method: "POST", target: "/v1/streams", basic: true}), http.StatusOK, "reached")
	w := f.do(req{method: "GET", target: "/v1/streams", header: map[string]string{"Authorization": "Basic YWRtaW46d3Jvbmc="}}) // admin:wrong
	wantJSONMessage(t, w, http.StatusUnauthorized, "authentication required")
	// The page for a Basic client, without a session's CSRF token.
	wantStatus(t, f.do(req{method: "GET", target: "/", basic: true}), http.StatusOK, `<script src="/ui/app.js">`)
}

func TestLoginCookie(t *testing.T) {
	f := newFixture(t)
	w := f.do(req{method: "POST", target: "/login", form: url.Values{"access_key": {"admin"}, "secret_key": {"wrong"}}})
	wantStatus(t, w, http.StatusUnauthorized, "Wrong access key or secret key")
	if len(w.Result().Cookies()) != 0 {
		t.Fatal("a failed login set a cookie")
	}
	w = f.do(req{method: "POST", target: "/login", header: map[string]string{"Sec-Fetch-Site": "cross-site"},
		form: url.Values{"access_key": {"admin"}, "secret_key": {"adminsecret"}}})
	wantStatus(t, w, http.StatusForbidden, "another site")

	c := f.login(false)
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure || len(c.Value) < 40 {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure on plain HTTP, a long random value", c)
	}
	if c2 := f.login(true); !c2.Secure || c2.Value == c.Value {
		t.Fatalf("cookie over TLS %+v: want Secure and a new value", c2)
	}
	w = f.do(req{method: "GET", target: "/", cookie: c.Value, header: map[string]string{"Accept": "text/html"}})
	wantStatus(t, w, http.StatusOK, `name="csrf-token"`)
	if strings.Contains(w.Body.String(), "adminsecret") {
		t.Fatal("the page holds the secret key")
	}
	wantStatus(t, f.do(req{method: "GET", target: "/v1/streams", cookie: c.Value}), http.StatusOK, "reached")

	// The session expires after 12 h: the page's requests get a 401
	// without a Basic challenge (no browser dialog), the browser the form.
	f.now = t0.Add(DefaultSessionTTL)
	w = f.do(req{method: "GET", target: "/v1/streams", cookie: c.Value})
	wantJSONMessage(t, w, http.StatusUnauthorized, "session has ended")
	if w.Header().Get("WWW-Authenticate") != "" {
		t.Fatal("a stale cookie's 401 carries a Basic challenge")
	}
	wantStatus(t, f.do(req{method: "GET", target: "/", cookie: c.Value, header: map[string]string{"Accept": "text/html"}}), http.StatusOK, `action="/login"`)
}

func csrfOf(t *testing.T, f *fixture, cookie string) string {
	t.Helper()
	sess, ok := f.h.Sessions.Get(cookie)
	if !ok {
		t.Fatal("no session")
	}
	return sess.CSRF
}

func TestCSRF(t *testing.T) {
	f := newFixture(t)
	c := f.login(false).Value
	token := csrfOf(t, f, c)
	wantJSONMessage(t, f.do(req{method: "POST", target: "/v1/streams", cookie: c}), http.StatusForbidden, "X-CSRF-Token")
	wantJSONMessage(t, f.do(req{method: "POST", target: "/v1/streams", cookie: c, header: map[string]string{CSRFHeader: "nope"}}), http.StatusForbidden, "X-CSRF-Token")
	wantStatus(t, f.do(req{method: "POST", target: "/v1/streams", cookie: c, header: map[string]string{CSRFHeader: token}}), http.StatusOK, "reached POST")
	// The right token from another site (a browser says so) is refused too.
	wantJSONMessage(t, f.do(req{method: "POST", target: "/v1/streams", cookie: c,
		header: map[string]string{CSRFHeader: token, "Sec-Fetch-Site": "cross-site"}}), http.StatusForbidden, "another site")
	wantJSONMessage(t, f.do(req{method: "POST", target: "/v1/streams", cookie: c,
		header: map[string]string{CSRFHeader: token, "Origin": "http://evil.example"}}), http.StatusForbidden, "another site")

	// Logout needs the token, then the cookie is dead.
	wantJSONMessage(t, f.do(req{method: "POST", target: "/logout", cookie: c}), http.StatusForbidden, "X-CSRF-Token")
	wantStatus(t, f.do(req{method: "POST", target: "/logout", cookie: c, header: map[string]string{CSRFHeader: token}}), http.StatusNoContent, "")
	wantJSONMessage(t, f.do(req{method: "GET", target: "/v1/streams", cookie: c}), http.StatusUnauthorized, "session has ended")
}

// mint gets a media token through the API, as the page does.
func (f *fixture) mint(cookie, stream, query string) string {
	f.t.Helper()
	w := f.do(req{method: "GET", target: "/v1/streams/" + stream + "/token" + query, cookie: cookie})
	if w.Code != http.StatusOK {
		f.t.Fatalf("token: %d %s", w.Code, w.Body)
	}
	var tj TokenJSON
	if err := json.Unmarshal(w.Body.Bytes(), &tj); err != nil || tj.Token == "" {
		f.t.Fatalf("token answer %q: %v", w.Body, err)
	}
	return tj.Token
}

func TestMediaToken(t *testing.T) {
	f := newFixture(t)
	c := f.login(false).Value
	tok := url.QueryEscape(f.mint(c, "cam1", "?start=2026-12-02T11:00:00Z&end=2026-12-02T11:10:00Z"))
	live := url.QueryEscape(f.mint(c, "cam1", ""))
	media := func(stream, start, end, tok string) req {
		return req{method: "GET", target: "/v1/streams/" + stream + "/media?start=" + start + "&end=" + end + "&format=mp4&token=" + tok}
	}
	wantStatus(t, f.do(media("cam1", "2026-12-02T11:00:00Z", "2026-12-02T11:10:00Z", tok)), http.StatusOK, "reached GET /v1/streams/cam1/media")
	wantStatus(t, f.do(req{method: "GET", target: "/v1/streams/cam1/image?at=2026-12-02T11:05:00Z&token=" + tok}), http.StatusOK, "reached")
	wantStatus(t, f.do(req{method: "POST", target: "/whep/cam1?token=" + live}), http.StatusOK, "reached POST /whep/cam1")
	wantStatus(t, f.do(req{method: "DELETE", target: "/whep/cam1/abc?token=" + live}), http.StatusOK, "reached DELETE")
	wantStatus(t, f.do(req{method: "GET", target: "/v1/streams/cam1/live.m3u8?token=" + live}), http.StatusOK, "reached GET /v1/streams/cam1/live.m3u8")
	wantJSONMessage(t, f.do(req{method: "GET", target: "/v1/streams/cam2/live.m3u8?token=" + live}), http.StatusForbidden, `not \"cam2\"`)

	// Out of scope: another stream, outside the range, no range, a route
	// a token does not open, a live token for recorded media.
	wantJSONMessage(t, f.do(media("cam2", "2026-12-02T11:00:00Z", "2026-12-02T11:10:00Z", tok)), http.StatusForbidden, `not \"cam2\"`)
	wantJSONMessage(t, f.do(media("cam1", "2026-12-02T10:59:00Z", "2026-12-02T11:10:00Z", tok)), http.StatusForbidden, "does not cover")
	wantJSONMessage(t, f.do(media("cam1", "2026-12-02T11:00:00Z", "2026-12-02T11:10:01Z", tok)), http.StatusForbidden, "does not cover")
	wantJSONMessage(t, f.do(req{method: "GET", target: "/v1/streams/cam1/media?token=" + tok}), http.StatusForbidden, "start and end")
	wantJSONMessage(t, f.do(req{method: "GET", target: "/v1/streams/cam1/image?at=2026-12-02T12:00:00Z&token=" + tok}), http.StatusForbidden, "does not cover")
	wantJSONMessage(t, f.do(req{method: "GET", target: "/v1/streams/cam1/fragments?token=" + tok}), http.StatusForbidden, "opens only")
	wantJSONMessage(t, f.do(req{method: "GET", target: "/v1/streams?token=" + tok}), http.StatusForbidden, "opens only")
	wantJSONMessage(t, f.do(req{method: "POST", target: "/whep/cam2?token=" + live}), http.StatusForbidden, `not \"cam2\"`)
	wantJSONMessage(t, f.do(media("cam1", "2026-12-02T11:00:00Z", "2026-12-02T11:10:00Z", live)), http.StatusForbidden, "live view only")
	wantJSONMessage(t, f.do(media("cam1", "2026-12-02T11:00:00Z", "2026-12-02T11:10:00Z", "garbage")), http.StatusForbidden, "malformed")
	// A token cannot mint tokens.
	wantJSONMessage(t, f.do(req{method: "GET", target: "/v1/streams/cam1/token?token=" + tok}), http.StatusForbidden, "opens only")

	// Expired: 403 with the expiry in words.
	f.now = t0.Add(mediatoken.DefaultTTL)
	wantJSONMessage(t, f.do(media("cam1", "2026-12-02T11:00:00Z", "2026-12-02T11:10:00Z", tok)), http.StatusForbidden, "token expired at 2026-12-02T12:10:00Z")

	// Minting needs a session or Basic, and a well-formed range.
	wantJSONMessage(t, f.do(req{method: "GET", target: "/v1/streams/cam1/token"}), http.StatusUnauthorized, "authentication required")
	wantJSONMessage(t, f.do(req{method: "GET", target: "/v1/streams/cam1/token?start=2026-12-02T11:00:00Z", basic: true}), http.StatusBadRequest, "start and an end")
	wantJSONMessage(t, f.do(req{method: "GET", target: "/v1/streams/cam1/token?start=yesterday&end=now", basic: true}), http.StatusBadRequest, "RFC 3339")
}

func TestAnonymousRead(t *testing.T) {
	f := newFixture(t)
	f.h.AnonymousRead = true
	wantStatus(t, f.do(req{method: "GET", target: "/v1/streams"}), http.StatusOK, "reached")
	wantStatus(t, f.do(req{method: "GET", target: "/v1/streams/cam1/media?start=2026-12-02T11:00:00Z&end=2026-12-02T11:10:00Z"}), http.StatusOK, "reached")
	wantStatus(t, f.do(req{method: "GET", target: "/", header: map[string]string{"Accept": "text/html"}}), http.StatusOK, `<script src="/ui/app.js">`)
	wantJSONMessage(t, f.do(req{method: "POST", target: "/v1/streams"}), http.StatusUnauthorized, "authentication required")
	// A bad token is refused even with anonymous reads: it says something is wrong.
	wantJSONMessage(t, f.do(req{method: "GET", target: "/v1/streams/cam1/media?start=2026-12-02T11:00:00Z&end=2026-12-02T11:10:00Z&token=x"}), http.StatusForbidden, "malformed")
}

func TestSessionsBounded(t *testing.T) {
	now := t0
	s := &Sessions{Max: 2, TTL: time.Hour, Now: func() time.Time { return now }}
	var ids []string
	for i := range 3 {
		now = t0.Add(time.Duration(i) * time.Second)
		sess, err := s.New()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sess.ID)
	}
	if s.Len() != 2 {
		t.Fatalf("%d sessions held, want 2", s.Len())
	}
	if _, ok := s.Get(ids[0]); ok {
		t.Fatal("the oldest session survived a full table")
	}
	for _, id := range ids[1:] {
		if _, ok := s.Get(id); !ok {
			t.Fatal("a newer session was dropped")
		}
	}
	now = t0.Add(time.Hour + time.Second)
	if _, ok := s.Get(ids[1]); ok {
		t.Fatal("an expired session is live")
	}
	if _, ok := s.Get(ids[2]); !ok {
		t.Fatal("a session expired early")
	}
	if _, err := s.New(); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 {
		t.Fatalf("%d sessions after expiry and a new one, want 2", s.Len())
	}
}

// TestPublishPage: /publish is the login form until a session exists,
// then the page with the session's CSRF token; a publish token needs the
// session and its CSRF token (or Basic), and opens nothing of the API.
func TestPublishPage(t *testing.T) {
	f := newFixture(t)
	html := map[string]string{"Accept": "text/html"}
	wantStatus(t, f.do(req{method: "GET", target: "/publish", header: html}), http.StatusOK, `name="secret_key"`)
	wantJSONMessage(t, f.do(req{method: "GET", target: "/publish"}), http.StatusUnauthorized, "authentication required")
	c := f.login(false).Value
	token := csrfOf(t, f, c)
	w := f.do(req{method: "GET", target: "/publish", cookie: c, header: html})
	wantStatus(t, w, http.StatusOK, `<meta name="csrf-token" content="`+token+`">`)
	if !strings.Contains(w.Body.String(), `src="/ui/publish.js"`) || w.Header().Get("Content-Security-Policy") == "" {
		t.Fatalf("publish page without its script or CSP: %v %q", w.Header(), w.Body)
	}
	wantStatus(t, f.do(req{method: "GET", target: "/ui/publish.js"}), http.StatusOK, "WHIP")

	// Minting: POST with the session and its CSRF token, or Basic.
	wantJSONMessage(t, f.do(req{method: "POST", target: "/v1/streams/cam7/publish-token"}), http.StatusUnauthorized, "authentication required")
	wantJSONMessage(t, f.do(req{method: "POST", target: "/v1/streams/cam7/publish-token", cookie: c}), http.StatusForbidden, "X-CSRF-Token")
	live := url.QueryEscape(f.mint(c, "cam7", ""))
	wantJSONMessage(t, f.do(req{method: "POST", target: "/v1/streams/cam7/publish-token?token=" + live}), http.StatusForbidden, "opens only")
	for _, q := range []req{
		{method: "POST", target: "/v1/streams/cam7/publish-token", cookie: c, header: map[string]string{CSRFHeader: token}},
		{method: "POST", target: "/v1/streams/cam7/publish-token", basic: true},
	} {
		w := f.do(q)
		if w.Code != http.StatusOK {
			t.Fatalf("publish token: %d %s", w.Code, w.Body)
		}
		var tj TokenJSON
		if err := json.Unmarshal(w.Body.Bytes(), &tj); err != nil || tj.Stream != "cam7" {
			t.Fatalf("publish token answer %q: %v", w.Body, err)
		}
		if _, err := f.h.Tokens.Verify(tj.Token, mediatoken.Scope{Stream: "cam7", Publish: true}); err != nil {
			t.Fatalf("the minted token does not publish to cam7: %v", err)
		}
		// It opens no media and no live view.
		pub := url.QueryEscape(tj.Token)
		wantJSONMessage(t, f.do(req{method: "POST", target: "/whep/cam7?token=" + pub}), http.StatusForbidden, "publish token")
		wantJSONMessage(t, f.do(req{method: "GET", target: "/v1/streams/cam7/image?at=2026-12-02T11:05:00Z&token=" + pub}), http.StatusForbidden, "publish token")
	}
}

func TestFailedAuthLockout(t *testing.T) {
	f := newFixture(t)
	f.h.Limiter = &authlimit.Limiter{MaxFailures: 3, Now: func() time.Time { return f.now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	wrong := map[string]string{"Authorization": "Basic YWRtaW46d3Jvbmc="} // admin:wrong
	const attacker, other = "192.0.2.66:4000", "192.0.2.77:5000"
	for range 3 {
		wantJSONMessage(t, f.do(req{method: "GET", target: "/v1/streams", header: wrong, remote: attacker}), http.StatusUnauthorized, "authentication required")
	}
	// locked: even the right credentials are refused, unchecked, with 429
	w := f.do(req{method: "GET", target: "/v1/streams", basic: true, remote: "192.0.2.66:4001"})
	wantJSONMessage(t, w, http.StatusTooManyRequests, "try again in 1 s")
	if got := w.Header().Get("Retry-After"); got != "1" {
		t.Fatalf("Retry-After %q, want 1", got)
	}
	// the login form of the same address too, in HTML
	form := url.Values{"access_key": {"admin"}, "secret_key": {"adminsecret"}}
	w = f.do(req{method: "POST", target: "/login", form: form, remote: attacker})
	wantStatus(t, w, http.StatusTooManyRequests, "Too many failed logins")
	if w.Header().Get("Retry-After") != "1" {
		t.Fatalf("login Retry-After %q", w.Header().Get("Retry-After"))
	}
	// another address gets in
	wantStatus(t, f.do(req{method: "GET", target: "/v1/streams", basic: true, remote: other}), http.StatusOK, "reached")
	// a media token still works from the locked address: it is no guess
	// (tokens are checked by HMAC, not counted)
	c := f.login(false).Value
	live := url.QueryEscape(f.mint(c, "cam1", ""))
	wantStatus(t, f.do(req{method: "POST", target: "/whep/cam1?token=" + live, remote: attacker}), http.StatusOK, "reached")

	// after the backoff the right client succeeds and clears the address
	f.now = f.now.Add(time.Second)
	wantStatus(t, f.do(req{method: "GET", target: "/v1/streams", basic: true, remote: attacker}), http.StatusOK, "reached")
	for range 2 {
		wantStatus(t, f.do(req{method: "POST", target: "/login", form: url.Values{"access_key": {"admin"}, "secret_key": {"x"}}, remote: attacker}),
			http.StatusUnauthorized, "Wrong access key")
	}
	wantStatus(t, f.do(req{method: "GET", target: "/v1/streams", basic: true, remote: attacker}), http.StatusOK, "reached")
	st := f.h.Limiter.Stats()
	if st.Failures["http"] != 3 || st.Failures["login"] != 2 || st.Lockouts != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestMediaTokenScopeEverySurface: a token opens the page's media links,
// live HLS and WHEP (POST, PATCH, DELETE of its session) of its one stream,
// and 403 answers each of them once it has expired or for another stream;
// a publish token opens none of them.
func TestMediaTokenScopeEverySurface(t *testing.T) {
	f := newFixture(t)
	c := f.login(false).Value
	rng := "start=2026-12-02T11:00:00Z&end=2026-12-02T11:10:00Z"
	tok := url.QueryEscape(f.mint(c, "cam1", "?"+rng))
	pubTok, _, err := f.h.Tokens.MintPublish("cam1")
	if err != nil {
		t.Fatal(err)
	}
	surfaces := func(stream, tok string) []req {
		return []req{
			{method: "GET", target: "/v1/streams/" + stream + "/media?" + rng + "&format=mp4&token=" + tok},
			{method: "GET", target: "/v1/streams/" + stream + "/image?at=2026-12-02T11:05:00Z&token=" + tok},
			{method: "GET", target: "/v1/streams/" + stream + "/live.m3u8?token=" + tok},
			{method: "POST", target: "/whep/" + stream + "?token=" + tok},
			{method: "DELETE", target: "/whep/" + stream + "/abc?token=" + tok},
		}
	}
	for _, q := range surfaces("cam1", tok) {
		wantStatus(t, f.do(q), http.StatusOK, "reached")
	}
	for _, q := range surfaces("cam2", tok) {
		wantJSONMessage(t, f.do(q), http.StatusForbidden, `not \"cam2\"`)
	}
	for _, q := range surfaces("cam1", url.QueryEscape(pubTok)) {
		wantJSONMessage(t, f.do(q), http.StatusForbidden, "publish")
	}
	f.now = t0.Add(mediatoken.DefaultTTL)
	for _, q := range surfaces("cam1", tok) {
		wantJSONMessage(t, f.do(q), http.StatusForbidden, "expired")
	}
}
