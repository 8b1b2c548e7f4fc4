package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kinedge/kinedge/ingest/camsim"
	"github.com/kinedge/kinedge/testdata"
)

const benchUsage = `usage: kinedge bench-ingest [flags]

Starts "kinedge serve" as a child process on a fresh data dir, publishes
simulated RTSP cameras to it from this process, and prints what the server
spent: CPU time, memory (peak RSS, split into anonymous and file-backed
pages), the bytes it wrote to the storage device per byte of video stored,
and the frames lost between the cameras and the store. Linux only (/proc).

With --fill and a budget (--max-bytes), the cameras publish into the
budget; /healthz is polled every 100 ms to measure how long eviction takes
to bring usage back under evict_at_bytes each time it is crossed.

Bytes written are the server's write_bytes less cancelled_write_bytes from
/proc/<pid>/io: the kernel charges them when a page of the page cache is
dirtied (write(2) and stores into shared file mappings alike), so they do
not wait for writeback; filesystem journal and metadata writes are not in
them, and on tmpfs they are 0 (the data dir must be on a real disk). The
device counter (/sys/dev/block/<dev>/stat, read after syncing the data
dir's filesystem) has the journal too, but also every other writer of that
device.

  kinedge bench-ingest --cameras 4 --duration 60s --profile pi --clip /tmp/bench1080.ts
  kinedge bench-ingest --fill --max-bytes 600MiB --cameras 4 --profile pi --duration 8m --data-dir /mnt/fill

flags:
`

// benchConfig holds the flags of bench-ingest.
type benchConfig struct {
	cameras     int
	duration    time.Duration
	clip        string
	transport   string
	keep        bool
	profile     string
	dataDir     string
	maxBytes    string
	fill        bool
	heapProfile string
}

func (c *benchConfig) register(fs *flag.FlagSet) {
	fs.IntVar(&c.cameras, "cameras", 16, "number of simulated cameras")
	fs.DurationVar(&c.duration, "duration", 60*time.Second, "media time each camera publishes")
	fs.StringVar(&c.clip, "clip", "", "MPEG-TS `file` to publish (default: the embedded 320x240 clip; make a 1080p ~4 Mbit/s one with testdata/gen.sh --bench FILE)")
	fs.StringVar(&c.transport, "transport", "tcp", "RTSP transport: tcp or udp")
	fs.BoolVar(&c.keep, "keep", false, "keep the data dir and the server's log (serve.log)")
	fs.StringVar(&c.profile, "profile", profileAuto, "memory profile of the server: auto, default or pi (KINEDGE_PROFILE)")
	fs.StringVar(&c.dataDir, "data-dir", "", "`dir` to make the fresh data dir in, e.g. a mounted filesystem (default: the temp dir)")
	fs.StringVar(&c.maxBytes, "max-bytes", "", "storage budget `size` of the server, e.g. 600MiB (KINEDGE_STORAGE_MAX_BYTES; default: none)")
	fs.BoolVar(&c.fill, "fill", false, "fill the budget (needs --max-bytes) and measure how fast eviction brings usage back under evict_at_bytes")
	fs.StringVar(&c.heapProfile, "heap-profile", "", "save the server's Go heap profile at the end of the run to `file` (go tool pprof -top FILE)")
}

