package testdata

import (
	"bytes"
	"os"
	"testing"
)

func TestEmbeddedClipsMatchFiles(t *testing.T) {
	for _, name := range Names() {
		get := func() []byte {
			b, ok := Clip(name)
			if !ok {
				t.Fatalf("Clip(%s) not found", name)
			}
			return b
		}
		t.Run(name, func(t *testing.T) {
			onDisk, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			got := get()
			if !bytes.Equal(got, onDisk) {
				t.Fatalf("embedded %s (%d bytes) differs from the file (%d bytes)", name, len(got), len(onDisk))
			}
			// MPEG-TS: 188-byte packets, each starting with the sync byte 0x47.
			if len(got) == 0 || len(got)%188 != 0 || got[0] != 0x47 {
				t.Fatalf("%s is not MPEG-TS", name)
			}
			// A copy: changing it must not change the next one.
			got[0] = 0
			if get()[0] != 0x47 {
				t.Fatal("Clip returned the embedded bytes, not a copy")
			}
		})
	}
	if _, ok := Clip("nope.ts"); ok {
		t.Fatal("Clip(nope.ts) = ok")
	}
	if len(Names()) != 2 {
		t.Fatalf("Names() = %v", Names())
	}
}
