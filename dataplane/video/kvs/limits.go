package kvs

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// KVS quotas of the media read APIs (Kinesis Video Streams developer
// guide, "Quotas": GetMedia 5 calls per second per stream, 25 MB/s per
// session), the defaults of Handler's limits.
const (
	// DefaultGetMediaCallsPerSecond is how many getMedia calls a stream
	// takes per second.
	DefaultGetMediaCallsPerSecond = 5
	// DefaultGetMediaBytesPerSecond is the rate of one getMedia session.
	DefaultGetMediaBytesPerSecond = 25 << 20
	// DefaultGetMediaIdle is how long a getMedia session that has caught
	// up waits for the stream's next fragment before it ends with the
	// continuation token.
	DefaultGetMediaIdle = 10 * time.Second
	// maxClipFragments and maxClipBytes bound a GetClip: KVS returns the
	// first 200 fragments or 100 MB of the range.
	maxClipFragments = 200
	maxClipBytes     = 100 << 20
	// maxLimiterStreams bounds the call limiter's table; idle entries are
	// dropped past it.
	maxLimiterStreams = 4096
)

// callLimiter is a token bucket per stream: burst calls at once, then
// rate per second.
type callLimiter struct {
	mu      sync.Mutex
	buckets map[string]*tokenBucket
}

type tokenBucket struct {
	tokens float64
	last   time.Time
}

// allow takes a token from stream's bucket at now, if it has one.
func (l *callLimiter) allow(stream string, rate float64, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	burst := max(rate, 1)
	if l.buckets == nil {
		l.buckets = make(map[string]*tokenBucket)
	}
	b, ok := l.buckets[stream]
	if !ok {
		if len(l.buckets) >= maxLimiterStreams {
			// Full buckets are the same as no bucket: drop them.
			for k, o := range l.buckets {
				if o.tokens+now.Sub(o.last).Seconds()*rate >= burst {
					delete(l.buckets, k)
				}
			}
		}
		b = &tokenBucket{tokens: burst, last: now}
		l.buckets[stream] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(burst, b.tokens+el*rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// pacer holds a session to rate bytes per second: wait returns when n
// more bytes may be sent. It belongs to one session's goroutine.
type pacer struct {
	rate  int64
	start time.Time
	sent  int64
}

// wait blocks until the bytes sent so far are within the rate, or ctx
// ends. The first write goes at once.
func (p *pacer) wait(ctx context.Context, n int) error {
	if p.rate <= 0 {
		return nil
	}
	now := time.Now()
	if p.start.IsZero() {
		p.start = now
	}
	due := p.start.Add(time.Duration(float64(p.sent) / float64(p.rate) * float64(time.Second)))
	p.sent += int64(n)
	if d := due.Sub(now); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// MediaStats counts the media operations of a Handler since it was made.
type MediaStats struct {
	// GetMediaSessions are the getMedia sessions open now.
	GetMediaSessions int64
	// GetMediaStarted counts the getMedia sessions that began streaming.
	GetMediaStarted uint64
	// GetMediaThrottled counts the getMedia calls refused by the
	// per-stream call limit (ClientLimitExceededException).
	GetMediaThrottled uint64
	// MediaBytes counts the bytes of media sent by getMedia,
	// getMediaForFragmentList and getClip.
	MediaBytes uint64
}

// mediaCounters are a Handler's MediaStats as they are counted.
type mediaCounters struct {
	sessions  atomic.Int64
	started   atomic.Uint64
	throttled atomic.Uint64
	bytes     atomic.Uint64
}

// Stats returns the media operations' counters.
func (h *Handler) Stats() MediaStats {
	c := &h.counters
	return MediaStats{GetMediaSessions: c.sessions.Load(), GetMediaStarted: c.started.Load(),
		GetMediaThrottled: c.throttled.Load(), MediaBytes: c.bytes.Load()}
}
