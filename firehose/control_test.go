package firehose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestUpdateAppliesToNextBatch: an update needs the current version,
// bumps it, and changes the next batch, not the one fixed (its key, its
// compression); the new definition survives a restart.
func TestUpdateAppliesToNextBatch(t *testing.T) {
	dir := t.TempDir()
	m := &memDest{}
	m.fail.Store(true)
	db := openDB(t, dir)
	e := openEngine(t, db, m, nil)
	ctx := context.Background()
	if _, err := e.Create(ctx, "up", dest("bkt", 1, 0, GZIP)); err != nil {
		t.Fatal(err)
	}
	first := records(5, 50, "one")
	if _, err := e.Put(ctx, "up", first); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "a failed attempt", func() bool { return len(m.attempts()) >= 1 })
	if _, err := e.Update(ctx, "up", 2, func(d *S3Destination) {}); !errors.Is(err, ErrConcurrentModification) {
		t.Fatalf("update of version 2: %v", err)
	}
	if _, err := e.Update(ctx, "up", 1, func(d *S3Destination) { d.Compression = "LZ4" }); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad update: %v", err)
	}
	s, err := e.Update(ctx, "up", 1, func(d *S3Destination) { d.Compression, d.Prefix = Uncompressed, "v2/" })
	if err != nil || s.VersionID != 2 {
		t.Fatalf("update: %+v %v", s, err)
	}
	if _, err := e.Update(ctx, "up", 1, func(d *S3Destination) {}); !errors.Is(err, ErrConcurrentModification) {
		t.Fatalf("stale update: %v", err)
	}
	second := records(5, 50, "two")
	if _, err := e.Put(ctx, "up", second); err != nil {
		t.Fatal(err)
	}
	m.fail.Store(false)
	testtool.WaitFor(t, "two objects", func() bool { return m.count() == 2 && e.Stats().SpoolRecords == 0 })
	for k, body := range m.objects {
		switch {
		case strings.Contains(k, "/up-1-") && strings.HasSuffix(k, ".gz") && !strings.HasPrefix(k, "bkt/v2/"):
			if !bytes.Equal(decompress(t, GZIP, body), bytes.Join(first, nil)) {
				t.Errorf("%s: %q", k, body)
			}
		case strings.HasPrefix(k, "bkt/v2/") && strings.Contains(k, "/up-2-") && !strings.HasSuffix(k, ".gz"):
			if !bytes.Equal(body, bytes.Join(second, nil)) {
				t.Errorf("%s: %q", k, body)
			}
		default:
			t.Errorf("key %q", k)
		}
	}
	e.Close()
	db.Close()
	e2 := openEngine(t, openDB(t, dir), m, nil)
	if s, err := e2.Describe("up"); err != nil || s.VersionID != 2 || s.Destination.Prefix != "v2/" || s.Status != StatusActive {
		t.Fatalf("after restart: %+v %v", s, err)
	}
}

// TestTags: AWS's limits and rules, tag/untag, persistence in the
// definition.
func TestTags(t *testing.T) {
	e := openEngine(t, openDB(t, ""), &memDest{}, nil)
	ctx := context.Background()
	if _, err := e.CreateTagged(ctx, "t", dest("bkt", 1, 60, GZIP), map[string]string{"team": "video", "site": "north gate"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []map[string]string{
		{"aws:reserved": "x"}, {"": "x"}, {strings.Repeat("k", 129): ""}, {"k": strings.Repeat("v", 257)}, {"semi;colon": "x"}, {"k": "a<b"},
	} {
		if err := e.Tag(ctx, "t", bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("tag %q: %v", slices.Collect(maps.Keys(bad)), err)
		}
	}
	if err := e.Tag(ctx, "t", map[string]string{"team": "ops", "ключ": "значение", "a.b:c/d=e+f-g@h%": ""}); err != nil {
		t.Fatal(err)
	}
	keys, tags, err := e.Tags("t")
	if err != nil || !slices.Equal(keys, []string{"a.b:c/d=e+f-g@h%", "site", "team", "ключ"}) || tags["team"] != "ops" {
		t.Fatalf("tags %q %v %v", keys, tags, err)
	}
	many := map[string]string{}
	for i := range 47 {
		many[fmt.Sprint("k", i)] = "v"
	}
	if err := e.Tag(ctx, "t", many); !errors.Is(err, ErrLimitExceeded) {
		t.Fatalf("51 tags: %v", err)
	}
	if err := e.Untag(ctx, "t", []string{"site", "absent"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Tag(ctx, "t", many); err != nil {
		t.Fatalf("50 tags: %v", err)
	}
	if s, _ := e.Describe("t"); s.VersionID != 1 || len(s.Tags) != 50 {
		t.Fatalf("after tagging: version %d, %d tags", s.VersionID, len(s.Tags))
	}
	if _, err := e.CreateTagged(ctx, "u", dest("bkt", 1, 60, GZIP), map[string]string{"aws:x": "y"}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("create with a reserved tag: %v", err)
	}
	if err := e.Tag(ctx, "nope", map[string]string{"a": "b"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("tag unknown: %v", err)
	}
}
