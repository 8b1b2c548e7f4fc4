package authlimit

import (
	"container/list"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Defaults of the Limiter.
const (
	DefaultMaxFailures  = 5
	DefaultWindow       = time.Minute
	DefaultMaxBackoff   = 5 * time.Minute
	DefaultMaxAddresses = 4096
	firstBackoff        = time.Second
)

// Limiter counts failed authentications per source address. Set the
// fields before first use; they are read once. Its methods are safe for
// concurrent use, and a nil *Limiter admits everything.
type Limiter struct {
	// MaxFailures is how many failures within Window lock an address
	// out. It defaults to DefaultMaxFailures (5); negative disables the
	// Limiter.
	MaxFailures int
	// Window is the span failures are counted over. It defaults to
	// DefaultWindow (1 minute).
	Window time.Duration
	// MaxBackoff caps the lockout, which starts at 1 s and doubles with
	// each lockout. It defaults to DefaultMaxBackoff (5 minutes).
	MaxBackoff time.Duration
	// MaxAddresses bounds the addresses tracked; the least recently seen
	// is dropped past it. It defaults to DefaultMaxAddresses (4096).
	MaxAddresses int
	// Now is the clock. It defaults to time.Now.
	Now func() time.Time
	// Logger receives one WARN line per lockout. It defaults to
	// discarding.
	Logger *slog.Logger

	once     sync.Once
	mu       sync.Mutex
	entries  map[string]*list.Element // of *entry
	lru      *list.List               // front: most recently seen
	failures map[string]uint64        // by surface
	lockouts uint64
	refused  uint64
}

// entry is the state of one address.
type entry struct {
	key   string
	count int       // failures since start
	start time.Time // of the counting window
	level int       // lockouts since the address was last cleared
	until time.Time // locked out before this instant
}

// Stats is a snapshot of a Limiter's counters.
type Stats struct {
	// Failures are the failed authentications by surface ("http",
	// "login", "aws", "rtsp", "whip", …).
	Failures map[string]uint64
	// Lockouts started; Refused attempts of locked-out addresses.
	Lockouts, Refused uint64
	// Addresses tracked now.
	Addresses int
}

func (l *Limiter) init() {
	l.once.Do(func() {
		if l.MaxFailures == 0 {
			l.MaxFailures = DefaultMaxFailures
		}
		if l.Window <= 0 {
			l.Window = DefaultWindow
		}
		if l.MaxBackoff <= 0 {
			l.MaxBackoff = DefaultMaxBackoff
		}
		if l.MaxAddresses <= 0 {
			l.MaxAddresses = DefaultMaxAddresses
		}
		if l.Now == nil {
			l.Now = time.Now
		}
		if l.Logger == nil {
			l.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		}
		l.entries = map[string]*list.Element{}
		l.lru = list.New()
		l.failures = map[string]uint64{}
	})
}

func (l *Limiter) off() bool {
	if l == nil {
		return true
	}
	l.init()
	return l.MaxFailures < 0
}

// Check reports whether remoteAddr (host:port or host, as
// http.Request.RemoteAddr or net.Addr.String) may try to authenticate.
// When it may not, retryAfter is how long its lockout lasts still,
// rounded up to whole seconds. Call it before checking credentials.
func (l *Limiter) Check(remoteAddr string) (retryAfter time.Duration, ok bool) {
	if l.off() {
		return 0, true
	}
	key := Key(remoteAddr)
	now := l.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	el := l.entries[key]
	if el == nil {
		return 0, true
	}
	e := el.Value.(*entry)
	if !now.Before(e.until) {
		return 0, true
	}
	l.refused++
	left := e.until.Sub(now)
	return (left + time.Second - 1).Truncate(time.Second), false
}

// Fail records a failed authentication of remoteAddr on surface (a short
// label for the metrics: "http", "aws", "rtsp", …). The failure that
// reaches MaxFailures within Window starts a lockout and logs it.
func (l *Limiter) Fail(remoteAddr, surface string) {
	if l.off() {
		return
	}
	key := Key(remoteAddr)
	now := l.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures[surface]++
	var e *entry
	if el := l.entries[key]; el != nil {
		l.lru.MoveToFront(el)
		e = el.Value.(*entry)
	} else {
		for l.lru.Len() >= l.MaxAddresses {
			old := l.lru.Back()
			l.lru.Remove(old)
			delete(l.entries, old.Value.(*entry).key)
		}
		e = &entry{key: key, start: now}
		l.entries[key] = l.lru.PushFront(e)
	}
	if now.Before(e.until) {
		return // a race with Check: the address is locked already
	}
	if now.Sub(e.start) >= l.Window {
		// quiet for a window: start afresh
		e.count, e.start, e.level = 0, now, 0
	}
	e.count++
	if e.count < l.MaxFailures {
		return
	}
	backoff := l.MaxBackoff
	if e.level < 32 && firstBackoff<<e.level < l.MaxBackoff {
		backoff = firstBackoff << e.level
	}
	e.level++
	e.until = now.Add(backoff)
	// One failure after the lockout ends starts the next one, unless
	// the address stays quiet for a window after it.
	e.count, e.start = l.MaxFailures-1, e.until
	l.lockouts++
	l.Logger.Warn("auth: too many failed authentications: address locked out",
		"address", key, "surface", surface, "lockout", backoff, "lockouts_in_a_row", e.level)
}

// Succeed records a successful authentication of remoteAddr: its
// failures are forgotten.
func (l *Limiter) Succeed(remoteAddr string) {
	if l.off() {
		return
	}
	key := Key(remoteAddr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if el := l.entries[key]; el != nil {
		l.lru.Remove(el)
		delete(l.entries, key)
	}
}

// Stats returns a snapshot of the counters.
func (l *Limiter) Stats() Stats {
	if l.off() {
		return Stats{Failures: map[string]uint64{}}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := Stats{Failures: make(map[string]uint64, len(l.failures)), Lockouts: l.lockouts, Refused: l.refused, Addresses: l.lru.Len()}
	for k, v := range l.failures {
		s.Failures[k] = v
	}
	return s
}

// Key returns the unit an address is counted under: the IP of a
// host:port or bare host, IPv4-mapped IPv6 as IPv4, other IPv6 as its
// /64 prefix. Anything unparseable is its own key.
func Key(remoteAddr string) string {
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64) // cannot fail for an IPv6 address and 64
	return p.String()
}
