package main

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/firehose"
)

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "kinedge.yaml")
	os.WriteFile(file, []byte("data_dir: /from/file\nhttp: \":9000\"\nfragment:\n  target: 3s\nvideo:\n  retention_hours: 48\n"), 0o600)
	t.Setenv("KINEDGE_HTTP", ":9100")
	t.Setenv("KINEDGE_FRAGMENT_MAX", "20s")
	t.Setenv("KINEDGE_VIDEO_AUTO_CREATE", "false")
	cfg, printOnly, err := loadConfig([]string{"--config", file, "--rtsp", ":9554"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if printOnly {
		t.Fatal("print-config not asked")
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir from file", cfg.DataDir, "/from/file"},
		{"http env over file", cfg.HTTP, ":9100"},
		{"rtsp flag", cfg.RTSP, ":9554"},
		{"target from file", cfg.Fragment.Target, 3 * time.Second},
		{"max from env", cfg.Fragment.Max, 20 * time.Second},
		{"retention from file", cfg.Video.RetentionHours, 48},
		{"auto_create from env", cfg.Video.AutoCreate, false},
		{"default webrtc", cfg.WebRTCUDP, ":8189"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	// Flags beat the environment.
	t.Setenv("KINEDGE_DATA_DIR", "/from/env")
	cfg, _, err = loadConfig([]string{"--data-dir", "/from/flag"}, &bytes.Buffer{})
	if err != nil || cfg.DataDir != "/from/flag" {
		t.Fatalf("data dir %q, %v", cfg.DataDir, err)
	}
}

func TestConfigDefaultsMatchContract(t *testing.T) {
	for _, k := range []string{"KINEDGE_DATA_DIR", "KINEDGE_HTTP", "KINEDGE_RTSP", "KINEDGE_WEBRTC_UDP", "KINEDGE_CONFIG"} {
		t.Setenv(k, "")
	}
	cfg, _, err := loadConfig(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "./data" || cfg.HTTP != ":8080" || cfg.RTSP != ":8554" || cfg.WebRTCUDP != ":8189" ||
		cfg.Video.RetentionHours != 24 || !cfg.Video.AutoCreate || cfg.Fragment.Target != 2*time.Second || cfg.Fragment.Max != 10*time.Second {
		t.Fatalf("defaults differ from the contract: %+v", cfg)
	}
}

func TestConfigErrorsReportedTogether(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.yaml")
	os.WriteFile(file, []byte("fragment:\n  target: 50s\n  max: 40s\nlog:\n  level: loud\n"), 0o600)
	_, _, err := loadConfig([]string{"--config", file}, &bytes.Buffer{})
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"fragment.target", "fragment.max", "log.level"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	os.WriteFile(file, []byte("no_such_key: 1\n"), 0o600)
	if _, _, err := loadConfig([]string{"--config", file}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "no_such_key") {
		t.Errorf("unknown key: %v", err)
	}
	t.Setenv("KINEDGE_FRAGMENT_TARGET", "soon")
	if _, _, err := loadConfig(nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "KINEDGE_FRAGMENT_TARGET") {
		t.Errorf("bad env value: %v", err)
	}
}

func TestPrintConfigRedactsSecrets(t *testing.T) {
	t.Setenv("KINEDGE_SECRET_KEY", "topsecret")
	t.Setenv("KINEDGE_PUBLISH_PASS", "campass")
	var out bytes.Buffer
	if err := run(t.Context(), []string{"serve", "--print-config"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if strings.Contains(s, "topsecret") || strings.Contains(s, "campass") {
		t.Fatalf("secrets printed:\n%s", s)
	}
	for _, want := range []string{"data_dir: \"./data\"", "KINEDGE_FRAGMENT_TARGET", "target: 2s", "secret_key: <redacted>",
		"webrtc_udp: \":8189\"  # KINEDGE_WEBRTC_UDP\n", "max_viewers: 8  # KINEDGE_LIVE_MAX_VIEWERS"} {
		if !strings.Contains(s, want) {
			t.Errorf("print-config lacks %q:\n%s", want, s)
		}
	}
}

func TestCredentialsGeneratedOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	cfg := defaultConfig()
	cfg.DataDir = dir
	var out bytes.Buffer
	if err := ensureCredentials(&cfg, &out); err != nil {
		t.Fatal(err)
	}
	if cfg.AccessKey == "" || len(cfg.SecretKey) != 40 || cfg.PublishPass == "" || !strings.Contains(out.String(), cfg.SecretKey) {
		t.Fatalf("credentials not generated and printed: %+v\n%s", cfg, out.String())
	}
	st, err := os.Stat(filepath.Join(dir, credentialsFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", st, err)
	}
	again := defaultConfig()
	again.DataDir = dir
	out.Reset()
	if err := ensureCredentials(&again, &out); err != nil {
		t.Fatal(err)
	}
	if again.SecretKey != cfg.SecretKey || again.PublishPass != cfg.PublishPass || out.Len() != 0 {
		t.Fatalf("second start: credentials changed or printed again: %q", out.String())
	}
	// Operator-set credentials win and are not saved.
	set := defaultConfig()
	set.DataDir = dir
	set.SecretKey = "operator"
	ensureCredentials(&set, &out)
	if set.SecretKey != "operator" {
		t.Fatalf("operator secret overridden")
	}
}

func TestParseRange(t *testing.T) {
	now := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	cases := []struct {
		start, end string
		wantStart  time.Time
		wantEnd    time.Time
		ok         bool
	}{
		{"-5m", "now", now.Add(-5 * time.Minute), now, true},
		{"2026-11-25T19:00:00Z", "-30m", now.Add(-time.Hour), now.Add(-30 * time.Minute), true},
		{"now", "-1m", time.Time{}, time.Time{}, false},
		{"yesterday", "now", time.Time{}, time.Time{}, false},
		{"-5x", "now", time.Time{}, time.Time{}, false},
	}
	for _, c := range cases {
		s, e, err := parseRange(c.start, c.end, now)
		if (err == nil) != c.ok || (c.ok && (!s.Equal(c.wantStart) || !e.Equal(c.wantEnd))) {
			t.Errorf("parseRange(%q, %q) = %v, %v, %v", c.start, c.end, s, e, err)
		}
	}
}

// The board's default config file must load and validate.
func TestBoardConfigLoads(t *testing.T) {
	cfg, _, err := loadConfig([]string{"--config", filepath.Join("..", "..", "firmware", "kinedge.yaml")}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/var/lib/kinedge" || cfg.MemoryLimitMiB != 256 || cfg.Video.RetentionHours != 168 || cfg.Log.Format != "json" {
		t.Fatalf("board config: %+v", cfg)
	}
}

func TestStorageConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "kinedge.yaml")
	os.WriteFile(file, []byte("profile: pi\nstorage:\n  max_bytes: 28GB\n  min_free_bytes: 512MiB\n  policy: DENY_NEW_MEDIA\n"), 0o600)
	t.Setenv("KINEDGE_STORAGE_MIN_FREE_PERCENT", "5.5")
	cfg, _, err := loadConfig([]string{"--config", file}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Profile != "pi" || cfg.Storage.MaxBytes != 28e9 || cfg.Storage.MinFreeBytes != 512<<20 ||
		cfg.Storage.MinFreePercent != 5.5 || cfg.Storage.Policy != "DENY_NEW_MEDIA" {
		t.Fatalf("storage config %+v, profile %q", cfg.Storage, cfg.Profile)
	}
	p, _ := resolveProfile(cfg.Profile, 64<<30)
	o, err := cfg.storeOptions(p)
	if err != nil {
		t.Fatal(err)
	}
	if o.ValueLogFileSize != 16<<20 || o.Budget.MaxBytes != 28e9 || o.Budget.MinFreePercent != 5.5 || o.Budget.Policy != "DENY_NEW_MEDIA" {
		t.Errorf("store options %+v", o)
	}
	// 0 % turns the percentage off in the store (which reads 0 as its default).
	cfg.Storage.MinFreePercent = 0
	if o, _ := cfg.storeOptions(p); o.Budget.MinFreePercent != -1 {
		t.Errorf("min_free_percent 0 → %v", o.Budget.MinFreePercent)
	}

	t.Setenv("KINEDGE_STORAGE_POLICY", "KEEP_EVERYTHING")
	t.Setenv("KINEDGE_STORAGE_MAX_BYTES", "12 parsecs")
	t.Setenv("KINEDGE_PROFILE", "raspberry")
	_, _, err = loadConfig([]string{"--config", file}, &bytes.Buffer{})
	for _, want := range []string{"KINEDGE_STORAGE_MAX_BYTES", "unknown unit"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad size: %v, want %q", err, want)
		}
	}
	t.Setenv("KINEDGE_STORAGE_MAX_BYTES", "")
	_, _, err = loadConfig([]string{"--config", file}, &bytes.Buffer{})
	for _, want := range []string{"storage.policy", "profile \"raspberry\""} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad policy and profile: %v, want %q", err, want)
		}
	}
}

func TestByteSize(t *testing.T) {
	for s, want := range map[string]int64{"0": 0, "1048576": 1 << 20, "500MB": 500e6, "1.5GiB": 3 << 29, "28 GB": 28e9, "2t": 2 << 40, "64k": 64 << 10} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(s)); err != nil || int64(b) != want {
			t.Errorf("%q → %d, %v; want %d", s, b, err, want)
		}
	}
	for _, s := range []string{"", "-1GB", "1.5 furlongs", "GB", "1e30TB"} {
		var b ByteSize
		if err := b.UnmarshalText([]byte(s)); err == nil {
			t.Errorf("%q accepted as %d", s, b)
		}
	}
	for n, want := range map[ByteSize]string{0: "0", 28 << 30: "28GiB", 500e6: "500000000", 3 << 19: "1536KiB"} {
		if got := n.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int64(n), got, want)
		}
		var back ByteSize
		if err := back.UnmarshalText([]byte(want)); err != nil || back != n {
			t.Errorf("%q does not read back: %d, %v", want, back, err)
		}
	}
}

