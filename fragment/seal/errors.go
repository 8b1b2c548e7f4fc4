package seal

import "errors"

// Errors returned by the package. They are wrapped with context (key id,
// stream name, fragment number, file path); test for them with errors.Is.
var (
	// ErrAuthentication is returned when AES-GCM refuses to open a sealed
	// blob or a wrapped data key: the bytes were altered, the blob was
	// stored under another stream or fragment number, or it was sealed
	// with another key.
	ErrAuthentication = errors.New("seal: authentication failed: blob altered, swapped or sealed with another key")
	// ErrKeyNotFound is returned when a key id is not in the KeyStore.
	// KeyStore implementations return it (wrapped or not) from GetKey.
	ErrKeyNotFound = errors.New("seal: key not found")
	// ErrKeyDestroyed is returned when a key id names a data key that was
	// destroyed on purpose (crypto-shredding: its stream was deleted, or
	// retention expired everything it sealed). KeyStore implementations
	// return it, wrapped with the key id and the reason, from GetKey.
	ErrKeyDestroyed = errors.New("seal: data key destroyed")
	// ErrBadMasterKey is returned for a master key that cannot be used: a
	// wrong size or encoding, an unsafe key file, or a master key that is
	// not the one the stored data keys were wrapped with.
	ErrBadMasterKey = errors.New("seal: bad master key")
	// ErrMalformed is returned for a sealed blob or a wrapped key whose
	// header is short, garbled or of an unknown version.
	ErrMalformed = errors.New("seal: malformed sealed data")
	// ErrInvalidConfig is returned by Keyring.Initialize (and by the first
	// Seal or Open) when the Keyring's fields are not usable.
	ErrInvalidConfig = errors.New("seal: invalid keyring configuration")
	// ErrEmptyName is returned by Seal and Open for an empty stream name
	// and by Rotate for an empty alias.
	ErrEmptyName = errors.New("seal: empty stream name or alias")
)
