package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Hostile clients: connections that trickle, stall or idle must not hold
// the appliance, and bodies it will refuse must not cost it memory.

// shortTimeouts are the HTTP timeouts of these tests, short so that the
// tests are quick; the tests wait for the effect, with generous bounds.
var shortTimeouts = []string{"KINEDGE_TIMEOUTS_HTTP_READ=1s", "KINEDGE_TIMEOUTS_HTTP_IDLE=1s", "KINEDGE_TIMEOUTS_SHUTDOWN=1s"}

// signedHeaders returns the head of a Kinesis request signed with the admin
// credentials for body, as an SDK would send it.
func signedHeaders(t *testing.T, addr, body string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "Kinesis_20131202.ListStreams")
	creds := aws.Credentials{AccessKeyID: "admin", SecretAccessKey: "adminsecret"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha256Hex(body), "kinesis", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", addr, len(body))
	for k, vs := range req.Header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// trickle writes body one byte at a time every interval until the server
// closes the connection (a write fails) or stop is closed.
func trickle(conn net.Conn, body string, interval time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; i < len(body); i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if _, err := conn.Write([]byte{body[i]}); err != nil {
			return
		}
	}
}

// serverClosed reads conn until the server closes it. It returns what was
// read, or an error if the connection is still open after limit (a
// generous bound: what matters is that it closes).
func serverClosed(conn net.Conn, limit time.Duration) (string, error) {
	if err := conn.SetReadDeadline(time.Now().Add(limit)); err != nil {
		return "", err
	}
	b, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return string(b), fmt.Errorf("connection still open after %v (read %q)", limit, b)
	}
	return string(b), nil
}

