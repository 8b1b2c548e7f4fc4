package testdata

import (
	"bytes"
	"os"
	"testing"
)

func TestEmbeddedClipsMatchFiles(t *testing.T) {
	tests := []struct {
		name string
		get  func() []byte
	}{
		{NameH264AAC, H264AAC},
		{NameH265Opus, H265Opus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			onDisk, err := os.ReadFile(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			got := tt.get()
			if !bytes.Equal(got, onDisk) {
				t.Fatalf("embedded %s (%d bytes) differs from the file (%d bytes)", tt.name, len(got), len(onDisk))
			}
			// MPEG-TS: 188-byte packets, each starting with the sync byte 0x47.
			if len(got) == 0 || len(got)%188 != 0 || got[0] != 0x47 {
				t.Fatalf("%s is not MPEG-TS", tt.name)
			}
			// A copy: changing it must not change the next one.
			got[0] = 0
			if tt.get()[0] != 0x47 {
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
