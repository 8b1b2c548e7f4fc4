package update

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"
)

func testKey(t testing.TB, seed byte) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func bundleBytes(t testing.TB, key ed25519.PrivateKey, binary []byte, m Manifest) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, binary, m, key); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawTar makes a tar of the given entries, for malformed bundles.
func rawTar(t testing.TB, entries ...[2]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e[0], Mode: 0o644, Size: int64(len(e[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e[1]))
	}
	tw.Close()
	return buf.Bytes()
}

var created = time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)

func TestVerify(t *testing.T) {
	key, other := testKey(t, 1), testKey(t, 2)
	bin := []byte("#!/bin/sh\necho new\n")
	good := NewManifest(bin, "2.0.0", "arm64", created)
	pub := key.Public().(ed25519.PublicKey)
	target := Target{Keys: []ed25519.PublicKey{other.Public().(ed25519.PublicKey), pub}, Arch: "arm64", Version: "1.0.0"}
	for _, tc := range []struct {
		name   string
		bundle []byte
		target Target
		want   error
	}{
		{"good", bundleBytes(t, key, bin, good), target, nil},
		{"other key", bundleBytes(t, other, bin, good), Target{Keys: []ed25519.PublicKey{pub}, Arch: "arm64", Version: "1.0.0"}, ErrSignature},
		{"no key", bundleBytes(t, key, bin, good), Target{Arch: "arm64", Version: "1.0.0"}, ErrNoKey},
		{"binary swapped", func() []byte {
			m := good
			m.SHA256 = strings.Repeat("0", 64)
			return bundleBytes(t, key, bin, m)
		}(), target, ErrChecksum},
		{"wrong arch", bundleBytes(t, key, bin, NewManifest(bin, "2.0.0", "amd64", created)), target, ErrArch},
		{"armv6 on armv7", bundleBytes(t, key, bin, NewManifest(bin, "2.0.0", "armv6", created)), Target{Keys: target.Keys, Arch: "armv7", Version: "1"}, nil},
		{"armv7 on armv6", bundleBytes(t, key, bin, NewManifest(bin, "2.0.0", "armv7", created)), Target{Keys: target.Keys, Arch: "armv6", Version: "1"}, ErrArch},
		{"same version", bundleBytes(t, key, bin, NewManifest(bin, "1.0.0", "arm64", created)), target, ErrSameVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Read(bytes.NewReader(tc.bundle), 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Verify(tc.target); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyTamperedManifest(t *testing.T) {
	key := testKey(t, 1)
	bin := []byte("binary")
	var buf bytes.Buffer
	if err := Write(&buf, bin, NewManifest(bin, "2.0.0", "arm64", created), key); err != nil {
		t.Fatal(err)
	}
	b, err := Read(&buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	b.ManifestBytes = bytes.Replace(b.ManifestBytes, []byte("2.0.0"), []byte("3.0.0"), 1)
	if err := b.Verify(Target{Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, Arch: "arm64", Version: "1"}); !errors.Is(err, ErrSignature) {
		t.Fatalf("tampered manifest: %v", err)
	}
}

func TestSign(t *testing.T) {
	key, other := testKey(t, 1), testKey(t, 2)
	bin := []byte("binary")
	var signed bytes.Buffer
	if err := Sign(&signed, bytes.NewReader(bundleBytes(t, other, bin, NewManifest(bin, "2", "arm64", created))), key, 0); err != nil {
		t.Fatal(err)
	}
	b, err := Read(&signed, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Verify(Target{Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, Arch: "arm64", Version: "1"}); err != nil {
		t.Fatalf("re-signed bundle: %v", err)
	}
	// An unsigned bundle (manifest and binary only) can be signed.
	m := NewManifest(bin, "2", "arm64", created)
	mb := `{"version":"2","arch":"arm64","sha256":"` + m.SHA256 + `","created":"2026-12-03T07:00:00Z"}`
	if err := Sign(&bytes.Buffer{}, bytes.NewReader(rawTar(t, [2]string{ManifestName, mb}, [2]string{BinaryName, "binary"})), key, 0); err != nil {
		t.Fatalf("unsigned bundle: %v", err)
	}
	if err := Sign(&bytes.Buffer{}, bytes.NewReader(rawTar(t, [2]string{ManifestName, mb}, [2]string{BinaryName, "other"})), key, 0); !errors.Is(err, ErrChecksum) {
		t.Fatalf("signing a bundle whose binary is not the manifest's: %v", err)
	}
}

const goodManifest = `{"version":"2","arch":"arm64","sha256":"` + "0000000000000000000000000000000000000000000000000000000000000000" + `","created":"2026-12-03T07:00:00Z"}`

func malformed(t testing.TB) map[string][]byte {
	sig := strings.Repeat("s", 64)
	return map[string][]byte{
		"not a tar":         []byte("hello"),
		"empty":             nil,
		"no binary":         rawTar(t, [2]string{ManifestName, goodManifest}, [2]string{SignatureName, sig}),
		"no signature":      rawTar(t, [2]string{ManifestName, goodManifest}, [2]string{BinaryName, "b"}),
		"no manifest":       rawTar(t, [2]string{SignatureName, sig}, [2]string{BinaryName, "b"}),
		"duplicate":         rawTar(t, [2]string{ManifestName, goodManifest}, [2]string{SignatureName, sig}, [2]string{BinaryName, "b"}, [2]string{BinaryName, "c"}),
		"unknown entry":     rawTar(t, [2]string{ManifestName, goodManifest}, [2]string{SignatureName, sig}, [2]string{BinaryName, "b"}, [2]string{"../etc/passwd", "x"}),
		"long signature":    rawTar(t, [2]string{ManifestName, goodManifest}, [2]string{SignatureName, sig + "x"}, [2]string{BinaryName, "b"}),
		"huge manifest":     rawTar(t, [2]string{ManifestName, strings.Repeat(" ", maxManifest+1)}, [2]string{SignatureName, sig}, [2]string{BinaryName, "b"}),
		"manifest not json": rawTar(t, [2]string{ManifestName, "{"}, [2]string{SignatureName, sig}, [2]string{BinaryName, "b"}),
		"manifest fields":   rawTar(t, [2]string{ManifestName, `{"version":"2"}`}, [2]string{SignatureName, sig}, [2]string{BinaryName, "b"}),
		"unknown field":     rawTar(t, [2]string{ManifestName, `{"version":"2","arch":"x","sha256":"` + strings.Repeat("0", 64) + `","extra":1}`}, [2]string{SignatureName, sig}, [2]string{BinaryName, "b"}),
	}
}

func TestReadMalformed(t *testing.T) {
	for name, b := range malformed(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := Read(bytes.NewReader(b), 0); !errors.Is(err, ErrFormat) {
				t.Fatalf("Read = %v, want ErrFormat", err)
			}
		})
	}
	// The binary's bound.
	sig := strings.Repeat("s", 64)
	b := rawTar(t, [2]string{ManifestName, goodManifest}, [2]string{SignatureName, sig}, [2]string{BinaryName, "0123456789"})
	if _, err := Read(bytes.NewReader(b), 9); !errors.Is(err, ErrFormat) {
		t.Fatalf("binary over the bound: %v", err)
	}
	if _, err := Read(bytes.NewReader(b), 10); err != nil {
		t.Fatalf("binary at the bound: %v", err)
	}
	// A symlink entry.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: BinaryName, Typeflag: tar.TypeSymlink, Linkname: "/bin/sh"})
	tw.Close()
	if _, err := Read(&buf, 0); !errors.Is(err, ErrFormat) {
		t.Fatalf("symlink: %v", err)
	}
}

func FuzzBundle(f *testing.F) {
	key := testKey(f, 1)
	bin := []byte("binary")
	f.Add(bundleBytes(f, key, bin, NewManifest(bin, "2", "arm64", created)))
	for _, b := range malformed(f) {
		f.Add(b)
	}
	target := Target{Keys: []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, Arch: "arm64", Version: "1"}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Read(bytes.NewReader(data), 1<<20)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("Read error not ErrFormat: %v", err)
			}
			return
		}
		if len(b.Binary) > 1<<20 || len(b.ManifestBytes) > maxManifest || len(b.Signature) > ed25519.SignatureSize {
			t.Fatalf("bounds exceeded: %d %d %d", len(b.Binary), len(b.ManifestBytes), len(b.Signature))
		}
		if err := b.Verify(target); err == nil {
			// Only a bundle signed by key verifies: its manifest must be
			// one we signed, and describe its binary.
			if b.checkBinary() != nil || !ed25519.Verify(target.Keys[0], b.ManifestBytes, b.Signature) {
				t.Fatal("verified a bundle that does not check out")
			}
		}
	})
}
