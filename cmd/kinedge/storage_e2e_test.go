package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sys/unix"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// The storage tests run the appliance on small filesystems mounted for
// the test (tmpfs and a loop-mounted ext4 image; they need root) and fill
// them: with cameras and records under each policy, and with a file of
// another program. The process must stay up, keep (or refuse) media as
// its policy says, and after a restart, a kill -9 on a full disk
// included, replay every fragment it lists.

// fsSize is the size of the test filesystems: with the pi profile's
// Badger sizes about 100 MiB of it holds media before eviction starts
// (less on ext4, whose journal and metadata take their share).
const fsSize = 256 << 20

// fillBitrate is each simulated camera's video bitrate: four cameras fill
// the budget in about half a minute. (camsim reads clips of up to about
// 10 MB: 10 s at 6 Mbit/s fits.)
const fillBitrate = "6M"

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("the storage tests mount filesystems and need root under CI=true")
	}
	t.Skip("the storage tests mount filesystems: run them as root")
}

// runCmd runs a command with a deadline and fails the test on error.
func runCmd(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := testtool.Command(t, time.Minute, name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// mountFS mounts a fresh filesystem of kind "tmpfs" or "ext4" and returns
// its mount point; it is unmounted at the end of the test (after the
// servers stop: cleanups run last-registered first).
func mountFS(t *testing.T, kind string, size int64) string {
	t.Helper()
	needRoot(t)
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	switch kind {
	case "tmpfs":
		runCmd(t, "mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", mnt)
	case "ext4":
		img := filepath.Join(dir, "fs.img")
		if err := os.WriteFile(img, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(img, size); err != nil {
			t.Fatal(err)
		}
		// -m 0: no blocks reserved for root, so the disk really fills.
		runCmd(t, testtool.Need(t, "mkfs.ext4"), "-q", "-F", "-m", "0", img)
		runCmd(t, "mount", "-o", "loop", img, mnt)
	default:
		t.Fatalf("filesystem %q", kind)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "umount", mnt).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v %s; detaching it lazily", mnt, err, out)
			exec.CommandContext(ctx, "umount", "-l", mnt).Run()
		}
	})
	return mnt
}

// diskFree returns the free bytes of the filesystem at path.
func diskFree(t *testing.T, path string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

var fillClipOnce sync.Once

// fillClip returns a 10 s H.264 + AAC clip of about fillBitrate (noise
// keeps x264 from compressing the test pattern), made once per test run.
func fillClip(t testing.TB) string {
	t.Helper()
	out := filepath.Join(filepath.Dir(kinedgeBin), "fill.ts")
	ffmpeg := testtool.Need(t, "ffmpeg")
	fillClipOnce.Do(func() {
		b, err := testtool.Command(t, 2*time.Minute, ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
			"-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=10,noise=alls=30:allf=t+u,format=yuv420p",
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=10",
			"-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-keyint_min", "25", "-sc_threshold", "0",
			"-b:v", fillBitrate, "-maxrate", fillBitrate, "-bufsize", fillBitrate,
			"-c:a", "aac", "-b:a", "64k", "-f", "mpegts", out).CombinedOutput()
		if err != nil {
			os.Remove(out)
			t.Fatalf("making the fill clip: %v\n%s", err, b)
		}
	})
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("fill clip: %v", err)
	}
	return out
}

// cameras runs `kinedge camsim` publishing n cameras cam1..camN until
// stopped.
type cameras struct {
	cmd  *exec.Cmd
	out  strings.Builder
	done chan struct{}
}

func startCameras(t testing.TB, s *server, n int) *cameras {
	t.Helper()
	return startCamsim(t, s, "cam", n, "--clip", fillClip(t))
}

