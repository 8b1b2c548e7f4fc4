package index

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/seal"
)

// TestDeleteStreamShredsKeys: deleting a stream destroys its data keys
// (every key of its alias, current and retired), so a copy of its sealed
// blob no longer opens and the error says why; other streams' keys stay;
// the keyring hears the ids and seals a re-created stream with a new key.
func TestDeleteStreamShredsKeys(t *testing.T) {
	forModes(t, func(t *testing.T, x *Index, clk *fakeClock) {
		ctx := context.Background()
		k := &seal.Keyring{Store: x.Keys(), Master: seal.NewMasterKey(), Now: clk.Now}
		var heard []string
		x.OnKeysDestroyed(func(ids ...string) {
			heard = append(heard, ids...)
			k.Forget(ids...)
		})
		mustStream(t, x, "cam1", 24)
		mustStream(t, x, "cam2", 24)
		blob1, id1, err := k.Seal(ctx, "", "cam1", 1, []byte("frame one"))
		if err != nil {
			t.Fatal(err)
		}
		id1b, err := k.Rotate(ctx, "cam1") // a retired key and a current one
		if err != nil {
			t.Fatal(err)
		}
		blob2, _, err := k.Seal(ctx, "", "cam2", 2, []byte("frame two"))
		if err != nil {
			t.Fatal(err)
		}
		if err := x.DeleteStream(ctx, "cam1"); err != nil {
			t.Fatal(err)
		}
		slices.Sort(heard)
		want := []string{id1, id1b}
		slices.Sort(want)
		if !slices.Equal(heard, want) {
			t.Fatalf("keys destroyed = %v, want %v", heard, want)
		}
		for _, kr := range []*seal.Keyring{k, {Store: x.Keys(), Master: k.Master}} {
			_, err := kr.Open(ctx, "cam1", 1, blob1)
			if !errors.Is(err, seal.ErrKeyDestroyed) || !strings.Contains(err.Error(), "data key "+id1+" was destroyed: stream cam1 deleted") {
				t.Fatalf("open a blob of the deleted stream: %v, want ErrKeyDestroyed naming the deletion", err)
			}
			if _, err := kr.Open(ctx, "cam2", 2, blob2); err != nil {
				t.Fatalf("another stream's blob: %v", err)
			}
		}
		mustStream(t, x, "cam1", 24)
		_, id, err := k.Seal(ctx, "", "cam1", 3, []byte("frame three"))
		if err != nil {
			t.Fatalf("seal for the re-created stream: %v", err)
		}
		if id == id1 || id == id1b {
			t.Fatalf("the re-created stream was sealed with destroyed key %s", id)
		}
	})
}

