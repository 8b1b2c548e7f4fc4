package mkv

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// resyncStream is a live stream of three clusters (timecodes 0, 1000,
// 2000) of two blocks each; it returns the stream and each cluster's
// offset.
func resyncStream(t testing.TB) ([]byte, []int) {
	t.Helper()
	b := AppendEBMLHeader(nil)
	b = AppendSegmentStart(b)
	b = AppendInfo(b, Info{})
	b, err := AppendTracks(b, []Track{{Number: 1, Type: TrackVideo, CodecID: CodecVP8}})
	if err != nil {
		t.Fatal(err)
	}
	var offs []int
	for _, tc := range []uint64{0, 1000, 2000} {
		offs = append(offs, len(b))
		start := len(b)
		b = AppendClusterStart(b, tc)
		for i := range 2 {
			if b, err = AppendSimpleBlock(b, 1, int64(i*40), i == 0, []byte{1, 2, 3, 4}); err != nil {
				t.Fatal(err)
			}
		}
		if err := FinishCluster(b[start:]); err != nil {
			t.Fatal(err)
		}
	}
	return b, offs
}

// readResyncing reads everything, resyncing after each error, and returns
// the cluster timecodes and block count seen and the errors met.
func readResyncing(t *testing.T, in []byte) (clusters []uint64, blocks, errs int) {
	t.Helper()
	r := NewReader(bytes.NewReader(in), ReaderOptions{})
	for n := 0; n < 10000; n++ {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return clusters, blocks, errs
		}
		if err != nil {
			errs++
			if _, err := r.Resync(); err != nil {
				if errors.Is(err, io.EOF) {
					return clusters, blocks, errs
				}
				t.Fatalf("Resync: %v", err)
			}
			continue
		}
		switch ev := ev.(type) {
		case ClusterStart:
			clusters = append(clusters, ev.Timecode)
		case Block:
			blocks++
		}
	}
	t.Fatal("no end")
	return
}

func TestResyncSkipsABrokenCluster(t *testing.T) {
	good, offs := resyncStream(t)
	if c, b, e := readResyncing(t, good); len(c) != 3 || b != 6 || e != 0 {
		t.Fatalf("clean stream: clusters %v blocks %d errors %d", c, b, e)
	}
	// The second cluster's first SimpleBlock gets an invalid ID.
	broken := bytes.Clone(good)
	broken[offs[1]+ClusterTimecodeOffset+8] = 0
	c, b, e := readResyncing(t, broken)
	if len(c) != 3 || c[2] != 2000 || b != 4 || e != 1 {
		t.Fatalf("broken cluster: clusters %v blocks %d errors %d; want [0 1000 2000], 4 blocks, 1 error", c, b, e)
	}
	// The second cluster's size overflows the stream: its parse runs into
	// the third cluster, which Resync must still find.
	broken = bytes.Clone(good)
	broken[offs[1]+5] = 0x01 // 8-byte size 0x01_01000000_xxxx: past the stream
	c, _, e = readResyncing(t, broken)
	if len(c) < 2 || c[len(c)-1] != 2000 || e == 0 {
		t.Fatalf("oversized cluster: clusters %v errors %d; want to end with 2000 after an error", c, e)
	}
	// Garbage at the end: the stream ends cleanly after the resync.
	c, b, e = readResyncing(t, append(bytes.Clone(good), 0x00, 0x00, 0x1F, 0x43))
	if len(c) != 3 || b != 6 || e != 1 {
		t.Fatalf("garbage tail: clusters %v blocks %d errors %d", c, b, e)
	}
}

func TestResyncRefusesWhatItCannotRecover(t *testing.T) {
	good, _ := resyncStream(t)
	for name, in := range map[string][]byte{
		"not matroska": []byte("hello world"),
		"cut":          good[:len(good)-3],
	} {
		r := NewReader(bytes.NewReader(in), ReaderOptions{})
		var err error
		for err == nil {
			_, err = r.Next()
		}
		if _, rerr := r.Resync(); !errors.Is(rerr, ErrNoResync) {
			t.Errorf("%s: Next %v, Resync %v; want ErrNoResync", name, err, rerr)
		}
	}
}

// FuzzReaderResync reads arbitrary input resyncing after every error: it
// must end (progress on every Resync) without panicking.
func FuzzReaderResync(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	good, offs := resyncStream(f)
	f.Add(good)
	broken := bytes.Clone(good)
	broken[offs[1]+ClusterTimecodeOffset+8] = 0
	f.Add(broken)
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), ReaderOptions{MaxElementSize: 1 << 20})
		for n := 0; ; n++ {
			if n > 4*len(in)+16 {
				t.Fatalf("no end after %d events", n)
			}
			_, err := r.Next()
			if err == nil {
				continue
			}
			if errors.Is(err, io.EOF) {
				return
			}
			if _, err := r.Resync(); err != nil {
				return
			}
		}
	})
}