// startCamsim runs `kinedge camsim` publishing n cameras <prefix>1..N
// (its own test clip unless args say otherwise) for up to 30 minutes, or
// until stopped (at cleanup).
func startCamsim(t testing.TB, s *server, prefix string, n int, args ...string) *cameras {
	t.Helper()
	c := &cameras{done: make(chan struct{})}
	args = append([]string{"camsim", "--url", "rtsp://camera:camsecret@" + s.rtspAddr + "/", "--cameras", fmt.Sprint(n),
		"--prefix", prefix, "--duration", "30m", "--log-level", "error"}, args...)
	// The deadline follows the last --duration (a soak's hour overrides
	// the default 30 minutes).
	dur := 30 * time.Minute
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "--duration" {
			d, err := time.ParseDuration(args[i+1])
			if err != nil {
				t.Fatalf("camsim --duration %q: %v", args[i+1], err)
			}
			dur = d
		}
	}
	c.cmd = testtool.Command(t, dur+time.Minute, kinedgeBin, args...)
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			t.Logf("camsim:\n%s", c.out.String())
		}
	})
	return c
}

// alive fails the test if camsim exited.
func (c *cameras) alive(t testing.TB) {
	t.Helper()
	select {
	case <-c.done:
		t.Fatalf("camsim exited: %v\n%s", c.cmd.ProcessState, c.out.String())
	default:
	}
}

// stop interrupts camsim and waits for it (killing it after 20 s).
func (c *cameras) stop() {
	if c.cmd.Process == nil {
		return
	}
	c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// tryFragments lists a stream's fragments, or says why not (the stream
// may not exist yet).
func (s *server) tryFragments(stream string) ([]videoapi.FragmentJSON, error) {
	resp, err := s.get("/v1/streams/"+stream+"/fragments", map[string][]string{"start": {"2000-01-01T00:00:00Z"}, "end": {"2100-01-01T00:00:00Z"}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("fragments of %s: %s %s", stream, resp.Status, b)
	}
	var page struct{ Fragments []videoapi.FragmentJSON }
	err = json.NewDecoder(resp.Body).Decode(&page)
	return page.Fragments, err
}

// kill stops the server with SIGKILL: no shutdown, no flush.
func (s *server) kill() {
	s.cancel()
	<-s.done
	s.cmd = nil
}

// healthz is the part of /healthz the tests read.
type healthz struct {
	code    int
	Status  string `json:"status"`
	Storage struct {
		State   string `json:"state"`
		Reason  string `json:"reason"`
		Used    int64  `json:"used_bytes"`
		Limit   int64  `json:"limit_bytes"`
		EvictAt int64  `json:"evict_at_bytes"`
	} `json:"storage"`
}

func (s *server) health(t *testing.T) healthz {
	t.Helper()
	resp, err := http.Get("http://" + s.httpAddr + "/healthz")
	if err != nil {
		t.Fatalf("healthz: %v (the server is down?)\n%s", err, s.logs())
	}
	defer resp.Body.Close()
	var h healthz
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatalf("healthz body: %v", err)
	}
	h.code = resp.StatusCode
	return h
}

// metricValue returns an unlabelled (or fully labelled, as in
// `name{reason="budget"}`) metric from /metrics; 0 when absent.
func (s *server) metricValue(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := s.get("/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				t.Fatalf("metric line %q", line)
			}
			return f
		}
	}
	return 0
}

// alive fails the test if the server process has exited.
func (s *server) alive(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
		t.Fatalf("the appliance died: %v\n%s", s.cmd.ProcessState, s.logs())
	default:
	}
}

// kinesisNoRetry is a Kinesis client that retries nothing the server
// says, so every failure shows; it retries only aws-sdk-go-v2's own
// client-side race with net/http ("use of closed network connection"
// while reading a 200 response, aws/aws-sdk-go-v2#2737).
func (s *server) kinesisNoRetry() *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://" + s.httpAddr),
		Credentials: credentials.NewStaticCredentialsProvider("admin", "adminsecret", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
				return aws.BoolTernary(strings.Contains(err.Error(), "use of closed network connection"))
			})}
		}),
	})
}

// recordLoad puts records with the SDK (no retries of server errors)
// until stopped, at about 500 KiB/s. Failures other than the storage's 503 fail the test.
type recordLoad struct {
	calls, refused atomic.Int64
	stopc          chan struct{}
	wg             sync.WaitGroup
	mu             sync.Mutex
	err            error
}