// validate reports every problem of the flags at once.
func (c *benchConfig) validate() error {
	var errs []error
	if c.cameras < 1 {
		errs = append(errs, fmt.Errorf("--cameras %d: want at least 1", c.cameras))
	}
	if c.duration <= 0 {
		errs = append(errs, fmt.Errorf("--duration %v: want more than 0", c.duration))
	}
	switch c.transport {
	case camsim.TransportTCP, camsim.TransportUDP:
	default:
		errs = append(errs, fmt.Errorf("--transport %q is not tcp|udp", c.transport))
	}
	switch c.profile {
	case profileAuto, profileDefault, profilePi:
	default:
		errs = append(errs, fmt.Errorf("--profile %q is not auto|default|pi", c.profile))
	}
	if c.maxBytes != "" {
		if _, err := parseByteSize(c.maxBytes); err != nil {
			errs = append(errs, fmt.Errorf("--max-bytes: %w", err))
		}
	}
	if c.fill && c.maxBytes == "" {
		errs = append(errs, errors.New("--fill needs --max-bytes, the budget to fill"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("bench-ingest: %w", errors.Join(errs...))
	}
	return nil
}

// Sampling periods of a run.
const (
	benchMemEvery    = 200 * time.Millisecond
	benchHealthEvery = 100 * time.Millisecond
	benchStopTimeout = 30 * time.Second
)

// runBenchIngest measures the appliance's ingest path: it starts `kinedge
// serve` as a child process on a fresh data dir, publishes simulated
// cameras to it from this process, and prints the server's CPU time per
// stream-second of video, its memory, its writes per byte of video, and
// the frames lost between what the cameras sent and what was stored.
// Linux only (/proc).
func runBenchIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench-ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg benchConfig
	cfg.register(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench-ingest: unexpected arguments %q", fs.Args())
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if cfg.dataDir != "" {
		if fi, err := os.Stat(cfg.dataDir); err != nil || !fi.IsDir() {
			return fmt.Errorf("bench-ingest: --data-dir %s is not a directory", cfg.dataDir)
		}
	}
	dir, err := os.MkdirTemp(cfg.dataDir, "kinedge-bench-*")
	if err != nil {
		return err
	}
	if !cfg.keep {
		defer os.RemoveAll(dir)
	}
	mnt, mntErr := findMount(dir)
	if mntErr != nil {
		fmt.Fprintf(stderr, "warning: cannot tell the filesystem of %s: %v\n", dir, mntErr)
	} else if mnt.inMemory() {
		fmt.Fprintf(stderr, "warning: %s is on %s: nothing reaches a disk, so bytes written read 0; use --data-dir on a real disk\n", dir, mnt.fsType)
	}
	dev, devOK := mnt.blockDev()

	httpAddr, err := freeAddr()
	if err != nil {
		return err
	}
	rtspAddr, err := freeAddr()
	if err != nil {
		return err
	}
	// RTSP's UDP ports: free ones on loopback. (An empty
	// KINEDGE_RTSP_UDP_RTP does not turn UDP off: the configuration skips
	// empty variables, and serve would take :8000 and :8001.)
	rtpAddr, rtcpAddr, err := benchUDPPorts()
	if err != nil {
		return err
	}
	srv := exec.Command(exe, "serve", "--data-dir", filepath.Join(dir, "data"), "--http", httpAddr, "--rtsp", rtspAddr)
	srv.Env = append(os.Environ(), "KINEDGE_ACCESS_KEY=bench", "KINEDGE_SECRET_KEY=benchsecret",
		"KINEDGE_PUBLISH_USER=cam", "KINEDGE_PUBLISH_PASS=campass",
		"KINEDGE_RTSP_UDP_RTP="+rtpAddr, "KINEDGE_RTSP_UDP_RTCP="+rtcpAddr,
		"KINEDGE_PROFILE="+cfg.profile, "KINEDGE_LOG_FORMAT=text")
	if cfg.maxBytes != "" {
		srv.Env = append(srv.Env, "KINEDGE_STORAGE_MAX_BYTES="+cfg.maxBytes)
	}
	debugAddr := os.Getenv("KINEDGE_DEBUG_ADDR")
	if cfg.heapProfile != "" && debugAddr == "" {
		if debugAddr, err = freeAddr(); err != nil {
			return err
		}
		srv.Env = append(srv.Env, "KINEDGE_DEBUG_ADDR="+debugAddr)
	}
	logPath := filepath.Join(dir, "serve.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	srv.Stdout, srv.Stderr = logf, logf
	child, err := startChild(srv)
	if err != nil {
		return err
	}
	defer child.stop(benchStopTimeout)
	pid := srv.Process.Pid
	api := &apiClient{base: "http://" + httpAddr, user: "bench", pass: "benchsecret", hc: &http.Client{Timeout: 30 * time.Second}}
	if err := waitHealthy(ctx, api, child.done); err != nil {
		return fmt.Errorf("%w\n%s", err, tailFile(logPath, 20))
	}
	startLog := scanServeLogFile(logPath)
	fmt.Fprintf(stderr, "serve (pid %d, profile %s) in %s\n", pid, startLog.profileText(cfg.profile), dir)

	// The baseline: CPU, bytes written, and the device's counter after
	// flushing what is pending on the data dir's filesystem.
	cpu0, err := procCPU(pid)
	if err != nil {
		return err
	}
	io0, err := readProcIO(strconv.Itoa(pid))
	if err != nil {
		return err
	}
	var devWritten0 int64
	if devOK {
		syncFS(dir)
		if devWritten0, err = dev.bytesWritten(); err != nil {
			devOK = false
		}
	}

	// The run stops early when the server dies.
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	go func() {
		select {
		case <-child.done:
			cancelRun()
		case <-runCtx.Done():
		}
	}()

	fmt.Fprintf(stderr, "publishing %d cameras for %v (%s)…\n", cfg.cameras, cfg.duration, cfg.transport)
	start := time.Now()
	memCtx, stopMem := context.WithCancel(runCtx)
	defer stopMem()
	memDone := make(chan []memSample, 1)
	go func() { memDone <- sampleMem(memCtx, pid, benchMemEvery, start) }()
	healthDone := make(chan []healthSample, 1)
	healthCtx, stopHealth := context.WithCancel(runCtx)
	defer stopHealth()
	if cfg.fill {
		go func() { healthDone <- pollHealth(healthCtx, api, benchHealthEvery, start) }()
	} else {
		healthDone <- nil
	}

	simCfg := camsim.Config{URL: "rtsp://cam:campass@" + rtspAddr + "/", Cameras: cfg.cameras, Transport: cfg.transport, Duration: cfg.duration}
	if cfg.clip == "" {
		simCfg.ClipData, _ = testdata.Clip(testdata.NameH264AAC)
	} else {
		simCfg.Clip = cfg.clip
	}
	st, err := camsim.Run(runCtx, simCfg)
	if childExited(child) {
		return fmt.Errorf("bench-ingest: serve exited during the run (%v)\n%s", child.err, tailFile(logPath, 20))
	}
	if err != nil {
		return fmt.Errorf("camsim: %w", err)
	}
	// Sessions are over: each recorder stores its last fragment. Wait
	// until the stored counts stop changing.
	var stored []int64
	if cfg.fill {
		err = waitFragmentsSettled(runCtx, api)
	} else {
		stored, err = waitStored(runCtx, api, st)
	}
	if err != nil {
		return err
	}
	stopHealth()
	health := <-healthDone

	// End of the run: read everything while the server still runs.
	cpu1, err := procCPU(pid)
	if err != nil {
		return err
	}
	memEnd, err := readProcMem(pid)
	if err != nil {
		return err
	}
	stopMem()
	mem := <-memDone
	// write_bytes is charged when pages are dirtied, so it needs no
	// sync; the device counter does.
	ioEnd, err := readProcIO(strconv.Itoa(pid))
	if err != nil {
		return err
	}
	var devWritten int64
	if devOK {
		syncFS(dir)
		if w, err := dev.bytesWritten(); err == nil {
			devWritten = w - devWritten0
		} else {
			devOK = false
		}
	}
	metrics, err := scrapeMetrics(runCtx, api)
	if err != nil {
		return fmt.Errorf("bench-ingest: metrics: %w", err)
	}
	if cfg.heapProfile != "" {
		if err := saveHeapProfile(runCtx, debugAddr, cfg.heapProfile); err != nil {
			fmt.Fprintf(stderr, "warning: heap profile: %v\n", err)
		}
	}
	// A clean stop: Badger flushes its memtables. The kernel adds a
	// reaped child's I/O counters to its parent's, so this process's own
	// counters grow by everything the server wrote in its life.
	self0, selfErr := readProcIO("self")
	stopErr := child.stop(benchStopTimeout)
	self1, selfErr1 := readProcIO("self")
	withStop := int64(-1)
	if selfErr == nil && selfErr1 == nil {
		withStop = self1.net() - self0.net()
	}
	logInfo := scanServeLogFile(logPath)

	r := benchReport{
		cfg: cfg, dir: dir, logPath: logPath, mount: mnt, mountOK: mntErr == nil, log: logInfo,
		st: st, stored: stored, cpu: cpu1 - cpu0, mem: mem, memEnd: memEnd,
		io0: io0, ioEnd: ioEnd, withStop: withStop, dev: dev, devOK: devOK, devWritten: devWritten,
		metrics: metrics, health: health, stopErr: stopErr,
	}
	return r.print(stdout)
}

// benchReport is what a run measured.
type benchReport struct {
	cfg        benchConfig
	dir        string
	logPath    string
	mount      mountInfo
	mountOK    bool
	log        serveLog
	st         camsim.Stats
	stored     []int64 // frames stored per camera; nil in fill mode
	cpu        float64 // server CPU seconds during the run
	mem        []memSample
	memEnd     procMem
	io0        procIO // at the start of the run
	ioEnd      procIO // at the end, before the stop
	withStop   int64  // bytes written in the server's life, its stop included; -1 if unknown
	dev        blockDev
	devOK      bool
	devWritten int64
	metrics    promSamples
	health     []healthSample
	stopErr    error
}

func (r *benchReport) print(w io.Writer) error {
	const mb = 1e6
	line := func(label, format string, a ...any) {
		fmt.Fprintf(w, "%-21s%s\n", label, fmt.Sprintf(format, a...))
	}
	tot := r.st.Total()
	streamSeconds := 0.0
	for _, c := range r.st.Cameras {
		streamSeconds += c.MediaTime.Seconds()
	}
	line("profile", "%s", r.log.profileText(r.cfg.profile))
	where := r.dir
	if r.mountOK {
		where += fmt.Sprintf(" (%s on %s)", r.mount.fsType, r.mount.source)
	}
	line("data dir", "%s", where)
	if r.cfg.maxBytes != "" {
		n, _ := parseByteSize(r.cfg.maxBytes)
		line("storage budget", "%s = %.1f MB (KINEDGE_STORAGE_MAX_BYTES)", r.cfg.maxBytes, float64(n)/mb)
	}
	line("cameras", "%d (%s, clip %s)", r.cfg.cameras, r.cfg.transport, clipName(r.cfg.clip))
	line("media published", "%.0f stream-seconds in %v wall", streamSeconds, r.st.Elapsed.Round(time.Millisecond))
	line("video bitrate in", "%.2f Mbit/s total", float64(tot.Bytes)*8/r.st.Elapsed.Seconds()/1e6)
	line("server CPU", "%.2f s (%.4f CPU-s per stream-second, %.1f%% of one core)",
		r.cpu, r.cpu/streamSeconds, 100*r.cpu/r.st.Elapsed.Seconds())

	peak := peakMem(r.mem)
	line("server peak RSS", "%.1f MB (VmHWM: anonymous, file-backed and shared together)", float64(r.memEnd.hwm)/mb)
	line("RSS", "%10s %10s %10s", "anonymous", "file", "shmem")
	line("  peak", "%7.1f MB %7.1f MB %7.1f MB   (each the highest of %d samples, %v apart; anonymous at %v)",
		float64(peak.anon)/mb, float64(peak.file)/mb, float64(peak.shmem)/mb, len(r.mem), benchMemEvery, peakAnonAt(r.mem).Round(100*time.Millisecond))
	line("  end", "%7.1f MB %7.1f MB %7.1f MB", float64(r.memEnd.anon)/mb, float64(r.memEnd.file)/mb, float64(r.memEnd.shmem)/mb)
	if tl := memTimeline(r.mem, 10); len(tl) > 0 {
		var b strings.Builder
		for i, s := range tl {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.0f", float64(s.anon)/mb)
		}
		line("  anonymous, MB", "%s (at each tenth of the run)", b.String())
	}
	m := r.metrics
	if inuse := m.sum("go_memstats_heap_inuse_bytes"); inuse > 0 {
		idle := m.sum("go_memstats_heap_idle_bytes") - m.sum("go_memstats_heap_released_bytes")
		line("Go runtime at end", "heap in use %.1f MB, idle kept %.1f MB, stacks %.1f MB, other %.1f MB",
			inuse/mb, idle/mb, m.sum("go_memstats_stack_inuse_bytes")/mb,
			(m.sum("go_memstats_mspan_inuse_bytes")+m.sum("go_memstats_mcache_inuse_bytes")+
				m.sum("go_memstats_buck_hash_sys_bytes")+m.sum("go_memstats_gc_sys_bytes")+m.sum("go_memstats_other_sys_bytes"))/mb)
	}

	video := m.sum("kinedge_stream_fragment_bytes_total")
	line("video stored", "%.1f MB sealed (kinedge_stream_fragment_bytes_total)", video/mb)
	written := r.ioEnd.net()
	line("bytes written", "%.1f MB by serve until the end of the run = %s per video byte",
		float64(written)/mb, ratioText(float64(written), video))
	line("", "(write_bytes %.1f MB − cancelled %.1f MB; %.1f MB of it before the cameras)",
		float64(r.ioEnd.write)/mb, float64(r.ioEnd.cancelled)/mb, float64(r.io0.net())/mb)
	if r.withStop >= 0 {
		line("", "%.1f MB with the clean stop (memtable flush) = %s per video byte",
			float64(r.withStop)/mb, ratioText(float64(r.withStop), video))
	}
	if r.devOK {
		line("device writes", "%.1f MB to %s during the run = %s per video byte (every writer, journal included)",
			float64(r.devWritten)/mb, r.dev.name, ratioText(float64(r.devWritten), video))
	}
	line("database at end", "%.1f MB used (value log %.1f MB, LSM %.1f MB)",
		m.sum("kinedge_storage_used_bytes")/mb, m.sum("kinedge_storage_vlog_bytes")/mb, m.sum("kinedge_storage_lsm_bytes")/mb)
	if ev := m.get(`kinedge_storage_evicted_bytes_total{reason="budget"}`); ev > 0 || r.cfg.maxBytes != "" {
		line("evicted (budget)", "%.1f MB in %.0f fragments", ev/mb, m.get(`kinedge_storage_evicted_fragments_total{reason="budget"}`))
	}

	var fillErr error
	if r.cfg.fill {
		fillErr = printFill(w, line, analyzeFill(r.health))
	}

	// Frames: end to end by listing the fragments, unless the budget
	// evicted some; then from the server's counters.
	received := int64(m.sum("kinedge_stream_frames_received_total"))
	dropped := int64(m.sum("kinedge_stream_frames_dropped_total"))
	storeErrs := int64(m.sum("kinedge_stream_store_errors_total"))
	refused := int64(m.sum("kinedge_storage_refused_writes_total"))
	line("frames sent", "%d (camera-side drops %d)", tot.Frames, tot.Dropped)
	var lost int64
	if r.stored != nil && m.get(`kinedge_storage_evicted_bytes_total{reason="budget"}`) == 0 {
		var storedTotal int64
		for i, c := range r.st.Cameras {
			lost += c.Frames - r.stored[i]
			storedTotal += r.stored[i]
		}
		line("frames stored", "%d", storedTotal)
	} else {
		lost = tot.Frames - received + dropped
		line("frames received", "%d by serve, of which %d dropped by its queues", received, dropped)
		line("", "(the budget evicts fragments: frames lost is sent − received + dropped)")
	}
	line("frames lost", "%d", lost)
	if storeErrs > 0 || refused > 0 {
		line("store errors", "%d fragments failed to store, %d writes refused by the budget", storeErrs, refused)
	}
	line("server log", "%d errors, %d warnings%s", r.log.errors, r.log.warnings, keptText(r.cfg.keep, r.logPath))
	for _, l := range r.log.first {
		line("", "%s", l)
	}
	if r.stopErr != nil {
		line("server stop", "%v", r.stopErr)
	}
	switch {
	case fillErr != nil:
		return fillErr
	case lost != 0:
		return fmt.Errorf("bench-ingest: %d frames lost", lost)
	case storeErrs > 0:
		return fmt.Errorf("bench-ingest: %d fragments failed to store", storeErrs)
	}
	return nil
}

func printFill(w io.Writer, line func(label, format string, a ...any), f fillResult) error {
	const mb = 1e6
	if f.polls == 0 {
		line("fill", "no /healthz answers")
		return errors.New("bench-ingest: --fill: /healthz never answered")
	}
	line("fill", "limit_bytes %.1f MB, evict_at_bytes %.1f MB (last of %d polls, %v apart)",
		float64(f.last.limit)/mb, float64(f.last.evictAt)/mb, f.polls, benchHealthEvery)
	line("  peak usage", "%.1f MB = %.1f%% of limit_bytes (at %v)", float64(f.peak.used)/mb,
		100*float64(f.peak.used)/float64(f.peak.limit), f.peak.at.Round(100*time.Millisecond))
	var states []string
	for _, s := range []string{"ok", "low", "full", "denying"} {
		if n := f.states[s]; n > 0 {
			states = append(states, fmt.Sprintf("%s %d", s, n))
		}
	}
	line("  states polled", "%s", strings.Join(states, ", "))
	if f.firstOver < 0 {
		line("  evict_at crossed", "never: usage reached %.1f MB", float64(f.last.used)/mb)
		if eta, ok := f.eta(); ok {
			line("", "at the rate seen, about %v more publishing would cross it: raise --duration or --cameras, or lower --max-bytes", eta.Round(time.Second))
		}
		return errors.New("bench-ingest: --fill: usage never passed evict_at_bytes")
	}
	line("  evict_at crossed", "first at %v after the cameras started", f.firstOver.Round(100*time.Millisecond))
	open := ""
	if f.openSince >= 0 {
		open = fmt.Sprintf(" (one more still over at the end, since %v)", f.openSince.Round(100*time.Millisecond))
	}
	if len(f.recoveries) == 0 {
		line("  back under", "never%s", open)
		return errors.New("bench-ingest: --fill: usage never came back under evict_at_bytes")
	}
	mn, med, mx := minMedianMax(f.recoveries)
	line("  back under", "%d times%s: min %v, median %v, max %v", len(f.recoveries), open,
		mn.Round(10*time.Millisecond), med.Round(10*time.Millisecond), mx.Round(10*time.Millisecond))
	return nil
}

func keptText(keep bool, path string) string {
	if keep {
		return " (" + path + ")"
	}
	return " (--keep keeps it)"
}

func ratioText(n, d float64) string {
	if d <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.3f", n/d)
}

func clipName(p string) string {
	if p == "" {
		return "embedded h264_aac.ts"
	}
	return filepath.Base(p)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// benchUDPPorts returns two free UDP addresses on loopback with adjacent
// ports, the first even, as RTP and RTCP need (RFC 3550 §11).
func benchUDPPorts() (rtp, rtcp string, err error) {
	for range 100 {
		l1, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return "", "", err
		}
		port := l1.LocalAddr().(*net.UDPAddr).Port
		if port%2 != 0 {
			l1.Close()
			continue
		}
		l2, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port+1))
		l1.Close()
		if err != nil {
			continue
		}
		l2.Close()
		return fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", port+1), nil
	}
	return "", "", errors.New("no free pair of UDP ports on 127.0.0.1")
}

// benchChild is the `kinedge serve` under test.
type benchChild struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // what Wait returned; read after done
}

