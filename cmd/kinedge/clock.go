package main

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinedge/kinedge/firmware/clock"
)

// clockWatch looks at the system clock every interval (clock.Watcher):
// it logs when the kernel says the clock is or stops being synchronised,
// when the wall clock jumps, and when it reads a time before any real
// one (a board without a real-time clock booted at 1970), and exposes
// the state on /metrics. It owns one goroutine, ended by stop.
type clockWatch struct {
	w        clock.Watcher
	interval time.Duration
	log      *slog.Logger

	mu       sync.Mutex
	last     clock.Report
	jumps    int
	lastJump time.Time // the wall time after the last jump

	stopc chan struct{}
	done  chan struct{}
}

func (c *clockWatch) start() {
	c.stopc, c.done = make(chan struct{}), make(chan struct{})
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

// check takes one look and logs what changed since the last.
func (c *clockWatch) check(first bool) {
	r := c.w.Check()
	c.mu.Lock()
	prev := c.last
	c.last = r
	if r.Jump != 0 {
		c.jumps++
		c.lastJump = r.Wall
	}
	c.mu.Unlock()
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