func startRecords(t *testing.T, s *server) *recordLoad {
	t.Helper()
	kc := s.kinesisNoRetry()
	if _, err := kc.CreateStream(t.Context(), &kinesis.CreateStreamInput{StreamName: aws.String("load"), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	l := &recordLoad{stopc: make(chan struct{})}
	entries := make([]types.PutRecordsRequestEntry, 50)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{Data: make([]byte, 1024), PartitionKey: aws.String(fmt.Sprint(i))}
	}
	l.wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond) // pacing the load, not waiting for an event
		defer tick.Stop()
		for {
			select {
			case <-l.stopc:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			out, err := kc.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("load"), Records: entries})
			cancel()
			l.calls.Add(1)
			var ae smithy.APIError
			switch {
			case err == nil && aws.ToInt32(out.FailedRecordCount) == 0:
			case errors.As(err, &ae) && ae.ErrorCode() == "ServiceUnavailableException" && strings.Contains(ae.ErrorMessage(), "storage"):
				l.refused.Add(1)
			default:
				if err == nil {
					err = fmt.Errorf("%d records failed: %s", aws.ToInt32(out.FailedRecordCount), aws.ToString(out.Records[0].ErrorMessage))
				}
				l.mu.Lock()
				if l.err == nil {
					l.err = err
				}
				l.mu.Unlock()
			}
		}
	})
	t.Cleanup(l.stop)
	return l
}

func (l *recordLoad) stop() {
	select {
	case <-l.stopc:
	default:
		close(l.stopc)
	}
	l.wg.Wait()
}

func (l *recordLoad) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		t.Errorf("PutRecords failed other than with the storage's 503: %v", l.err)
	}
	if l.calls.Load() == 0 {
		t.Error("no PutRecords call made")
	}
}

// replayAll lists each stream's fragments and replays the whole listed
// range: every listed fragment must come back, frame for frame. Under
// DELETE_OLDEST_MEDIA the evictor may take the oldest fragments at any
// moment, also after the writers stopped (value-log GC and compaction move
// bytes and can push usage over the eviction point again), so the replay
// may hold a suffix of the listing; every fragment still listed after it
// must be in it. It returns the number of fragments replayed.
func replayAll(t *testing.T, s *server, streams ...string) (total int) {
	t.Helper()
	for _, name := range streams {
		frags := s.fragments(t, name)
		if len(frags) == 0 {
			continue
		}
		out := filepath.Join(t.TempDir(), name+".mkv")
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		b, err := exec.CommandContext(ctx, kinedgeBin, "replay", "--url", "http://"+s.httpAddr, "--user", "admin", "--pass", "adminsecret",
			"--stream", name, "--start", frags[0].ServerTimestamp.Format(time.RFC3339Nano),
			"--end", frags[len(frags)-1].ServerTimestamp.Format(time.RFC3339Nano), "-o", out).CombinedOutput()
		cancel()
		kept := keptSuffix(t, name, frags, s.fragments(t, name))
		if err != nil {
			if kept < len(frags) {
				t.Errorf("%s: kinedge replay: %v (%d of the %d listed fragments are still listed)\n%s", name, err, len(frags)-kept, len(frags), b)
			}
			continue
		}
		got := ffprobe(t, out).packets(t)
		replayed, frames := -1, 0
		for j := len(frags) - 1; j >= 0; j-- {
			frames += frags[j].Frames
			if j <= kept && frames == got["video"]+got["audio"] {
				replayed = len(frags) - j
			}
		}
		if replayed < 0 {
			t.Errorf("%s: replayed %v packets: not the frames of the %d listed fragments, nor of a suffix holding the %d still listed",
				name, got, len(frags), len(frags)-kept)
			continue
		}
		total += replayed
	}
	return total
}

