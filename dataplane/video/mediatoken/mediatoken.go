// Package mediatoken mints and verifies the short-lived signed tokens that
// open one stream's media to a URL: the web page's <video> and <img>
// elements and its WHEP client cannot send a session cookie's CSRF header
// or HTTP Basic credentials, so their URLs carry a `token` query parameter
// instead.
//
// A token is two base64url (unpadded) parts joined by a dot: the claims
// and their HMAC-SHA256 under the Signer's key (RFC 2104, RFC 4648 §5).
// The claims are a small JSON object: the stream, the time range the token
// opens (absent: no recorded time, only live view) and the expiry, all in
// Unix milliseconds. A publish token (the web page's /publish, which sends
// it to WHIP as its bearer) is marked so and opens publishing to its
// stream only: no media, and a media token never publishes. The key is random per process unless the caller
// persists one, so a restart invalidates every token; tokens live minutes,
// so that costs a page a new token, nothing more.
//
// The package is a leaf: it imports nothing of the appliance.
package mediatoken

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// DefaultTTL is how long a token lives unless the Signer says otherwise.
const DefaultTTL = 10 * time.Minute

// MaxLen bounds the length of a token Parse reads: a stream name is at
// most 256 bytes, so real tokens are far shorter.
const MaxLen = 1024

// KeySize is the length of a signing key in bytes.
const KeySize = 32

// Claims is what a token grants: Stream's media between Start and End
// (both zero: no recorded time, only live view) until Expires.
type Claims struct {
	Stream  string
	Start   time.Time
	End     time.Time
	Expires time.Time
	// Publish marks a publish token (MintPublish).
	Publish bool
}

// HasRange reports whether the claims open recorded time.
func (c Claims) HasRange() bool { return !c.Start.IsZero() }

// wire is the JSON form of Claims.
type wire struct {
	S string `json:"s"`
	A *int64 `json:"a,omitempty"`
	B *int64 `json:"b,omitempty"`
	E int64  `json:"e"`
	P bool   `json:"p,omitempty"`
}

// Signer mints and verifies tokens with one key.
type Signer struct {
	key []byte
	// TTL is the lifetime of minted tokens. It defaults to DefaultTTL.
	TTL time.Duration
	// Now is the clock. It defaults to time.Now.
	Now func() time.Time
}

// New returns a Signer with key, which must be KeySize bytes.
func New(key []byte) (*Signer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrKeySize, len(key), KeySize)
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

// NewRandom returns a Signer with a fresh random key.
func NewRandom() (*Signer, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("mediatoken: random key: %w", err)
	}
	return New(key)
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Signer) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return DefaultTTL
}

// Mint returns a token for stream between start and end (both zero: live
// view only), valid for the Signer's TTL, and its expiry.
func (s *Signer) Mint(stream string, start, end time.Time) (string, time.Time, error) {
	return s.mint(stream, start, end, false)
}

// MintPublish returns a publish token for stream, valid for the Signer's
// TTL, and its expiry.
func (s *Signer) MintPublish(stream string) (string, time.Time, error) {
	return s.mint(stream, time.Time{}, time.Time{}, true)
}

func (s *Signer) mint(stream string, start, end time.Time, publish bool) (string, time.Time, error) {
	if stream == "" {
		return "", time.Time{}, fmt.Errorf("%w: no stream", ErrMalformed)
	}
	if start.IsZero() != end.IsZero() || (!start.IsZero() && end.Before(start)) {
		return "", time.Time{}, fmt.Errorf("%w: the range needs a start and an end, in order", ErrMalformed)
	}
	exp := s.now().Add(s.ttl()).Truncate(time.Millisecond)
	w := wire{S: stream, E: exp.UnixMilli(), P: publish}
	if !start.IsZero() {
		a, b := start.UnixMilli(), end.UnixMilli()
		if end.Nanosecond()%int(time.Millisecond) != 0 {
			b++ // round the end up, so the range covers what was asked
		}
		w.A, w.B = &a, &b
	}
	payload, err := json.Marshal(w)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("mediatoken: %w", err)
	}
	tok := Seal(s.key, payload)
	if len(tok) > MaxLen {
		return "", time.Time{}, fmt.Errorf("%w: stream name too long", ErrMalformed)
	}
	return tok, exp, nil
}

