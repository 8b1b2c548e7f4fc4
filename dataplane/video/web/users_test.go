package web

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/kinedge/kinedge/dataplane/authz"
	"github.com/kinedge/kinedge/fragment/seal"
)

// TestGuardUsers: with a users table, any user logs in (Basic or the
// form) and each request needs its permission: 403 JSON without it; a
// removed user's session ends.
func TestGuardUsers(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	users, err := authz.Open(ctx, filepath.Join(t.TempDir(), authz.FileName), &seal.Keyring{Store: &seal.MemKeyStore{}, Master: seal.NewMasterKey()}, nil,
		authz.User{Name: "admin", AccessKey: "admin", Secret: "adminsecret", Grants: []authz.Grant{{Action: authz.Admin, Streams: "*"}}})
	if err != nil {
		t.Fatal(err)
	}
	f.h.Users = users
	viewer, err := users.Add(ctx, "viewer", []authz.Grant{{Action: authz.Read, Streams: "cam*"}})
	if err != nil {
		t.Fatal(err)
	}
	basic := func(method, target, key, secret string) int {
		t.Helper()
		r := req{method: method, target: target}
		w := f.doAs(r, key, secret)
		if w.Code == http.StatusForbidden {
			wantJSONMessage(t, w, http.StatusForbidden, "not allowed")
		}
		return w.Code
	}
	for _, c := range []struct {
		method, target, key, secret string
		want                        int
	}{
		{"GET", "/v1/streams/cam1/fragments", viewer.AccessKey, viewer.Secret, 200},
		{"GET", "/v1/streams/door/fragments", viewer.AccessKey, viewer.Secret, 403},
		{"GET", "/v1/streams/cam1/fragments", viewer.AccessKey, "wrong", 401},
		{"GET", "/v1/streams", viewer.AccessKey, viewer.Secret, 200},
		{"POST", "/v1/streams", viewer.AccessKey, viewer.Secret, 403},
		{"POST", "/whep/cam1", viewer.AccessKey, viewer.Secret, 200},
		{"POST", "/whep/door", viewer.AccessKey, viewer.Secret, 403},
		{"POST", "/v1/streams", "admin", "adminsecret", 200},
		{"GET", "/v1/streams/door/fragments", "admin", "adminsecret", 200},
	} {
		if got := basic(c.method, c.target, c.key, c.secret); got != c.want {
			t.Errorf("%s %s as %s: %d, want %d", c.method, c.target, c.key, got, c.want)
		}
	}
	// The form logs the viewer in; its session carries its permissions.
	w := f.do(req{method: "POST", target: "/login", form: url.Values{"access_key": {viewer.AccessKey}, "secret_key": {viewer.Secret}}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("viewer login: %d %s", w.Code, w.Body)
	}
	var cookie string
	for _, c := range w.Result().Cookies() {
		if c.Name == CookieName {
			cookie = c.Value
		}
	}
	csrf := csrfOf(t, f, cookie)
	wantStatus(t, f.do(req{method: "GET", target: "/v1/streams/cam1/media", cookie: cookie}), http.StatusOK, "reached")
	wantJSONMessage(t, f.do(req{method: "GET", target: "/v1/streams/door/media", cookie: cookie}), http.StatusForbidden, "viewer is not allowed to read on stream door")
	wantJSONMessage(t, f.do(req{method: "POST", target: "/v1/streams", cookie: cookie, header: map[string]string{CSRFHeader: csrf}}), http.StatusForbidden, "not allowed to admin")
	// Removed: the session ends.
	if err := users.Remove(ctx, "viewer"); err != nil {
		t.Fatal(err)
	}
	wantJSONMessage(t, f.do(req{method: "GET", target: "/v1/streams/cam1/media", cookie: cookie}), http.StatusUnauthorized, "session has ended")
}

// doAs is do with HTTP Basic key:secret.
func (f *fixture) doAs(q req, key, secret string) *httptest.ResponseRecorder {
	if q.header == nil {
		q.header = map[string]string{}
	}
	q.header["Authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"+secret))
	return f.do(q)
}
