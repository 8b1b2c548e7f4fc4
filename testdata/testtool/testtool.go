// Package testtool finds (Need) and runs (Command) the external tools of
// kinedge's tests (ffmpeg, ffprobe, GStreamer, the AWS CLI, kinedge
// itself): a missing tool skips a test locally and fails it under
// CI=true, and every run has a deadline, so a hung peer costs one test,
// not a package's whole -timeout.
package testtool

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Command returns the command name args with a deadline: it is killed when
// timeout passes or when the test ends, whichever comes first, and a kill
// by the timeout fails the test naming the tool.
func Command(t testing.TB, timeout time.Duration, name string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	cmd := exec.CommandContext(ctx, name, args...)
	var mu sync.Mutex
	ended := false // t may not be used once its cleanups have run
	cmd.Cancel = func() error {
		mu.Lock()
		if !ended && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("%s still running after %v: killed it (hung?)", filepath.Base(name), timeout)
		}
		mu.Unlock()
		return cmd.Process.Kill()
	}
	cmd.WaitDelay = 5 * time.Second // output pipes left open by the tool's children do not block Wait
	t.Cleanup(func() {
		mu.Lock()
		ended = true
		mu.Unlock()
		cancel()
	})
	return cmd
}
