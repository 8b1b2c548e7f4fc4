package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"strings"
	"time"

	"github.com/kinedge/kinedge/firmware/atomicfile"
)

// Validity is how long a generated certificate is valid.
const Validity = 10 * 365 * 24 * time.Hour

// Cert is a loaded certificate and its key.
type Cert struct {
	// TLS is the certificate chain and key for tls.Config.Certificates.
	TLS tls.Certificate
	// Leaf is the parsed first certificate of the chain.
	Leaf *x509.Certificate
	// CertFile is the path it was loaded from.
	CertFile string
}

// Fingerprint returns the SHA-256 fingerprint of the leaf certificate.
func (c *Cert) Fingerprint() string { return Fingerprint(c.Leaf.Raw) }

// PublicKeyPin returns curl's --pinnedpubkey value of the leaf's key.
func (c *Cert) PublicKeyPin() string { return PublicKeyPin(c.Leaf) }

// Fingerprint returns the SHA-256 of der as upper-case hex bytes joined
// by colons, as `openssl x509 -noout -fingerprint -sha256` prints it.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	var b strings.Builder
	for i, x := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}

// PublicKeyPin returns "sha256//" and the base64 of the SHA-256 of the
// certificate's SubjectPublicKeyInfo (curl --pinnedpubkey).
func PublicKeyPin(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return "sha256//" + base64.StdEncoding.EncodeToString(sum[:])
}

// Load reads a PEM certificate chain and its PEM private key.
func Load(certFile, keyFile string) (*Cert, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("tlscert: %w", err)
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("tlscert: %w", err)
	}
	c, err := parse(cb, kb)
	if err != nil {
		return nil, fmt.Errorf("%w (%s, %s)", err, certFile, keyFile)
	}
	c.CertFile = certFile
	return c, nil
}

// parse parses a PEM certificate chain and key.
func parse(certPEM, keyPEM []byte) (*Cert, error) {
	leaf, err := ParseCertificate(certPEM)
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, ErrKeyMismatch
		}
		return nil, fmt.Errorf("tlscert: %w", err)
	}
	pair.Leaf = leaf
	return &Cert{TLS: pair, Leaf: leaf}, nil
}

// ParseCertificate returns the first certificate of a PEM file.
func ParseCertificate(certPEM []byte) (*x509.Certificate, error) {
	for rest := certPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, ErrNoCertificate
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tlscert: %w", err)
		}
		return c, nil
	}
}

// LoadOrCreate loads the certificate and key at certFile and keyFile, or,
// when the certificate is missing, generates a self-signed pair for names
// (DNS names or IP addresses; the first DNS name is the subject's common
// name) valid from now and saves it there. created reports a new pair.
func LoadOrCreate(certFile, keyFile string, names []string, now time.Time) (c *Cert, created bool, err error) {
	_, certErr := os.Stat(certFile)
	_, keyErr := os.Stat(keyFile)
	if certErr == nil && keyErr == nil {
		c, err := Load(certFile, keyFile)
		return c, false, err
	}
	if certErr != nil && !errors.Is(certErr, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("tlscert: %w", certErr)
	}
	if keyErr != nil && !errors.Is(keyErr, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("tlscert: %w", keyErr)
	}
	if certErr == nil {
		return nil, false, fmt.Errorf("tlscert: %s exists without its key %s: move it away to generate a new pair", certFile, keyFile)
	}
	certPEM, keyPEM, err := Generate(names, now)
	if err != nil {
		return nil, false, err
	}
	// The key first: a certificate is never left without its key.
	if err := atomicfile.Write(keyFile, keyPEM, 0o600); err != nil {
		return nil, false, fmt.Errorf("tlscert: %w", err)
	}
	if err := atomicfile.Write(certFile, certPEM, 0o644); err != nil {
		return nil, false, fmt.Errorf("tlscert: %w", err)
	}
	c, err = parse(certPEM, keyPEM)
	if err != nil {
		return nil, false, err
	}
	c.CertFile = certFile
	return c, true, nil
}

// Generate returns a new self-signed ECDSA P-256 certificate for names and
// its key, both PEM.
func Generate(names []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"kinedge appliance"}},
		NotBefore:             now.Add(-time.Hour), // a client clock a little behind
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	seen := map[string]bool{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			continue
		}
		tmpl.DNSNames = append(tmpl.DNSNames, n)
		if tmpl.Subject.CommonName == "" {
			tmpl.Subject.CommonName = n
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("tlscert: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}
