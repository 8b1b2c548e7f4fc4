package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBenchConfigValidate(t *testing.T) {
	ok := benchConfig{cameras: 1, duration: time.Second, transport: "tcp", profile: "auto"}
	for _, tc := range []struct {
		name string
		edit func(*benchConfig)
		errs []string // substrings of the error; none: valid
	}{
		{"defaults", func(*benchConfig) {}, nil},
		{"fill with budget", func(c *benchConfig) { c.fill, c.maxBytes = true, "600MiB" }, nil},
		{"fill without budget", func(c *benchConfig) { c.fill = true }, []string{"--fill needs --max-bytes"}},
		{"everything wrong", func(c *benchConfig) {
			c.cameras, c.duration, c.transport, c.profile, c.maxBytes = 0, 0, "sctp", "rpi", "6 parsecs"
		}, []string{"--cameras 0", "--duration 0s", `--transport "sctp"`, `--profile "rpi"`, "--max-bytes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.validate()
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("validate: no error")
			}
			for _, want := range tc.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestParseProcMem(t *testing.T) {
	const status = "Name:\tkinedge\nVmPeak:\t 1000 kB\nVmHWM:\t   50000 kB\nVmRSS:\t   40000 kB\n" +
		"RssAnon:\t   30000 kB\nRssFile:\t    9000 kB\nRssShmem:\t    1000 kB\nThreads:\t12\n"
	m, err := parseProcMem(strings.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	if want := (procMem{anon: 30000 << 10, file: 9000 << 10, shmem: 1000 << 10, hwm: 50000 << 10}); m != want {
		t.Errorf("got %+v, want %+v", m, want)
	}
	if _, err := parseProcMem(strings.NewReader("Name:\tx\nVmHWM:\t1 kB\n")); err == nil {
		t.Error("no error without RssAnon")
	}
}

func TestParseProcIO(t *testing.T) {
	const io = "rchar: 100\nwchar: 200\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\nwrite_bytes: 1048576\ncancelled_write_bytes: 4096\n"
	p, err := parseProcIO(io)
	if err != nil {
		t.Fatal(err)
	}
	if p.write != 1048576 || p.cancelled != 4096 || p.net() != 1048576-4096 {
		t.Errorf("got %+v", p)
	}
	if _, err := parseProcIO("rchar: 1\n"); err == nil {
		t.Error("no error without write_bytes")
	}
}

func TestMountOf(t *testing.T) {
	const mountinfo = `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
25 22 0:21 / /tmp rw,nosuid shared:5 - tmpfs tmpfs rw,size=1024k
40 22 0:35 / /mnt/my\040disk rw - tmpfs tmpfs rw
41 22 7:0 / /mnt/fill rw,relatime shared:30 - ext4 /dev/loop0 rw
42 41 7:1 / /mnt/fill rw,relatime - ext4 /dev/loop1 rw
`
	for _, tc := range []struct {
		path, mountPoint, fsType, source string
		major, minor                     int
	}{
		{"/var/lib/kinedge", "/", "ext4", "/dev/vda", 254, 0},
		{"/tmp/kinedge-bench-1", "/tmp", "tmpfs", "tmpfs", 0, 21},
		{"/tmpfoo/x", "/", "ext4", "/dev/vda", 254, 0},
		{"/mnt/my disk/x", "/mnt/my disk", "tmpfs", "tmpfs", 0, 35},
		{"/mnt/fill/kinedge-bench-2", "/mnt/fill", "ext4", "/dev/loop1", 7, 1}, // the later mount hides the earlier
	} {
		m, err := mountOf(mountinfo, tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		want := mountInfo{mountPoint: tc.mountPoint, fsType: tc.fsType, source: tc.source, major: tc.major, minor: tc.minor}
		if m != want {
			t.Errorf("%s: got %+v, want %+v", tc.path, m, want)
		}
	}
	if m, _ := mountOf(mountinfo, "/tmp/x"); !m.inMemory() {
		t.Error("tmpfs is not in memory")
	}
	if _, ok := (mountInfo{fsType: "tmpfs"}).blockDev(); ok {
		t.Error("tmpfs has a block device")
	}
}

func TestAnalyzeFill(t *testing.T) {
	const limit, evictAt = 1000, 900
	s := func(at time.Duration, used int64) healthSample {
		state := "ok"
		if used >= evictAt {
			state = "low"
		}
		return healthSample{at: at * time.Second, used: used, limit: limit, evictAt: evictAt, state: state}
	}
	for _, tc := range []struct {
		name       string
		polls      []healthSample
		firstOver  time.Duration
		recoveries []time.Duration
		openSince  time.Duration
		peakUsed   int64
	}{
		{"none", nil, -1, nil, -1, 0},
		{"never over", []healthSample{s(0, 100), s(1, 500), s(2, 900)}, -1, nil, -1, 900},
		{"three crossings, one open", []healthSample{
			s(0, 100), s(10, 901), s(11, 950), s(12, 880), // 2 s
			s(20, 920), s(21, 899), // 1 s
			s(30, 990), s(31, 940), s(35, 900), // 5 s
			s(40, 905),
		}, 10 * time.Second, []time.Duration{2 * time.Second, time.Second, 5 * time.Second}, 40 * time.Second, 990},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := analyzeFill(tc.polls)
			if f.firstOver != tc.firstOver || f.openSince != tc.openSince || f.peak.used != tc.peakUsed {
				t.Errorf("firstOver %v openSince %v peak %d, want %v %v %d", f.firstOver, f.openSince, f.peak.used, tc.firstOver, tc.openSince, tc.peakUsed)
			}
			if !slices.Equal(f.recoveries, tc.recoveries) {
				t.Errorf("recoveries %v, want %v", f.recoveries, tc.recoveries)
			}
		})
	}
	f := analyzeFill([]healthSample{s(0, 100), s(10, 500)})
	if eta, ok := f.eta(); !ok || eta != 10*time.Second {
		t.Errorf("eta %v %v, want 10s", eta, ok)
	}
}

func TestMinMedianMax(t *testing.T) {
	for _, tc := range []struct {
		in          []time.Duration
		mn, med, mx time.Duration
	}{
		{[]time.Duration{3}, 3, 3, 3},
		{[]time.Duration{5, 1, 3}, 1, 3, 5},
		{[]time.Duration{4, 1, 2, 8}, 1, 3, 8},
	} {
		mn, med, mx := minMedianMax(tc.in)
		if mn != tc.mn || med != tc.med || mx != tc.mx {
			t.Errorf("%v: %v %v %v, want %v %v %v", tc.in, mn, med, mx, tc.mn, tc.med, tc.mx)
		}
	}
}

func TestParseProm(t *testing.T) {
	const text = `# HELP kinedge_stream_fragment_bytes_total Sealed fragment bytes stored.
# TYPE kinedge_stream_fragment_bytes_total counter
kinedge_stream_fragment_bytes_total{stream="cam1"} 1.2345678e+07
kinedge_stream_fragment_bytes_total{stream="cam 2"} 100
kinedge_stream_fragment_bytes_totalx{stream="cam3"} 7
kinedge_storage_evicted_bytes_total{reason="budget"} 42
kinedge_storage_evicted_bytes_total{reason="retention"} 1
kinedge_storage_used_bytes 5e+08
`
	p, err := parseProm(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.sum("kinedge_stream_fragment_bytes_total"); got != 12345678+100 {
		t.Errorf("sum %v", got)
	}
	if got := p.get(`kinedge_storage_evicted_bytes_total{reason="budget"}`); got != 42 {
		t.Errorf("budget %v", got)
	}
	if got := p.sum("kinedge_storage_used_bytes"); got != 5e8 {
		t.Errorf("used %v", got)
	}
	if _, err := parseProm(strings.NewReader("novalue\n")); err == nil {
		t.Error("no error for a line without a value")
	}
}

func TestScanServeLog(t *testing.T) {
	const log = `time=2025-01-01T00:00:00Z level=INFO msg=profile profile=default why="auto: 24105 MiB of RAM"
time=2025-01-01T00:00:01Z level=WARN msg="recorder queue full" stream=cam1
time=2025-01-01T00:00:02Z level=ERROR msg="storing fragment failed" stream=cam1 err="store: full"
unexpected fault address 0x7f0000000000
fatal error: fault
`
	l := scanServeLog(strings.NewReader(log))
	if l.profile != "default" || l.why != "auto: 24105 MiB of RAM" {
		t.Errorf("profile %q why %q", l.profile, l.why)
	}
	if l.warnings != 1 || l.errors != 3 || len(l.first) != 4 {
		t.Errorf("warnings %d errors %d first %q", l.warnings, l.errors, l.first)
	}
	if p, why, ok := parseProfileLine("level=INFO msg=profile profile=pi why=configured"); !ok || p != "pi" || why != "configured" {
		t.Errorf("unquoted: %q %q %v", p, why, ok)
	}
}

func TestMemTimeline(t *testing.T) {
	var s []memSample
	for i := range 21 {
		s = append(s, memSample{at: time.Duration(i), procMem: procMem{anon: int64(i)}})
	}
	tl := memTimeline(s, 4)
	var got []int64
	for _, m := range tl {
		got = append(got, m.anon)
	}
	if want := []int64{5, 10, 15, 20}; !slices.Equal(got, want) {
		t.Errorf("timeline %v, want %v", got, want)
	}
	if at := peakAnonAt(s); at != 20 {
		t.Errorf("peak at %v, want 20ns", at)
	}
	if p := peakMem([]memSample{{procMem: procMem{anon: 3, file: 9}}, {procMem: procMem{anon: 7, file: 1}}}); p.anon != 7 || p.file != 9 {
		t.Errorf("peak %+v", p)
	}
}
