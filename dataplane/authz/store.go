package authz

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/kinedge/kinedge/firmware/atomicfile"
)

// Sealer seals and opens the user table; fragment/seal's Keyring is one.
type Sealer interface {
	Seal(ctx context.Context, alias, stream string, fragmentNumber uint64, plaintext []byte) (sealed []byte, keyID string, err error)
	Open(ctx context.Context, stream string, fragmentNumber uint64, sealed []byte) ([]byte, error)
}

// sealAlias and sealStream bind the sealed table to its purpose: a
// fragment's blob cannot be passed off as the user table. Both hold a '/',
// which no video stream name has (index/streamname), and video streams
// seal under "video/<alias>" (index.SealAlias): deleting a stream, or its
// retention, never shreds the users' keys.
const (
	sealAlias  = "kinedge/users"
	sealStream = "kinedge/users"
)

// FileName is the table's file in the data dir.
const FileName = "users.sealed"

// Store holds the users: the built-in ones and the stored ones. It is safe
// for concurrent use; it is the only writer of its file.
type Store struct {
	path    string
	sealer  Sealer
	now     func() time.Time
	builtin []User

	mu     sync.RWMutex // guards users; held across the file write of a change
	users  []User
	byKey  map[string]User
	byName map[string]User
}

// Open loads the table at path (none yet is an empty table) and returns the
// store. builtin users are checked against nothing but their names and
// keys being unique; they come first in lookups.
func Open(ctx context.Context, path string, sealer Sealer, now func() time.Time, builtin ...User) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	s := &Store{path: path, sealer: sealer, now: now}
	for _, u := range builtin {
		if u.Name == "" || u.AccessKey == "" {
			continue
		}
		u.Builtin = true
		s.builtin = append(s.builtin, u.withGrants())
	}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("users: %w", err)
	default:
		plain, err := sealer.Open(ctx, sealStream, 0, b)
		if err != nil {
			return nil, fmt.Errorf("users: open %s: %w", path, err)
		}
		if s.users, err = Decode(plain); err != nil {
			return nil, fmt.Errorf("users: %s: %w", path, err)
		}
	}
	s.reindex()
	return s, nil
}

func (s *Store) reindex() {
	s.byKey, s.byName = map[string]User{}, map[string]User{}
	for _, u := range slices.Concat(s.users, s.builtin) { // built-ins win
		s.byKey[u.AccessKey] = u
		s.byName[u.Name] = u
	}
}

// ByAccessKey returns the user of an access key id (with its secret).
func (s *Store) ByAccessKey(key string) (User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.byKey[key]
	return u, ok
}

// ByName returns the user named name (with its secret).
func (s *Store) ByName(name string) (User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.byName[name]
	return u, ok
}

// Users returns every user with its secret, for the verifiers that must
// try each (WHIP's bearer is a secret alone).
func (s *Store) Users() []User {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Concat(s.builtin, s.users)
}

// List returns every user without secrets, built-ins first.
func (s *Store) List() []User {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]User, 0, len(s.builtin)+len(s.users))
	for _, u := range slices.Concat(s.builtin, s.users) {
		out = append(out, u.public())
	}
	return out
}

// Add creates a user with a new access key and secret, and returns it with
// its secret: the only time it is shown.
func (s *Store) Add(ctx context.Context, name string, grants []Grant) (User, error) {
	u := User{Name: name, AccessKey: newAccessKey(), Secret: newSecret(), Grants: slices.Clone(grants), Created: s.now().UTC().Truncate(time.Second)}
	if err := checkUser(u); err != nil {
		return User{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byName[name]; ok {
		return User{}, fmt.Errorf("%w: %q", ErrExists, name)
	}
	if err := s.save(ctx, append(slices.Clone(s.users), u)); err != nil {
		return User{}, err
	}
	return u.withGrants(), nil
}

// Remove deletes a stored user.
func (s *Store) Remove(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, err := s.find(name)
	if err != nil {
		return err
	}
	return s.save(ctx, slices.Delete(slices.Clone(s.users), i, i+1))
}

// Rotate gives a stored user a new access key and secret, returned once;
// the old pair stops working at once.
func (s *Store) Rotate(ctx context.Context, name string) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, err := s.find(name)
	if err != nil {
		return User{}, err
	}
	users := slices.Clone(s.users)
	users[i].AccessKey, users[i].Secret = newAccessKey(), newSecret()
	if err := s.save(ctx, users); err != nil {
		return User{}, err
	}
	return users[i].withGrants(), nil
}

func (s *Store) find(name string) (int, error) {
	if slices.ContainsFunc(s.builtin, func(u User) bool { return u.Name == name }) {
		return 0, fmt.Errorf("%w: %q comes from the configuration (change it there)", ErrBuiltin, name)
	}
	i := slices.IndexFunc(s.users, func(u User) bool { return u.Name == name })
	if i < 0 {
		return 0, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return i, nil
}

// save seals and writes users, then makes them current. s.mu is held.
func (s *Store) save(ctx context.Context, users []User) error {
	plain, err := encode(users)
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	sealed, _, err := s.sealer.Seal(ctx, sealAlias, sealStream, 0, plain)
	clear(plain)
	if err != nil {
		return fmt.Errorf("users: seal: %w", err)
	}
	if err := atomicfile.Write(s.path, sealed, 0o600); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	s.users = users
	s.reindex()
	return nil
}
