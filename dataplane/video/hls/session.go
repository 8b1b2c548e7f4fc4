package hls

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kinedge/kinedge/dataplane/video/mediatoken"
)

// Playback modes (KVS HLSPlaybackMode).
const (
	// Live plays the newest fragments; the playlist slides as new ones are
	// stored.
	Live = "LIVE"
	// LiveReplay plays from a start time on, then follows new fragments.
	LiveReplay = "LIVE_REPLAY"
	// OnDemand plays a closed range (the playlist ends).
	OnDemand = "ON_DEMAND"
)

// MaxTokenLen bounds the tokens Verify reads: a session names a stream of
// at most 256 characters, so real tokens are far shorter.
const MaxTokenLen = 2048

// KeySize is the length of a Signer's key in bytes.
const KeySize = 32

// Session is what an HLS session token opens.
type Session struct {
	// Stream is the stream's name.
	Stream string `json:"s"`
	// StreamARN tells a stream from a later one of the same name.
	StreamARN string `json:"r,omitempty"`
	// Mode is Live, LiveReplay or OnDemand.
	Mode string `json:"m"`
	// Producer selects fragments by producer time instead of server time.
	Producer bool `json:"p,omitempty"`
	// Start and End bound the fragments (End zero: open).
	Start time.Time `json:"a"`
	End   time.Time `json:"b"`
	// Origin is the zero of the session's fMP4 timeline.
	Origin time.Time `json:"o"`
	// MaxResults is the most segments in a media playlist.
	MaxResults int `json:"n"`
	// ShowTime writes EXT-X-PROGRAM-DATE-TIME (DisplayFragmentTimestamp
	// ALWAYS).
	ShowTime bool `json:"t,omitempty"`
	// Discontinuity is the KVS DiscontinuityMode: ALWAYS, NEVER or
	// ON_DISCONTINUITY.
	Discontinuity string `json:"d"`
	// PlayableAudio leaves out audio tracks HLS does not carry (G.711,
	// PCM) instead of refusing the stream as KVS does: the web page's
	// live view, which wants the picture of a camera that sends G.711.
	PlayableAudio bool `json:"q,omitempty"`
	// TS serves MPEG-TS segments instead of fMP4 (KVS ContainerFormat
	// MPEG_TS).
	TS bool `json:"f,omitempty"`
	// DASH makes a DASH session (KVS GetDASHStreamingSessionURL): its
	// manifest is an MPD, and its segments are the fMP4 ones of HLS.
	DASH bool `json:"k,omitempty"`
	// ShowNumber writes each segment's fragment number in a DASH
	// manifest (DisplayFragmentNumber ALWAYS).
	ShowNumber bool `json:"u,omitempty"`
	// Created is when the session began (a LIVE_REPLAY playlist runs
	// ahead of the playback time since).
	Created time.Time `json:"c"`
	// Expires is when the token stops opening the session.
	Expires time.Time `json:"e"`
}

// Signer mints and verifies session tokens with one key.
type Signer struct {
	key []byte
	// Now is the clock. It defaults to time.Now.
	Now func() time.Time
}

// NewSigner returns a Signer with key, which must be KeySize bytes.
func NewSigner(key []byte) (*Signer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrKeySize, len(key), KeySize)
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

// NewRandomSigner returns a Signer with a fresh random key.
func NewRandomSigner() (*Signer, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("hls: random key: %w", err)
	}
	return NewSigner(key)
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Mint returns the token of session.
func (s *Signer) Mint(session Session) (string, error) {
	payload, err := json.Marshal(session)
	if err != nil {
		return "", fmt.Errorf("hls: token: %w", err)
	}
	tok := mediatoken.Seal(s.key, payload)
	if len(tok) > MaxTokenLen {
		return "", fmt.Errorf("%w: %d bytes", ErrTokenInvalid, len(tok))
	}
	return tok, nil
}

// Verify returns the session of a token the Signer minted, or
// ErrTokenInvalid (malformed, too long, another key's) or ErrTokenExpired.
func (s *Signer) Verify(token string) (Session, error) {
	return s.VerifyAt(token, s.now())
}

// VerifyAt is Verify at time now (a caller with its own clock).
func (s *Signer) VerifyAt(token string, now time.Time) (Session, error) {
	payload, err := mediatoken.Open(s.key, token, MaxTokenLen)
	if err != nil {
		return Session{}, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	var out Session
	if err := json.Unmarshal(payload, &out); err != nil {
		return Session{}, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	if !now.Before(out.Expires) {
		return Session{}, fmt.Errorf("%w at %s", ErrTokenExpired, out.Expires.UTC().Format(time.RFC3339))
	}
	return out, nil
}
