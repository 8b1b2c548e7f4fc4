package seal_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kinedge/kinedge/fragment/seal"
)

// A keyring seals a fragment for its stream and fragment number; the blob
// opens only for the same pair.
func ExampleKeyring() {
	dataDir, err := os.MkdirTemp("", "kinedge-seal-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dataDir)

	// A real main passes os.Getenv(seal.MasterKeyEnv) as the second argument.
	master, created, err := seal.LoadOrCreateMasterKey(filepath.Join(dataDir, seal.MasterKeyFile), "")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("master key created:", created)

	ctx := context.Background()
	k := &seal.Keyring{Store: &seal.MemKeyStore{}, Master: master}
	sealed, keyID, err := k.Seal(ctx, "", "front-door", 1001, []byte("an MKV cluster"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("sealed with a data key:", keyID != "" && len(sealed) > len("an MKV cluster"))

	plain, err := k.Open(ctx, "front-door", 1001, sealed)
	fmt.Printf("%s %v\n", plain, err)

	_, err = k.Open(ctx, "back-door", 1001, sealed)
	fmt.Println(errors.Is(err, seal.ErrAuthentication))
	// Output:
	// master key created: true
	// sealed with a data key: true
	// an MKV cluster <nil>
	// true
}