func startChild(cmd *exec.Cmd) (*benchChild, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &benchChild{cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// stop asks the child to exit (SIGTERM), kills it after timeout, and
// waits until it is reaped. It may be called again; it then returns the
// same result.
func (c *benchChild) stop(timeout time.Duration) error {
	if childExited(c) {
		return c.err
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("serve did not stop within %v after SIGTERM; killed", timeout)
	}
	return c.err
}

func childExited(c *benchChild) bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func waitHealthy(ctx context.Context, api *apiClient, exited <-chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("serve exited before it was healthy")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := api.get(ctx, "/healthz", nil); err == nil {
			resp.Body.Close()
			return nil
		}
	}
	return errors.New("serve did not become healthy within 30 s")
}

// waitStored polls each camera's stored frame count until two polls a
// second apart agree.
func waitStored(ctx context.Context, api *apiClient, st camsim.Stats) ([]int64, error) {
	var prev []int64
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		cur := make([]int64, len(st.Cameras))
		for i, c := range st.Cameras {
			frags, err := api.fragments(ctx, c.Path, time.Unix(0, 0), time.Now().Add(time.Hour))
			if err != nil && !strings.Contains(err.Error(), "404") {
				return nil, err
			}
			for _, f := range frags {
				cur[i] += int64(f.Frames)
			}
		}
		if prev != nil && slices.Equal(prev, cur) {
			return cur, nil
		}
		prev = cur
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return nil, errors.New("stored frame counts did not settle within 2 min")
}

// waitFragmentsSettled polls the server's counts of fragments stored and
// failed until two polls a second apart agree (listing fragments would
// not do: eviction removes them).
func waitFragmentsSettled(ctx context.Context, api *apiClient) error {
	prev := -1.0
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		m, err := scrapeMetrics(ctx, api)
		if err != nil {
			return fmt.Errorf("bench-ingest: metrics: %w", err)
		}
		cur := m.sum("kinedge_stream_fragments_stored_total") + m.sum("kinedge_stream_store_errors_total")
		if cur == prev {
			return nil
		}
		prev = cur
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return errors.New("stored fragment counts did not settle within 2 min")
}

// procCPU returns the user+system CPU seconds of a process.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may contain spaces).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	const clkTck = 100 // USER_HZ on Linux
	return (utime + stime) / clkTck, nil
}