// TestRetentionShredsKeys: a data key whose successor was created before
// the stream's retention cutoff is destroyed by GC (what it sealed has
// expired); the current key and keys still covering retained fragments
// stay, and another stream with a longer retention keeps its keys.
func TestRetentionShredsKeys(t *testing.T) {
	forModes(t, func(t *testing.T, x *Index, clk *fakeClock) {
		ctx := context.Background()
		k := &seal.Keyring{Store: x.Keys(), Master: seal.NewMasterKey(), Now: clk.Now, Rotation: time.Hour}
		var heard []string
		x.OnKeysDestroyed(func(ids ...string) { heard = append(heard, ids...); k.Forget(ids...) })
		mustStream(t, x, "short", 2)
		mustStream(t, x, "long", 24)
		type sealed struct {
			stream, id string
			blob       []byte
			n          uint64
		}
		var all []sealed
		for h := range 5 { // a key per hour per stream
			for _, s := range []string{"short", "long"} {
				n := uint64(len(all) + 1)
				blob, id, err := k.Seal(ctx, "", s, n, []byte("frame"))
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, sealed{s, id, blob, n})
			}
			if h < 4 {
				clk.Advance(time.Hour)
			}
		}
		// now = t0+4h; short keeps 2 h, its cutoff less the margin is just
		// before t0+2h: only the key of t0 has its successor (t0+1h) before
		// it; the key of t0+1h sealed until t0+2h, which is retained.
		// An archive that has uploaded nothing holds every key.
		x.SetEvictionHold(func() time.Time { return time.Time{} })
		rep, err := x.RunGC(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.KeysShredded != 0 {
			t.Fatalf("GC shredded %d keys the archive still needs", rep.KeysShredded)
		}
		x.SetEvictionHold(func() time.Time { return clk.Now() })
		rep, err = x.RunGC(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.KeysShredded != 1 || len(heard) != 1 || heard[0] != all[0].id {
			t.Fatalf("KeysShredded = %d, heard %v, want only the first key of short (%s)", rep.KeysShredded, heard, all[0].id)
		}
		fresh := &seal.Keyring{Store: x.Keys(), Master: k.Master}
		for i, s := range all {
			_, err := fresh.Open(ctx, s.stream, s.n, s.blob)
			if i == 0 {
				if !errors.Is(err, seal.ErrKeyDestroyed) || !strings.Contains(err.Error(), "retention of stream short") {
					t.Fatalf("open the expired key's blob: %v, want ErrKeyDestroyed naming retention", err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("open %s #%d: %v", s.stream, s.n, err)
			}
		}
		clk.Advance(10 * time.Hour) // everything of short but its current key
		rep, err = x.RunGC(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.KeysShredded != 3 {
			t.Fatalf("second GC shredded %d keys, want 3 (all of short but its current key)", rep.KeysShredded)
		}
		if _, err := fresh.Open(ctx, "short", all[8].n, all[8].blob); err != nil {
			t.Fatalf("the current key of short was destroyed: %v", err)
		}
	})
}

// TestDeleteStreamSharedKeyAlias: streams sharing a KmsKeyId share data
// keys; deleting one keeps them (the other's fragments need them), and
// deleting the last one destroys them.
func TestDeleteStreamSharedKeyAlias(t *testing.T) {
	forModes(t, func(t *testing.T, x *Index, clk *fakeClock) {
		ctx := context.Background()
		k := &seal.Keyring{Store: x.Keys(), Master: seal.NewMasterKey(), Now: clk.Now}
		x.OnKeysDestroyed(k.Forget)
		for _, name := range []string{"s1", "s2"} {
			if _, err := x.CreateStream(ctx, Stream{Name: name, KeyAlias: "site", RetentionHours: 24, MediaType: "video/h264"}); err != nil {
				t.Fatal(err)
			}
		}
		blob1, id, err := k.Seal(ctx, "site", "s1", 1, []byte("one"))
		if err != nil {
			t.Fatal(err)
		}
		blob2, _, err := k.Seal(ctx, "site", "s2", 2, []byte("two"))
		if err != nil {
			t.Fatal(err)
		}
		if err := x.DeleteStream(ctx, "s1"); err != nil {
			t.Fatal(err)
		}
		fresh := &seal.Keyring{Store: x.Keys(), Master: k.Master}
		if _, err := fresh.Open(ctx, "s2", 2, blob2); err != nil {
			t.Fatalf("s2's blob after deleting s1 (shared key): %v", err)
		}
		if err := x.DeleteStream(ctx, "s2"); err != nil {
			t.Fatal(err)
		}
		for n, blob := range map[uint64][]byte{1: blob1, 2: blob2} {
			stream := map[uint64]string{1: "s1", 2: "s2"}[n]
			_, err := (&seal.Keyring{Store: x.Keys(), Master: k.Master}).Open(ctx, stream, n, blob)
			if !errors.Is(err, seal.ErrKeyDestroyed) || !strings.Contains(err.Error(), "data key "+id+" was destroyed: stream s2 deleted") {
				t.Fatalf("open %s after the last stream of the alias was deleted: %v", stream, err)
			}
		}
	})
}

// TestDeleteStreamShredsOnlyVideoKeys: the key store is shared — the
// Kinesis engine seals under a stream's KeyId, Firehose under
// "firehose/<name>", the users table under "kinedge/users" — and a video
// stream's KmsKeyId or name may spell one of those. Deleting it destroys
// its video line (SealAlias) and nothing of theirs.
func TestDeleteStreamShredsOnlyVideoKeys(t *testing.T) {
	forModes(t, func(t *testing.T, x *Index, clk *fakeClock) {
		ctx := context.Background()
		k := &seal.Keyring{Store: x.Keys(), Master: seal.NewMasterKey(), Now: clk.Now}
		var heard []string
		x.OnKeysDestroyed(func(ids ...string) { heard = append(heard, ids...) })
		for _, st := range []Stream{
			{Name: "users", RetentionHours: 24},
			{Name: "cam1", KeyAlias: "alias/aws/kinesis", RetentionHours: 24},
		} {
			if _, err := x.CreateStream(ctx, st); err != nil {
				t.Fatal(err)
			}
		}
		var video []string
		for _, st := range []struct{ alias, name string }{{"", "users"}, {"alias/aws/kinesis", "cam1"}} {
			_, id, err := k.Seal(ctx, SealAlias(st.alias, st.name), st.name, 1, []byte("frame"))
			if err != nil {
				t.Fatal(err)
			}
			video = append(video, id)
		}
		others := map[string][]byte{}
		for _, alias := range []string{"kinedge/users", "alias/aws/kinesis", "firehose/logs"} {
			blob, _, err := k.Seal(ctx, alias, alias, 1, []byte("not video"))
			if err != nil {
				t.Fatal(err)
			}
			others[alias] = blob
		}
		for _, name := range []string{"users", "cam1"} {
			if err := x.DeleteStream(ctx, name); err != nil {
				t.Fatal(err)
			}
		}
		slices.Sort(heard)
		slices.Sort(video)
		if !slices.Equal(heard, video) {
			t.Fatalf("keys destroyed = %v, want only the video lines' %v", heard, video)
		}
		for alias, blob := range others {
			if _, err := k.Open(ctx, alias, 1, blob); err != nil {
				t.Errorf("%s: %v after deleting video streams named like it", alias, err)
			}
		}
	})
}