// keptSuffix checks that a later listing of a stream (after) holds, of the
// fragments in before, an unbroken run that ends with before's newest:
// only the oldest may have gone (evicted). It returns the index in before
// of the first fragment still listed (len(before) when none is).
func keptSuffix(t *testing.T, name string, before, after []videoapi.FragmentJSON) int {
	t.Helper()
	if len(before) == 0 {
		return 0
	}
	newest := before[len(before)-1].FragmentNumber
	num := func(f videoapi.FragmentJSON) uint64 {
		n, err := strconv.ParseUint(f.FragmentNumber, 10, 64)
		if err != nil {
			t.Fatalf("%s: fragment number %q", name, f.FragmentNumber)
		}
		return n
	}
	first := len(before)
	for i, f := range before {
		if len(after) > 0 && num(f) >= num(after[0]) {
			first = i
			break
		}
	}
	for i := first; i < len(before); i++ {
		if j := i - first; j >= len(after) || after[j].FragmentNumber != before[i].FragmentNumber {
			t.Errorf("%s: fragments listed before %v, after %v: not the same run up to fragment %s", name, numbers(before), numbers(after), newest)
			return first
		}
	}
	return first
}

func numbers(frags []videoapi.FragmentJSON) []string {
	out := make([]string, len(frags))
	for i, f := range frags {
		out[i] = f.FragmentNumber
	}
	return out
}

// listAll lists the fragments of each stream.
func listAll(t *testing.T, s *server, streams ...string) map[string][]videoapi.FragmentJSON {
	t.Helper()
	out := map[string][]videoapi.FragmentJSON{}
	for _, name := range streams {
		out[name] = s.fragments(t, name)
	}
	return out
}

// keptAcross checks each stream's listing after a restart against the one
// before: only the oldest may have been evicted meanwhile, and the newest
// fragment is still there unless mayEvictAll (a disk another program
// filled shrinks the budget under everything the appliance holds).
func keptAcross(t *testing.T, s *server, before map[string][]videoapi.FragmentJSON, mayEvictAll bool) {
	t.Helper()
	for name, frags := range before {
		after := s.fragments(t, name)
		if len(frags) > 0 && keptSuffix(t, name, frags, after) == len(frags) && !mayEvictAll {
			t.Errorf("%s: none of the %d fragments listed before the restart is listed after it", name, len(frags))
		}
		if len(after) > 0 && len(frags) > 0 && after[len(after)-1].FragmentNumber != frags[len(frags)-1].FragmentNumber {
			t.Errorf("%s: newest fragment %s after the restart, %s before", name, after[len(after)-1].FragmentNumber, frags[len(frags)-1].FragmentNumber)
		}
	}
}

// startStorageServer starts the appliance on dataDir with storageEnv and
// logs its non-debug lines when the test fails.
func startStorageServer(t *testing.T, dataDir string, env ...string) *server {
	t.Helper()
	s := startServer(t, dataDir, freeUDPPair(t), storageEnv(env...)...)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		var lines []string
		refused := 0
		for _, l := range strings.Split(s.logs(), "\n") {
			switch {
			case strings.Contains(l, "storing fragment failed"):
				refused++
			case !strings.Contains(l, "level=DEBUG") || strings.Contains(l, "component=badger"):
				lines = append(lines, l)
			}
		}
		t.Logf("appliance log (last 150 lines above DEBUG, and Badger's; %d 'storing fragment failed' lines left out):\n%s",
			refused, strings.Join(lines[max(0, len(lines)-150):], "\n"))
	})
	return s
}

// storageEnv is the appliance's environment for the storage tests: the pi
// profile (small Badger files: the floors fit a small disk), no rate
// limits on the data streams.
func storageEnv(extra ...string) []string {
	return append([]string{"KINEDGE_PROFILE=pi", "KINEDGE_KINESIS_LIMITS=false"}, extra...)
}

// monitorDisk samples the free space of mnt until stopped and returns the
// lowest value seen.
func monitorDisk(t *testing.T, mnt string) (stop func() int64) {
	t.Helper()
	var lowest atomic.Int64
	lowest.Store(diskFree(t, mnt))
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
			}
			var st unix.Statfs_t
			if unix.Statfs(mnt, &st) == nil {
				if f := int64(st.Bavail) * int64(st.Bsize); f < lowest.Load() {
					lowest.Store(f)
				}
			}
		}
	}()
	return func() int64 {
		close(quit)
		<-done
		return lowest.Load()
	}
}

