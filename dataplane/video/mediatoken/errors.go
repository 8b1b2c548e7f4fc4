package mediatoken

import "errors"

// Errors of Parse and Verify.
var (
	ErrMalformed = errors.New("mediatoken: malformed token")
	ErrSignature = errors.New("mediatoken: bad signature")
	ErrExpired   = errors.New("mediatoken: token expired")
	ErrScope     = errors.New("mediatoken: token does not cover this request")
	ErrKeySize   = errors.New("mediatoken: wrong key size")
)
