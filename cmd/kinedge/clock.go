package main

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinedge/kinedge/firmware/clock"
	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/index"
)

// clockWatch looks at the system clock every interval (clock.Watcher):
// it logs when the kernel says the clock is or stops being synchronised,
// when the wall clock jumps, and when it reads a time before any real
// one (a board without a real-time clock booted at 1970), and exposes
// the state on /metrics. It owns one goroutine, ended by stop.
//
// It also keeps the boot's recording clock (clock.Timeline, the rule of
// docs/clock.md): the recorders and the index read their times from tl,
// and when a look moves the timeline (the clock was set, or jumped while
// unsynchronised) the corrector moves the fragments recorded so far in
// this run, again at the next correctRepeats looks for the fragments a
// recorder was storing meanwhile.
type clockWatch struct {
	w        clock.Watcher
	interval time.Duration
	log      *slog.Logger
	tl       clock.Timeline
	// startedWrong: the first look read a time before the floor (a board
	// at 1970); set by start, read-only after.
	startedWrong bool
	// boot reads the kernel's boot (clock.Timeline.Boot); nil:
	// clock.KernelBoot.
	boot func() (clock.Boot, error)

	mu       sync.Mutex
	last     clock.Report
	jumps    int
	lastJump time.Time // the wall time after the last jump
	// correct moves the fragments of this run to the timeline's state
	// (set once the index is open); repeats is how many more looks call
	// it again.
	correct func(context.Context, clock.TimelineState) error
	repeats int
	// correcting counts the corrector's calls under way.
	correcting int

	stopc chan struct{}
	done  chan struct{}
}

// correctRepeats is how many looks after a correction repeat it.
const correctRepeats = 2

func (c *clockWatch) start() {
	c.stopc, c.done = make(chan struct{}), make(chan struct{})
	if c.w.Mono == nil {
		origin := time.Now()
		c.w.Mono = func() time.Duration { return time.Since(origin) }
	}
	if c.w.Floor.IsZero() {
		c.w.Floor = buildFloor()
	}
	c.tl.Wall, c.tl.Mono, c.tl.Floor, c.tl.Boot = c.w.Wall, c.w.Mono, c.w.Floor, c.boot
	first := c.w.Check()
	c.startedWrong = first.BeforeFloor
	c.tl.Start(first)
	c.check(true)
	go func() {
		defer close(c.done)
		t := time.NewTicker(c.interval)
		defer t.Stop()
		for {
			select {
			case <-c.stopc:
				return
			case <-t.C:
				c.check(false)
			}
		}
	}()
}

func (c *clockWatch) stop() {
	if c.stopc == nil {
		return
	}
	close(c.stopc)
	<-c.done
	c.stopc = nil
}

// state is the last look, the jumps seen since start and when the last
// was (zero: none).
func (c *clockWatch) state() (clock.Report, int, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last, c.jumps, c.lastJump
}

// setCorrector sets the function that moves the fragments of this run
// to the timeline's state, and runs it once.
func (c *clockWatch) setCorrector(fn func(context.Context, clock.TimelineState) error) {
	c.mu.Lock()
	c.correct = fn
	c.repeats = correctRepeats + 1
	c.mu.Unlock()
	c.runCorrector()
}

// runCorrector calls the corrector if a correction is due.
func (c *clockWatch) runCorrector() {
	c.mu.Lock()
	fn := c.correct
	due := fn != nil && c.repeats > 0
	if due {
		c.repeats--
		c.correcting++
	}
	c.mu.Unlock()
	if !due {
		return
	}
	defer func() {
		c.mu.Lock()
		c.correcting--
		c.mu.Unlock()
	}()
	_, st := c.tl.Read()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := fn(ctx, st); err != nil {
		c.log.Error("correcting the times of the fragments recorded before the clock was set failed", "err", err)
	}
}