// TestStorageFillDeleteOldest fills a small disk with four cameras and a
// record load under DELETE_OLDEST_MEDIA: the appliance evicts the oldest
// media, never lets the disk fill, keeps recording the newest, and after
// a restart replays everything it lists.
func TestStorageFillDeleteOldest(t *testing.T) {
	for _, kind := range []string{"tmpfs", "ext4"} {
		t.Run(kind, func(t *testing.T) {
			mnt := mountFS(t, kind, fsSize+64<<20)
			s := startStorageServer(t, filepath.Join(mnt, "data"))
			lowest := monitorDisk(t, mnt)
			cams := startCameras(t, s, 4)
			load := startRecords(t, s)
			// Until the budget has evicted 64 MiB of media: the disk filled
			// and went round more than once.
			waitFor(t, 4*time.Minute, "eviction of 64 MiB", func() error {
				s.alive(t)
				cams.alive(t)
				if v := s.metricValue(t, `kinedge_storage_evicted_bytes_total{reason="budget"}`); v < 64<<20 {
					return fmt.Errorf("%.1f MiB evicted; health %+v", v/(1<<20), s.health(t).Storage)
				}
				return nil
			})
			// Recording while evicting: ok or low, or full for the moment a
			// burst passes the limit before eviction catches up.
			h := s.health(t)
			if h.Storage.State != "ok" && h.Storage.State != "low" && !strings.Contains(h.Storage.Reason, "evicting the oldest media") {
				t.Errorf("health while evicting: %d %+v", h.code, h.Storage)
			}
			// The newest media is there, and replays while the cameras
			// record: every camera still stores new fragments (an event,
			// not an age that a loaded machine can stretch), and its last
			// three fragments come back frame for frame.
			for i := 1; i <= 4; i++ {
				name := fmt.Sprint("cam", i)
				frags := s.fragments(t, name)
				if len(frags) < 4 {
					t.Fatalf("%s: %d fragments kept", name, len(frags))
				}
				newest := frags[len(frags)-1].FragmentNumber
				waitFor(t, 2*time.Minute, name+" to store a new fragment", func() error {
					s.alive(t)
					cams.alive(t)
					if f := s.fragments(t, name); len(f) == 0 || f[len(f)-1].FragmentNumber == newest {
						return fmt.Errorf("newest fragment still %v", newest)
					}
					return nil
				})
				last := frags[len(frags)-3:]
				frames := 0
				for _, f := range last {
					frames += f.Frames
				}
				got := ffprobe(t, replayRange(t, s, name, last[0].ServerTimestamp, last[2].ServerTimestamp)).packets(t)
				if got["video"]+got["audio"] != frames {
					t.Errorf("%s: the last 3 fragments replayed %v packets, want %d frames", name, got, frames)
				}
			}
			load.stop()
			cams.stop()
			load.check(t)
			free := lowest()
			if free <= 0 {
				t.Errorf("the disk filled up: %d bytes free at the lowest", free)
			}
			if errs := s.metric(t, "kinedge_stream_store_errors_total", "cam1"); errs > 0 {
				t.Logf("cam1: %d fragments refused while the budget caught up", errs)
			}
			// Nothing records now; the evictor may still take the oldest.
			streams := []string{"cam1", "cam2", "cam3", "cam4"}
			before := replayAll(t, s, streams...)
			listed := listAll(t, s, streams...)
			s.stop()
			s.start()
			keptAcross(t, s, listed, false)
			replayAll(t, s, streams...)
			t.Logf("%s: %d fragments kept, %d PutRecords calls (%d refused), lowest free %d MiB",
				kind, before, load.calls.Load(), load.refused.Load(), free>>20)
		})
	}
}

// fillWith writes a file of another program into dir until the disk is
// full.
func fillWith(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "foreign.bin")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
	}
	f.Close()
	return path
}