// procMem is the memory of a process from /proc/<pid>/status, in bytes:
// resident anonymous pages (heap, stacks), file-backed pages (the binary,
// memory-mapped database files), shared memory, and VmHWM (the peak of
// the three together, kept by the kernel).
type procMem struct {
	anon, file, shmem, hwm int64
}

func readProcMem(pid int) (procMem, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	defer f.Close()
	return parseProcMem(f)
}

func parseProcMem(r io.Reader) (procMem, error) {
	var m procMem
	fields := map[string]*int64{"RssAnon:": &m.anon, "RssFile:": &m.file, "RssShmem:": &m.shmem, "VmHWM:": &m.hwm}
	found := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), "\t")
		p := fields[name]
		if !ok || p == nil {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return m, fmt.Errorf("status: %s %q: %w", name, v, err)
		}
		*p = kb << 10
		found++
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	if found < len(fields) {
		return m, errors.New("status: no RssAnon, RssFile, RssShmem or VmHWM")
	}
	return m, nil
}

// memSample is the memory of the server at a time of the run.
type memSample struct {
	at time.Duration
	procMem
}

// sampleMem reads the memory of pid every interval until ctx is done.
func sampleMem(ctx context.Context, pid int, every time.Duration, start time.Time) []memSample {
	var out []memSample
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if m, err := readProcMem(pid); err == nil {
			out = append(out, memSample{at: time.Since(start), procMem: m})
		}
		select {
		case <-ctx.Done():
			return out
		case <-t.C:
		}
	}
}

