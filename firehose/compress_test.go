package firehose

import (
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// gzipBody compresses data with parallelGzip on workers goroutines,
// written in pieces of step bytes.
func gzipBody(t testing.TB, data []byte, workers, step int) []byte {
	t.Helper()
	var body bytes.Buffer
	enc, err := encoderOn(GZIP, "x", &body, workers)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := enc.(*parallelGzip); !ok && workers > 1 {
		t.Fatalf("encoder on %d workers is a %T", workers, enc)
	}
	for p := data; len(p) > 0; {
		k := min(len(p), step)
		if _, err := enc.Write(p[:k]); err != nil {
			t.Fatal(err)
		}
		p = p[k:]
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return body.Bytes()
}

// readOneMember decodes b with Go's compress/gzip as a single member
// (Multistream off) and fails unless that member is the whole of b.
func readOneMember(t testing.TB, b []byte) []byte {
	t.Helper()
	r := bytes.NewReader(b)
	zr, err := stdgzip.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("one member: %v", err)
	}
	if r.Len() != 0 {
		t.Fatalf("%d bytes after the first member", r.Len())
	}
	return got
}

// TestParallelGzipOneMember: a body compressed in parallel segments is
// one GZIP member holding the whole input, for Go's compress/gzip (as a
// single member), klauspost's reader and gunzip, at sizes around the
// segment size, written in pieces of every kind.
func TestParallelGzipOneMember(t *testing.T) {
	gunzip := testtool.Need(t, "gunzip")
	rng := rand.New(rand.NewPCG(7, 7))
	random := make([]byte, 5*gzipChunk+17)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	text := bytes.Join(jsonRecords(len(random)/benchRecord+1, 3), nil)[:len(random)]
	for _, src := range []struct {
		name string
		data []byte
	}{{"random", random}, {"records", text}} {
		for _, size := range []int{0, 1, gzipChunk - 1, gzipChunk, gzipChunk + 1, 2 * gzipChunk, len(random)} {
			for _, workers := range []int{2, 3} {
				want := src.data[:size]
				body := gzipBody(t, want, workers, 1000)
				if got := readOneMember(t, body); !bytes.Equal(got, want) {
					t.Fatalf("%s %d bytes, %d workers: compress/gzip read %d bytes, not the input", src.name, size, workers, len(got))
				}
				if got := decompress(t, GZIP, body); !bytes.Equal(got, want) {
					t.Fatalf("%s %d bytes, %d workers: klauspost read %d bytes, not the input", src.name, size, workers, len(got))
				}
				cmd := testtool.Command(t, time.Minute, gunzip, "-c")
				cmd.Stdin = bytes.NewReader(body)
				got, err := cmd.Output()
				if err != nil {
					t.Fatalf("%s %d bytes: gunzip: %v", src.name, size, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s %d bytes, %d workers: gunzip wrote %d bytes, not the input", src.name, size, workers, len(got))
				}
			}
		}
	}
}

// TestParallelGzipSize: cutting the references at segment boundaries
// costs under 1% of the size one stream at the same level gives, on the
// benchmark's records (1 MiB, a batch of SizeInMBs 1).
func TestParallelGzipSize(t *testing.T) {
	data := bytes.Join(jsonRecords(benchPerObj, 5), nil)
	one, par := gzipBody(t, data, 1, len(data)), gzipBody(t, data, 4, len(data))
	if float64(len(par)) > 1.01*float64(len(one)) {
		t.Fatalf("parallel body %d bytes, one stream %d", len(par), len(one))
	}
	t.Logf("1 MiB of records: one stream %d bytes, parallel %d (%+.2f%%)", len(one), len(par), 100*(float64(len(par))/float64(len(one))-1))
}

// FuzzParallelGzip: any input, written in any piece size, comes back
// whole from one member.
func FuzzParallelGzip(f *testing.F) {
	f.Add([]byte(""), uint16(1))
	f.Add([]byte("hello, firehose"), uint16(3))
	f.Add(bytes.Repeat([]byte("abc"), gzipChunk/3+5), uint16(4096))
	f.Fuzz(func(t *testing.T, data []byte, step uint16) {
		body := gzipBody(t, data, 2, int(step)+1)
		if got := readOneMember(t, body); !bytes.Equal(got, data) {
			t.Fatalf("read %d bytes back, wrote %d", len(got), len(data))
		}
	})
}
