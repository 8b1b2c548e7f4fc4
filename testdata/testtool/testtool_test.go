package testtool

import (
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// recorder is a testing.TB that keeps what Errorf reports.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, format)
}

func TestCommandKillsAHungTool(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep(1)")
	}
	r := &recorder{TB: t}
	start := time.Now()
	err = Command(r, 200*time.Millisecond, sleep, "60").Run()
	if err == nil {
		t.Fatal("a tool past its deadline ran to the end")
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("killed after %v", time.Since(start))
	}
	if len(r.errs) != 1 || !strings.Contains(r.errs[0], "still running") {
		t.Fatalf("reported %q, want one 'still running' failure", r.errs)
	}
}

func TestCommandRunsToTheEnd(t *testing.T) {
	r := &recorder{TB: t}
	out, err := Command(r, time.Minute, "sh", "-c", "echo ok").Output()
	if err != nil || strings.TrimSpace(string(out)) != "ok" || len(r.errs) != 0 {
		t.Fatalf("%q %v %q", out, err, r.errs)
	}
}

// ender is a testing.TB whose Fatalf and Skipf record the message and end
// the goroutine, as the real ones do.
type ender struct {
	testing.TB
	fatal, skip string
}

func (e *ender) Fatalf(format string, args ...any) {
	e.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (e *ender) Skipf(format string, args ...any) {
	e.skip = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// need runs Need on its own goroutine (Fatalf and Skipf end it).
func need(e *ender, name string) string {
	var p string
	done := make(chan struct{})
	go func() {
		defer close(done)
		p = Need(e, name)
	}()
	<-done
	return p
}

func TestNeed(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh(1)")
	}
	if p := need(&ender{TB: t}, "sh"); p != sh {
		t.Errorf("Need(sh) = %q, want %q", p, sh)
	}
	const missing = "kinedge-no-such-tool"
	t.Setenv("CI", "")
	e := &ender{TB: t}
	need(e, missing)
	if e.fatal != "" || !strings.Contains(e.skip, missing) {
		t.Errorf("without CI: fatal %q, skip %q; want a skip naming %s", e.fatal, e.skip, missing)
	}
	e = &ender{TB: t}
	need(e, "mkfs.ext4-"+missing) // no package hint for it
	if !strings.Contains(e.skip, "install it to run") {
		t.Errorf("skip %q", e.skip)
	}
	t.Setenv("CI", "true")
	e = &ender{TB: t}
	need(e, missing)
	if e.skip != "" || !strings.Contains(e.fatal, "required under CI=true") {
		t.Errorf("under CI=true: fatal %q, skip %q; want a failure", e.fatal, e.skip)
	}
}
