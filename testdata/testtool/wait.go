package testtool

import (
	"testing"
	"time"
)

// WaitLimit bounds WaitFor: a generous bound on a hang, not a measure of
// the machine's speed.
const WaitLimit = time.Minute

// WaitFor polls cond every few milliseconds until it holds; the test
// fails naming what if it does not within WaitLimit. For conditions that
// other goroutines or processes make true (an event the test cannot
// subscribe to), never for the passing of time.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(WaitLimit)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("%s: not reached within %v", what, WaitLimit)
		case <-tick.C:
		}
	}
}
