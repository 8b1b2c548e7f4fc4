package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	for _, want := range []string{"data_dir: \"./data\"", "KINEDGE_FRAGMENT_TARGET", "target: 2s", "secret_key: <redacted>"} {
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
