package fragment

import (
	"bytes"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/mkv"
)

// mkvFile returns a fragment's blob plaintext and the self-contained MKV
// of it that the plaintext archive stores.
func mkvFile(t testing.TB) (blob, file []byte) {
	fr := NewFragmenter(tracksAV(), 0, 0)
	frags := run(fr, session(3*time.Second, 25, 25, true, true))
	p, err := AppendBlob(nil, frags[0])
	if err != nil {
		t.Fatal(err)
	}
	b, err := DecodeBlob(p)
	if err != nil {
		t.Fatal(err)
	}
	file, err = mkv.AppendFragment(nil, &mkv.Fragment{Info: mkv.Info{DateUTC: time.Now()}, Tracks: b.Tracks, Cluster: b.Cluster,
		Tags: []mkv.SimpleTag{{Name: mkv.TagFragmentNumber, Value: "7"}}})
	if err != nil {
		t.Fatal(err)
	}
	return p, file
}

// TestBlobFromMKV: a fragment's MKV file becomes its blob again, byte for
// byte; a damaged one is an error.
func TestBlobFromMKV(t *testing.T) {
	want, file := mkvFile(t)
	got, err := BlobFromMKV(file)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("BlobFromMKV: %d bytes, %v; the blob has %d", len(got), err, len(want))
	}
	for _, bad := range [][]byte{nil, want, file[:len(file)/2]} {
		if _, err := BlobFromMKV(bad); err == nil {
			t.Fatalf("BlobFromMKV accepted %d bytes", len(bad))
		}
	}
}

func FuzzBlobFromMKV(f *testing.F) {
	blob, file := mkvFile(f)
	f.Add(file)
	f.Add(blob)
	f.Add(file[:len(file)/3])
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := BlobFromMKV(in)
		if err != nil {
			return
		}
		if _, err := DecodeBlob(b); err != nil {
			t.Fatalf("BlobFromMKV made a blob DecodeBlob refuses: %v", err)
		}
	})
}
