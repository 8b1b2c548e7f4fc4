package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/firmware/tlscert"
	"github.com/kinedge/kinedge/index/store"
)

// TestDoctorTLS: the doctor's TLS line names the file, the expiry and the
// fingerprint, and warns or fails as the certificate nears or passes its
// expiry or does not load.
func TestDoctorTLS(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	if r := checkTLS(&Config{}, now); r.Level != checkOK || !strings.Contains(r.Msg, "off") {
		t.Fatalf("TLS off: %v", r)
	}
	dir := t.TempDir()
	cfg := &Config{DataDir: dir, TLS: TLSConfig{SelfSigned: true}}
	if r := checkTLS(cfg, now); r.Level != checkOK || !strings.Contains(r.Msg, "does not exist yet") {
		t.Fatalf("not generated yet: %v", r)
	}
	certFile, keyFile := tlsFiles(cfg)
	c, _, err := tlscert.LoadOrCreate(certFile, keyFile, []string{"localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at    time.Time
		level string
		want  string
	}{
		{now, checkOK, certFile + " expires " + c.Leaf.NotAfter.Format(time.DateOnly) + "; SHA-256 fingerprint " + c.Fingerprint()},
		{c.Leaf.NotAfter.Add(-10 * 24 * time.Hour), checkWarn, "expires in 10 days: delete " + certFile},
		{c.Leaf.NotAfter.Add(time.Second), checkFail, "EXPIRED"},
	} {
		if r := checkTLS(cfg, tc.at); r.Level != tc.level || !strings.Contains(r.Msg, tc.want) {
			t.Errorf("at %v: %v, want %s with %q", tc.at, r, tc.level, tc.want)
		}
	}
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := checkTLS(cfg, now); r.Level != checkFail || !strings.Contains(r.Msg, "chmod 600") {
		t.Errorf("readable key: %v", r)
	}
	// The operator's files, the key not the certificate's.
	other := filepath.Join(t.TempDir(), "other")
	if _, _, err := tlscert.LoadOrCreate(other+".pem", other+".key", []string{"x"}, now); err != nil {
		t.Fatal(err)
	}
	cfg.TLS = TLSConfig{CertFile: certFile, KeyFile: other + ".key"}
	if r := checkTLS(cfg, now); r.Level != checkFail || !strings.Contains(r.Msg, "does not match") {
		t.Errorf("mismatched key: %v", r)
	}
}

// TestTLSConfigValidate: the TLS settings' combinations.
func TestTLSConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // "" valid
	}{
		{"default", func(*Config) {}, ""},
		{"self-signed", func(c *Config) { c.TLS.SelfSigned = true }, ""},
		{"files", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = "c.pem", "k.pem" }, ""},
		{"both", func(c *Config) { c.TLS.SelfSigned, c.TLS.CertFile, c.TLS.KeyFile = true, "c.pem", "k.pem" }, "exclude each other"},
		{"cert without key", func(c *Config) { c.TLS.CertFile = "c.pem" }, "go together"},
		{"plain http off", func(c *Config) { c.TLS.SelfSigned, c.HTTP = true, "" }, ""},
		{"plain off without tls", func(c *Config) { c.HTTP = "" }, "plain HTTP may be off only with TLS on"},
		{"plain rtsp off", func(c *Config) { c.TLS.SelfSigned, c.RTSP = true, "" }, ""},
		{"rtsp off without rtsps", func(c *Config) { c.TLS.SelfSigned, c.RTSP, c.TLS.RTSPS = true, "", "" }, "plain RTSP may be off only with RTSPS on"},
		{"no https", func(c *Config) { c.TLS.SelfSigned, c.TLS.HTTPS = true, "" }, "tls.https is empty"},
	} {
		c := defaultConfig()
		tc.edit(&c)
		err := c.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestPinnedHTTPClient: kinedge update and doctor reach an appliance
// whose plain HTTP is off over HTTPS, trusting its certificate file and
// nothing else.
func TestPinnedHTTPClient(t *testing.T) {
	cfg := &Config{DataDir: t.TempDir(), TLS: TLSConfig{SelfSigned: true}}
	certFile, keyFile := tlsFiles(cfg)
	c, _, err := tlscert.LoadOrCreate(certFile, keyFile, []string{"localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"status":"ok","version":"` + r.Proto + `"}`))
	}))
	srv.TLS = serverTLS(c)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	if v, err := healthVersion(t.Context(), pinnedHTTPClient(cfg), srv.URL); err != nil || v != "HTTP/2.0" {
		t.Fatalf("pinned client: %q %v, want HTTP/2.0", v, err)
	}
	other := &Config{DataDir: t.TempDir(), TLS: TLSConfig{SelfSigned: true}}
	of, ok := tlsFiles(other)
	if _, _, err := tlscert.LoadOrCreate(of, ok, []string{"127.0.0.1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := healthVersion(t.Context(), pinnedHTTPClient(other), srv.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("client pinned to another certificate: %v", err)
	}
}

// TestHealthTLS: /healthz shows the certificate's fingerprint, pin and
// end, and is degraded within 30 days of it.
func TestHealthTLS(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	cfg := &Config{DataDir: t.TempDir(), TLS: TLSConfig{SelfSigned: true}}
	certFile, keyFile := tlsFiles(cfg)
	c, _, err := tlscert.LoadOrCreate(certFile, keyFile, []string{"localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	ok := store.Status{State: store.StateOK}
	h, code := decideHealth(healthState{Storage: ok, TLS: c, Now: now})
	if code != 200 || h.Status != healthOK || h.TLS == nil || h.TLS.Fingerprint != c.Fingerprint() ||
		h.TLS.PublicKeyPin != c.PublicKeyPin() || !h.TLS.NotAfter.Equal(c.Leaf.NotAfter) {
		t.Fatalf("health %d %+v tls %+v", code, h, h.TLS)
	}
	h, code = decideHealth(healthState{Storage: ok, TLS: c, Now: c.Leaf.NotAfter.Add(-24 * time.Hour)})
	if code != 200 || h.Status != healthDegraded || len(h.Reasons) != 1 || !strings.Contains(h.Reasons[0], "TLS certificate "+certFile+" expires") {
		t.Fatalf("a day before the end: %d %+v", code, h)
	}
	if h, _ := decideHealth(healthState{Storage: ok}); h.TLS != nil {
		t.Fatalf("TLS off shown: %+v", h.TLS)
	}
}

// TestTLSBindFailureNamesTheSetting: a taken HTTPS or RTSPS port names the
// setting that moves it.
func TestTLSBindFailureNamesTheSetting(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	t.Setenv("KINEDGE_RTSP_UDP_RTP", "")
	t.Setenv("KINEDGE_RTSP_UDP_RTCP", "")
	t.Setenv("KINEDGE_TLS_SELF_SIGNED", "true")
	for _, tc := range []struct{ https, rtsps, want string }{
		{taken.Addr().String(), "127.0.0.1:0", "KINEDGE_TLS_HTTPS"},
		{"127.0.0.1:0", taken.Addr().String(), "KINEDGE_TLS_RTSPS"},
	} {
		t.Setenv("KINEDGE_TLS_HTTPS", tc.https)
		t.Setenv("KINEDGE_TLS_RTSPS", tc.rtsps)
		var out bytes.Buffer
		err := run(t.Context(), []string{"serve", "--data-dir", t.TempDir(), "--http", "127.0.0.1:0", "--rtsp", "127.0.0.1:0", "--webrtc-udp", "127.0.0.1:0"}, &out, &out)
		if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("serve with a taken port: %v, want the setting %q named", err, tc.want)
		}
	}
}
