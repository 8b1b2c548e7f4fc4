package uplink

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 12, 2, h, m, 0, 0, time.UTC) }
	w, err := ParseWindow("01:00-05:00")
	if err != nil || w.String() != "01:00-05:00" {
		t.Fatal(w, err)
	}
	for _, c := range []struct {
		now  time.Time
		want time.Duration
	}{{at(0, 30), 30 * time.Minute}, {at(1, 0), 0}, {at(4, 59), 0}, {at(5, 0), 20 * time.Hour}, {at(23, 0), 2 * time.Hour}} {
		if got := w.Wait(c.now); got != c.want {
			t.Errorf("Wait(%v) = %v, want %v", c.now, got, c.want)
		}
	}
	night, _ := ParseWindow("22:00-05:00")
	if night.Wait(at(23, 0)) != 0 || night.Wait(at(4, 0)) != 0 || night.Wait(at(12, 0)) != 10*time.Hour {
		t.Errorf("a window across midnight")
	}
	for _, bad := range []string{"1-5", "25:00-05:00", "01:00-01:00", "01:00"} {
		if _, err := ParseWindow(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseWindow(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if (Window{}).Wait(at(12, 0)) != 0 {
		t.Error("the zero window is closed")
	}
}

// TestWindows: several windows are open when any is; the wait is to the
// nearest opening; the empty list is always open.
func TestWindows(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 12, 2, h, m, 0, 0, time.UTC) }
	ws, err := ParseWindows("22:00-06:00, 12:00-13:00")
	if err != nil || ws.String() != "22:00-06:00,12:00-13:00" {
		t.Fatal(ws, err)
	}
	for _, c := range []struct {
		now  time.Time
		want time.Duration
	}{{at(23, 0), 0}, {at(5, 59), 0}, {at(6, 0), 6 * time.Hour}, {at(12, 30), 0}, {at(13, 0), 9 * time.Hour}, {at(21, 45), 15 * time.Minute}} {
		if got := ws.Wait(c.now); got != c.want {
			t.Errorf("Wait(%v) = %v, want %v", c.now.Format("15:04"), got, c.want)
		}
	}
	if none, err := ParseWindows(""); err != nil || len(none) != 0 || none.Wait(at(3, 0)) != 0 {
		t.Errorf("no windows: %v %v", none, err)
	}
	if _, err := ParseWindows("22:00-06:00,nope"); !errors.Is(err, ErrInvalid) {
		t.Errorf("a bad window in the list: %v", err)
	}
}

// fakeClock is an injected clock whose sleeps advance it.
type fakeClock struct {
	now   time.Time
	waits []time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	return ctx.Err()
}

func (c *fakeClock) slept() (d time.Duration) {
	for _, w := range c.waits {
		d += w
	}
	return d
}

// TestLimiter: a full bucket lets Burst bytes go at once; after that the
// bytes average the rate (every upload's bytes but the last are paid for
// in waits), an upload larger than the bucket goes into debt, an idle
// spell refills at most Burst, and a cancelled wait takes nothing.
func TestLimiter(t *testing.T) {
	c := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	l := &Limiter{Rate: 1000, Burst: 2000, Now: c.Now, Sleep: c.Sleep}
	ctx := t.Context()
	for range 2 { // the burst
		if err := l.Wait(ctx, 1000); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.waits) != 0 {
		t.Fatalf("waited %v within the burst", c.waits)
	}
	for _, n := range []int{500, 500, 5000, 100} {
		if err := l.Wait(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	// 2000 burst + 6100 bytes: everything but the last 100 is paid for:
	// (6000) / 1000 B/s = 6 s.
	if got := c.slept(); got != 6*time.Second {
		t.Fatalf("slept %v (%v), want 6s", got, c.waits)
	}
	// An hour idle refills the bucket to Burst, not more.
	c.now = c.now.Add(time.Hour)
	c.waits = nil
	for _, n := range []int{100, 1900, 1000} { // the full bucket, and the third into debt
		if err := l.Wait(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.slept(); got != 0 {
		t.Fatalf("after an idle hour slept %v, want 0 (the bucket was full)", got)
	}
	if err := l.Wait(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := c.slept(); got != time.Second {
		t.Fatalf("after the burst slept %v, want 1s for the 1000 bytes in debt", got)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.Wait(cctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	var unlimited *Limiter
	if err := unlimited.Wait(ctx, 1<<30); err != nil {
		t.Fatalf("nil limiter: %v", err)
	}
}

// TestLimiterSpacing: with Burst 0 uploads are spaced by the time their
// bytes take (the archive's pacing).
func TestLimiterSpacing(t *testing.T) {
	c := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	l := &Limiter{Rate: 1000, Now: c.Now, Sleep: c.Sleep}
	for _, n := range []int{1500, 500, 2000} {
		if err := l.Wait(t.Context(), n); err != nil {
			t.Fatal(err)
		}
	}
	if want := []time.Duration{1500 * time.Millisecond, 500 * time.Millisecond}; len(c.waits) != 2 || c.waits[0] != want[0] || c.waits[1] != want[1] {
		t.Fatalf("waits %v, want %v", c.waits, want)
	}
}

// FuzzParseWindows: any string (a config value, an API body's field) is
// parsed or refused with ErrInvalid; what is accepted prints back to
// itself, and its Wait is never negative nor longer than a day.
func FuzzParseWindows(f *testing.F) {
	for _, s := range []string{"", "01:00-05:00", "22:00-06:00, 12:00-13:00", "1-5", "25:00-05:00", "01:00-01:00", ",,", "23:59-00:00", "-1:00-02:00"} {
		f.Add(s)
	}
	at := time.Date(2026, 12, 2, 13, 37, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		ws, err := ParseWindows(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%v is not ErrInvalid", err)
			}
			return
		}
		again, err := ParseWindows(ws.String())
		if err != nil || again.String() != ws.String() {
			t.Fatalf("%q printed as %q, read back as %q (%v)", s, ws.String(), again.String(), err)
		}
		if d := ws.Wait(at); d < 0 || d > 24*time.Hour {
			t.Fatalf("%q: Wait %v", s, d)
		}
	})
}
