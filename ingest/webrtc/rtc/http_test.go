package rtc

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadBody(t *testing.T) {
	for _, c := range []struct {
		ctype, body string
		code        int
	}{
		{"application/sdp", "v=0\r\n", 0},
		{"application/sdp; charset=utf-8", "v=0\r\n", 0},
		{"text/plain", "v=0\r\n", http.StatusUnsupportedMediaType},
		{"", "v=0\r\n", http.StatusUnsupportedMediaType},
		{"application/sdp", strings.Repeat("a", MaxBody+1), http.StatusRequestEntityTooLarge},
	} {
		r := httptest.NewRequest(http.MethodPost, "/whip/cam1", strings.NewReader(c.body))
		r.Header.Set("Content-Type", c.ctype)
		b, code, msg := ReadBody(httptest.NewRecorder(), r, "application/sdp")
		if code != c.code || (code == 0 && string(b) != c.body) || (code != 0 && msg == "") {
			t.Errorf("%q, %d bytes: code %d %q, want %d", c.ctype, len(c.body), code, msg, c.code)
		}
	}
}

func TestPreflight(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("OPTIONS /x/{name}", func(w http.ResponseWriter, r *http.Request) {
		Preflight(w, r, []string{`<stun:stun.example:3478>; rel="ice-server"`})
	})
	mux.HandleFunc("OPTIONS /x/{name}/{session}", func(w http.ResponseWriter, r *http.Request) { Preflight(w, r, nil) })
	for _, c := range []struct{ path, allow, link string }{
		{"/x/cam1", "OPTIONS, POST", `<stun:stun.example:3478>; rel="ice-server"`},
		{"/x/cam1/abc", "OPTIONS, PATCH, DELETE", ""},
	} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodOptions, c.path, nil))
		h := w.Header()
		if w.Code != http.StatusNoContent || h.Get("Allow") != c.allow || h.Get("Access-Control-Allow-Methods") != c.allow ||
			h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Link") != c.link {
			t.Errorf("%s: %d %v", c.path, w.Code, h)
		}
	}
}

func TestFail(t *testing.T) {
	w := httptest.NewRecorder()
	Fail(w, http.StatusConflict, "stream %s is busy", "cam1")
	if w.Code != http.StatusConflict || w.Body.String() != `{"message":"stream cam1 is busy"}`+"\n" ||
		w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("%d %v %q", w.Code, w.Header(), w.Body.String())
	}
}
