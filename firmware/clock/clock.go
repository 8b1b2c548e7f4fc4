// Package clock watches the system clock of a board that may have no
// real-time clock: whether the kernel says it is synchronised (NTP,
// chrony, systemd-timesyncd all steer it through adjtimex), whether its
// wall time jumped against the monotonic clock (a sync that steps the
// clock, an operator's `date -s`, fake-hwclock restoring the last
// shutdown's time), and whether it reads a time before the earliest
// plausible one (a board booted at 1970 or at its image's build date).
//
// It is a leaf: it reads the kernel and the clocks it is given, and
// reports; what to do about fragments recorded meanwhile is the
// caller's (see docs/clock.md).
//
// Why adjtimex and not timedatectl: the kernel's STA_UNSYNC flag is what
// every NTP client clears when it has synchronised the clock, and the
// system call needs no D-Bus, no systemd and no process; timedatectl's
// "System clock synchronized" is the same flag read the same way.
//
// Why the boot clock too (Boot, Timeline.Anchor): a run of the appliance
// that restarts before the clock is set loses its monotonic clock, but the
// kernel's CLOCK_BOOTTIME and boot id survive the restart until the board
// reboots, so a later run of the same boot can place an earlier run's
// timeline when it learns the time.
package clock

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Sync is the kernel's view of the clock's synchronisation.
type Sync int

const (
	// SyncUnknown: the kernel could not be asked (not Linux, or a
	// sandbox refusing adjtimex).
	SyncUnknown Sync = iota
	// Synced: an NTP client steers the clock and its error is bounded.
	Synced
	// Unsynced: nothing has synchronised the clock since boot, or the
	// client lost its servers long enough for the error bound to reach
	// the kernel's 16 s limit.
	Unsynced
)

func (s Sync) String() string {
	switch s {
	case Synced:
		return "synchronized"
	case Unsynced:
		return "unsynchronized"
	}
	return "unknown"
}

// KernelSync asks the kernel (adjtimex with no modes: a read). It is
// Synced when the clock state is not TIME_ERROR and STA_UNSYNC is clear.
func KernelSync() (Sync, time.Duration, error) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return SyncUnknown, 0, fmt.Errorf("clock: adjtimex: %w", err)
	}
	return fromTimex(state, tx.Status), time.Duration(tx.Maxerror) * time.Microsecond, nil
}

// fromTimex reads adjtimex's answer: its return value (the clock state)
// and the status word.
func fromTimex(state int, status int32) Sync {
	if state == unix.TIME_ERROR || status&unix.STA_UNSYNC != 0 {
		return Unsynced
	}
	return Synced
}

// Report is one look at the clock.
type Report struct {
	// Wall is the wall time read, Mono the monotonic clock with it.
	Wall time.Time
	Mono time.Duration
	// Sync is the kernel's synchronisation state; MaxError its error
	// bound (meaningful when Synced).
	Sync     Sync
	MaxError time.Duration
	// SyncErr is why the kernel could not be asked (Sync is
	// SyncUnknown).
	SyncErr error
	// Jump is how far the wall clock moved against the monotonic clock
	// since the previous look (positive: forward); zero below the
	// Watcher's JumpThreshold.
	Jump time.Duration
	// BeforeFloor: the wall time is before the Watcher's Floor, so it
	// is certainly wrong (a board that booted without a time source).
	BeforeFloor bool
}

// Plausible reports whether wall times read now can be trusted enough to
// stamp recordings with: not before the floor. (An unsynchronised clock
// that reads a plausible time is usable, only less exact: fake-hwclock's
// restored time after a short power cut is minutes off, not years.)
func (r Report) Plausible() bool { return !r.BeforeFloor }

// Watcher compares the wall clock with the monotonic clock at each Check
// and asks the kernel about synchronisation. It is not safe for
// concurrent use: one goroutine owns it.
type Watcher struct {
	// Wall reads the wall clock; Mono the monotonic one (any origin).
	// Default: time.Now without its monotonic reading, and the time
	// since the Watcher's first Check on the monotonic clock.
	Wall func() time.Time
	Mono func() time.Duration
	// Sync asks the kernel; default KernelSync.
	Sync func() (Sync, time.Duration, error)
	// Floor is the earliest plausible wall time (the binary's build, or
	// the newest time already recorded). Zero: 2026-01-01.
	Floor time.Time
	// JumpThreshold is the smallest step reported as a jump; default 1 s
	// (NTP slews below 128 ms and steps above; a step of a second is
	// what breaks a fragment's timeline).
	JumpThreshold time.Duration

	started  bool
	lastWall time.Time
	lastMono time.Duration
	origin   time.Time
}

// DefaultFloor is the Floor when none is set: no board running this
// software can truly be earlier.
var DefaultFloor = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ErrNoKernel is returned by a Sync func that has no kernel to ask.
var ErrNoKernel = errors.New("clock: no kernel clock state")

// Check looks at the clock once.
func (w *Watcher) Check() Report {
	if w.Wall == nil {
		w.Wall = func() time.Time { return time.Now().Round(0) }
	}
	if w.Mono == nil {
		if w.origin.IsZero() {
			w.origin = time.Now()
		}
		w.Mono = func() time.Duration { return time.Since(w.origin) }
	}
	if w.Sync == nil {
		w.Sync = KernelSync
	}
	thr := w.JumpThreshold
	if thr <= 0 {
		thr = time.Second
	}
	floor := w.Floor
	if floor.IsZero() {
		floor = DefaultFloor
	}
	wall, mono := w.Wall(), w.Mono()
	r := Report{Wall: wall, Mono: mono, BeforeFloor: wall.Before(floor)}
	r.Sync, r.MaxError, r.SyncErr = w.Sync()
	if w.started {
		if d := wall.Sub(w.lastWall) - (mono - w.lastMono); d >= thr || d <= -thr {
			r.Jump = d
		}
	}
	w.started, w.lastWall, w.lastMono = true, wall, mono
	return r
}
