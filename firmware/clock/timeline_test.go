package clock

import (
	"testing"
	"time"
)

// TestTimelineFrom1970: a board boots at 1970 unsynchronised; the
// timeline starts at the floor and follows the monotonic clock; a jump
// to a plausible time while still unsynchronised moves it, the sync
// moves it by the rest (offset = synced wall − (boot wall + monotonic
// elapsed)), and from then on it reads the wall clock.
func TestTimelineFrom1970(t *testing.T) {
	c := &fakeClocks{wall: time.Unix(0, 0).UTC(), mono: 5 * time.Second}
	sync := Unsynced
	w := &Watcher{
		Wall: func() time.Time { return c.wall },
		Mono: func() time.Duration { return c.mono },
		Sync: func() (Sync, time.Duration, error) { return sync, 0, nil },
	}
	tl := &Timeline{Wall: w.Wall, Mono: w.Mono}
	tl.Start(w.Check())
	now, st := tl.Read()
	if !now.Equal(DefaultFloor) || st.Synced || st.Offset != 0 {
		t.Fatalf("at start %v %+v, want the floor, unsynced", now, st)
	}
	c.tick(time.Minute, 0)
	if _, changed := tl.Observe(w.Check()); changed {
		t.Fatal("a steady unsynchronised clock changed the timeline")
	}
	if now := tl.Now(); !now.Equal(DefaultFloor.Add(time.Minute)) {
		t.Fatalf("after a minute %v", now)
	}
	// fake-hwclock (or an operator) sets a plausible time, still unsynced.
	restored := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	c.mono += 10 * time.Second
	c.wall = restored
	st, changed := tl.Observe(w.Check())
	wantOff := restored.Sub(DefaultFloor.Add(70 * time.Second))
	if !changed || st.Synced || st.Offset != wantOff {
		t.Fatalf("after the restore %+v changed %v, want offset %v unsynced", st, changed, wantOff)
	}
	if now := tl.Now(); !now.Equal(restored) {
		t.Fatalf("after the restore %v, want %v", now, restored)
	}
	// NTP steps it to the real time.
	real := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	c.mono += 10 * time.Second
	c.wall, sync = real, Synced
	st, changed = tl.Observe(w.Check())
	wantOff = real.Sub(DefaultFloor.Add(80 * time.Second))
	if !changed || !st.Synced || st.Offset != wantOff {
		t.Fatalf("after the sync %+v changed %v, want offset %v synced", st, changed, wantOff)
	}
	// Synced: reads the wall clock; later jumps do not move the timeline.
	c.tick(10*time.Second, 2*time.Second)
	if _, changed := tl.Observe(w.Check()); changed {
		t.Fatal("a jump after the sync changed the timeline")
	}
	if now := tl.Now(); !now.Equal(c.wall) {
		t.Fatalf("synced %v, want the wall %v", now, c.wall)
	}
	// Never before the floor, even when the wall clock goes back to 1970.
	c.wall = time.Unix(0, 0)
	if now := tl.Now(); now.Before(DefaultFloor) {
		t.Fatalf("synced clock at 1970 gave %v", now)
	}
}

// TestTimelineSyncedAtStart: a board whose clock is synchronised at start
// reads the wall clock and never marks anything.
func TestTimelineSyncedAtStart(t *testing.T) {
	c := &fakeClocks{wall: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)}
	w := c.watcher(Synced)
	tl := &Timeline{Wall: w.Wall, Mono: w.Mono}
	tl.Start(w.Check())
	c.tick(time.Second, 0)
	now, st := tl.Read()
	if !st.Synced || st.Offset != 0 || !now.Equal(c.wall) {
		t.Fatalf("%v %+v, want the wall clock, synced", now, st)
	}
}

// TestTimelineIgnoresImplausibleJump: unsynced, a jump to another time
// before the floor is not followed.
func TestTimelineIgnoresImplausibleJump(t *testing.T) {
	c := &fakeClocks{wall: time.Unix(0, 0).UTC()}
	w := c.watcher(Unsynced)
	tl := &Timeline{Wall: w.Wall, Mono: w.Mono}
	tl.Start(w.Check())
	c.tick(10*time.Second, time.Hour)
	if st, changed := tl.Observe(w.Check()); changed || st.Offset != 0 {
		t.Fatalf("followed a jump within 1970: %+v", st)
	}
}

// TestTimelineRaiseStart: an unsynchronised board restarted at 1970
// continues after the newest fragment it has, not at the floor.
func TestTimelineRaiseStart(t *testing.T) {
	c := &fakeClocks{wall: time.Unix(0, 0).UTC()}
	w := c.watcher(Unsynced)
	tl := &Timeline{Wall: w.Wall, Mono: w.Mono}
	tl.Start(w.Check())
	newest := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	tl.RaiseStart(newest)
	c.tick(time.Second, 0)
	if now := tl.Now(); !now.Equal(newest.Add(time.Second)) {
		t.Fatalf("after the raise %v, want %v", now, newest.Add(time.Second))
	}
	tl.RaiseStart(DefaultFloor) // never back
	if now := tl.Now(); !now.Equal(newest.Add(time.Second)) {
		t.Fatalf("lowered to %v", now)
	}
}
