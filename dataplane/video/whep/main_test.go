package whep

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: every
// session's owner, RTCP readers and peer connection end with Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
