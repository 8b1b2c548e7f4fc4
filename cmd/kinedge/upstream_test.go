package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kinedge/kinedge/dataplane/video/web"
)

// TestAdminOnly: behind the Guard, a request without credentials is an
// anonymous reader (api.anonymous_read): the upstream routes refuse it;
// HTTP Basic and the session cookie (both checked by the Guard) pass.
func TestAdminOnly(t *testing.T) {
	h := adminOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	for _, c := range []struct {
		name string
		set  func(*http.Request)
		want int
	}{
		{"anonymous", func(*http.Request) {}, http.StatusUnauthorized},
		{"empty cookie", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: web.CookieName, Value: ""}) }, http.StatusUnauthorized},
		{"basic", func(r *http.Request) { r.SetBasicAuth("admin", "adminsecret") }, http.StatusTeapot},
		{"session", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: web.CookieName, Value: "s"}) }, http.StatusTeapot},
	} {
		r := httptest.NewRequest(http.MethodGet, "/v1/streams/cam1/upstream", nil)
		c.set(r)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.want {
			t.Errorf("%s: %d, want %d", c.name, w.Code, c.want)
		}
	}
}
