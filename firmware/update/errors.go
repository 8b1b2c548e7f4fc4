package update

import "errors"

// Errors of Read and Verify: the bundle is refused and nothing was
// touched.
var (
	// ErrFormat: the bytes are not a well-formed bundle (not a tar, an
	// entry missing, duplicated, unknown, too big, or a bad manifest).
	ErrFormat = errors.New("update: malformed bundle")
	// ErrSignature: no configured public key verifies manifest.sig.
	ErrSignature = errors.New("update: bad signature")
	// ErrChecksum: the binary's SHA-256 is not the manifest's.
	ErrChecksum = errors.New("update: binary does not match the manifest's sha256")
	// ErrArch: the bundle is built for another architecture.
	ErrArch = errors.New("update: wrong architecture")
	// ErrSameVersion: the bundle's version is the running one.
	ErrSameVersion = errors.New("update: version already installed")
	// ErrNoKey: no public key is configured (update.public_key).
	ErrNoKey = errors.New("update: no public key configured (update.public_key)")
)

// ErrRolledBack is returned by Apply when the new version did not become
// healthy in time and the previous binary was put back.
var ErrRolledBack = errors.New("update: new version not healthy in time, rolled back")
