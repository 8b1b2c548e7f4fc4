package seal

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/kinedge/kinedge/firmware/atomicfile"
)

// MasterKeySize is the size of a master key and of a data key: 256 bits.
const MasterKeySize = 32

// MasterKeyEnv is the environment variable that overrides the master key
// file. The caller reads it and passes its value to LoadOrCreateMasterKey.
const MasterKeyEnv = "KINEDGE_MASTER_KEY"

// MasterKeyFile is the name of the master key file in the data directory.
const MasterKeyFile = "master.key"

// checkValueLabel is the HMAC message whose tag is the key check value.
const checkValueLabel = "kinedge seal master key check value v1"

// MasterKey is the 256-bit key that wraps (encrypts) every data key. It
// never leaves memory: the data keys are stored wrapped by it.
//
// Its String, GoString and LogValue methods print only the key check value,
// so a MasterKey that ends up in a log line or an error does not leak.
type MasterKey [MasterKeySize]byte

// ParseMasterKey decodes a master key given as 64 hex digits or as base64
// (standard or URL alphabet, padded or not) of 32 bytes. Surrounding white
// space is ignored. The error never contains the input.
func ParseMasterKey(s string) (MasterKey, error) {
	var m MasterKey
	s = strings.TrimSpace(s)
	var b []byte
	if len(s) == hex.EncodedLen(MasterKeySize) {
		if d, err := hex.DecodeString(s); err == nil {
			b = d
		}
	}
	if b == nil {
		for _, enc := range []*base64.Encoding{
			base64.StdEncoding, base64.RawStdEncoding,
			base64.URLEncoding, base64.RawURLEncoding,
		} {
			if d, err := enc.DecodeString(s); err == nil {
				b = d
				break
			}
		}
	}
	if b == nil {
		return m, fmt.Errorf("%w: not 64 hex digits nor base64 (%d characters)", ErrBadMasterKey, len(s))
	}
	if len(b) != MasterKeySize {
		return m, fmt.Errorf("%w: decodes to %d bytes, want %d", ErrBadMasterKey, len(b), MasterKeySize)
	}
	copy(m[:], b)
	clear(b)
	if m.IsZero() {
		return MasterKey{}, fmt.Errorf("%w: all zero", ErrBadMasterKey)
	}
	return m, nil
}

// NewMasterKey returns a master key read from crypto/rand.
func NewMasterKey() MasterKey {
	var m MasterKey
	_, _ = rand.Read(m[:]) // crypto/rand.Read never fails (it aborts the program instead).
	return m
}

// IsZero reports whether m is the zero value (no key).
func (m MasterKey) IsZero() bool {
	var zero MasterKey
	return subtle.ConstantTimeCompare(m[:], zero[:]) == 1
}

// CheckValue returns the key check value of m: the first 8 bytes, in hex,
// of HMAC-SHA-256 keyed by m over a fixed label. It identifies a master key
// in logs and in stored key records without revealing it.
func (m MasterKey) CheckValue() string {
	h := hmac.New(sha256.New, m[:])
	h.Write([]byte(checkValueLabel))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// String returns "MasterKey(check=<check value>)".
func (m MasterKey) String() string { return "MasterKey(check=" + m.CheckValue() + ")" }

// GoString is String: %#v must not print the key either.
func (m MasterKey) GoString() string { return m.String() }

// LogValue implements slog.LogValuer with the check value.
func (m MasterKey) LogValue() slog.Value { return slog.StringValue(m.String()) }

// LoadOrCreateMasterKey returns the appliance's master key.
//
// If env (the value of KINEDGE_MASTER_KEY) is not empty it is parsed with
// ParseMasterKey and the file is not touched. Otherwise the file at path
// (normally <data-dir>/master.key) is read: it must be a regular file of
// exactly 32 bytes with no group or other permission bits (0600 or
// stricter). If it does not exist, a new crypto-random key is written there
// atomically (temporary file 0600, fsync, link into place, fsync of the
// directory) and created is true. When two processes race to create it, one
// wins and both return the winner's key.
//
// Errors wrap ErrBadMasterKey for a key that is present but unusable.
func LoadOrCreateMasterKey(path string, env string) (key MasterKey, created bool, err error) {
	if env != "" {
		m, err := ParseMasterKey(env)
		if err != nil {
			return MasterKey{}, false, fmt.Errorf("%s: %w", MasterKeyEnv, err)
		}
		return m, false, nil
	}
	m, err := readMasterKeyFile(path)
	if err == nil {
		return m, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return MasterKey{}, false, err
	}
	m, won, err := createMasterKeyFile(path)
	if err != nil {
		return MasterKey{}, false, err
	}
	if !won {
		m, err = readMasterKeyFile(path)
		if err != nil {
			return MasterKey{}, false, err
		}
	}
	return m, won, nil
}

// readMasterKeyFile reads and checks an existing master key file.
func readMasterKeyFile(path string) (MasterKey, error) {
	var m MasterKey
	// Refuse a FIFO or device before opening it: opening a FIFO blocks.
	// Symbolic links are followed (a key on a secrets mount is fine).
	if fi, err := os.Stat(path); err != nil {
		return m, fmt.Errorf("master key file: %w", err)
	} else if !fi.Mode().IsRegular() {
		return m, fmt.Errorf("%w: %s is not a regular file (%s)", ErrBadMasterKey, path, fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return m, fmt.Errorf("master key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat() // the opened file, not the path: no check-then-use race
	if err != nil {
		return m, fmt.Errorf("master key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return m, fmt.Errorf("%w: %s is not a regular file (%s)", ErrBadMasterKey, path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return m, fmt.Errorf("%w: %s has mode %04o: group and other permission bits must be clear (chmod 600 %s)",
			ErrBadMasterKey, path, perm, path)
	}
	buf := make([]byte, MasterKeySize+1)
	n, err := io.ReadFull(f, buf)
	defer clear(buf)
	switch {
	case err == nil:
		return m, fmt.Errorf("%w: %s is longer than %d bytes", ErrBadMasterKey, path, MasterKeySize)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		if n != MasterKeySize {
			return m, fmt.Errorf("%w: %s is %d bytes, want %d", ErrBadMasterKey, path, n, MasterKeySize)
		}
	default:
		return m, fmt.Errorf("master key file: %w", err)
	}
	copy(m[:], buf)
	if m.IsZero() {
		return MasterKey{}, fmt.Errorf("%w: %s is all zero", ErrBadMasterKey, path)
	}
	return m, nil
}

// createMasterKeyFile writes a new random key at path unless a file appears
// there first; won is false when another writer created it.
func createMasterKeyFile(path string) (m MasterKey, won bool, err error) {
	m = NewMasterKey()
	won, err = atomicfile.Create(path, m[:], 0o600)
	if err != nil {
		return MasterKey{}, false, fmt.Errorf("master key file: %w", err)
	}
	if !won {
		return MasterKey{}, false, nil
	}
	return m, true, nil
}
