package authz

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Action is what a grant allows.
type Action string

// The actions.
const (
	Admin      Action = "admin"
	Publish    Action = "publish"
	Read       Action = "read"
	PutRecords Action = "put-records"
	GetRecords Action = "get-records"
	Firehose   Action = "firehose"
)

// Actions lists every action, in the order of the documentation.
var Actions = []Action{Admin, Publish, Read, PutRecords, GetRecords, Firehose}

// Errors of the package.
var (
	ErrInvalid  = errors.New("authz: invalid")
	ErrNotFound = errors.New("authz: no such user")
	ErrExists   = errors.New("authz: user exists")
	ErrBuiltin  = errors.New("authz: built-in user")
	ErrCorrupt  = errors.New("authz: users table is corrupt")
)

// Grant allows Action on the streams whose names match Streams (a
// path.Match pattern).
type Grant struct {
	Action  Action `json:"action"`
	Streams string `json:"streams"`
}

// String is action:pattern, the CLI's form.
func (g Grant) String() string { return string(g.Action) + ":" + g.Streams }

// ParseGrant parses action:pattern (a bare action means all streams).
func ParseGrant(s string) (Grant, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		p = "*"
	}
	g := Grant{Action: Action(a), Streams: p}
	return g, g.check()
}

func (g Grant) check() error {
	if !slices.Contains(Actions, g.Action) {
		return fmt.Errorf("%w: unknown action %q (one of admin, publish, read, put-records, get-records, firehose)", ErrInvalid, g.Action)
	}
	if g.Streams == "" || len(g.Streams) > 256 {
		return fmt.Errorf("%w: grant %s: empty or too long stream pattern", ErrInvalid, g.Action)
	}
	if _, err := path.Match(g.Streams, ""); err != nil {
		return fmt.Errorf("%w: grant %s: stream pattern %q: %v", ErrInvalid, g.Action, g.Streams, err)
	}
	return nil
}

// User is a principal. Secret is empty in what List returns.
type User struct {
	Name      string    `json:"name"`
	AccessKey string    `json:"access_key"`
	Secret    string    `json:"secret,omitempty"`
	Grants    []Grant   `json:"grants"`
	Created   time.Time `json:"created"`
	Builtin   bool      `json:"builtin,omitempty"`
}

// Can reports whether u may do a on stream ("" for acts on no stream,
// which only the pattern "*" covers). admin covers every action.
func (u User) Can(a Action, stream string) bool { return u.can(a, stream, true) }

// Granted is Can without admin's cover: whether u holds a grant of a
// itself (WHIP takes a secret as a bearer only from such users: an admin
// key is not a camera's password).
func (u User) Granted(a Action, stream string) bool { return u.can(a, stream, false) }

func (u User) can(a Action, stream string, admin bool) bool {
	for _, g := range u.Grants {
		if g.Action != a && !(admin && g.Action == Admin) {
			continue
		}
		if g.Streams == "*" {
			return true
		}
		if stream == "" {
			continue
		}
		if ok, _ := path.Match(g.Streams, stream); ok {
			return true
		}
	}
	return false
}

// SecretEqual compares a presented secret with u's in constant time.
func (u User) SecretEqual(secret string) bool {
	return u.Secret != "" && subtle.ConstantTimeCompare([]byte(u.Secret), []byte(secret)) == 1
}

// String and LogValue never show the secret.
func (u User) String() string       { return "User(" + u.Name + ", " + u.AccessKey + ")" }
func (u User) LogValue() slog.Value { return slog.StringValue(u.String()) }
func (u User) GoString() string     { return u.String() }
func (u User) public() User         { u.Secret = ""; u.Grants = slices.Clone(u.Grants); return u }
func (u User) withGrants() User     { u.Grants = slices.Clone(u.Grants); return u }

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$`)

// CheckName checks a user name: 1 to 64 of letters, digits, '.', '_', '-'.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: user name %q: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, name)
	}
	return nil
}

// table is the stored form (before sealing).
type table struct {
	Version int    `json:"version"`
	Users   []User `json:"users"`
}

// Decode parses a user table (the plaintext of the sealed file) and checks
// every field: names, keys, secrets, grants, uniqueness.
func Decode(b []byte) ([]User, error) {
	var t table
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if t.Version != 1 {
		return nil, fmt.Errorf("%w: version %d, want 1", ErrCorrupt, t.Version)
	}
	names, keys := map[string]bool{}, map[string]bool{}
	for _, u := range t.Users {
		if err := checkUser(u); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		if names[u.Name] || keys[u.AccessKey] {
			return nil, fmt.Errorf("%w: user %q or its access key appears twice", ErrCorrupt, u.Name)
		}
		names[u.Name], keys[u.AccessKey] = true, true
	}
	return t.Users, nil
}

func checkUser(u User) error {
	if err := CheckName(u.Name); err != nil {
		return err
	}
	if len(u.AccessKey) < 16 || len(u.AccessKey) > 128 || len(u.Secret) < 16 || len(u.Secret) > 128 || u.Builtin {
		return fmt.Errorf("%w: user %q: bad access key or secret", ErrInvalid, u.Name)
	}
	for _, g := range u.Grants {
		if err := g.check(); err != nil {
			return err
		}
	}
	return nil
}

// encode is Decode's inverse.
func encode(users []User) ([]byte, error) {
	return json.Marshal(table{Version: 1, Users: users})
}

func newAccessKey() string { return "AKIA" + rand.Text()[:16] }
func newSecret() string    { return (rand.Text() + rand.Text())[:40] }

// CanSome reports whether u may do a on at least one stream.
func (u User) CanSome(a Action) bool {
	for _, g := range u.Grants {
		if g.Action == a || g.Action == Admin {
			return true
		}
	}
	return false
}
