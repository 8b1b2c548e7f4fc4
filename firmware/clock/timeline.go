package clock

import (
	"sync"
	"time"
)

// Timeline is the recording clock of one boot (one process) on a board
// that may not know the time: the rule of docs/clock.md.
//
// While the wall clock is not known to be right, times are the boot's
// monotonic timeline: the wall time at Start (never before Floor) plus
// the monotonic time since, plus an offset that is zero until the wall
// clock jumps or is synchronised. At each such event (Observe) the offset
// becomes synced wall − (boot wall + monotonic elapsed): what the times
// given so far must move by. Once the kernel says the clock is
// synchronised the Timeline is synced for the rest of the boot and reads
// the wall clock (still never before Floor).
//
// Why monotonic and not the wall clock while unsynced: a board that boots
// at 1970 and steps to today when NTP answers would otherwise order its
// fragments by a clock that jumps, and a fake-hwclock restore jumps it
// back; the monotonic clock orders everything recorded in the boot, and
// one offset per event corrects it all.
//
// It is safe for concurrent use.
type Timeline struct {
	// Wall and Mono as in Watcher; give both the same Mono.
	Wall func() time.Time
	Mono func() time.Duration
	// Floor is the earliest time given. Zero: DefaultFloor.
	Floor time.Time
	// Boot reads the kernel's boot id and time since boot; Start reads
	// it once, to place this run on the boot's clock (Anchor). Default:
	// KernelBoot.
	Boot func() (Boot, error)

	mu     sync.Mutex
	base   time.Time // boot wall (clamped to Floor) minus the monotonic time then
	offset time.Duration
	synced bool
	// boot is read at Start with bootMono, the monotonic time then;
	// bootErr is why it could not be.
	boot     Boot
	bootMono time.Duration
	bootErr  error
}

// TimelineState is what Read reports with a time.
type TimelineState struct {
	// Synced: the time is the synchronised wall clock's.
	Synced bool
	// Offset is how far the boot's timeline has been moved so far.
	Offset time.Duration
}

// Start reads the clocks and begins the timeline, synced when first is
// a synchronised report whose time is plausible.
func (t *Timeline) Start(first Report) {
	if t.Wall == nil {
		t.Wall = func() time.Time { return time.Now().Round(0) }
	}
	if t.Mono == nil {
		origin := time.Now()
		t.Mono = func() time.Duration { return time.Since(origin) }
	}
	if t.Floor.IsZero() {
		t.Floor = DefaultFloor
	}
	if t.Boot == nil {
		t.Boot = KernelBoot
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.bootMono = t.Mono()
	t.boot, t.bootErr = t.Boot()
	wall := first.Wall
	if wall.Before(t.Floor) {
		wall = t.Floor
	}
	t.base = wall.Add(-first.Mono)
	t.synced = first.Sync == Synced && first.Plausible()
}

// Read returns the current time and the state it was read in.
func (t *Timeline) Read() (time.Time, TimelineState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := TimelineState{Synced: t.synced, Offset: t.offset}
	if t.synced {
		w := t.Wall()
		if w.Before(t.Floor) {
			w = t.Floor
		}
		return w, st
	}
	return t.base.Add(t.Mono() + t.offset), st
}

// Now returns the current time.
func (t *Timeline) Now() time.Time {
	now, _ := t.Read()
	return now
}

// Observe takes a Watcher's report. While unsynced, a jump or the
// synchronisation moves the timeline onto the wall clock: the offset
// becomes r.Wall − (base + r.Mono), unless that time is before Floor (a
// jump back to 1970 is not followed). It reports whether the state
// changed (the caller then corrects the fragments recorded so far).
func (t *Timeline) Observe(r Report) (TimelineState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := TimelineState{Synced: t.synced, Offset: t.offset}
	if t.synced || !r.Plausible() {
		return st, false
	}
	sync := r.Sync == Synced
	if r.Jump == 0 && !sync {
		return st, false
	}
	t.offset = r.Wall.Sub(t.base.Add(r.Mono))
	t.synced = sync
	nst := TimelineState{Synced: t.synced, Offset: t.offset}
	return nst, nst != st
}

// RaiseStart moves an unsynchronised timeline forward so that it reads at
// least t now (the end of the newest fragment already recorded: a board
// restarted without a time source must not record before what it has).
// Call it before anything is recorded on the timeline; a synced one is
// left alone.
func (t *Timeline) RaiseStart(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.synced {
		return
	}
	if now := t.base.Add(t.Mono() + t.offset); now.Before(at) {
		t.base = t.base.Add(at.Sub(now))
	}
}

// Anchor is where a run's timeline sits on its boot's clock: when the
// kernel's time since boot read Since, the timeline read Wall, with its
// offset then Offset.
//
// Two anchors of one boot relate two runs' timelines: the later run's
// timeline, with its offset now o, reads for the instant the earlier run
// started later.Wall − later.Offset + o − (later.Since − earlier.Since),
// where the earlier run's read earlier.Wall. The difference is the
// offset that puts the earlier run's times on the later run's timeline
// (docs/clock.md: how fragments of an earlier run of the same boot are
// corrected).
type Anchor struct {
	BootID string
	Since  time.Duration
	Wall   time.Time
	Offset time.Duration
}

// Anchor returns this run's anchor: the reading of the boot's clock taken
// at Start and what the timeline read then, as moved since (RaiseStart,
// Observe). It is an error when Start could not read the boot.
func (t *Timeline) Anchor() (Anchor, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bootErr != nil {
		return Anchor{}, t.bootErr
	}
	return Anchor{BootID: t.boot.ID, Since: t.boot.Since, Wall: t.base.Add(t.bootMono + t.offset), Offset: t.offset}, nil
}