func TestProfiles(t *testing.T) {
	for _, tc := range []struct {
		configured string
		mem        int64
		want       string
	}{
		{"auto", 1 << 30, "pi"},
		{"auto", 2 << 30, "pi"},
		{"auto", 4 << 30, "default"},
		{"auto", 0, "default"},
		{"pi", 64 << 30, "pi"},
		{"default", 1 << 30, "default"},
	} {
		p, why := resolveProfile(tc.configured, tc.mem)
		if p.name != tc.want || why == "" {
			t.Errorf("%s with %d bytes: %s (%s), want %s", tc.configured, tc.mem, p.name, why, tc.want)
		}
	}
	pi, def := profileNamed("pi"), profileNamed("default")
	if pi.store.MemTableSize >= def.store.MemTableSize || pi.queueBytes >= def.queueBytes || pi.writeQueue >= def.writeQueue {
		t.Errorf("pi profile not smaller: %+v vs %+v", pi, def)
	}
	if readMemTotal() <= 0 {
		t.Error("MemTotal not read from /proc/meminfo")
	}
}

// TestAnonymousReadIsReadOnly: anonymous_read opens GET and HEAD, never the
// requests that change something (POST /v1/streams, DELETE …/source).
func TestAnonymousReadIsReadOnly(t *testing.T) {
	cfg := defaultConfig()
	cfg.AccessKey, cfg.SecretKey = "admin", "adminsecret"
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	for _, tc := range []struct {
		anonymous bool
		method    string
		basic     bool
		want      int
	}{
		{false, http.MethodGet, false, http.StatusUnauthorized},
		{false, http.MethodGet, true, http.StatusNoContent},
		{true, http.MethodGet, false, http.StatusNoContent},
		{true, http.MethodHead, false, http.StatusNoContent},
		{true, http.MethodPost, false, http.StatusUnauthorized},
		{true, http.MethodDelete, false, http.StatusUnauthorized},
		{true, http.MethodPost, true, http.StatusNoContent},
	} {
		cfg.AnonymousRead = tc.anonymous
		req := httptest.NewRequest(tc.method, "/v1/streams", nil)
		if tc.basic {
			req.SetBasicAuth("admin", "adminsecret")
		}
		rec := httptest.NewRecorder()
		ui, err := webHandler(&cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		ui.Guard(ok).ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("anonymous_read %v, %s with credentials %v: %d, want %d", tc.anonymous, tc.method, tc.basic, rec.Code, tc.want)
		}
	}
}

