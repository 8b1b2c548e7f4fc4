package index

import (
	"math"
	"sync"
	"time"
)

// Bucket width.
//
// A blob bucket is the unit in which retention and the storage budget
// drop video, so it must be small next to the budget: dropping one
// bucket of a day's retention on a 256 MB budget would drop everything.
// The width of a new fragment's bucket is the time in which the
// appliance, at its recent ingest rate, stores 1/32 of the storage
// budget's limit, rounded down to one of bucketWidths and at most
// Options.BucketWidth. A 32 GB card with four 4 Mbit/s cameras gets 10
// minutes; 256 MB with four 8 Mbit/s cameras, 1 second. Buckets of
// different widths coexist: a bucket's end is in its key, and every
// reader works from ends.

// bucketsPerLimit is how many buckets the budget's limit holds.
const bucketsPerLimit = 32

// bucketWidths are the widths a bucket may have, shortest first.
var bucketWidths = [...]time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour,
}

// bucketWidth returns the width of the bucket of a fragment stored now.
func (x *Index) bucketWidth(now time.Time) time.Duration {
	maxW := x.opts.BucketWidth
	limit := x.db.Status().Limit
	r := x.rate.perSecond(now)
	if limit <= 0 || limit == math.MaxInt64 || r <= 0 {
		return maxW
	}
	w := time.Duration(float64(limit) / bucketsPerLimit / r * float64(time.Second))
	if w >= maxW {
		return maxW
	}
	out := bucketWidths[0]
	for _, bw := range bucketWidths {
		if bw > w {
			break
		}
		out = bw
	}
	return min(out, maxW)
}

// rateMeter measures bytes stored per second over windows of rateWindow.
type rateMeter struct {
	mu    sync.Mutex
	start time.Time // of the current window
	bytes int64     // in the current window
	prev  float64   // bytes per second of the last full window
}

const rateWindow = 10 * time.Second

func (m *rateMeter) add(now time.Time, n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roll(now)
	m.bytes += n
}

// roll starts a new window when the current one is over.
func (m *rateMeter) roll(now time.Time) {
	if m.start.IsZero() {
		m.start = now
		return
	}
	if el := now.Sub(m.start); el >= rateWindow || el < 0 {
		m.prev = 0
		if el > 0 && el < 2*rateWindow {
			m.prev = float64(m.bytes) / el.Seconds()
		}
		m.start, m.bytes = now, 0
	}
}

// perSecond returns the larger of the last window's rate and the current
// window's so far (over at least a second): bursts shrink buckets at once.
func (m *rateMeter) perSecond(now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roll(now)
	el := max(now.Sub(m.start), time.Second)
	return max(m.prev, float64(m.bytes)/el.Seconds())
}