// peakMem returns the highest of each figure over the samples (each may
// come from a different sample).
func peakMem(s []memSample) procMem {
	var p procMem
	for _, m := range s {
		p.anon, p.file, p.shmem, p.hwm = max(p.anon, m.anon), max(p.file, m.file), max(p.shmem, m.shmem), max(p.hwm, m.hwm)
	}
	return p
}

// peakAnonAt returns when the anonymous RSS was highest.
func peakAnonAt(s []memSample) time.Duration {
	var at time.Duration
	var peak int64
	for _, m := range s {
		if m.anon > peak {
			peak, at = m.anon, m.at
		}
	}
	return at
}

// memTimeline returns n samples spread evenly over the run, the last one
// at its end.
func memTimeline(s []memSample, n int) []memSample {
	if len(s) < n {
		return s
	}
	out := make([]memSample, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, s[i*(len(s)-1)/n])
	}
	return out
}

// procIO is the write side of /proc/<pid>/io. The kernel charges
// write_bytes to the task that dirties a page of the page cache (write(2)
// or a store into a shared file mapping), at the time it dirties it: not
// at writeback, and again only when the page is dirtied after being
// written back. Dirty pages dropped before writeback (a file truncated or
// deleted) are counted in cancelled_write_bytes.
type procIO struct {
	write, cancelled int64
}

