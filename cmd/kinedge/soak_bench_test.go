package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// The soak harness (issue 12, requirement 6). Both benchmarks run
// `kinedge serve` as a child (a race build under -race) with its pprof
// endpoints on loopback, and read its figures from them: goroutines
// (the goroutine profile's total), the Go heap in use after a forced GC
// (the heap profile with gc=1) and the resident set (/proc/<pid>/status).
//
//	go test -run '^$' -bench SoakChurn -benchtime 1x -race ./cmd/kinedge/ -soak.cycles=100
//	go test -run '^$' -bench SoakCameras -benchtime 1x -timeout 2h -race ./cmd/kinedge/ -soak.cameras=8 -soak.duration=1h
var (
	soakCycles   = flag.Int("soak.cycles", 100, "camera connect/disconnect cycles of BenchmarkSoakChurn")
	soakCameras  = flag.Int("soak.cameras", 8, "cameras of BenchmarkSoakCameras")
	soakDuration = flag.Duration("soak.duration", time.Hour, "how long BenchmarkSoakCameras records")
)

// soakGoroutineSlack is how many goroutines more than the baseline the
// server may have once the cameras are gone (timers, an idle HTTP
// keep-alive connection of the test's own client).
const soakGoroutineSlack = 10

// soakFigures is one look at the server.
type soakFigures struct {
	goroutines int
	heap       int64 // Go heap in use after a GC, bytes
	rss        int64 // resident set, bytes
	// anon and file split rss: anonymous memory (the Go heap, stacks, the
	// race detector's shadow) and file-backed pages (Badger's memory-mapped
	// value log and tables: page cache the kernel reclaims).
	anon, file int64
	// What of the anonymous part is the Go runtime's, from the heap
	// profile's MemStats: idle heap spans it keeps (HeapIdle −
	// HeapReleased: freed heap not yet returned to the kernel), goroutine
	// stacks, and the heap size at which the next GC starts (with
	// GOGC=100 up to twice the live heap is touched between GCs).
	retained, stacks, nextGC int64
	// goHeld is what the Go runtime holds from the kernel (MemStats Sys −
	// HeapReleased: heap, stacks and the runtime's own structures, an
	// upper bound of its resident part); outside is the anonymous RSS
	// beyond it, memory no Go accounting covers: under -race the race
	// detector's (its shadow of every address touched and its metadata,
	// golang/go#26813, #37233), near zero without it.
	goHeld, outside int64
}

func (f soakFigures) String() string {
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	return fmt.Sprintf("goroutines %d, heap in use %.1f MiB, RSS %.1f MiB (anonymous %.1f, file %.1f); "+
		"idle heap kept %.1f MiB, stacks %.1f MiB, next GC at %.1f MiB; Go runtime holds %.1f MiB, anonymous beyond it %.1f MiB", f.goroutines,
		mib(f.heap), mib(f.rss), mib(f.anon), mib(f.file), mib(f.retained), mib(f.stacks), mib(f.nextGC), mib(f.goHeld), mib(f.outside))
}

// startSoakServer starts the server with its pprof endpoints.
func startSoakServer(b *testing.B) (*server, string) {
	debug := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	s := startServer(b, b.TempDir(), freeUDPPair(b), "KINEDGE_DEBUG_ADDR="+debug, "KINEDGE_LOG_LEVEL=info")
	return s, debug
}

// soakLook reads the server's figures.
func soakLook(b *testing.B, s *server, debug string) soakFigures {
	b.Helper()
	var f soakFigures
	body := func(path string) string {
		resp, err := http.Get("http://" + debug + path)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s: %s", path, resp.Status)
		}
		out, err := io.ReadAll(resp.Body)
		if err != nil {
			b.Fatal(err)
		}
		return string(out)
	}
	g := body("/debug/pprof/goroutine?debug=1")
	if _, err := fmt.Sscanf(g, "goroutine profile: total %d", &f.goroutines); err != nil {
		b.Fatalf("goroutine profile %.60q: %v", g, err)
	}
	sc := bufio.NewScanner(strings.NewReader(body("/debug/pprof/heap?debug=1&gc=1")))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var idle, released, sys int64
	for sc.Scan() {
		name, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
		if !ok {
			continue
		}
		// "# Stack = inuse / sys" has two figures; the others one.
		first, _, _ := strings.Cut(v, " /")
		n, _ := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
		switch name {
		case "HeapInuse":
			f.heap = n
		case "HeapIdle":
			idle = n
		case "HeapReleased":
			released = n
		case "Stack":
			f.stacks = n
		case "NextGC":
			f.nextGC = n
		case "Sys":
			sys = n
		}
	}
	f.retained = idle - released
	f.goHeld = sys - released
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(st), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		switch name {
		case "VmRSS":
			f.rss = kb << 10
		case "RssAnon":
			f.anon = kb << 10
		case "RssFile":
			f.file = kb << 10
		}
	}
	if f.heap == 0 || f.rss == 0 || sys == 0 {
		b.Fatalf("no heap, Sys or RSS figure: %+v", f)
	}
	f.outside = f.anon - f.goHeld
	return f
}

