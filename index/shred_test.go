package index

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

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
