// Package indextest builds the synthetic store the benchmarks that need
// a large index share (BenchmarkMillionFragments in dataplane/video/api,
// BenchmarkStartWithMillionFragments in cmd/kinedge): one camera's
// fragments of 2 s, a gap of a minute every 30 minutes, each fragment a
// real sealed blob (H.264, 50 small frames, about 1 KB) written through
// index.PutFragment. Building a million takes minutes, so a store is kept
// in its directory and reused when complete (a marker file holds the time
// of its first fragment).
package indextest

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/ingest/media"
)

// The synthetic store's shape.
const (
	Stream      = "cam1"
	FragmentLen = 2 * time.Second
	Run         = 900 // fragments between gaps: 30 minutes
	Gap         = time.Minute
)

// Master is the master key of the synthetic store: fixed, so that a kept
// store opens in the next run (and `kinedge serve` opens it with
// KINEDGE_MASTER_KEY=MasterHex()).
func Master() seal.MasterKey {
	var m seal.MasterKey
	for i := range m {
		m[i] = byte(i)
	}
	return m
}

// MasterHex is Master in hex, as KINEDGE_MASTER_KEY takes it.
func MasterHex() string {
	m := Master()
	return hex.EncodeToString(m[:])
}

// Time is the server time of fragment i (from 0) after start.
func Time(start time.Time, i int) time.Time {
	return start.Add(time.Duration(i)*FragmentLen + time.Duration(i/Run)*Gap)
}

// DefaultDir is where a store of n fragments is kept unless the caller
// names a directory: kinedge-bench-<n> in the temp dir.
func DefaultDir(n int) string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("kinedge-bench-%d", n))
}

// Open opens the synthetic store of n fragments in dir (its database in
// dir/db), building it first when it is not complete, and returns the
// index (closed at the end of tb), the keyring and the time of the first
// fragment.
func Open(tb testing.TB, n int, dir string) (*index.Index, *seal.Keyring, time.Time) {
	tb.Helper()
	idx, kr, start := open(tb, n, dir)
	tb.Cleanup(func() { idx.Close() })
	return idx, kr, start
}

func open(tb testing.TB, n int, dir string) (*index.Index, *seal.Keyring, time.Time) {
	tb.Helper()
	marker := filepath.Join(dir, "complete")
	stamp, err := os.ReadFile(marker)
	complete := err == nil && len(stamp) == 8
	if !complete {
		if err := os.RemoveAll(dir); err != nil {
			tb.Fatal(err)
		}
	}
	idx, err := index.Open(index.Options{Dir: filepath.Join(dir, "db"), NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	kr := &seal.Keyring{Store: idx.Keys(), Master: Master()}
	if complete {
		start := time.Unix(0, int64(binary.BigEndian.Uint64(stamp)))
		tb.Logf("synthetic store: %d fragments from %v, kept in %s", n, start.Format(time.RFC3339), dir)
		return idx, kr, start
	}
	ctx := context.Background()
	if _, err := idx.CreateStream(ctx, index.Stream{Name: Stream, RetentionHours: 24 * 365 * 2}); err != nil {
		tb.Fatal(err)
	}
	// The store ends an hour ago.
	span := Time(time.Time{}, n).Sub(time.Time{})
	start := time.Now().Add(-span - time.Hour).Truncate(time.Second)
	blob := Blob(tb)
	began := time.Now()
	for i := range n {
		num, err := idx.NextFragmentNumber(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		sealed, keyID, err := kr.Seal(ctx, Stream, Stream, num, blob)
		if err != nil {
			tb.Fatal(err)
		}
		at := Time(start, i)
		err = idx.PutFragment(ctx, index.Fragment{Number: num, Stream: Stream, ServerTime: at, ProducerTime: at,
			Duration: FragmentLen, KeyID: keyID, Frames: 50, Gap: i%Run == 0,
			Tracks: []index.TrackInfo{{Codec: "H264", Kind: "video", Frames: 50, Width: 320, Height: 240}}}, sealed)
		if err != nil {
			tb.Fatal(err)
		}
		if (i+1)%100_000 == 0 {
			tb.Logf("synthetic store: %d fragments in %v", i+1, time.Since(began).Round(time.Second))
		}
	}
	tb.Logf("synthetic store: built %d fragments in %v in %s", n, time.Since(began).Round(time.Second), dir)
	if err := os.WriteFile(marker, binary.BigEndian.AppendUint64(nil, uint64(start.UnixNano())), 0o600); err != nil {
		tb.Fatal(err)
	}
	return idx, kr, start
}

// Build makes sure the synthetic store of n fragments is complete in
// dir, and leaves it closed (for a process of its own to open). It
// returns the time of its first fragment.
func Build(tb testing.TB, n int, dir string) time.Time {
	tb.Helper()
	idx, _, start := open(tb, n, dir)
	if err := idx.Close(); err != nil {
		tb.Fatal(err)
	}
	return start
}

// Blob is the plaintext of every synthetic fragment: 2 s of 25 fps
// H.264, a keyframe with its parameter sets, then small P frames.
func Blob(tb testing.TB) []byte {
	sps := []byte{0x67, 0xf4, 0x00, 0x0d, 0x91, 0x9b, 0x28, 0x28, 0x3f, 0x60, 0x22, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x64, 0x1e, 0x28, 0x53, 0x2c}
	pps := []byte{0x68, 0xeb, 0xe3, 0xc4, 0x48, 0x44}
	nal := func(p ...[]byte) []byte {
		var out []byte
		for _, n := range p {
			out = binary.BigEndian.AppendUint32(out, uint32(len(n)))
			out = append(out, n...)
		}
		return out
	}
	f := &fragment.Fragment{Tracks: []*media.Track{{Codec: media.CodecH264, ClockRate: 90000, SPS: sps, PPS: pps}}}
	for i := range 50 {
		d := time.Duration(i) * 40 * time.Millisecond
		data := nal([]byte{0x41, byte(i), 0x9a, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09})
		if i == 0 {
			data = nal(sps, pps, []byte{0x65, 0x88, 0x84, 0x00, 0x33, 0xff})
		}
		f.Frames = append(f.Frames, &media.Frame{Track: 0, PTS: d, DTS: d, Key: i == 0, Data: data})
	}
	blob, err := fragment.AppendBlob(nil, f)
	if err != nil {
		tb.Fatal(err)
	}
	return blob
}
