package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"sync"
	"time"
)

// Session defaults.
const (
	DefaultSessionTTL  = 12 * time.Hour
	DefaultMaxSessions = 64
)

// Session is a logged-in browser.
type Session struct {
	// ID is the cookie's value: 32 random bytes, base64url.
	ID string
	// CSRF is the per-session token the page sends in the X-CSRF-Token
	// header (or the csrf form field) with every request that changes
	// something.
	CSRF    string
	Created time.Time
	Expires time.Time
	// AccessKey is the access key id of the user who logged in: Guard
	// checks that user's permissions (and a removed or rotated user's
	// sessions end).
	AccessKey string
}

// setUser records who logged in to session id and returns the session.
func (s *Sessions) setUser(id, accessKey string) Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.byID[id]
	if sess == nil {
		return Session{ID: id}
	}
	sess.AccessKey = accessKey
	return *sess
}

// Sessions is the server-side session table: bounded in size (the oldest
// session is dropped to make room) and with expiry. It is safe for
// concurrent use.
type Sessions struct {
	// TTL is a session's lifetime from login. It defaults to
	// DefaultSessionTTL.
	TTL time.Duration
	// Max bounds the table. It defaults to DefaultMaxSessions.
	Max int
	// Now is the clock. It defaults to time.Now.
	Now func() time.Time

	mu   sync.Mutex
	byID map[string]*Session
}

func (s *Sessions) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// New creates a session.
func (s *Sessions) New() (Session, error) {
	id, err := randomString()
	if err != nil {
		return Session{}, err
	}
	csrf, err := randomString()
	if err != nil {
		return Session{}, err
	}
	now := s.now()
	ttl := s.TTL
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	max := s.Max
	if max <= 0 {
		max = DefaultMaxSessions
	}
	sess := &Session{ID: id, CSRF: csrf, Created: now, Expires: now.Add(ttl)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID == nil {
		s.byID = make(map[string]*Session)
	}
	s.expireLocked(now)
	for len(s.byID) >= max {
		var oldest *Session
		for _, o := range s.byID {
			if oldest == nil || o.Created.Before(oldest.Created) {
				oldest = o
			}
		}
		delete(s.byID, oldest.ID)
	}
	s.byID[id] = sess
	return *sess, nil
}

// Get returns the live session with id.
func (s *Sessions) Get(id string) (Session, bool) {
	if id == "" {
		return Session{}, false
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.byID[id]
	if !ok {
		return Session{}, false
	}
	if !now.Before(sess.Expires) {
		delete(s.byID, id)
		return Session{}, false
	}
	return *sess, true
}

// Delete ends the session with id.
func (s *Sessions) Delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, id)
}

// Len returns the number of sessions held (live or not yet swept).
func (s *Sessions) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

func (s *Sessions) expireLocked(now time.Time) {
	for id, sess := range s.byID {
		if !now.Before(sess.Expires) {
			delete(s.byID, id)
		}
	}
}

func randomString() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("web: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
