package authz

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kinedge/kinedge/fragment/seal"
)

func newSealer() *seal.Keyring {
	return &seal.Keyring{Store: &seal.MemKeyStore{}, Master: seal.NewMasterKey()}
}

func TestCan(t *testing.T) {
	u := User{Grants: []Grant{{Publish, "cam*"}, {Read, "door"}}}
	for _, c := range []struct {
		a      Action
		stream string
		want   bool
	}{
		{Publish, "cam1", true}, {Publish, "door", false}, {Read, "door", true}, {Read, "cam1", false},
		{PutRecords, "cam1", false}, {Admin, "", false}, {Publish, "", false},
	} {
		if got := u.Can(c.a, c.stream); got != c.want {
			t.Errorf("Can(%s, %q) = %v, want %v", c.a, c.stream, got, c.want)
		}
	}
	admin := User{Grants: []Grant{{Admin, "*"}}}
	if !admin.Can(Admin, "") || !admin.Can(PutRecords, "x") {
		t.Error("admin on * must cover everything")
	}
}

func TestStoreLifecycle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	sealer := newSealer()
	builtin := User{Name: "admin", AccessKey: "AKIAADMIN", Secret: "adminsecret", Grants: []Grant{{Admin, "*"}}}
	s, err := Open(ctx, path, sealer, nil, builtin)
	if err != nil {
		t.Fatal(err)
	}
	u, err := s.Add(ctx, "cam1", []Grant{{Publish, "cam1"}})
	if err != nil {
		t.Fatal(err)
	}
	if u.Secret == "" || u.AccessKey == "" {
		t.Fatalf("Add returned no secret: %+v", u)
	}
	if _, err := s.Add(ctx, "cam1", nil); !errors.Is(err, ErrExists) {
		t.Fatalf("second Add: %v, want ErrExists", err)
	}
	if _, err := s.Add(ctx, "bad name", nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Add bad name: %v, want ErrInvalid", err)
	}
	if _, err := s.Add(ctx, "x", []Grant{{"fly", "*"}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Add bad action: %v, want ErrInvalid", err)
	}
	for _, l := range s.List() {
		if l.Secret != "" {
			t.Fatalf("List shows a secret: %+v", l)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(u.Secret)) || bytes.Contains(raw, []byte("cam1")) {
		t.Fatal("the users file holds plaintext")
	}
	// A second store on the same file and key sees the user.
	s2, err := Open(ctx, path, sealer, nil, builtin)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := s2.ByAccessKey(u.AccessKey)
	if !ok || got.Secret != u.Secret || !got.Can(Publish, "cam1") {
		t.Fatalf("reopened: %+v %v", got, ok)
	}
	// Another master key cannot open it.
	if _, err := Open(ctx, path, newSealer(), nil); err == nil {
		t.Fatal("opened with another master key")
	}
	r, err := s.Rotate(ctx, "cam1")
	if err != nil {
		t.Fatal(err)
	}
	if r.Secret == u.Secret || r.AccessKey == u.AccessKey {
		t.Fatal("Rotate kept the key")
	}
	if _, ok := s.ByAccessKey(u.AccessKey); ok {
		t.Fatal("old key still works after Rotate")
	}
	if err := s.Remove(ctx, "admin"); !errors.Is(err, ErrBuiltin) {
		t.Fatalf("Remove builtin: %v", err)
	}
	if err := s.Remove(ctx, "cam1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "cam1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Remove twice: %v", err)
	}
	if _, ok := s.ByAccessKey(r.AccessKey); ok {
		t.Fatal("removed user still known")
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := encode([]User{{Name: "cam1", AccessKey: "AKIAAAAAAAAAAAAAAAAA", Secret: "0123456789abcdef0123", Grants: []Grant{{Publish, "cam*"}}}})
	f.Add(good)
	f.Add([]byte(`{"version":1,"users":[]}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"users":[{"name":"a","grants":[{"action":"admin","streams":"["}]}]}`))
	f.Add([]byte(`nul`))
	f.Fuzz(func(t *testing.T, b []byte) {
		users, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error not ErrCorrupt: %v", err)
			}
			return
		}
		// What decodes re-encodes to a table that decodes the same.
		b2, err := encode(users)
		if err != nil {
			t.Fatal(err)
		}
		users2, err := Decode(b2)
		if err != nil || len(users2) != len(users) {
			t.Fatalf("round trip: %v", err)
		}
		for _, u := range users {
			if checkUser(u) != nil {
				t.Fatalf("decoded an invalid user %q", u.Name)
			}
		}
	})
}
