package archive

import (
	"context"
	"fmt"
	"time"
)

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
		return Window{}, fmt.Errorf("archive: upload window %q is not HH:MM-HH:MM (two different times)", s)
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
	min := int(now.Sub(midnight) / time.Minute)
	open := w.Start <= min && min < w.End
	if w.End < w.Start {
		open = min >= w.Start || min < w.End
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

// pace waits for the upload window and the bandwidth cap before an upload
// of n bytes, and books the bytes.
func (a *Archiver) pace(ctx context.Context, n int) error {
	if d := a.Window.Wait(a.Now()); d > 0 {
		a.Logger.Info("archive waiting for its upload window", "window", a.Window.String(), "wait", d)
		if err := a.sleep(ctx, d); err != nil {
			return err
		}
	}
	if a.BandwidthLimit <= 0 {
		return nil
	}
	now := a.Now()
	if d := a.nextSend.Sub(now); d > 0 {
		if err := a.sleep(ctx, d); err != nil {
			return err
		}
		now = a.Now()
	}
	a.nextSend = later(a.nextSend, now).Add(time.Duration(float64(n) / float64(a.BandwidthLimit) * float64(time.Second)))
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