// bootClock reads the kernel's boot for the index's retention
// (index.Options.BootClock).
func (c *clockWatch) bootClock() (string, time.Duration, error) {
	read := c.boot
	if read == nil {
		read = clock.KernelBoot
	}
	b, err := read()
	return b.ID, b.Since, err
}

// recordClock returns the recorders' view of the timeline.
func (c *clockWatch) recordClock() fragment.Clock { return recordClock{&c.tl} }

// archiveHold reports whether what this run recorded waits for the clock
// before the archive uploads it (archive.Archiver.ClockHold): the run
// started on a time known to be wrong (before the floor) and either the
// timeline has been neither set nor moved since, or it has and the
// correction of the fragments recorded so far is not done yet (its
// repeats included: a fragment a recorder was storing meanwhile is
// corrected by a repeat). Released before the correction, the archive
// could upload a fragment between the two under its boot-timeline hour.
// A plausible but unsynchronised clock (fake-hwclock, a VM without NTP
// status) is not held: its times are as good as they will get.
func (c *clockWatch) archiveHold() bool {
	if !c.startedWrong {
		return false
	}
	_, st := c.tl.Read()
	if !st.Synced && st.Offset == 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.repeats > 0 || c.correcting > 0
}

// recordClock is a clock.Timeline as a fragment.Clock.
type recordClock struct{ tl *clock.Timeline }

func (r recordClock) Read() (time.Time, fragment.ClockState) {
	t, st := r.tl.Read()
	return t, fragment.ClockState{Synced: st.Synced, Offset: st.Offset}
}

// buildFloor is the earliest plausible time: the commit the binary was
// built from, or clock.DefaultFloor, whichever is later.
func buildFloor() time.Time {
	floor := clock.DefaultFloor
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key != "vcs.time" {
				continue
			}
			if t, err := time.Parse(time.RFC3339, s.Value); err == nil && t.After(floor) {
				floor = t
			}
		}
	}
	return floor
}

// check takes one look and logs what changed since the last.
func (c *clockWatch) check(first bool) {
	r := c.w.Check()
	st, moved := c.tl.Observe(r)
	c.mu.Lock()
	prev := c.last
	c.last = r
	if r.Jump != 0 {
		c.jumps++
		c.lastJump = r.Wall
	}
	if moved {
		c.repeats = correctRepeats + 1
	}
	c.mu.Unlock()
	if moved {
		c.log.Warn("recording clock moved onto the system clock: the fragments recorded since start before it are corrected in the index", "offset", st.Offset, "synchronized", st.Synced)
	}
	c.runCorrector()
	if r.Jump != 0 {
		c.log.Warn("system clock jumped: recordings around now have a step in their wall-clock times", "jump", r.Jump, "now", r.Wall)
	}
	if first || r.Sync != prev.Sync {
		switch r.Sync {
		case clock.Synced:
			c.log.Info("system clock synchronized", "max_error", r.MaxError)
		case clock.Unsynced:
			c.log.Warn("system clock not synchronized (no NTP sync since boot): recording times are only as right as the clock", "now", r.Wall)
		default:
			c.log.Info("system clock state unknown", "err", r.SyncErr)
		}
	}
	if !r.Plausible() && (first || prev.Plausible()) {
		c.log.Error("system clock reads a time before any real one (no real-time clock and no time source yet?): recording times are wrong until it is set", "now", r.Wall)
	}
}

var (
	descClockSynced = prometheus.NewDesc("kinedge_clock_synchronized",
		"1 when the kernel says the system clock is synchronised (NTP), 0 when not; absent when it cannot tell.", nil, nil)
	descClockPlausible = prometheus.NewDesc("kinedge_clock_plausible",
		"0 when the system clock reads a time before any real one (a board booted without a time source), else 1.", nil, nil)
	descClockJumps = prometheus.NewDesc("kinedge_clock_jumps_total",
		"Steps of the wall clock against the monotonic clock of a second or more.", nil, nil)
)