// TestPrintConfigMatchesREADME: the README's configuration block is what
// --print-config prints with no configuration (the hostname aside).
func TestPrintConfigMatchesREADME(t *testing.T) {
	for _, k := range []string{"KINEDGE_ACCESS_KEY", "KINEDGE_SECRET_KEY", "KINEDGE_PUBLISH_USER", "KINEDGE_PUBLISH_PASS", "KINEDGE_S3_ACCESS_KEY", "KINEDGE_S3_SECRET_KEY", "KINEDGE_S3_ENDPOINT"} {
		t.Setenv(k, "")
	}
	var out bytes.Buffer
	if err := run(t.Context(), []string{"serve", "--print-config"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	got := strings.Replace(out.String(), `appliance_id: "`+host+`"`, `appliance_id: "<hostname>"`, 1)
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "```yaml\n# effective configuration")
	if !ok {
		t.Fatal("README has no configuration block")
	}
	block, _, _ = strings.Cut(block, "```")
	if want := "# effective configuration" + block; got != want {
		t.Fatalf("README's configuration block differs from --print-config:\n--- README\n%s\n--- print-config\n%s", want, got)
	}
}

func TestS3ConfigRedactedAndChecked(t *testing.T) {
	t.Setenv("KINEDGE_S3_ENDPOINT", "http://127.0.0.1:7070")
	t.Setenv("KINEDGE_S3_ACCESS_KEY", "s3access")
	t.Setenv("KINEDGE_S3_SECRET_KEY", "s3secretvalue")
	var out bytes.Buffer
	if err := run(t.Context(), []string{"serve", "--print-config"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if strings.Contains(s, "s3secretvalue") || strings.Contains(s, "s3access") || !strings.Contains(s, `endpoint: "http://127.0.0.1:7070"  # KINEDGE_S3_ENDPOINT`) {
		t.Fatalf("print-config:\n%s", s)
	}
	t.Setenv("KINEDGE_S3_ENDPOINT", "ftp://host")
	if err := run(t.Context(), []string{"serve", "--print-config"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "s3.endpoint") {
		t.Fatalf("bad endpoint accepted: %v", err)
	}
}

func TestArchiveConfig(t *testing.T) {
	t.Setenv("KINEDGE_CONFIG", "")
	t.Setenv("KINEDGE_S3_ENDPOINT", "")
	t.Setenv("KINEDGE_ARCHIVE_BUCKET", "footage")
	_, _, err := loadConfig(nil, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "archive.bucket") || !strings.Contains(err.Error(), "s3.endpoint") {
		t.Fatalf("a bucket without an endpoint: %v", err)
	}
	t.Setenv("KINEDGE_S3_ENDPOINT", "http://127.0.0.1:7070")
	t.Setenv("KINEDGE_ARCHIVE_PREFIX", "video/")
	cfg, _, err := loadConfig(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Archive.Bucket != "footage" || cfg.Archive.Prefix != "video/" || !cfg.Archive.Sealed || cfg.Archive.Priority != "oldest" {
		t.Fatalf("archive config %+v (sealed must default to true, priority to oldest)", cfg.Archive)
	}
	t.Setenv("KINEDGE_ARCHIVE_PRIORITY", "newest")
	if cfg, _, err = loadConfig(nil, &bytes.Buffer{}); err != nil || cfg.Archive.Priority != "newest" {
		t.Fatalf("KINEDGE_ARCHIVE_PRIORITY=newest: %+v, %v", cfg.Archive, err)
	}
	t.Setenv("KINEDGE_ARCHIVE_PRIORITY", "latest")
	if _, _, err = loadConfig(nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "archive.priority") {
		t.Fatalf("KINEDGE_ARCHIVE_PRIORITY=latest accepted: %v", err)
	}
	t.Setenv("KINEDGE_ARCHIVE_PRIORITY", "")
	t.Setenv("KINEDGE_ARCHIVE_SEALED", "false")
	if cfg, _, err = loadConfig(nil, &bytes.Buffer{}); err != nil || cfg.Archive.Sealed {
		t.Fatalf("KINEDGE_ARCHIVE_SEALED=false: %+v, %v", cfg.Archive, err)
	}
}

// TestServeHelp checks that serve -h names the ports, UDP included, and
// every setting's environment variable.
func TestServeHelp(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"serve", "-h"}, &out, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("serve -h: %v", err)
	}
	help := out.String()
	for _, want := range []string{":8080", ":8554", ":8000", ":8001", ":8189", "UDP", "KINEDGE_RTSP_UDP_RTP", "KINEDGE_WEBRTC_UDP", "/whep/", "KINEDGE_STORAGE_MAX_BYTES", "KINEDGE_CONFIG", "--print-config"} {
		if !strings.Contains(help, want) {
			t.Errorf("serve -h does not mention %s:\n%s", want, help)
		}
	}
}

// TestBindFailureNamesTheSetting takes the HTTP and then the RTSP port
// before serve starts: each failure names the setting that moves it.
func TestBindFailureNamesTheSetting(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenUDP, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer takenUDP.Close()
	t.Setenv("KINEDGE_RTSP_UDP_RTP", "")
	t.Setenv("KINEDGE_RTSP_UDP_RTCP", "")
	for _, tc := range []struct{ http, rtsp, webrtc, want string }{
		{taken.Addr().String(), "127.0.0.1:0", "127.0.0.1:0", "KINEDGE_HTTP, --http"},
		{"127.0.0.1:0", taken.Addr().String(), "127.0.0.1:0", "KINEDGE_RTSP, --rtsp"},
		{"127.0.0.1:0", "127.0.0.1:0", takenUDP.LocalAddr().String(), "KINEDGE_WEBRTC_UDP, --webrtc-udp"},
	} {
		var out bytes.Buffer
		err := run(t.Context(), []string{"serve", "--data-dir", t.TempDir(), "--http", tc.http, "--rtsp", tc.rtsp, "--webrtc-udp", tc.webrtc}, &out, &out)
		if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("serve with a taken port: %v, want the setting %q named", err, tc.want)
		}
	}
}

func TestFirehoseRetryForConfig(t *testing.T) {
	t.Setenv("KINEDGE_CONFIG", "")
	t.Setenv("KINEDGE_FIREHOSE_RETRY_FOR", "")
	cfg, _, err := loadConfig(nil, &bytes.Buffer{})
	if err != nil || time.Duration(cfg.Firehose.RetryFor) != 24*time.Hour {
		t.Fatalf("default retry_for %v, %v; want 24h", cfg.Firehose.RetryFor, err)
	}
	file := filepath.Join(t.TempDir(), "kinedge.yaml")
	os.WriteFile(file, []byte("firehose:\n  retry_for: 90m\n"), 0o600)
	cfg, _, err = loadConfig([]string{"--config", file}, &bytes.Buffer{})
	if err != nil || time.Duration(cfg.Firehose.RetryFor) != 90*time.Minute || cfg.Firehose.RetryFor.String() != "1h30m" {
		t.Fatalf("retry_for 90m from the file: %v (%s), %v", time.Duration(cfg.Firehose.RetryFor), cfg.Firehose.RetryFor, err)
	}
	t.Setenv("KINEDGE_FIREHOSE_RETRY_FOR", "forever")
	cfg, _, err = loadConfig([]string{"--config", file}, &bytes.Buffer{})
	if err != nil || cfg.Firehose.RetryFor >= 0 || cfg.Firehose.RetryFor.String() != "forever" {
		t.Fatalf("KINEDGE_FIREHOSE_RETRY_FOR=forever: %v, %v", time.Duration(cfg.Firehose.RetryFor), err)
	}
	// What serve hands the engine: negative is the engine's forever.
	o := firehose.Options{RetryFor: time.Duration(cfg.Firehose.RetryFor)}
	o.EnsureDefaults()
	if o.RetryFor >= 0 {
		t.Fatalf("forever became %v in firehose.Options", o.RetryFor)
	}
	for _, bad := range []string{"0s", "-5m", "soon", "12"} {
		t.Setenv("KINEDGE_FIREHOSE_RETRY_FOR", bad)
		_, _, err = loadConfig(nil, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "KINEDGE_FIREHOSE_RETRY_FOR") {
			t.Errorf("retry_for %q: %v, want an error naming KINEDGE_FIREHOSE_RETRY_FOR", bad, err)
		}
	}
	os.WriteFile(file, []byte("firehose:\n  retry_for: never\n"), 0o600)
	t.Setenv("KINEDGE_FIREHOSE_RETRY_FOR", "")
	if _, _, err = loadConfig([]string{"--config", file}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "forever") {
		t.Errorf("retry_for: never in the file: %v", err)
	}
	for d, want := range map[time.Duration]string{24 * time.Hour: "24h", 2 * time.Minute: "2m", 90 * time.Second: "1m30s", 10 * time.Hour: "10h", 70 * time.Minute: "1h10m"} {
		var back RetryDuration
		if got := RetryDuration(d).String(); got != want || back.UnmarshalText([]byte(got)) != nil || time.Duration(back) != d {
			t.Errorf("%v written %q (want %q), read back %v", d, got, want, time.Duration(back))
		}
	}
}

func TestWebRTCICEServersChecked(t *testing.T) {
	t.Setenv("KINEDGE_WEBRTC_ICE_SERVERS", "stun:stun.example.net:3478, turn:turn.example.net")
	cfg, _, err := loadConfig(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got := iceServers(cfg.WebRTCICEServers); len(got) != 2 || got[1] != "turn:turn.example.net" {
		t.Fatalf("ice servers %q", got)
	}
	t.Setenv("KINEDGE_WEBRTC_ICE_SERVERS", "stun:ok, http://nope>")
	if _, _, err := loadConfig(nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "webrtc_ice_servers") {
		t.Fatalf("bad ICE server accepted: %v", err)
	}
}

// TestUpstreamsConfig: upstreams: from the config file is printed with
// its keys redacted (its windows and cap shown), and entries without an
// endpoint, region or keys, with a bad window, or forwarding a stream
// twice, are refused together.
func TestUpstreamsConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(`upstreams:
  - stream: cam1
    upstream: {endpoint: "https://kvs.example", region: eu-west-1, access_key: AKIAUPSTREAM, secret_key: upstreamsecretvalue, stream: site-cam1, window: "22:00-06:00,12:00-13:00", bandwidth_limit: 2MB}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KINEDGE_CONFIG", good)
	var out bytes.Buffer
	if err := run(t.Context(), []string{"serve", "--print-config"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if strings.Contains(s, "upstreamsecretvalue") || strings.Contains(s, "AKIAUPSTREAM") ||
		!strings.Contains(s, `  - stream: "cam1"`) || !strings.Contains(s, `endpoint: "https://kvs.example"`) || !strings.Contains(s, `stream: "site-cam1"`) ||
		!strings.Contains(s, `window: "22:00-06:00,12:00-13:00", bandwidth_limit: 2000000}`) {
		t.Fatalf("print-config:\n%s", s)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(`upstreams:
  - stream: cam1
    upstream: {endpoint: "ftp://kvs.example", access_key: a, secret_key: b}
  - stream: cam1
    upstream: {endpoint: "http://127.0.0.1:8080", region: us-east-1, window: "22:00"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KINEDGE_CONFIG", bad)
	_, _, err := loadConfig(nil, &bytes.Buffer{})
	for _, want := range []string{"upstreams[0]: upstream.endpoint", "upstreams[0]: upstream.region", "upstreams[1]: upstream.access_key", "upstreams[1]: upstream.window", "cam1 is forwarded twice"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad upstreams: %v, want %q", err, want)
		}
	}
}

// webrtc_tcp comes from the flag or the environment; webrtc_public_ips
// must be IP addresses, and ICE-TCP needs WebRTC on.
func TestWebRTCTCPAndPublicIPsChecked(t *testing.T) {
	t.Setenv("KINEDGE_WEBRTC_PUBLIC_IPS", "203.0.113.7, 2001:db8::7")
	t.Setenv("KINEDGE_WEBRTC_TCP", ":8190")
	cfg, _, err := loadConfig([]string{"--webrtc-tcp", "127.0.0.1:8191"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.WebRTCTCP != "127.0.0.1:8191" || len(iceServers(cfg.WebRTCPublicIPs)) != 2 {
		t.Fatalf("webrtc_tcp %q, public IPs %q", cfg.WebRTCTCP, cfg.WebRTCPublicIPs)
	}
	t.Setenv("KINEDGE_WEBRTC_PUBLIC_IPS", "203.0.113.7,appliance.example.net")
	if _, _, err := loadConfig(nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), `webrtc_public_ips: "appliance.example.net" is not an IP address`) {
		t.Fatalf("a host name as public IP: %v", err)
	}
	t.Setenv("KINEDGE_WEBRTC_PUBLIC_IPS", "")
	t.Setenv("KINEDGE_WEBRTC_TCP", "8190")
	if _, _, err := loadConfig(nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "webrtc_tcp") {
		t.Fatalf("webrtc_tcp without a port separator: %v", err)
	}
}

// TestAuthFailuresConfig: auth_failures comes from the file and the
// environment, is checked, and max 0 turns the brake off.
func TestAuthFailuresConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("auth_failures:\n  max: 3\n  window: 30s\n  max_backoff: 1m\n"), 0o600)
	cfg, _, err := loadConfig([]string{"--config", file}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.AuthFailures; got.Max != 3 || got.Window != 30*time.Second || got.MaxBackoff != time.Minute {
		t.Fatalf("auth_failures %+v", got)
	}
	t.Setenv("KINEDGE_AUTH_FAILURES_MAX", "0")
	cfg, _, err = loadConfig([]string{"--config", file}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	l := authLimiter(&cfg, nil)
	for range 100 {
		l.Fail("192.0.2.1", "http")
	}
	if _, ok := l.Check("192.0.2.1"); !ok {
		t.Fatal("max 0 still locks out")
	}
	os.WriteFile(file, []byte("auth_failures:\n  max: -1\n  window: 0s\n  max_backoff: 10ms\n"), 0o600)
	t.Setenv("KINEDGE_AUTH_FAILURES_MAX", "")
	_, _, err = loadConfig([]string{"--config", file}, &bytes.Buffer{})
	for _, want := range []string{"auth_failures.max", "auth_failures.window", "auth_failures.max_backoff"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}