// TestStorageForeignFill fills the disk with another program's file while
// cameras record, under each policy: the appliance stays up and says it
// cannot record (DELETE_OLDEST_MEDIA first evicts media to make room),
// records again once the file is gone (without a restart), is killed
// (kill -9) on a full disk, starts again on it, lists exactly what it
// had and replays all of it, and records once there is room.
func TestStorageForeignFill(t *testing.T) {
	for _, tc := range []struct{ fs, policy string }{
		{"tmpfs", "DELETE_OLDEST_MEDIA"}, {"ext4", "DELETE_OLDEST_MEDIA"},
		{"tmpfs", "DENY_NEW_MEDIA"}, {"ext4", "DENY_NEW_MEDIA"},
	} {
		t.Run(tc.fs+"/"+tc.policy, func(t *testing.T) {
			mnt := mountFS(t, tc.fs, fsSize)
			s := startStorageServer(t, filepath.Join(mnt, "data"), "KINEDGE_STORAGE_POLICY="+tc.policy)
			cams := startCameras(t, s, 2)
			waitFor(t, time.Minute, "fragments", func() error {
				cams.alive(t)
				frags, err := s.tryFragments("cam2")
				if err == nil && len(frags) < 4 {
					err = fmt.Errorf("%d fragments", len(frags))
				}
				return err
			})

			notRecording := func(what string) {
				t.Helper()
				waitFor(t, time.Minute, what, func() error {
					s.alive(t)
					h := s.health(t)
					if h.code != http.StatusServiceUnavailable || (h.Storage.State != "full" && h.Storage.State != "denying") || h.Storage.Reason == "" {
						return fmt.Errorf("health %d %+v", h.code, h.Storage)
					}
					return nil
				})
			}
			foreign := fillWith(t, mnt)
			notRecording("the appliance to report the full disk")
			evicted := func() float64 { return s.metricValue(t, `kinedge_storage_evicted_bytes_total{reason="budget"}`) }
			if tc.policy == "DENY_NEW_MEDIA" {
				if v := evicted(); v != 0 {
					t.Errorf("%v bytes evicted under DENY_NEW_MEDIA", v)
				}
			} else {
				// The budget shrank with the disk: the oldest media goes.
				waitFor(t, time.Minute, "eviction for the full disk", func() error {
					if v := evicted(); v == 0 {
						return errors.New("nothing evicted yet")
					}
					return nil
				})
			}
			replayAll(t, s, "cam1", "cam2")

			// Room again: recording resumes by itself.
			stored := s.metric(t, "kinedge_stream_fragments_stored_total", "cam1")
			if err := os.Remove(foreign); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 2*time.Minute, "recording to resume", func() error {
				s.alive(t)
				if h := s.health(t); h.code != 200 {
					return fmt.Errorf("health %d %+v", h.code, h.Storage)
				}
				if n := s.metric(t, "kinedge_stream_fragments_stored_total", "cam1"); n < stored+3 {
					return fmt.Errorf("%d fragments stored since", n-stored)
				}
				return nil
			})

			// Full again, and killed.
			fillWith(t, mnt)
			notRecording("the appliance to report the full disk again")
			cams.stop()
			listed := listAll(t, s, "cam1", "cam2")
			fillWith(t, mnt) // whatever eviction freed meanwhile: full at the kill
			s.kill()
			if free := diskFree(t, mnt); free > 64<<20 {
				t.Fatalf("the disk is not full for the restart: %d bytes free", free)
			}
			s.unhealthyOK = true
			s.start()
			h := s.health(t)
			if h.code != http.StatusServiceUnavailable || h.Storage.Reason == "" {
				t.Errorf("health after a start on a full disk: %d %+v", h.code, h.Storage)
			}
			keptAcross(t, s, listed, tc.policy == "DELETE_OLDEST_MEDIA")
			if tc.policy == "DENY_NEW_MEDIA" {
				for name, frags := range listed {
					if got := len(s.fragments(t, name)); got != len(frags) {
						t.Errorf("%s: %d fragments after kill -9 under DENY_NEW_MEDIA, %d before", name, got, len(frags))
					}
				}
			}
			n := replayAll(t, s, "cam1", "cam2")
			if tc.policy == "DENY_NEW_MEDIA" && n == 0 {
				t.Error("nothing kept under DENY_NEW_MEDIA")
			}
			t.Logf("%d fragments listed and replayed after kill -9 on a full disk; health %+v", n, h.Storage)

			// Room again: writable without a restart, and a camera records.
			if err := os.Remove(foreign); err != nil {
				t.Fatal(err)
			}
			waitFor(t, time.Minute, "the appliance to take writes again", func() error {
				if h := s.health(t); h.code != 200 {
					return fmt.Errorf("health %d %+v", h.code, h.Storage)
				}
				return nil
			})
			before := len(s.fragments(t, "cam1"))
			cams = startCameras(t, s, 1)
			waitFor(t, time.Minute, "a new recording", func() error {
				frags, err := s.tryFragments("cam1")
				if err == nil && len(frags) < before+2 {
					err = fmt.Errorf("%d new fragments", len(frags)-before)
				}
				return err
			})
			cams.stop()
			replayAll(t, s, "cam1")
		})
	}
}

