package main

import (
	"errors"
	"flag"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index/indextest"
	"github.com/kinedge/kinedge/testdata/testtool"
)

var startBenchFragments = flag.Int("bench.fragments", 1_000_000, "fragments in the synthetic store of BenchmarkStartWithMillionFragments")

// BenchmarkStartWithMillionFragments: `kinedge serve` on a data dir that
// holds a million stored fragments (index/indextest's synthetic store,
// built once in the temp dir and copied here, since the appliance writes
// to it): from the process's start to /healthz answering (ready-ms), and
// from then to a camera (camsim) recording (recording-ms: its RTSP
// session accepted and its recorder started), each start after a clean
// stop. Times are the server's own log lines' (ms), not the polling's.
// p50 and max over the rounds:
//
//	go test -run '^$' -bench StartWithMillionFragments -benchtime 5x -timeout 30m ./cmd/kinedge/
func BenchmarkStartWithMillionFragments(b *testing.B) {
	n := *startBenchFragments
	store := indextest.DefaultDir(n)
	indextest.Build(b, n, store)
	data := b.TempDir()
	if out, err := testtool.Command(b, 10*time.Minute, "cp", "-a", filepath.Join(store, "db"), filepath.Join(data, "db")).CombinedOutput(); err != nil {
		b.Fatalf("copying the synthetic store: %v\n%s", err, out)
	}
	s := &server{t: b, dataDir: data, udpPort: freeUDPPair(b),
		httpAddr:  fmt.Sprintf("127.0.0.1:%d", freePort(b)),
		rtspAddr:  fmt.Sprintf("127.0.0.1:%d", freePort(b)),
		webrtcUDP: freeUDPAddr(b),
		env:       []string{seal.MasterKeyEnv + "=" + indextest.MasterHex()},
	}
	b.Cleanup(s.stop)
	var ready, recording []time.Duration
	round := 0
	for b.Loop() {
		round++
		began := time.Now()
		s.start() // returns once /healthz answers 200
		ready = append(ready, logTime(b, s.logs(), round, "kinedge serving").Sub(began))
		cam := fmt.Sprintf("start%d-", round)
		up := time.Now()
		c := testtool.Command(b, 2*time.Minute, kinedgeBin, "camsim", "--url", "rtsp://camera:camsecret@"+s.rtspAddr+"/",
			"--cameras", "1", "--prefix", cam, "--duration", "10s", "--log-level", "error")
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		waitFor(b, time.Minute, cam+"1 recording", func() error {
			if grepLines(s.logs(), "msg=recording", "stream="+cam+"1 ") == "" {
				return errors.New("not recording yet")
			}
			return nil
		})
		recording = append(recording, logTime(b, s.logs(), 1, "msg=recording", "stream="+cam+"1 ").Sub(up))
		c.Process.Kill()
		if err := c.Wait(); err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				b.Fatal(err)
			}
		}
		s.stop()
	}
	for _, m := range []struct {
		name string
		v    []time.Duration
	}{{"ready", ready}, {"recording", recording}} {
		slices.Sort(m.v)
		b.ReportMetric(float64(m.v[len(m.v)/2].Microseconds())/1000, m.name+"-p50-ms")
		b.ReportMetric(float64(m.v[len(m.v)-1].Microseconds())/1000, m.name+"-max-ms")
	}
	b.ReportMetric(0, "ns/op")
}

// logTime returns the time= of the nth log line (from 1) holding every
// word.
func logTime(tb testing.TB, logs string, nth int, words ...string) time.Time {
	tb.Helper()
	lines := strings.Split(grepLines(logs, words...), "\n")
	if len(lines) < nth || lines[nth-1] == "" {
		tb.Fatalf("log line %d with %q not found", nth, words)
	}
	v, _, _ := strings.Cut(strings.TrimPrefix(lines[nth-1], "time="), " ")
	at, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		tb.Fatalf("log line %q: %v", lines[nth-1], err)
	}
	return at
}
