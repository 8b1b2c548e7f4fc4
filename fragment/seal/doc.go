// Package seal is kinedge's envelope encryption ("KMS-style"): every
// fragment is encrypted with AES-256-GCM under a data key, data keys are
// wrapped (encrypted) by one 256-bit master key, stored wrapped, named by a
// key id and rotated. Plain keys never touch the disk.
//
// # Master key
//
// The master key comes from KINEDGE_MASTER_KEY (64 hex digits or base64 of
// 32 bytes), from a file on separate media, or from <data-dir>/master.key, 32 raw bytes that
// LoadOrCreateMasterKey creates from crypto/rand on first start, 0600,
// atomically (temporary file, fsync, link into place, fsync of the
// directory). A key file readable by group or others, or of the wrong size,
// is refused. Back the file up: without it the video cannot be read. The
// master key is identified in logs and in stored key records by its key
// check value, the first 8 bytes of HMAC-SHA-256(master, label) in hex,
// which reveals nothing about it.
//
// # Data keys and aliases
//
// The Keyring generates a 256-bit data key per alias. An alias names a key
// line, like the KmsKeyId of a Kinesis Video stream: streams sharing an
// alias share its data keys, and the default alias of a stream is its own
// name (per-stream data keys). The current key of an alias seals new
// fragments until it is Rotation old (1 h by default) or Rotate is called;
// then a new key is generated, persisted wrapped in the KeyStore before its
// first use, and the previous one is marked retired. Retired keys still
// open what they sealed. Unwrapped keys live only in memory, in a bounded
// LRU cache plus the current key of each alias.
//
// # Formats
//
// A wrapped data key is (AES-256-GCM, NIST SP 800-38D, under the master key):
//
//	version(1)=1 ‖ nonce(12) ‖ ciphertext(32) ‖ tag(16)
//	AAD = "kinedge/wrap/v1\x00" ‖ version ‖ len(id)(1) ‖ id ‖ len(alias)(4, big endian) ‖ alias
//
// A sealed fragment is (AES-256-GCM under the data key):
//
//	version(1)=1 ‖ len(id)(1) ‖ id ‖ nonce(12) ‖ ciphertext ‖ tag(16)
//	AAD = "kinedge/seal/v1\x00" ‖ version ‖ len(id) ‖ id ‖ len(stream)(4, big endian) ‖ stream ‖ fragment number(8, big endian)
//
// so a blob stored under another stream or fragment number, relabelled with
// another key id, or altered anywhere, fails to open with ErrAuthentication
// (or ErrMalformed when its header does not parse, or ErrKeyNotFound when an
// altered key id names no key). The overhead is 2 + 16 + 12 + 16 = 46
// bytes per fragment with the 16-character key ids the Keyring makes.
//
// # Nonces
//
// Each seal draws a fresh random 96-bit nonce (cipher.NewGCMWithRandomNonce).
// NIST SP 800-38D section 8.3 bounds random nonces to 2^32 messages per key;
// a key rotated hourly seals about 1 800 fragments of 2 s per stream, so
// even hundreds of streams sharing an alias stay many orders of magnitude
// below the bound. Go uses the AES and PMULL instructions of arm64 (and
// AES-NI on amd64) automatically; boards without them (the Raspberry Pi 4's
// Cortex-A72 lacks the crypto extensions) run Go's constant-time software
// AES, which is slower, see BenchmarkSeal.
//
// # Master key rotation
//
// RotateMaster replaces the master key file by a new key and re-wraps every
// stored data key under it without touching a sealed blob, in durable
// steps that survive a kill at any point (the new key at <file>.new, the
// data keys re-wrapped one transaction each, the old key kept as
// <file>.retired-<check>, then an atomic rename); calling it again finishes
// an interrupted rotation. LoadMasterKeys returns the pending and retired
// keys next to a file, and a Keyring given them as Retired unwraps the
// data keys they wrapped, so an appliance starts whatever step a rotation
// stopped at. RetireMaster deletes a retired key once no stored data key
// needs it. The whole protocol and what to back up are in docs/keys.md.
//
// # Crypto-shredding
//
// KeyStore.DestroyKey deletes a data key for good and keeps a tombstone
// saying why, so Open of a blob it sealed fails with ErrKeyDestroyed
// ("data key <id> was destroyed: stream cam1 deleted …") instead of a bare
// "not found". The index destroys keys (a deleted stream's, expired
// ones); a Keyring told of them (Forget) drops its cached copies and makes
// a new current key. Data keys rotate by time (Rotation), so a
// key covers one period of one alias and retention can destroy it once the
// period has expired (index).
//
// # Storage seam
//
// KeyStore is the small interface the keyring needs; MemKeyStore implements
// it in memory and the index package implements it on Badger. Both must pass
// sealtest.TestKeyStoreContract.
package seal
