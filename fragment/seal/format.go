package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
)

// Sealed blob layout, version 1 (see the package doc):
//
//	offset  size  field
//	0       1     version = 1 (AES-256-GCM, random 96-bit nonce)
//	1       1     n, length of the key id (1..MaxKeyIDLen)
//	2       n     key id, bytes of [0-9A-Za-z._-]
//	2+n     12    nonce
//	14+n    ...   ciphertext, then the 16-byte GCM tag
const (
	// VersionAESGCM is the only sealed-blob and wrapped-key version so far:
	// AES-256-GCM with a random 96-bit nonce.
	VersionAESGCM byte = 1
	// MaxKeyIDLen is the longest key id a sealed blob can carry.
	MaxKeyIDLen = 64

	nonceSize = 12 // NIST SP 800-38D, section 8.2.2 (RBG-based nonces)
	tagSize   = 16
	// wrappedLen is the size of a wrapped data key.
	wrappedLen = 1 + nonceSize + MasterKeySize + tagSize

	sealAADLabel = "kinedge/seal/v1\x00"
	wrapAADLabel = "kinedge/wrap/v1\x00"
)

// validKeyID reports whether id can be carried in a sealed blob.
func validKeyID(id string) bool {
	if len(id) == 0 || len(id) > MaxKeyIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// sealedHeader returns the blob header (version, key id length, key id).
func sealedHeader(keyID string) []byte {
	h := make([]byte, 0, 2+len(keyID))
	h = append(h, VersionAESGCM, byte(len(keyID)))
	return append(h, keyID...)
}

// parseSealed splits a sealed blob into its header (version, id length, key
// id), key id and the nonce‖ciphertext‖tag remainder. It checks the
// structure only; authenticity is GCM's job.
func parseSealed(b []byte) (header []byte, keyID string, body []byte, err error) {
	if len(b) < 2 {
		return nil, "", nil, fmt.Errorf("%w: %d bytes, shorter than a header", ErrMalformed, len(b))
	}
	if b[0] != VersionAESGCM {
		return nil, "", nil, fmt.Errorf("%w: unknown version %d", ErrMalformed, b[0])
	}
	n := int(b[1])
	if n == 0 || n > MaxKeyIDLen {
		return nil, "", nil, fmt.Errorf("%w: key id length %d", ErrMalformed, n)
	}
	if len(b) < 2+n+nonceSize+tagSize {
		return nil, "", nil, fmt.Errorf("%w: %d bytes, shorter than header, nonce and tag", ErrMalformed, len(b))
	}
	keyID = string(b[2 : 2+n])
	if !validKeyID(keyID) {
		return nil, "", nil, fmt.Errorf("%w: key id has bytes outside [0-9A-Za-z._-]", ErrMalformed)
	}
	return b[:2+n], keyID, b[2+n:], nil
}

// sealAAD is the additional authenticated data of a fragment: a label, the
// blob header (so the version and key id are bound), the stream name and the
// fragment number. A blob moved to another stream or fragment number, or
// relabelled with another key id, fails to open.
func sealAAD(header []byte, stream string, fragmentNumber uint64) []byte {
	aad := make([]byte, 0, len(sealAADLabel)+len(header)+4+len(stream)+8)
	aad = append(aad, sealAADLabel...)
	aad = append(aad, header...)
	aad = binary.BigEndian.AppendUint32(aad, uint32(len(stream)))
	aad = append(aad, stream...)
	return binary.BigEndian.AppendUint64(aad, fragmentNumber)
}

// wrapAAD binds a wrapped data key to its key id and alias.
func wrapAAD(keyID, alias string) []byte {
	aad := make([]byte, 0, len(wrapAADLabel)+1+len(keyID)+4+len(alias))
	aad = append(aad, wrapAADLabel...)
	aad = append(aad, VersionAESGCM, byte(len(keyID)))
	aad = append(aad, keyID...)
	aad = binary.BigEndian.AppendUint32(aad, uint32(len(alias)))
	return append(aad, alias...)
}

// newAEAD returns AES-256-GCM with random nonces prepended to the
// ciphertext (nonce‖ciphertext‖tag), as in both formats.
func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(block)
}

// wrapKey encrypts a data key under the master key:
// version(1) ‖ nonce(12) ‖ AES-256-GCM(dataKey)(32) ‖ tag(16),
// with AAD = label ‖ version ‖ len(id) ‖ id ‖ len(alias) ‖ alias.
func wrapKey(master MasterKey, keyID, alias string, dataKey []byte) ([]byte, error) {
	aead, err := newAEAD(master[:])
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1, wrappedLen)
	out[0] = VersionAESGCM
	return aead.Seal(out, nil, dataKey, wrapAAD(keyID, alias)), nil
}

// unwrapKey reverses wrapKey.
func unwrapKey(master MasterKey, keyID, alias string, wrapped []byte) ([]byte, error) {
	if len(wrapped) != wrappedLen {
		return nil, fmt.Errorf("%w: wrapped key is %d bytes, want %d", ErrMalformed, len(wrapped), wrappedLen)
	}
	if wrapped[0] != VersionAESGCM {
		return nil, fmt.Errorf("%w: wrapped key version %d", ErrMalformed, wrapped[0])
	}
	aead, err := newAEAD(master[:])
	if err != nil {
		return nil, err
	}
	key, err := aead.Open(nil, nil, wrapped[1:], wrapAAD(keyID, alias))
	if err != nil {
		return nil, ErrAuthentication
	}
	return key, nil
}
