package authlimit

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTest(t *testing.T, set func(*Limiter)) (*Limiter, *clock, *bytes.Buffer) {
	t.Helper()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var logBuf bytes.Buffer
	l := &Limiter{Now: c.now, Logger: slog.New(slog.NewTextHandler(&logBuf, nil))}
	if set != nil {
		set(l)
	}
	return l, c, &logBuf
}

func mustAllow(t *testing.T, l *Limiter, addr string) {
	t.Helper()
	if wait, ok := l.Check(addr); !ok {
		t.Fatalf("%s refused (retry after %v), want allowed", addr, wait)
	}
}

func mustRefuse(t *testing.T, l *Limiter, addr string, want time.Duration) {
	t.Helper()
	wait, ok := l.Check(addr)
	if ok {
		t.Fatalf("%s allowed, want refused", addr)
	}
	if wait != want {
		t.Fatalf("%s: retry after %v, want %v", addr, wait, want)
	}
}

func TestLockoutAfterMaxFailures(t *testing.T) {
	l, _, logBuf := newTest(t, nil)
	const a = "192.0.2.1:5000"
	for i := range DefaultMaxFailures - 1 {
		mustAllow(t, l, a)
		l.Fail(a, "http")
		if i < DefaultMaxFailures-1 {
			mustAllow(t, l, a)
		}
	}
	l.Fail(a, "http")
	mustRefuse(t, l, a, time.Second)
	// another port of the same host is the same address
	mustRefuse(t, l, "192.0.2.1:6000", time.Second)
	if n := strings.Count(logBuf.String(), "locked out"); n != 1 {
		t.Fatalf("%d log lines, want 1:\n%s", n, logBuf)
	}
	// refused attempts are not logged
	for range 10 {
		l.Check(a)
	}
	if n := strings.Count(logBuf.String(), "level=WARN"); n != 1 {
		t.Fatalf("%d WARN lines after refused attempts, want 1:\n%s", n, logBuf)
	}
	st := l.Stats()
	if st.Failures["http"] != DefaultMaxFailures || st.Lockouts != 1 || st.Refused != 12 || st.Addresses != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBackoffGrowsAndCaps(t *testing.T) {
	l, c, logBuf := newTest(t, func(l *Limiter) { l.MaxFailures = 3; l.MaxBackoff = 10 * time.Second })
	const a = "198.51.100.7"
	for range 3 {
		l.Fail(a, "rtsp")
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		mustRefuse(t, l, a, w)
		c.add(w - time.Millisecond)
		mustRefuse(t, l, a, time.Second) // 1 ms left rounds up
		c.add(time.Millisecond)
		mustAllow(t, l, a)
		if i < len(want)-1 {
			l.Fail(a, "rtsp") // one failure after a lockout starts the next
		}
	}
	if n := strings.Count(logBuf.String(), "locked out"); n != len(want) {
		t.Fatalf("%d lockout lines, want %d", n, len(want))
	}
	// quiet for a window after the lockout: afresh, 3 failures to lock, 1 s
	c.add(l.Window)
	l.Fail(a, "rtsp")
	l.Fail(a, "rtsp")
	mustAllow(t, l, a)
	l.Fail(a, "rtsp")
	mustRefuse(t, l, a, time.Second)
}

func TestFailuresOutsideWindowDoNotAdd(t *testing.T) {
	l, c, _ := newTest(t, func(l *Limiter) { l.MaxFailures = 3; l.Window = 10 * time.Second })
	const a = "192.0.2.9"
	l.Fail(a, "http")
	l.Fail(a, "http")
	c.add(10 * time.Second)
	l.Fail(a, "http")
	l.Fail(a, "http")
	mustAllow(t, l, a)
	l.Fail(a, "http")
	mustRefuse(t, l, a, time.Second)
}

func TestSuccessResets(t *testing.T) {
	l, c, _ := newTest(t, func(l *Limiter) { l.MaxFailures = 3 })
	const a = "192.0.2.2:1"
	for range 3 {
		l.Fail(a, "http")
	}
	mustRefuse(t, l, a, time.Second)
	c.add(time.Second)
	l.Succeed(a)
	// back to the start: 2 failures do not lock, and the backoff is 1 s again
	l.Fail(a, "http")
	l.Fail(a, "http")
	mustAllow(t, l, a)
	l.Fail(a, "http")
	mustRefuse(t, l, a, time.Second)
}

func TestOtherAddressesUnaffected(t *testing.T) {
	l, _, _ := newTest(t, nil)
	for range 100 {
		l.Fail("127.0.0.1:40000", "http")
	}
	mustRefuse(t, l, "127.0.0.1:1", time.Second)
	mustAllow(t, l, "127.0.0.2:1")
	mustAllow(t, l, "[::1]:1")
	// IPv6: the same /64 is one address, another /64 is not
	for range 5 {
		l.Fail("[2001:db8:1:2::1]:80", "aws")
	}
	mustRefuse(t, l, "[2001:db8:1:2:ffff::9]:80", time.Second)
	mustAllow(t, l, "[2001:db8:1:3::1]:80")
}

func TestBoundedMemory(t *testing.T) {
	l, _, _ := newTest(t, func(l *Limiter) { l.MaxAddresses = 16 })
	// the victim is locked out, then an attacker floods distinct addresses
	for range 5 {
		l.Fail("10.0.0.1", "http")
	}
	for i := range 10000 {
		l.Fail(fmt.Sprintf("10.1.%d.%d", i/256, i%256), "http")
		if n := l.Stats().Addresses; n > 16 {
			t.Fatalf("%d addresses tracked, want at most 16", n)
		}
	}
	// the oldest was dropped, the most recent kept
	mustAllow(t, l, "10.0.0.1")
	if l.Stats().Failures["http"] != 10005 {
		t.Fatalf("failures %v", l.Stats().Failures)
	}
	for range 4 {
		l.Fail("10.1.39.15", "http") // the last of the flood, 5 in all
	}
	mustRefuse(t, l, "10.1.39.15", time.Second)
}

func TestDisabledAndNil(t *testing.T) {
	var nl *Limiter
	nl.Fail("1.2.3.4", "http")
	nl.Succeed("1.2.3.4")
	if _, ok := nl.Check("1.2.3.4"); !ok {
		t.Fatal("nil limiter refused")
	}
	l, _, _ := newTest(t, func(l *Limiter) { l.MaxFailures = -1 })
	for range 100 {
		l.Fail("1.2.3.4", "http")
	}
	mustAllow(t, l, "1.2.3.4")
}

func TestKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.1:8080", "127.0.0.1"},
		{"127.0.0.1", "127.0.0.1"},
		{"[::ffff:192.0.2.1]:1", "192.0.2.1"},
		{"[2001:db8::1]:443", "2001:db8::/64"},
		{"[fe80::1%eth0]:1", "fe80::/64"},
		{"2001:db8:0:0:8000::1", "2001:db8::/64"},
		{"not an address", "not an address"},
		{"", ""},
	} {
		if got := Key(tc.in); got != tc.want {
			t.Errorf("Key(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestConcurrent(t *testing.T) {
	l, _, _ := newTest(t, func(l *Limiter) { l.MaxAddresses = 8 })
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				a := fmt.Sprintf("10.%d.0.%d", g, i%20)
				l.Check(a)
				l.Fail(a, "http")
				if i%7 == 0 {
					l.Succeed(a)
				}
			}
		}()
	}
	wg.Wait()
	if n := l.Stats().Addresses; n > 8 {
		t.Fatalf("%d addresses", n)
	}
}

// FuzzKey: any address string gets a key without panicking, the same key
// for every port of a host, and an IPv6 address the key of its /64.
func FuzzKey(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8080", "[2001:db8::1]:443", "[::ffff:192.0.2.1]:1", "[fe80::1%eth0]:1", "2001:db8::1", "x", "", ":", "[::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		k := Key(addr)
		if a, err := netip.ParseAddrPort(addr); err == nil {
			other := netip.AddrPortFrom(a.Addr(), a.Port()+1).String()
			if Key(other) != k {
				t.Fatalf("Key(%q) = %q but Key(%q) = %q", addr, k, other, Key(other))
			}
			if ip := a.Addr().Unmap(); ip.Is6() {
				if p, err := netip.ParsePrefix(k); err != nil || p.Bits() != 64 || !p.Contains(ip.WithZone("")) {
					t.Fatalf("Key(%q) = %q, not its /64", addr, k)
				}
			}
		}
	})
}
