package uplink

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
)

// ErrInvalid is a window or a cap that cannot be parsed or used.
var ErrInvalid = errors.New("uplink: invalid")

// Window is a daily upload window, in the clock's time zone: uploads
// happen from Start to End (minutes after midnight; End before Start
// spans midnight, e.g. 22:00-05:00). The zero Window is always open.
type Window struct {
	Start, End int // minutes after midnight, 0..1439
	set        bool
}

// ParseWindow parses "HH:MM-HH:MM"; "" is always open.
func ParseWindow(s string) (Window, error) {
	if s == "" {
		return Window{}, nil
	}
	var h1, m1, h2, m2 int
	if n, err := fmt.Sscanf(s, "%d:%d-%d:%d", &h1, &m1, &h2, &m2); err != nil || n != 4 ||
		h1 < 0 || h1 > 23 || h2 < 0 || h2 > 23 || m1 < 0 || m1 > 59 || m2 < 0 || m2 > 59 || h1*60+m1 == h2*60+m2 {
		return Window{}, fmt.Errorf("%w: upload window %q is not HH:MM-HH:MM (two different times)", ErrInvalid, s)
	}
	return Window{Start: h1*60 + m1, End: h2*60 + m2, set: true}, nil
}

// String writes the window as ParseWindow reads it.
func (w Window) String() string {
	if !w.set {
		return ""
	}
	return fmt.Sprintf("%02d:%02d-%02d:%02d", w.Start/60, w.Start%60, w.End/60, w.End%60)
}

// Wait returns how long from now until the window is open (0 inside it).
func (w Window) Wait(now time.Time) time.Duration {
	if !w.set {
		return 0
	}
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	minute := int(now.Sub(midnight) / time.Minute)
	open := w.Start <= minute && minute < w.End
	if w.End < w.Start {
		open = minute >= w.Start || minute < w.End
	}
	if open {
		return 0
	}
	next := midnight.Add(time.Duration(w.Start) * time.Minute)
	if !next.After(now) {
		next = next.AddDate(0, 0, 1)
	}
	return next.Sub(now)
}

// Windows is a set of windows, open when any of them is; the empty set
// is always open.
type Windows []Window

// ParseWindows parses windows separated by commas ("22:00-06:00,
// 12:00-13:00"); "" is always open.
func ParseWindows(s string) (Windows, error) {
	var ws Windows
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		w, err := ParseWindow(part)
		if err != nil {
			return nil, err
		}
		ws = append(ws, w)
	}
	return ws, nil
}

// String writes the windows as ParseWindows reads them.
func (ws Windows) String() string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = w.String()
	}
	return strings.Join(parts, ",")
}

// Wait returns how long from now until one of the windows is open (0
// when one is, or there is none).
func (ws Windows) Wait(now time.Time) time.Duration {
	var d time.Duration
	for i, w := range ws {
		wd := w.Wait(now)
		if i == 0 || wd < d {
			d = wd
		}
	}
	return d
}

// Sleep waits d or until ctx ends (ctx's error then).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Limiter is a token bucket (see the package doc). Set the fields before
// the first Wait; it is safe for concurrent use. A Rate of 0 does not
// limit.
type Limiter struct {
	// Rate is the cap in bytes/s; Burst the most bytes the bucket holds
	// (what may go at once after an idle spell).
	Rate, Burst int64
	// Now and Sleep are the clock and the wait. They default to time.Now
	// and Sleep.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	mu     sync.Mutex
	tokens float64 // bytes; negative: in debt
	at     time.Time
}

// Wait waits until n bytes may be sent and takes them from the bucket.
// It returns ctx's error if ctx ends first (nothing is taken then).
func (l *Limiter) Wait(ctx context.Context, n int) error {
	if l == nil || l.Rate <= 0 {
		return ctx.Err()
	}
	now, sleep := l.Now, l.Sleep
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = Sleep
	}
	for {
		l.mu.Lock()
		t := now()
		if l.at.IsZero() {
			l.tokens = float64(l.Burst)
		} else if dt := t.Sub(l.at); dt > 0 {
			l.tokens = min(l.tokens+dt.Seconds()*float64(l.Rate), float64(l.Burst))
		}
		l.at = later(l.at, t)
		if l.tokens >= 0 {
			l.tokens -= float64(n)
			l.mu.Unlock()
			return nil
		}
		d := time.Duration(math.Ceil(-l.tokens / float64(l.Rate) * float64(time.Second)))
		l.mu.Unlock()
		if err := sleep(ctx, max(d, time.Nanosecond)); err != nil {
			return err
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
