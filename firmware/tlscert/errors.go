package tlscert

import "errors"

var (
	// ErrNoCertificate is a certificate file without a PEM CERTIFICATE
	// block.
	ErrNoCertificate = errors.New("tlscert: no PEM certificate in file")
	// ErrKeyMismatch is a key file whose key is not the certificate's.
	ErrKeyMismatch = errors.New("tlscert: key does not match certificate")
)
