package mkv

import (
	"bytes"
	"errors"
	"testing"
)

// TestSplitFile: the Tracks and Cluster that went into AppendFragment come
// back out, byte for byte, with or without a known Segment size; what is
// not such a file is an error.
func TestSplitFile(t *testing.T) {
	tracksEl, err := AppendTracks(nil, testTracks(t))
	if err != nil {
		t.Fatal(err)
	}
	c := buildCluster(t, 1000, []testBlock{{1, 0, true, []byte{0, 0, 0, 1, 0x65}}, {3, 10, true, []byte{1, 2}}})
	for _, unknown := range []bool{false, true} {
		file, err := AppendFragment(nil, &Fragment{Info: Info{Title: "t"}, Tracks: tracksEl, Cluster: c,
			Tags: []SimpleTag{{TagFragmentNumber, "1"}}, UnknownSize: unknown})
		if err != nil {
			t.Fatal(err)
		}
		tr, cl, err := SplitFile(file)
		if err != nil || !bytes.Equal(tr, tracksEl) || !bytes.Equal(cl, c) {
			t.Fatalf("unknown size %v: tracks %d bytes (want %d), cluster %d bytes (want %d), %v", unknown, len(tr), len(tracksEl), len(cl), len(c), err)
		}
		at := bytes.Index(file, c)
		if _, _, err := SplitFile(file[:at+len(c)/2]); err == nil {
			t.Fatalf("unknown size %v: a file cut in its cluster split", unknown)
		}
	}
	for name, in := range map[string][]byte{
		"empty":      nil,
		"no header":  c,
		"no segment": AppendEBMLHeader(nil),
		"no cluster": append(AppendSegmentStart(AppendEBMLHeader(nil)), tracksEl...),
	} {
		if _, _, err := SplitFile(in); !errors.Is(err, ErrNotMatroska) && !errors.Is(err, ErrInvalidVint) && !errors.Is(err, ErrOverflow) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzSplitFile: any input splits or fails cleanly, and what it returns
// lies within the input and is an element of the right ID.
func FuzzSplitFile(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		tr, cl, err := SplitFile(in)
		if err != nil {
			return
		}
		if len(tr) < 4 || len(cl) < 4 || len(tr)+len(cl) > len(in) {
			t.Fatalf("split %d bytes into %d and %d", len(in), len(tr), len(cl))
		}
		if id, _ := parseID(tr); id != idTracks {
			t.Fatalf("tracks element has ID %#x", id)
		}
		if id, _ := parseID(cl); id != idCluster {
			t.Fatalf("cluster element has ID %#x", id)
		}
	})
}