func TestHTTPHostileConnectionsClosed(t *testing.T) {
	s := startServer(t, t.TempDir(), freeUDPPair(t), shortTimeouts...)
	dial := func(t *testing.T) net.Conn {
		c, err := net.Dial("tcp", s.httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	body := `{"Limit": 5}` + strings.Repeat(" ", 1000)

	t.Run("unsigned trickled body", func(t *testing.T) {
		c := dial(t)
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: %s\r\nX-Amz-Target: Kinesis_20131202.ListStreams\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: %d\r\n\r\n", s.httpAddr, len(body))
		stop := make(chan struct{})
		defer close(stop)
		go trickle(c, body, 100*time.Millisecond, stop)
		got, err := serverClosed(c, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got, "HTTP/1.1 403") {
			t.Fatalf("response %q, want 403 before the body", got)
		}
	})

	t.Run("signed trickled body", func(t *testing.T) {
		c := dial(t)
		io.WriteString(c, signedHeaders(t, s.httpAddr, body))
		stop := make(chan struct{})
		defer close(stop)
		go trickle(c, body, 100*time.Millisecond, stop)
		if _, err := serverClosed(c, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial(t)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", s.httpAddr)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("healthz: %s close=%v", resp.Status, resp.Close)
		}
		if _, err := serverClosed(c, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSIGTERMWithStalledConnection: a client that stalls in the middle of
// a body must not turn SIGTERM into a failed stop.
func TestSIGTERMWithStalledConnection(t *testing.T) {
	s := startServer(t, t.TempDir(), freeUDPPair(t), "KINEDGE_TIMEOUTS_SHUTDOWN=1s")
	c, err := net.Dial("tcp", s.httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := `{"Limit": 5}` + strings.Repeat(" ", 1000)
	io.WriteString(c, signedHeaders(t, s.httpAddr, body)+body[:100])
	// The server is reading the body once a second request is served
	// (requests are handled concurrently, so this only shows it is up).
	resp, err := http.Get("http://" + s.httpAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.stop() // fails the test unless the server exits 0 within 20 s
	if strings.Contains(s.logs(), "http shutdown") {
		t.Fatalf("shutdown reported an error:\n%s", s.logs())
	}
}

// procStatus returns a field of /proc/<pid>/status in bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s: %q", field, line)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestUnsignedBodiesMemory sends six concurrent unsigned 15 MiB bodies to
// the Kinesis API and reports how much the server's memory grew: they are
// refused (403) from their headers, so it must not be by their size. Then
// six whose headers pass (known key, current date) but whose bodies do not
// match their signature: those are read, within http_body_budget (64 MiB),
// and the ones that find no room get 503.
//
//	go test -count=1 -run TestUnsignedBodiesMemory -v ./cmd/kinedge/
func TestUnsignedBodiesMemory(t *testing.T) {
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	pid := s.cmd.Process.Pid
	const size = 15 << 20
	unsigned := fmt.Sprintf("POST / HTTP/1.1\r\nHost: %s\r\nX-Amz-Target: Kinesis_20131202.PutRecords\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: %d\r\n\r\n", s.httpAddr, size)
	grew := sendBodies(t, pid, s.httpAddr, "unsigned", func() string { return unsigned }, size, "HTTP/1.1 403")
	// The race detector's shadow memory multiplies every byte the server
	// touches (5-10x): under -race the statuses are checked and the
	// figures logged, and the plain run holds the memory bounds.
	bounded := !raceEnabled
	if !bounded {
		t.Log("race build: memory figures include the race detector's shadow memory; bounds checked by the plain run")
	}
	// Refused from the headers, each body costs at most the server's
	// discard of its first bytes: far from 6 x 15 MiB.
	if bounded && grew > 32<<20 {
		t.Errorf("anonymous RSS grew by %.1f MB", float64(grew)/1e6)
	}
	// Signed for a body of spaces, sent a body of "x": read, then 403.
	signed := func() string { return signedHeaders(t, s.httpAddr, strings.Repeat(" ", size)) }
	grew = sendBodies(t, pid, s.httpAddr, "headers signed, body not", signed, size, "HTTP/1.1 403", "HTTP/1.1 503")
	// The default budget (64 MiB) plus room for the runtime; unbounded,
	// six bodies and their growth took over 160 MB.
	if bounded && grew > 96<<20 {
		t.Errorf("anonymous RSS grew by %.1f MB with a 64 MiB body budget", float64(grew)/1e6)
	}
}

// sendBodies sends six concurrent requests of head and a body of size
// bytes, checks each response's status line starts with one of want, logs
// the server's memory growth and returns the growth of its RssAnon.
func sendBodies(t *testing.T, pid int, addr, what string, head func() string, size int, want ...string) int64 {
	t.Helper()
	anon0, hwm0 := procStatus(t, pid, "RssAnon"), procStatus(t, pid, "VmHWM")
	chunk := []byte(strings.Repeat("x", 64<<10))
	var wg sync.WaitGroup
	statuses := make([]string, 6)
	heads := make([]string, len(statuses))
	for i := range heads {
		heads[i] = head()
	}
	for i := range statuses {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				statuses[i] = err.Error()
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(2 * time.Minute))
			go func() {
				io.WriteString(c, heads[i])
				for n := 0; n < size; n += len(chunk) {
					if _, err := c.Write(chunk); err != nil {
						return
					}
				}
			}()
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				statuses[i] = "no response: " + err.Error()
				return
			}
			statuses[i] = strings.TrimSpace(line)
		})
	}
	wg.Wait()
	anon1, hwm1 := procStatus(t, pid, "RssAnon"), procStatus(t, pid, "VmHWM")
	t.Logf("6 x %d MiB, %s: RssAnon %.1f -> %.1f MB (+%.1f), VmHWM %.1f -> %.1f MB (+%.1f); responses %q",
		size>>20, what, float64(anon0)/1e6, float64(anon1)/1e6, float64(anon1-anon0)/1e6,
		float64(hwm0)/1e6, float64(hwm1)/1e6, float64(hwm1-hwm0)/1e6, statuses)
	for _, st := range statuses {
		ok := false
		for _, w := range want {
			ok = ok || strings.HasPrefix(st, w)
		}
		if !ok {
			t.Errorf("response %q, want one of %q", st, want)
		}
	}
	return anon1 - anon0
}