// TestStorageDenyNewMedia fills the budget under DENY_NEW_MEDIA: publishers
// are refused with a 503 that says why, PutRecords gets AWS's
// ServiceUnavailableException, and nothing stored is touched.
func TestStorageDenyNewMedia(t *testing.T) {
	mnt := mountFS(t, "tmpfs", fsSize)
	s := startStorageServer(t, filepath.Join(mnt, "data"), "KINEDGE_STORAGE_POLICY=DENY_NEW_MEDIA")
	cams := startCameras(t, s, 4)
	waitFor(t, 3*time.Minute, "the budget to deny new media", func() error {
		s.alive(t)
		cams.alive(t)
		if h := s.health(t); h.code != http.StatusServiceUnavailable || h.Storage.State != "denying" {
			return fmt.Errorf("health %d %+v", h.code, h.Storage)
		}
		return nil
	})
	cams.stop()
	streams := []string{"cam1", "cam2", "cam3", "cam4"}
	kept := map[string][]videoapi.FragmentJSON{}
	for _, name := range streams {
		kept[name] = s.fragments(t, name)
	}
	if v := s.metricValue(t, `kinedge_storage_evicted_bytes_total{reason="budget"}`); v != 0 {
		t.Errorf("%v bytes evicted under DENY_NEW_MEDIA", v)
	}

	// A camera is refused, and told why.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := testtool.Command(t, time.Minute, testtool.Need(t, "ffmpeg"), "-hide_banner", "-loglevel", "error", "-re",
		"-i", fillClip(t), "-t", "2", "-an", "-c", "copy", "-f", "rtsp", "-rtsp_transport", "tcp",
		"rtsp://camera:camsecret@"+s.rtspAddr+"/cam5").CombinedOutput()
	if want := "503 Service Unavailable: storage budget reached"; err == nil || !strings.Contains(string(out), want) {
		t.Errorf("publish while denying: %v, want %q in:\n%s", err, want, out)
	}
	// So is a record.
	kc := s.kinesisNoRetry()
	_, err = kc.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("kinedge-fragments"), Data: []byte("x"), PartitionKey: aws.String("k")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceUnavailableException" || !strings.Contains(ae.ErrorMessage(), "DENY_NEW_MEDIA") {
		t.Errorf("PutRecord while denying: %v", err)
	}

	// Nothing acknowledged is touched, across a restart.
	s.stop()
	s.unhealthyOK = true
	s.start()
	for _, name := range streams {
		if got := s.fragments(t, name); len(got) != len(kept[name]) || len(got) == 0 || got[0].FragmentNumber != kept[name][0].FragmentNumber {
			t.Errorf("%s: %d fragments after the restart, %d before", name, len(got), len(kept[name]))
		}
	}
	replayAll(t, s, streams...)
}
