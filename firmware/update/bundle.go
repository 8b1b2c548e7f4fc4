package update

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Names of the bundle's entries.
const (
	BinaryName    = "kinedge"
	ManifestName  = "manifest.json"
	SignatureName = "manifest.sig"
)

// Limits of Read. The binary's limit is a variable of Read (Limits); the
// others are fixed by the format.
const (
	maxManifest = 4 << 10
	maxEntries  = 8
	// DefaultMaxBinary is Read's default bound on the binary (a static
	// kinedge is well under 100 MiB).
	DefaultMaxBinary = 256 << 20
)

// Manifest describes the binary of a bundle; its bytes are what the
// signature covers.
type Manifest struct {
	// Version is the binary's version (kinedge version).
	Version string `json:"version"`
	// Arch is GOARCH, with the GOARM level for arm ("armv7").
	Arch string `json:"arch"`
	// SHA256 is the binary's SHA-256 in lower-case hex.
	SHA256 string `json:"sha256"`
	// Created is when the bundle was made.
	Created time.Time `json:"created"`
}

// Bundle is a read, not yet verified, bundle.
type Bundle struct {
	Manifest Manifest
	// ManifestBytes are manifest.json as stored (what was signed).
	ManifestBytes []byte
	Signature     []byte
	Binary        []byte
}

// NewManifest describes binary.
func NewManifest(binary []byte, version, arch string, created time.Time) Manifest {
	sum := sha256.Sum256(binary)
	return Manifest{Version: version, Arch: arch, SHA256: hex.EncodeToString(sum[:]), Created: created.UTC()}
}

// Write writes a bundle of binary described by m, signed with key.
func Write(w io.Writer, binary []byte, m Manifest, key ed25519.PrivateKey) error {
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("update: manifest: %w", err)
	}
	mb = append(mb, '\n')
	return writeTar(w, mb, ed25519.Sign(key, mb), binary, m.Created)
}

// Sign replaces the signature of a bundle with one by key, after checking
// that the manifest describes the binary. The bundle need not have been
// signed before.
func Sign(w io.Writer, r io.Reader, key ed25519.PrivateKey, maxBinary int64) error {
	b, err := read(r, maxBinary, false)
	if err != nil {
		return err
	}
	if err := b.checkBinary(); err != nil {
		return err
	}
	return writeTar(w, b.ManifestBytes, ed25519.Sign(key, b.ManifestBytes), b.Binary, b.Manifest.Created)
}

func writeTar(w io.Writer, manifest, sig, binary []byte, mtime time.Time) error {
	tw := tar.NewWriter(w)
	for _, e := range []struct {
		name string
		mode int64
		data []byte
	}{{ManifestName, 0o644, manifest}, {SignatureName, 0o644, sig}, {BinaryName, 0o755, binary}} {
		h := &tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.data)), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("update: write bundle: %w", err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return fmt.Errorf("update: write bundle: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("update: write bundle: %w", err)
	}
	return nil
}

// Read reads a bundle from r, bounding the binary to maxBinary bytes (0:
// DefaultMaxBinary). It checks the form only; Verify checks the contents.
func Read(r io.Reader, maxBinary int64) (*Bundle, error) {
	return read(r, maxBinary, true)
}

func read(r io.Reader, maxBinary int64, needSig bool) (*Bundle, error) {
	if maxBinary <= 0 {
		maxBinary = DefaultMaxBinary
	}
	tr := tar.NewReader(r)
	var b Bundle
	seen := map[string]bool{}
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		if n >= maxEntries {
			return nil, fmt.Errorf("%w: more than %d entries", ErrFormat, maxEntries)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%w: %q is not a regular file", ErrFormat, h.Name)
		}
		name := strings.TrimPrefix(h.Name, "./")
		if seen[name] {
			return nil, fmt.Errorf("%w: %q twice", ErrFormat, name)
		}
		seen[name] = true
		var limit int64
		var dst *[]byte
		switch name {
		case BinaryName:
			limit, dst = maxBinary, &b.Binary
		case ManifestName:
			limit, dst = maxManifest, &b.ManifestBytes
		case SignatureName:
			limit, dst = ed25519.SignatureSize, &b.Signature
		default:
			return nil, fmt.Errorf("%w: unexpected entry %q", ErrFormat, h.Name)
		}
		if h.Size < 0 || h.Size > limit {
			return nil, fmt.Errorf("%w: %s is %d bytes, at most %d allowed", ErrFormat, name, h.Size, limit)
		}
		buf := bytes.NewBuffer(make([]byte, 0, h.Size))
		if _, err := io.Copy(buf, io.LimitReader(tr, h.Size)); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
		}
		if int64(buf.Len()) != h.Size {
			return nil, fmt.Errorf("%w: %s truncated", ErrFormat, name)
		}
		*dst = buf.Bytes()
	}
	for _, name := range []string{BinaryName, ManifestName, SignatureName} {
		if !seen[name] && (needSig || name != SignatureName) {
			return nil, fmt.Errorf("%w: no %s", ErrFormat, name)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b.ManifestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b.Manifest); err != nil {
		return nil, fmt.Errorf("%w: manifest.json: %v", ErrFormat, err)
	}
	m := b.Manifest
	if m.Version == "" || m.Arch == "" || len(m.SHA256) != 2*sha256.Size {
		return nil, fmt.Errorf("%w: manifest.json needs version, arch and a sha256 of 64 hex digits", ErrFormat)
	}
	return &b, nil
}

// Target is what Verify checks a bundle against.
type Target struct {
	// Keys are the trusted public keys; any one may have signed.
	Keys []ed25519.PublicKey
	// Arch is the running architecture (Arch()).
	Arch string
	// Version is the running version; the bundle's must differ.
	Version string
}

// Verify checks the signature, the binary's checksum, the architecture
// and the version, in that order, and returns the first failure.
func (b *Bundle) Verify(t Target) error {
	if len(t.Keys) == 0 {
		return ErrNoKey
	}
	ok := false
	for _, k := range t.Keys {
		if len(k) == ed25519.PublicKeySize && len(b.Signature) == ed25519.SignatureSize && ed25519.Verify(k, b.ManifestBytes, b.Signature) {
			ok = true
			break
		}
	}
	if !ok {
		return ErrSignature
	}
	if err := b.checkBinary(); err != nil {
		return err
	}
	if !archCompatible(b.Manifest.Arch, t.Arch) {
		return fmt.Errorf("%w: bundle is for %s, this is %s", ErrArch, b.Manifest.Arch, t.Arch)
	}
	if b.Manifest.Version == t.Version {
		return fmt.Errorf("%w: %s", ErrSameVersion, t.Version)
	}
	return nil
}

func (b *Bundle) checkBinary() error {
	sum := sha256.Sum256(b.Binary)
	if !strings.EqualFold(hex.EncodeToString(sum[:]), b.Manifest.SHA256) {
		return ErrChecksum
	}
	return nil
}

// archCompatible reports whether a binary built for bundle runs on host:
// the same architecture, or an older arm level (armv6 on armv7).
func archCompatible(bundle, host string) bool {
	if bundle == host {
		return true
	}
	return bundle == "armv6" && host == "armv7"
}