// net is what reaches the storage layer.
func (p procIO) net() int64 { return p.write - p.cancelled }

// readProcIO reads /proc/<pid>/io; pid may be "self".
func readProcIO(pid string) (procIO, error) {
	b, err := os.ReadFile("/proc/" + pid + "/io")
	if err != nil {
		return procIO{}, err
	}
	return parseProcIO(string(b))
}

func parseProcIO(s string) (procIO, error) {
	var p procIO
	found := 0
	for _, l := range strings.Split(s, "\n") {
		name, v, ok := strings.Cut(l, ": ")
		if !ok {
			continue
		}
		var dst *int64
		switch name {
		case "write_bytes":
			dst = &p.write
		case "cancelled_write_bytes":
			dst = &p.cancelled
		default:
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return p, fmt.Errorf("io: %s %q: %w", name, v, err)
		}
		*dst = n
		found++
	}
	if found != 2 {
		return p, errors.New("io: no write_bytes or cancelled_write_bytes")
	}
	return p, nil
}

// mountInfo is the mount holding a directory, from /proc/self/mountinfo.
type mountInfo struct {
	mountPoint, fsType, source string
	major, minor               int
}

// inMemory reports a filesystem whose pages never reach a disk.
func (m mountInfo) inMemory() bool {
	return m.fsType == "tmpfs" || m.fsType == "ramfs"
}

// findMount returns the mount that holds dir. It reads mountinfo rather
// than statfs(2) so that this file builds on every GOOS (the command runs
// on Linux only).
func findMount(dir string) (mountInfo, error) {
	path, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return mountInfo{}, err
	}
	if path, err = filepath.Abs(path); err != nil {
		return mountInfo{}, err
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return mountInfo{}, err
	}
	return mountOf(string(b), path)
}

