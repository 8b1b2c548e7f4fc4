package clock

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeClocks are a wall and a monotonic clock the test moves.
type fakeClocks struct {
	wall time.Time
	mono time.Duration
}

func (c *fakeClocks) watcher(sync Sync) *Watcher {
	return &Watcher{
		Wall: func() time.Time { return c.wall },
		Mono: func() time.Duration { return c.mono },
		Sync: func() (Sync, time.Duration, error) { return sync, 0, nil },
	}
}

// tick advances both clocks by d, and the wall clock by step more.
func (c *fakeClocks) tick(d, step time.Duration) {
	c.mono += d
	c.wall = c.wall.Add(d + step)
}

func TestJumps(t *testing.T) {
	c := &fakeClocks{wall: time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)}
	w := c.watcher(Synced)
	if r := w.Check(); r.Jump != 0 || !r.Plausible() || r.Sync != Synced {
		t.Fatalf("first look %+v", r)
	}
	for _, s := range []struct {
		name     string
		d, step  time.Duration
		wantJump time.Duration
	}{
		{"steady", 10 * time.Second, 0, 0},
		{"slewed below the threshold", 10 * time.Second, 900 * time.Millisecond, 0},
		{"stepped forward (NTP sync)", 10 * time.Second, 3 * time.Hour, 3 * time.Hour},
		{"stepped back", 10 * time.Second, -2 * time.Second, -2 * time.Second},
		{"steady again", 10 * time.Second, 0, 0},
	} {
		c.tick(s.d, s.step)
		if r := w.Check(); r.Jump != s.wantJump {
			t.Errorf("%s: jump %v, want %v", s.name, r.Jump, s.wantJump)
		}
	}
}

func TestFloor(t *testing.T) {
	// A board without an RTC boots at the epoch; the sync steps it to
	// now.
	c := &fakeClocks{wall: time.Unix(12, 0).UTC()}
	w := c.watcher(Unsynced)
	r := w.Check()
	if r.Plausible() || r.Sync != Unsynced {
		t.Fatalf("at 1970, unsynced: %+v, want implausible", r)
	}
	c.tick(time.Second, time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC).Sub(c.wall))
	w.Sync = func() (Sync, time.Duration, error) { return Synced, 20 * time.Millisecond, nil }
	r = w.Check()
	if !r.Plausible() || r.Sync != Synced || r.Jump < 50*365*24*time.Hour {
		t.Fatalf("after the sync: %+v", r)
	}
	// A floor of its own: the newest time already recorded.
	w.Floor = c.wall.Add(time.Hour)
	if r := w.Check(); r.Plausible() {
		t.Fatalf("an hour before the newest recording: %+v, want implausible", r)
	}
}

func TestFromTimex(t *testing.T) {
	for _, c := range []struct {
		state  int
		status int32
		want   Sync
	}{
		{unix.TIME_OK, 0, Synced},
		{unix.TIME_OK, unix.STA_PLL, Synced},
		{unix.TIME_OK, unix.STA_UNSYNC, Unsynced},
		{unix.TIME_ERROR, 0, Unsynced},
		{unix.TIME_ERROR, unix.STA_UNSYNC, Unsynced},
	} {
		if got := fromTimex(c.state, c.status); got != c.want {
			t.Errorf("state %d status %#x: %v, want %v", c.state, c.status, got, c.want)
		}
	}
}

// The kernel answers here (read-only adjtimex needs no privilege); what
// it says depends on the machine, so only its consistency is checked.
func TestKernelSync(t *testing.T) {
	s, maxErr, err := KernelSync()
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) {
			t.Skipf("adjtimex refused here: %v", err)
		}
		t.Fatal(err)
	}
	if s == SyncUnknown || maxErr < 0 {
		t.Fatalf("kernel: %v, max error %v", s, maxErr)
	}
	t.Logf("this machine's clock: %v, max error %v", s, maxErr)
}
