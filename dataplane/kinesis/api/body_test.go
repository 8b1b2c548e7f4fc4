package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/dataplane/awsproto"
)

// TestBodyBudgetShared: the handler reads its body with awsproto.ReadBody,
// so mounted without Middleware it still counts against the server's
// BodyBudget: while a slow client holds the budget, the next body is
// refused with 503 ServiceUnavailableException instead of being buffered.
func TestBodyBudgetShared(t *testing.T) {
	env := newEnv(t, nil)
	budget := &awsproto.BodyBudget{Bytes: 1 << 20, Wait: 10 * time.Millisecond}
	srv := httptest.NewServer(budget.Handler(env.handler))
	pr, pw := io.Pipe()
	defer srv.Close()
	defer pw.Close() // before srv.Close, which waits for the slow request

	post := func(body io.Reader, length int64) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL, body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = length
		req.Header.Set("Content-Type", awsproto.ContentTypeJSON)
		req.Header.Set("X-Amz-Target", TargetPrefix+"ListStreams")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	// A client that declares 900 KiB and sends 1 byte holds 900 KiB of
	// the budget until its body is done.
	slow := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, pr)
		req.ContentLength = 900 << 10
		req.Header.Set("X-Amz-Target", TargetPrefix+"ListStreams")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		slow <- resp
	}()
	// Past the client's write buffer, so the request reaches the server.
	if _, err := pw.Write([]byte("{" + strings.Repeat(" ", 64<<10))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for budget.InUse() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the slow body never reserved its bytes")
		}
		time.Sleep(5 * time.Millisecond)
	}

	resp := post(strings.NewReader(`{"Limit":1}`+strings.Repeat(" ", 200<<10)), 200<<10+11)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), awsproto.ServiceUnavailableException) {
		t.Fatalf("second body: %s %s", resp.Status, b)
	}

	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-slow
	resp = post(strings.NewReader(`{"Limit":1}`), 11)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("after the slow client left: %s %s", resp.Status, b)
	}
}