// mountOf picks the mount holding path from a mountinfo text: the longest
// mount point that contains it, the later of equal ones (a mount over
// another hides it).
func mountOf(mountinfo, path string) (mountInfo, error) {
	var best mountInfo
	found := false
	for _, l := range strings.Split(mountinfo, "\n") {
		// id parent major:minor root mountpoint options [optional…] - fstype source superoptions
		f := strings.Fields(l)
		sep := slices.Index(f, "-")
		if len(f) < 5 || sep < 5 || sep+2 >= len(f) {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if !pathWithin(path, mp) || (found && len(mp) < len(best.mountPoint)) {
			continue
		}
		m := mountInfo{mountPoint: mp, fsType: f[sep+1], source: unescapeMountinfo(f[sep+2])}
		major, minor, _ := strings.Cut(f[2], ":")
		m.major, _ = strconv.Atoi(major)
		m.minor, _ = strconv.Atoi(minor)
		best, found = m, true
	}
	if !found {
		return best, fmt.Errorf("no mount holds %s", path)
	}
	return best, nil
}

// pathWithin reports whether path is dir or below it.
func pathWithin(path, dir string) bool {
	if dir == "/" || path == dir {
		return true
	}
	return strings.HasPrefix(path, dir) && path[len(dir)] == '/'
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of
// mountinfo fields.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// blockDev is a block device's write counter in sysfs.
type blockDev struct {
	name string // e.g. loop0
	stat string // /sys/dev/block/<major>:<minor>/stat
}

// blockDev returns the block device of the mount; false for filesystems
// without one (tmpfs, overlay, btrfs' anonymous device numbers).
func (m mountInfo) blockDev() (blockDev, bool) {
	if m.major == 0 {
		return blockDev{}, false
	}
	base := fmt.Sprintf("/sys/dev/block/%d:%d", m.major, m.minor)
	d := blockDev{name: fmt.Sprintf("%d:%d", m.major, m.minor), stat: base + "/stat"}
	if target, err := os.Readlink(base); err == nil {
		d.name = filepath.Base(target)
	}
	if _, err := d.bytesWritten(); err != nil {
		return blockDev{}, false
	}
	return d, true
}

// bytesWritten returns the bytes the device has written since boot (the
// sectors written field of the stat file, in 512-byte sectors whatever
// the device's sector size).
func (d blockDev) bytesWritten() (int64, error) {
	b, err := os.ReadFile(d.stat)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 7 {
		return 0, fmt.Errorf("%s: %d fields", d.stat, len(f))
	}
	n, err := strconv.ParseInt(f[6], 10, 64)
	return n * 512, err
}

// syncFS writes back the dirty pages of the filesystem holding dir
// (coreutils sync -f: syncfs(2)), or of every filesystem (sync(2)) when
// that fails, so that the device counter has them. Best effort: a
// command, not syscall.Sync, so that this file builds on every GOOS.
func syncFS(dir string) {
	if exec.Command("sync", "-f", dir).Run() != nil {
		exec.Command("sync").Run()
	}
}

// healthSample is the storage part of one /healthz answer.
type healthSample struct {
	at                   time.Duration
	used, limit, evictAt int64
	state                string
}

// pollHealth reads /healthz every interval until ctx is done. A 503 (the
// storage full or denying) has the same JSON body.
func pollHealth(ctx context.Context, api *apiClient, every time.Duration, start time.Time) []healthSample {
	var out []healthSample
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if s, err := getHealth(ctx, api); err == nil {
			s.at = time.Since(start)
			out = append(out, s)
		}
		select {
		case <-ctx.Done():
			return out
		case <-t.C:
		}
	}
}

func getHealth(ctx context.Context, api *apiClient) (healthSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api.base+"/healthz", nil)
	if err != nil {
		return healthSample{}, err
	}
	resp, err := api.hc.Do(req)
	if err != nil {
		return healthSample{}, err
	}
	defer resp.Body.Close()
	var h health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return healthSample{}, fmt.Errorf("healthz: %s: %w", resp.Status, err)
	}
	return healthSample{used: h.Storage.Used, limit: h.Storage.Limit, evictAt: h.Storage.EvictAt, state: string(h.Storage.State)}, nil
}

// fillResult is what the /healthz polls of a fill run show.
type fillResult struct {
	polls int
	// firstOver is when used_bytes first exceeded evict_at_bytes; -1 if
	// never.
	firstOver time.Duration
	// recoveries are the times from used_bytes passing evict_at_bytes to
	// its coming back to or below it, one per crossing.
	recoveries []time.Duration
	// openSince is the start of a crossing not over at the end; -1 if none.
	openSince time.Duration
	// peak is the poll with the highest used_bytes / limit_bytes; first
	// and last are the first and last polls.
	peak, first, last healthSample
	states            map[string]int
}