func (c *clockWatch) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *clockWatch) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	r, jumps := c.last, c.jumps
	c.mu.Unlock()
	if r.Sync != clock.SyncUnknown {
		ch <- prometheus.MustNewConstMetric(descClockSynced, prometheus.GaugeValue, b2f(r.Sync == clock.Synced))
	}
	ch <- prometheus.MustNewConstMetric(descClockPlausible, prometheus.GaugeValue, b2f(r.Plausible()))
	ch <- prometheus.MustNewConstMetric(descClockJumps, prometheus.CounterValue, float64(jumps))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// startClockCorrection makes the clock watcher correct, when the clock is
// set, the fragments of this run: those numbered from the first number
// issued now on; and, once the timeline is synchronised (now or later),
// those of the earlier runs of this boot that were recorded before the
// clock was set (index.CorrectEarlierRuns).
//
// An unsynchronised timeline is first raised to the end of the newest
// fragment stored: a board restarted without a time source records after
// what it has, not at the floor. Then, still before anything records, an
// unsynchronised run records its place on the boot's clock, so that a
// later run of the same boot can correct its fragments if this process
// ends before the clock is set.
func (a *appliance) startClockCorrection(ctx context.Context) error {
	streams, err := a.idx.Streams(ctx)
	if err != nil {
		return err
	}
	var newest time.Time
	for _, s := range streams {
		f, err := a.idx.Latest(ctx, s.Name)
		if errors.Is(err, index.ErrFragmentNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if end := f.ServerTime.Add(f.Duration); end.After(newest) {
			newest = end
		}
	}
	// from is past every stored fragment's number, visible or not: every
	// number this run issues is (numbers only grow), and no fragment of an
	// earlier run is. It is read, not issued: a start on a full disk
	// cannot write, and a fresh database's numbering is the archive
	// seeder's to choose. (Not the streams' Latest: a run that starts on
	// the synchronised clock does not see an earlier unsynchronised run's
	// fragments, stored at the floor, within their retention.) It is
	// never below an earlier run's first number, so the runs' number
	// ranges do not overlap.
	from, err := a.idx.NumbersStoredEnd(ctx)
	if err != nil {
		return err
	}
	runs, err := a.idx.ClockRuns(ctx)
	if err != nil {
		return err
	}
	for _, r := range runs {
		from = max(from, r.FirstNumber)
	}
	if !newest.IsZero() {
		a.clock.tl.RaiseStart(newest)
	}
	log := a.clock.log
	// run is this run's place on the boot's clock; without it (no
	// /proc, a sandbox), earlier runs are not corrected.
	var run *index.ClockRun
	if an, err := a.clock.tl.Anchor(); err != nil {
		log.Warn("the kernel's boot clock cannot be read: fragments recorded before the clock is set are corrected only if it is set before the appliance restarts", "err", err)
	} else {
		run = &index.ClockRun{BootID: an.BootID, BootTime: an.Since, Start: an.Wall, Offset: an.Offset, FirstNumber: from}
		if _, st := a.clock.tl.Read(); !st.Synced {
			if err := a.idx.RecordClockRun(ctx, *run); err != nil {
				log.Error("recording this run's place on the boot clock failed: if the appliance restarts before the clock is set, the fragments of this run keep their unsynchronised marks", "err", err)
			}
		}
	}
	a.clock.setCorrector(func(ctx context.Context, st clock.TimelineState) error {
		c, err := a.idx.CorrectClock(ctx, from, st.Offset, st.Synced)
		if err != nil {
			return err
		}
		if c.Moved > 0 || c.Settled > 0 {
			log.Info("fragment times corrected", "moved", c.Moved, "settled", c.Settled, "offset", st.Offset, "synchronized", st.Synced)
		}
		if run == nil || !st.Synced {
			return nil
		}
		c, err = a.idx.CorrectEarlierRuns(ctx, *run, st.Offset)
		if c.Moved > 0 || c.Settled > 0 {
			log.Info("fragment times of earlier runs of this boot corrected", "moved", c.Moved, "settled", c.Settled)
		}
		return err
	})
	return nil
}
