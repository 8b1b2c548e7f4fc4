// Package update is the format and the verification of kinedge's signed
// update bundles, and the swap-restart-check-rollback sequence that
// installs one. It imports nothing of the application: the restart (systemd
// on a board, a child process in tests) and the health check are injected.
//
// A bundle is a POSIX tar holding exactly three regular files, in any
// order:
//
//	kinedge        the new binary
//	manifest.json  {"version", "arch", "sha256", "created"}
//	manifest.sig   the raw 64-byte ed25519 signature over manifest.json's bytes
//
// The signature covers the manifest, and the manifest covers the binary by
// its SHA-256, so one signature over a few hundred bytes vouches for the
// whole bundle. Verify checks, in this order: the signature against any of
// the configured public keys, the binary's SHA-256, the architecture
// (runtime.GOARCH, with the GOARM level for arm: "armv6", "armv7"; an
// armv6 build is accepted on armv7 too), and that the version differs from
// the running one (reinstalling the same version is refused; a downgrade is
// allowed, it is how an operator goes back on purpose).
//
// A bundle is untrusted input until verified: Read bounds every size
// (entries, manifest, signature, binary) before it allocates, refuses
// duplicate, unknown and non-regular entries, and never uses a name from
// the tar as a path.
//
// Keys: the private key file holds the 64-byte ed25519 private key in
// standard base64 on one line (mode 0600); the public key is the 32-byte
// key in standard base64, the form of the config key update.public_key
// (several, comma-separated, to roll keys over).
//
// Install (Apply) writes the new binary next to the target as
// <target>.new and syncs it, hard-links the running binary to
// <target>.previous (replacing an older one), renames .new over the
// target and syncs the directory: a power cut leaves the old binary or the
// new one at the target, never a torn one. It then restarts the service and
// polls the health check until it reports the new version or the deadline
// passes; then it renames .previous back over the target, restarts again,
// waits for the old version, and returns ErrRolledBack.
package update
