package testtool

import (
	"os/exec"
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
