package replay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/ingest/media"
)

// memStore keeps stored fragments in memory: the sink side of a recorder
// and the Store side of replay.
type memStore struct {
	mu    sync.Mutex
	n     uint64
	frags []*storedFragment
}

// storedFragment is a fragment's record and its sealed blob.
type storedFragment struct {
	index.Fragment
	Blob []byte
}

func (m *memStore) NextFragmentNumber(context.Context) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	return m.n, nil
}

func (m *memStore) PutFragment(_ context.Context, f index.Fragment, sealed []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.frags = append(m.frags, &storedFragment{Fragment: f, Blob: sealed})
	return nil
}

func (m *memStore) Blob(_ context.Context, n uint64) ([]byte, error) {
	for _, f := range m.frags {
		if f.Number == n {
			return append([]byte(nil), f.Blob...), nil
		}
	}
	return nil, errors.New("not found")
}

func (m *memStore) seq(from int) iter.Seq2[Fragment, error] {
	return func(yield func(Fragment, error) bool) {
		for _, f := range m.frags[from:] {
			var codecs []string
			for _, t := range f.Tracks {
				codecs = append(codecs, t.Codec)
			}
			if !yield(Fragment{Number: f.Number, ServerTime: f.ServerTime, ProducerTime: f.ProducerTime, Duration: f.Duration, Codecs: codecs}, nil) {
				return
			}
		}
	}
}

var (
	sps = []byte{0x67, 0xf4, 0x00, 0x0d, 0x91, 0x9b, 0x28, 0x28, 0x3f, 0x60, 0x22, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x64, 0x1e, 0x28, 0x53, 0x2c}
	pps = []byte{0x68, 0xeb, 0xe3, 0xc4, 0x48, 0x44}
)

func avcc(nalus ...[]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = append(b, byte(len(n)>>24), byte(len(n)>>16), byte(len(n)>>8), byte(len(n)))
		b = append(b, n...)
	}
	return b
}

// record runs 10 s of 25 fps video with 1 s GOPs through a recorder with a
// real keyring and returns the store and the keyring.
func record(t *testing.T) (*memStore, *seal.Keyring, time.Time) {
	t.Helper()
	store := &memStore{}
	kr := &seal.Keyring{Store: &seal.MemKeyStore{}, Master: seal.NewMasterKey()}
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	now := base
	r := &fragment.Recorder{
		Stream: "cam1",
		Tracks: []*media.Track{{Codec: media.CodecH264, ClockRate: 90000}},
		Sink:   store, Sealer: kr, Now: func() time.Time { return now },
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 250; i++ {
		ts := time.Duration(i) * 40 * time.Millisecond
		now = base.Add(ts)
		data := avcc([]byte{0x41, byte(i), 0xaa})
		if i%25 == 0 {
			data = avcc(sps, pps, []byte{0x65, byte(i), 0xbb})
		}
		r.WriteFrame(&media.Frame{PTS: ts, DTS: ts, Key: i%25 == 0, Data: data})
	}
	r.Close()
	if len(store.frags) != 5 {
		t.Fatalf("recorded %d fragments, want 5", len(store.frags))
	}
	return store, kr, base
}

func TestWriteMKVContinuous(t *testing.T) {
	store, kr, base := record(t)
	src := Source{Store: store, Opener: kr}
	var out bytes.Buffer
	st, err := src.WriteMKV(context.Background(), &out, "cam1", "cam1", store.seq(1))
	if err != nil {
		t.Fatal(err)
	}
	if st.Fragments != 4 || st.Bytes != int64(out.Len()) {
		t.Fatalf("stats %+v, wrote %d bytes", st, out.Len())
	}
	r := mkv.NewReader(&out, mkv.ReaderOptions{})
	var clusters []uint64
	var blocks, keys int
	var date time.Time
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch e := ev.(type) {
		case mkv.SegmentInfo:
			date = e.DateUTC
		case mkv.ClusterStart:
			clusters = append(clusters, e.Timecode)
		case mkv.Block:
			blocks++
			if e.Key {
				keys++
			}
		}
	}
	if want := []uint64{0, 2000, 4000, 6000}; len(clusters) != 4 || clusters[1] != want[1] || clusters[3] != want[3] {
		t.Fatalf("cluster timecodes %v, want %v", clusters, want)
	}
	if blocks != 200 || keys != 8 {
		t.Fatalf("%d blocks (%d keys), want 200 (8)", blocks, keys)
	}
	if !date.Equal(base.Add(2 * time.Second)) {
		t.Fatalf("DateUTC %v, want %v", date, base.Add(2*time.Second))
	}
}

func TestWriteMKVErrors(t *testing.T) {
	store, kr, _ := record(t)
	src := Source{Store: store, Opener: kr}
	empty := func(yield func(Fragment, error) bool) {}
	if _, err := src.WriteMKV(context.Background(), io.Discard, "cam1", "", empty); !errors.Is(err, ErrNoFragments) {
		t.Fatalf("empty range: %v", err)
	}
	// A blob presented as another stream's fails authentication.
	if _, err := src.WriteMKV(context.Background(), io.Discard, "cam2", "", store.seq(0)); !errors.Is(err, seal.ErrAuthentication) {
		t.Fatalf("wrong stream: %v", err)
	}
	// A flipped byte fails authentication, and nothing of it is written.
	store.frags[0].Blob[len(store.frags[0].Blob)/2] ^= 1
	var out bytes.Buffer
	if _, err := src.WriteMKV(context.Background(), &out, "cam1", "", store.seq(0)); !errors.Is(err, seal.ErrAuthentication) || out.Len() != 0 {
		t.Fatalf("altered blob: %v, %d bytes written", err, out.Len())
	}
}

func TestAppendFragmentMKV(t *testing.T) {
	store, kr, _ := record(t)
	src := Source{Store: store, Opener: kr}
	var f Fragment
	for x := range store.seq(2) {
		f = x
		break
	}
	b, err := src.AppendFragmentMKV(context.Background(), nil, "cam1", f, "3")
	if err != nil {
		t.Fatal(err)
	}
	r := mkv.NewReader(bytes.NewReader(b), mkv.ReaderOptions{})
	var tags mkv.Tags
	var blocks int
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch e := ev.(type) {
		case mkv.Tags:
			tags = e
		case mkv.Block:
			blocks++
		}
	}
	if v, _ := tags.Get(mkv.TagFragmentNumber); v != "3" || blocks != 50 {
		t.Fatalf("fragment number tag %q, %d blocks", v, blocks)
	}
	if v, _ := tags.Get(mkv.TagServerTimestamp); v != mkv.FormatTagTime(f.ServerTime) {
		t.Fatalf("server timestamp tag %q", v)
	}
}