// analyzeFill finds the crossings of evict_at_bytes in the polls. The
// server measures its usage about once a second and after each quarter of
// a value-log file written, so a time is only as fine as that.
func analyzeFill(polls []healthSample) fillResult {
	f := fillResult{polls: len(polls), firstOver: -1, openSince: -1, states: map[string]int{}}
	over := false
	var since time.Duration
	for _, p := range polls {
		f.states[p.state]++
		if p.limit > 0 && (f.peak.limit == 0 || float64(p.used)/float64(p.limit) > float64(f.peak.used)/float64(f.peak.limit)) {
			f.peak = p
		}
		switch {
		case !over && p.used > p.evictAt:
			over, since = true, p.at
			if f.firstOver < 0 {
				f.firstOver = p.at
			}
		case over && p.used <= p.evictAt:
			over = false
			f.recoveries = append(f.recoveries, p.at-since)
		}
	}
	if over {
		f.openSince = since
	}
	if len(polls) > 0 {
		f.first, f.last = polls[0], polls[len(polls)-1]
	}
	return f
}

// eta estimates how long publishing at the rate of the polls would take
// to bring usage to evict_at_bytes.
func (f fillResult) eta() (time.Duration, bool) {
	dt := f.last.at - f.first.at
	grown := f.last.used - f.first.used
	if f.polls < 2 || dt <= 0 || grown <= 0 || f.last.used > f.last.evictAt {
		return 0, false
	}
	return time.Duration(float64(f.last.evictAt-f.last.used) / float64(grown) * float64(dt)), true
}

// minMedianMax returns the smallest, median and largest of ds (not empty).
func minMedianMax(ds []time.Duration) (mn, med, mx time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	med = s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[0], med, s[len(s)-1]
}

// promSamples is a scrape of /metrics: each value by its series, the
// metric name with its labels as exposed (`name{l="v"}`).
type promSamples map[string]float64

func scrapeMetrics(ctx context.Context, api *apiClient) (promSamples, error) {
	resp, err := api.get(ctx, "/metrics", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return parseProm(resp.Body)
}

// parseProm reads the Prometheus text format.
func parseProm(r io.Reader) (promSamples, error) {
	out := promSamples{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' {
			continue
		}
		series, rest := l, ""
		if i := strings.IndexByte(l, '{'); i >= 0 {
			j := strings.LastIndexByte(l, '}')
			if j < i {
				return nil, fmt.Errorf("metrics: bad line %q", l)
			}
			series, rest = l[:j+1], l[j+1:]
		} else if i := strings.IndexAny(l, " \t"); i >= 0 {
			series, rest = l[:i], l[i:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("metrics: no value in %q", l)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: %q: %w", l, err)
		}
		out[series] = v
	}
	return out, sc.Err()
}

// get returns one series, 0 if absent.
func (p promSamples) get(series string) float64 { return p[series] }

// sum adds every series of the metric name.
func (p promSamples) sum(name string) float64 {
	var t float64
	for s, v := range p {
		if s == name || strings.HasPrefix(s, name+"{") {
			t += v
		}
	}
	return t
}

// saveHeapProfile saves the server's Go heap profile from its debug
// address.
func saveHeapProfile(ctx context.Context, addr, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/heap", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", req.URL, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// serveLog is what the server's log says: the profile it chose and its
// warnings and errors.
type serveLog struct {
	profile, why     string
	warnings, errors int
	first            []string // the first few warnings and errors
}

func (l serveLog) profileText(asked string) string {
	if l.profile == "" {
		return asked + " (asked; not in the server's log)"
	}
	return fmt.Sprintf("%s (%s)", l.profile, l.why)
}

func scanServeLogFile(path string) serveLog {
	f, err := os.Open(path)
	if err != nil {
		return serveLog{}
	}
	defer f.Close()
	return scanServeLog(f)
}

// scanServeLog reads a log of slog's text handler, with the runtime's
// own messages (panics, fatal errors) counted as errors.
func scanServeLog(r io.Reader) serveLog {
	const keep, width = 5, 240
	var l serveLog
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		s := sc.Text()
		switch {
		case strings.Contains(s, " level=ERROR "), strings.HasPrefix(s, "panic: "), strings.HasPrefix(s, "fatal error: "),
			strings.HasPrefix(s, "unexpected fault address"):
			l.errors++
		case strings.Contains(s, " level=WARN "):
			l.warnings++
		default:
			if p, why, ok := parseProfileLine(s); ok {
				l.profile, l.why = p, why
			}
			continue
		}
		if len(l.first) < keep {
			if len(s) > width {
				s = s[:width] + "…"
			}
			l.first = append(l.first, s)
		}
	}
	return l
}

// parseProfileLine reads serve's `msg=profile profile=pi why="…"` line.
func parseProfileLine(s string) (profile, why string, ok bool) {
	_, rest, ok := strings.Cut(s, " msg=profile ")
	if !ok {
		return "", "", false
	}
	_, rest, ok = strings.Cut(rest, "profile=")
	if !ok {
		return "", "", false
	}
	profile, rest, _ = strings.Cut(rest, " ")
	if _, w, ok := strings.Cut(rest, "why="); ok {
		if q, err := strconv.QuotedPrefix(w); err == nil {
			why, _ = strconv.Unquote(q)
		} else {
			why, _, _ = strings.Cut(w, " ")
		}
	}
	return profile, why, profile != ""
}

// tailFile returns the last n lines of a file, for an error message.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "server log (" + path + "):\n" + strings.Join(lines, "\n")
}
