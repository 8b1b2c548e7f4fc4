package engine

import (
	"sync"
	"time"
)

// limiters makes the per-shard token buckets from Limits.
type limiters struct {
	l   Limits
	now func() time.Time
}

func (l *limiters) newPair() (in, out *bucketPair) {
	t := l.now()
	in = &bucketPair{rateA: float64(l.l.RecordsPerSecond), rateB: float64(l.l.BytesInPerSecond), at: t}
	out = &bucketPair{rateA: float64(l.l.GetRecordsPerSecond), rateB: float64(l.l.BytesOutPerSecond), at: t}
	in.a, in.b = in.rateA, in.rateB
	out.a, out.b = out.rateA, out.rateB
	return in, out
}

// bucketPair is two token buckets refilled continuously at rateA/rateB
// tokens per second, each holding at most one second of tokens (Kinesis
// measures its shard limits per second).
type bucketPair struct {
	mu           sync.Mutex
	rateA, rateB float64
	a, b         float64
	at           time.Time
}

func (p *bucketPair) refill(now time.Time) {
	dt := now.Sub(p.at).Seconds()
	if dt <= 0 {
		return
	}
	p.at = now
	p.a = min(p.rateA, p.a+dt*p.rateA)
	p.b = min(p.rateB, p.b+dt*p.rateB)
}

// take removes na and nb tokens if both are available.
func (p *bucketPair) take(now time.Time, na, nb float64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refill(now)
	if p.a < na || p.b < nb {
		return false
	}
	p.a -= na
	p.b -= nb
	return true
}

// takeA removes na tokens of A if available and B is not in debt; B is
// charged afterwards with charge (reads only know their size once done).
func (p *bucketPair) takeA(now time.Time, na float64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refill(now)
	if p.a < na || p.b <= 0 {
		return false
	}
	p.a -= na
	return true
}

// charge removes nb tokens of B, possibly going into debt.
func (p *bucketPair) charge(nb float64) {
	p.mu.Lock()
	p.b -= nb
	p.mu.Unlock()
}
