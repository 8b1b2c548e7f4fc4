package tlscert

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadOrCreateGeneratesThenReuses(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "tls", "cert.pem"), filepath.Join(dir, "tls", "key.pem")
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	c, created, err := LoadOrCreate(cf, kf, []string{"box", "localhost", "127.0.0.1", "::1", "cam.example", "box"}, now)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreate: created %v, err %v", created, err)
	}
	st, err := os.Stat(kf)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, st)
	}
	leaf := c.Leaf
	if strings.Join(leaf.DNSNames, ",") != "box,localhost,cam.example" || len(leaf.IPAddresses) != 2 {
		t.Fatalf("SANs %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	if !leaf.NotAfter.Equal(now.Add(Validity).Truncate(time.Second)) {
		t.Fatalf("NotAfter %v", leaf.NotAfter)
	}
	// The file is its own trust anchor, for every name.
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	for _, n := range []string{"box", "localhost", "127.0.0.1", "::1", "cam.example"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: n, CurrentTime: now}); err != nil {
			t.Errorf("verify %s: %v", n, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "other", CurrentTime: now}); err == nil {
		t.Error("verify other: want an error")
	}

	again, created, err := LoadOrCreate(cf, kf, []string{"different"}, now.Add(time.Hour))
	if err != nil || created {
		t.Fatalf("second LoadOrCreate: created %v, err %v", created, err)
	}
	if again.Fingerprint() != c.Fingerprint() || again.PublicKeyPin() != c.PublicKeyPin() {
		t.Fatal("reloaded certificate differs")
	}
	if len(c.Fingerprint()) != 32*3-1 || !strings.HasPrefix(c.PublicKeyPin(), "sha256//") {
		t.Fatalf("fingerprint %q pin %q", c.Fingerprint(), c.PublicKeyPin())
	}
}

// TestFingerprintMatchesOpenSSL checks the notation against openssl's.
func TestFingerprintMatchesOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl not found")
		}
		t.Skip("openssl not found")
	}
	dir := t.TempDir()
	cf := filepath.Join(dir, "cert.pem")
	c, _, err := LoadOrCreate(cf, filepath.Join(dir, "key.pem"), []string{"localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", cf).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.TrimSpace(string(out))
	if got[strings.Index(got, "=")+1:] != c.Fingerprint() {
		t.Fatalf("openssl says %q, we say %q", got, c.Fingerprint())
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	a1, a2 := filepath.Join(dir, "a.pem"), filepath.Join(dir, "a.key")
	b1, b2 := filepath.Join(dir, "b.pem"), filepath.Join(dir, "b.key")
	now := time.Now()
	if _, _, err := LoadOrCreate(a1, a2, []string{"a"}, now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreate(b1, b2, []string{"b"}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(a1, b2); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("mismatched key: %v", err)
	}
	if _, err := Load(a2, a2); !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("key as certificate: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "none"), a2); err == nil {
		t.Fatal("missing file: want an error")
	}
	// A certificate whose key is gone is not silently replaced.
	os.Remove(b2)
	if _, _, err := LoadOrCreate(b1, b2, []string{"b"}, now); err == nil || !strings.Contains(err.Error(), "without its key") {
		t.Fatalf("certificate without key: %v", err)
	}
	// A key whose certificate is gone is replaced by a new pair.
	os.Remove(a1)
	if _, created, err := LoadOrCreate(a1, a2, []string{"a"}, now); err != nil || !created {
		t.Fatalf("key without certificate: created %v, err %v", created, err)
	}
}

func FuzzParseCertificate(f *testing.F) {
	cert, key, err := Generate([]string{"localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cert)
	f.Add(key)
	f.Add(append(append([]byte{}, key...), cert...))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCertificate(b)
		if (c == nil) == (err == nil) {
			t.Fatalf("certificate %v and error %v", c, err)
		}
		if c != nil && Fingerprint(c.Raw) == "" {
			t.Fatal("empty fingerprint")
		}
		_, _ = parse(b, key)
	})
}