var b64 = base64.RawURLEncoding

// Seal is the token envelope, shared with the HLS session tokens
// (dataplane/video/hls): the payload and its HMAC-SHA256 under key, each
// base64url without padding, joined by a dot. The payload is readable by
// anyone holding the token; only the key's holder can make one.
func Seal(key, payload []byte) string {
	return b64.EncodeToString(payload) + "." + b64.EncodeToString(mac(key, payload))
}

// Open checks a token's envelope (its length against maxLen, its form,
// its signature under key) and returns the payload. The errors are
// ErrMalformed and ErrSignature, wrapped with what is wrong.
func Open(key []byte, tok string, maxLen int) ([]byte, error) {
	if len(tok) > maxLen {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxLen)
	}
	p, sig, ok := strings.Cut(tok, ".")
	if !ok {
		return nil, fmt.Errorf("%w: no signature", ErrMalformed)
	}
	payload, err := b64.DecodeString(p)
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	got, err := b64.DecodeString(sig)
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	if !hmac.Equal(got, mac(key, payload)) {
		return nil, ErrSignature
	}
	return payload, nil
}

func mac(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	return m.Sum(nil)
}

// Parse checks a token's form and signature and returns its claims. It
// does not check expiry or scope (Verify does).
func (s *Signer) Parse(tok string) (Claims, error) {
	payload, err := Open(s.key, tok, MaxLen)
	if err != nil {
		return Claims{}, err
	}
	var w wire
	if err := json.Unmarshal(payload, &w); err != nil {
		return Claims{}, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	if w.S == "" || w.E <= 0 || (w.A == nil) != (w.B == nil) || (w.A != nil && *w.B < *w.A) || (w.P && w.A != nil) {
		return Claims{}, fmt.Errorf("%w: incomplete claims", ErrMalformed)
	}
	c := Claims{Stream: w.S, Expires: time.UnixMilli(w.E), Publish: w.P}
	if w.A != nil {
		c.Start, c.End = time.UnixMilli(*w.A), time.UnixMilli(*w.B)
	}
	return c, nil
}

// Scope is what a request asks of a token: a stream and, for recorded
// media, the time range it reads (Start == End for one picture). Live
// is set for live view, which any media token of the stream opens.
// Publish is set for publishing, which only a publish token opens.
type Scope struct {
	Stream     string
	Start, End time.Time
	Live       bool
	Publish    bool
}

// Verify parses tok and checks that it has not expired and covers scope.
// The errors are ErrMalformed, ErrSignature, ErrExpired and ErrScope,
// wrapped with what is wrong, in words a user can read.
func (s *Signer) Verify(tok string, scope Scope) (Claims, error) {
	c, err := s.Parse(tok)
	if err != nil {
		return Claims{}, err
	}
	if now := s.now(); !now.Before(c.Expires) {
		return Claims{}, fmt.Errorf("%w at %s", ErrExpired, c.Expires.UTC().Format(time.RFC3339))
	}
	if c.Stream != scope.Stream {
		return Claims{}, fmt.Errorf("%w: it is for stream %q, not %q", ErrScope, c.Stream, scope.Stream)
	}
	switch {
	case scope.Publish && !c.Publish:
		return Claims{}, fmt.Errorf("%w: it is a media token, not a publish token", ErrScope)
	case scope.Publish:
		return c, nil
	case c.Publish:
		return Claims{}, fmt.Errorf("%w: a publish token opens no media", ErrScope)
	}
	if scope.Live {
		return c, nil
	}
	if !c.HasRange() {
		return Claims{}, fmt.Errorf("%w: it opens live view only", ErrScope)
	}
	if scope.Start.IsZero() || scope.End.IsZero() {
		return Claims{}, fmt.Errorf("%w: the request must name its start and end", ErrScope)
	}
	if scope.Start.Before(c.Start) || scope.End.After(c.End) || scope.End.Before(scope.Start) {
		return Claims{}, fmt.Errorf("%w: it opens %s to %s", ErrScope,
			c.Start.UTC().Format(time.RFC3339Nano), c.End.UTC().Format(time.RFC3339Nano))
	}
	return c, nil
}
