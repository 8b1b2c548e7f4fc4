package update

import (
	"crypto/ed25519"
	"crypto/rand"
	"debug/buildinfo"
	"encoding/base64"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// GenerateKey makes a key pair: the private key file's contents and the
// public key in the form of update.public_key.
func GenerateKey() (privateFile []byte, public string, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("update: keygen: %w", err)
	}
	return []byte(base64.StdEncoding.EncodeToString(priv) + "\n"), base64.StdEncoding.EncodeToString(pub), nil
}

// ParsePrivateKey reads a private key file's contents (GenerateKey's).
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("update: private key: want %d bytes in base64 (kinedge update keygen makes one)", ed25519.PrivateKeySize)
	}
	return ed25519.PrivateKey(k), nil
}

// ParsePublicKeys reads update.public_key: base64 keys, comma-separated.
func ParsePublicKeys(s string) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(f)
		if err != nil || len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("update: public key %q: want %d bytes in base64", f, ed25519.PublicKeySize)
		}
		keys = append(keys, ed25519.PublicKey(k))
	}
	return keys, nil
}

// Arch is the running binary's architecture as bundles name it: GOARCH,
// and for arm the GOARM level it was built for ("armv7").
func Arch() string {
	if runtime.GOARCH != "arm" {
		return runtime.GOARCH
	}
	goarm := "7"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "GOARM" && s.Value != "" {
				goarm = s.Value
			}
		}
	}
	goarm, _, _ = strings.Cut(goarm, ",") // "7,softfloat"
	return "armv" + goarm
}

// ArchOf reads the architecture a Go binary was built for from its build
// information (for bundling a cross-built binary).
func ArchOf(path string) (string, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("update: %s: %w", path, err)
	}
	arch, goarm := "", "7"
	for _, s := range bi.Settings {
		switch s.Key {
		case "GOARCH":
			arch = s.Value
		case "GOARM":
			goarm, _, _ = strings.Cut(s.Value, ",")
		}
	}
	if arch == "" {
		return "", fmt.Errorf("update: %s: no GOARCH in its build information", path)
	}
	if arch == "arm" {
		arch = "armv" + goarm
	}
	return arch, nil
}
