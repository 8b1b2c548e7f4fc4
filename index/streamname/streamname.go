// Package streamname is the one name rule of kinedge's video streams,
// shared by every door a name comes in through: RTSP ANNOUNCE and pulled
// cameras (ingest), the KVS control plane and the plain REST API
// (dataplane/video), and the index, which refuses to store anything else.
// Checking at the door lets each protocol answer in its own terms (RTSP 400
// Bad Request, KVS InvalidArgumentException, HTTP 400) instead of failing
// later inside the index with a 500.
//
// The rule is KVS's StreamName: 1 to 256 characters of [a-zA-Z0-9_.-]. It
// leaves out '/' (RTSP paths and REST routes would be ambiguous), spaces,
// '%' and everything outside ASCII, so a name is the same string in a URL,
// a log line, an archive key and a file name.
//
// The package is a leaf: it imports nothing of the appliance.
package streamname

import (
	"errors"
	"fmt"
)

// MaxLen is the longest name, in bytes (KVS StreamName).
const MaxLen = 256

// Rule is the rule in words, for error messages to people.
const Rule = "a video stream name is 1 to 256 characters of a-z, A-Z, 0-9, '_', '.' and '-'"

// ErrInvalid is the class of the errors Check returns.
var ErrInvalid = errors.New("streamname: invalid video stream name")

// Valid reports whether name follows the rule.
func Valid(name string) bool {
	return len(name) >= 1 && len(name) <= MaxLen && ValidChars(name)
}

// ValidChars reports whether every byte of s is one of [a-zA-Z0-9_.-]
// (KVS's pattern for names, whatever their length limit).
func ValidChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}

// Check returns nil for a valid name, else an error wrapping ErrInvalid
// that quotes the name and states the rule.
func Check(name string) error {
	if Valid(name) {
		return nil
	}
	return fmt.Errorf("%w %q: %s", ErrInvalid, name, Rule)
}
