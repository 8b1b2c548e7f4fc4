package store

import (
	"errors"
	"strings"
)

// Errors returned by the package, wrapped with context; test for them with
// errors.Is.
var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("store: closed")
	// ErrFull is returned for a write the storage budget refuses: the
	// budget is reached and the policy is DENY_NEW_MEDIA, or nothing is
	// left to evict, or the filesystem lacks the room the database needs
	// to work safely. The message says which and by how much. Writers
	// retry later or report it to their peer (RTSP 503, AWS
	// ServiceUnavailable); nothing already stored is touched.
	ErrFull = errors.New("store: storage full")
	// ErrReadOnly is returned for a write while the database is open
	// read-only, which happens when it was started on a disk too full to
	// open it for writing. The store reopens it for writing by itself
	// once there is room.
	ErrReadOnly = errors.New("store: read-only until disk space is back")
	// ErrOutsidePrefix is returned for a write to a key outside the
	// writer's Space: a programming error.
	ErrOutsidePrefix = errors.New("store: key outside the space's prefix")
	// ErrPrefixTaken is returned by Space for a prefix that overlaps one
	// already handed out.
	ErrPrefixTaken = errors.New("store: prefix overlaps another space")
	// ErrNothingToEvict is returned by an Evictor that has no media left
	// to remove.
	ErrNothingToEvict = errors.New("store: nothing to evict")
	// ErrInvalidOptions is returned by Open when Options are not usable;
	// the message lists every problem found.
	ErrInvalidOptions = errors.New("store: invalid options")
)

// Reason returns the words a peer should get for a write refused with
// ErrFull or ErrReadOnly, without the Go package prefixes of the wrapping
// errors: "storage full: 1.2 GiB used of a 1.2 GiB budget".
func Reason(err error) string {
	s := err.Error()
	for _, marker := range []string{ErrFull.Error(), ErrReadOnly.Error()} {
		if i := strings.LastIndex(s, marker); i >= 0 {
			return strings.TrimPrefix(s[i:], "store: ")
		}
	}
	return s
}
