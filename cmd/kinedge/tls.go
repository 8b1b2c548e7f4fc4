package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kinedge/kinedge/firmware/tlscert"
)

// Names, under the data dir, of the generated certificate and its key.
const (
	tlsCertFile = "tls-cert.pem"
	tlsKeyFile  = "tls-key.pem"
)

// tlsFiles returns the certificate and key files TLS uses: the
// operator's, or the generated ones in the data dir.
func tlsFiles(cfg *Config) (certFile, keyFile string) {
	if cfg.TLS.CertFile != "" {
		return cfg.TLS.CertFile, cfg.TLS.KeyFile
	}
	return filepath.Join(cfg.DataDir, tlsCertFile), filepath.Join(cfg.DataDir, tlsKeyFile)
}

// loadTLS loads the operator's certificate, or loads or generates the
// self-signed one, and prints its fingerprint and public-key pin to out
// (every start: clients pin them).
func loadTLS(cfg *Config, out io.Writer, now time.Time) (*tlscert.Cert, error) {
	certFile, keyFile := tlsFiles(cfg)
	var c *tlscert.Cert
	created := false
	var err error
	if cfg.TLS.SelfSigned {
		c, created, err = tlscert.LoadOrCreate(certFile, keyFile, tlsNames(cfg), now)
	} else {
		c, err = tlscert.Load(certFile, keyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	what := "TLS certificate"
	if created {
		what = "TLS certificate generated"
	}
	fmt.Fprintf(out, "%s: %s (expires %s)\n  SHA-256 fingerprint: %s\n  public key pin:      %s\n",
		what, certFile, c.Leaf.NotAfter.UTC().Format(time.DateOnly), c.Fingerprint(), c.PublicKeyPin())
	return c, nil
}

// tlsNames are the names of a generated certificate: the host name,
// localhost and the loopback IPs, the IPs HTTPS and RTSPS listen on (every
// interface's for a wildcard address), and tls.names.
func tlsNames(cfg *Config) []string {
	names := []string{}
	if h, err := os.Hostname(); err == nil && h != "" {
		names = append(names, h)
	}
	names = append(names, "localhost", "127.0.0.1", "::1")
	wildcard := false
	for _, addr := range []string{cfg.TLS.HTTPS, cfg.TLS.RTSPS} {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			wildcard = true
		} else {
			names = append(names, host)
		}
	}
	if wildcard {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() {
					names = append(names, ipn.IP.String())
				}
			}
		}
	}
	for _, n := range strings.Split(cfg.TLS.Names, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// serverTLS is the TLS configuration of HTTPS and RTSPS.
func serverTLS(c *tlscert.Cert) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.TLS}, MinVersion: tls.VersionTLS12}
}