// soakSettle waits (up to a minute) for the server's goroutines to come
// back within soakGoroutineSlack of base, and returns the last look.
func soakSettle(b *testing.B, s *server, debug string, base int) soakFigures {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		f := soakLook(b, s, debug)
		if f.goroutines <= base+soakGoroutineSlack {
			return f
		}
		if time.Now().After(deadline) {
			resp, err := http.Get("http://" + debug + "/debug/pprof/goroutine?debug=1")
			if err == nil {
				g, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				b.Logf("goroutines:\n%s", g)
			}
			b.Fatalf("goroutines did not come back to the baseline: %d, baseline %d (+%d allowed)", f.goroutines, base, soakGoroutineSlack)
		}
		time.Sleep(500 * time.Millisecond) // polling with a deadline
	}
}

// soakCycle publishes one camera for a second of media and disconnects.
func soakCycle(b *testing.B, s *server, stream string) {
	b.Helper()
	cmd := testtool.Command(b, time.Minute, kinedgeBin, "camsim", "--url", "rtsp://camera:camsecret@"+s.rtspAddr+"/",
		"--cameras", "1", "--prefix", stream, "--duration", "1s", "--log-level", "error")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("camsim: %v\n%s", err, out)
	}
}

// BenchmarkSoakChurn: one camera connects, publishes a second and
// disconnects, soak.cycles times; the server's goroutines must come back
// to what they were after the first cycle (the baseline: the stream
// exists by then), and heap and RSS are reported at start and end.
func BenchmarkSoakChurn(b *testing.B) {
	s, debug := startSoakServer(b)
	soakCycle(b, s, "churn")
	base := soakLook(b, s, debug)
	// The first session may still be ending: settle on the lowest count.
	base = soakSettle(b, s, debug, base.goroutines-soakGoroutineSlack/2)
	started := time.Now()
	for i := range *soakCycles {
		soakCycle(b, s, "churn")
		soakAlive(b, s)
		if i%25 == 24 {
			b.Logf("cycle %d: %v", i+1, soakLook(b, s, debug))
		}
	}
	end := soakSettle(b, s, debug, base.goroutines)
	fmt.Printf("soak churn: %d cycles in %v (race %v)\n  start: %v\n  end:   %v\n", *soakCycles, time.Since(started).Round(time.Second), raceEnabled, base, end)
	reportSoak(b, base, end)
}

// BenchmarkSoakCameras: soak.cameras cameras record for soak.duration;
// figures at start (the cameras connected), every 10 minutes, and at the
// end, and the goroutines must come back to the baseline once they stop.
func BenchmarkSoakCameras(b *testing.B) {
	s, debug := startSoakServer(b)
	idle := soakLook(b, s, debug)
	cams := startCamsim(b, s, "soak", *soakCameras, "--duration", (*soakDuration + time.Minute).String())
	// The cameras are connected when each stream stored a fragment.
	waitFor(b, time.Minute, "every camera recording", func() error {
		for i := 1; i <= *soakCameras; i++ {
			if fs, err := s.tryFragments(fmt.Sprintf("soak%d", i)); err != nil || len(fs) == 0 {
				return fmt.Errorf("soak%d: %d fragments, %v", i, len(fs), err)
			}
		}
		return nil
	})
	start := soakLook(b, s, debug)
	began := time.Now()
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for time.Since(began) < *soakDuration {
		<-tick.C // the soak's own pace, not a synchronisation
		cams.alive(b)
		soakAlive(b, s)
		if m := time.Since(began).Round(time.Minute); m%(10*time.Minute) == 0 {
			b.Logf("%v: %v", m, soakLook(b, s, debug))
		}
	}
	end := soakLook(b, s, debug)
	cams.stop()
	after := soakSettle(b, s, debug, idle.goroutines)
	fmt.Printf("soak cameras: %d cameras for %v (race %v)\n  idle:  %v\n  start: %v\n  end:   %v\n  after: %v\n",
		*soakCameras, soakDuration.String(), raceEnabled, idle, start, end, after)
	reportSoak(b, start, end)
}

// soakAlive fails the benchmark if the server exited.
func soakAlive(b *testing.B, s *server) {
	b.Helper()
	select {
	case <-s.done:
		b.Fatalf("the appliance died: %v\n%s", s.cmd.ProcessState, s.logs())
	default:
	}
}

func reportSoak(b *testing.B, start, end soakFigures) {
	b.ReportMetric(float64(start.goroutines), "goroutines-start")
	b.ReportMetric(float64(end.goroutines), "goroutines-end")
	b.ReportMetric(float64(start.heap)/(1<<20), "heap-MiB-start")
	b.ReportMetric(float64(end.heap)/(1<<20), "heap-MiB-end")
	b.ReportMetric(float64(start.rss)/(1<<20), "RSS-MiB-start")
	b.ReportMetric(float64(end.rss)/(1<<20), "RSS-MiB-end")
	b.ReportMetric(float64(start.anon)/(1<<20), "anon-MiB-start")
	b.ReportMetric(float64(end.anon)/(1<<20), "anon-MiB-end")
	b.ReportMetric(float64(end.retained)/(1<<20), "idle-heap-MiB-end")
	b.ReportMetric(float64(start.outside)/(1<<20), "beyond-Go-MiB-start")
	b.ReportMetric(float64(end.outside)/(1<<20), "beyond-Go-MiB-end")
}
