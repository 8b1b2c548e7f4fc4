package hls

import "errors"

// Errors of the hls package.
var (
	// ErrTokenInvalid is returned by Verify for a token that is malformed,
	// too long, or not signed by the Signer's key.
	ErrTokenInvalid = errors.New("hls: invalid session token")
	// ErrTokenExpired is returned by Verify for a well-signed token past
	// its expiry.
	ErrTokenExpired = errors.New("hls: session token expired")
	// ErrKeySize is returned by NewSigner for a key of the wrong length.
	ErrKeySize = errors.New("hls: signing key size")
)
