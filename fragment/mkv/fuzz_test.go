package mkv

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// fuzzSeeds returns the reader table inputs, writer output and small
// corrupt variants of it.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, c := range readerCases() {
		seeds = append(seeds, c.in)
	}
	tracksEl, err := AppendTracks(nil, testTracks(t))
	if err != nil {
		t.Fatal(err)
	}
	c := buildCluster(t, 1000, []testBlock{
		{1, 0, true, []byte{0, 0, 0, 1, 0x65}}, {3, 10, true, []byte{1, 2}}, {4, -3, false, []byte{3}},
	})
	file, err := AppendFragment(nil, &Fragment{Info: Info{Title: "t"}, Tracks: tracksEl, Cluster: c,
		Tags: []SimpleTag{{TagFragmentNumber, "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	seeds = append(seeds, file)
	for _, cut := range []int{1, 5, len(file) / 2, len(file) - 1} {
		seeds = append(seeds, file[:cut])
	}
	for _, pos := range []int{4, 40, len(file) / 3, len(file) - 20} {
		flipped := bytes.Clone(file)
		flipped[pos] ^= 0x80
		seeds = append(seeds, flipped)
		ones := bytes.Clone(file)
		ones[pos] = 0xFF
		seeds = append(seeds, ones)
	}
	return seeds
}

// FuzzReader checks that no input makes the Reader panic, loop, or hand
// out more frame bytes than it was given.
func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fuzzRead(t, in, false)
		fuzzRead(t, in, true)
	})
}

func fuzzRead(t *testing.T, in []byte, body bool) {
	r := NewReader(bytes.NewReader(in), ReaderOptions{MaxElementSize: 1 << 20, SegmentBody: body})
	total := 0
	for n := 0; ; n++ {
		ev, err := r.Next()
		if err != nil {
			if _, err2 := r.Next(); err2 != err {
				t.Fatalf("error not sticky: %v then %v", err, err2)
			}
			if r.off > int64(len(in)) {
				t.Fatalf("offset %d past input of %d", r.off, len(in))
			}
			if err == io.EOF && n > 0 && r.off != int64(len(in)) {
				t.Fatalf("EOF at offset %d of %d", r.off, len(in))
			}
			return
		}
		if n > 64*len(in)+2 {
			// A 7-byte laced SimpleBlock can yield 256 empty frames;
			// beyond that ratio the reader is looping.
			t.Fatalf("%d events from %d bytes", n, len(in))
		}
		if b, ok := ev.(Block); ok {
			total += len(b.Data)
			if total > len(in) {
				t.Fatalf("%d frame bytes from %d input bytes", total, len(in))
			}
		}
	}
}

// FuzzCodecConfig feeds camera-supplied parameter sets to the builders,
// which must fail cleanly rather than panic.
func FuzzCodecConfig(f *testing.F) {
	f.Add(testH264SPS, testH264PPS, []byte(nil))
	f.Add(testH265SPS, testH265PPS, testH265VPS)
	f.Add(testH264SPS[:6], testH264PPS, testH265VPS[:2])
	f.Fuzz(func(t *testing.T, sps, pps, vps []byte) {
		if b, err := AVCConfig(sps, pps); err == nil && (len(b) < 11+len(sps)+len(pps) || b[0] != 1) {
			t.Fatalf("AVCConfig = % X", b)
		}
		if b, err := HEVCConfig(vps, sps, pps); err == nil && len(b) < 23+15+len(vps)+len(sps)+len(pps) {
			t.Fatalf("HEVCConfig = % X", b)
		}
		for _, codec := range []string{CodecH264, CodecH265} {
			if w, h, err := VideoSize(codec, sps); err == nil && (w <= 0 || h <= 0) {
				t.Fatalf("VideoSize = %d, %d", w, h)
			}
		}
	})
}

// FuzzParseDecoderConfig reads producer-supplied CodecPrivate (PutMedia)
// and stored records (replay) as decoder configuration records: clean
// errors, parameter sets inside the record, and a round trip of what the
// builders write.
func FuzzParseDecoderConfig(f *testing.F) {
	avc, err := AVCConfig(testH264SPS, testH264PPS)
	if err != nil {
		f.Fatal(err)
	}
	hevc, err := HEVCConfig(testH265VPS, testH265SPS, testH265PPS)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(avc)
	f.Add(hevc)
	f.Add(avc[:9])
	f.Add(hevc[:25])
	f.Fuzz(func(t *testing.T, p []byte) {
		for _, parse := range []func([]byte) (DecoderConfig, error){ParseAVCConfig, ParseHEVCConfig} {
			c, err := parse(p)
			if err != nil {
				if !errors.Is(err, ErrInvalidCodecPrivate) {
					t.Fatalf("error %v does not wrap ErrInvalidCodecPrivate", err)
				}
				continue
			}
			if c.LengthSize != 1 && c.LengthSize != 2 && c.LengthSize != 4 {
				t.Fatalf("length size %d", c.LengthSize)
			}
			total := 0
			for _, n := range c.ParamSets {
				total += 2 + len(n)
			}
			if total > len(p) {
				t.Fatalf("%d bytes of parameter sets from a %d-byte record", total, len(p))
			}
		}
	})
}

func TestParseDecoderConfig(t *testing.T) {
	avc, err := AVCConfig(testH264SPS, testH264PPS)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseAVCConfig(avc)
	if err != nil || c.LengthSize != 4 || !bytes.Equal(c.First(7, false), testH264SPS) || !bytes.Equal(c.First(8, false), testH264PPS) {
		t.Errorf("avcC: %+v %v", c, err)
	}
	hevc, err := HEVCConfig(testH265VPS, testH265SPS, testH265PPS)
	if err != nil {
		t.Fatal(err)
	}
	c, err = ParseHEVCConfig(hevc)
	if err != nil || c.LengthSize != 4 || !bytes.Equal(c.First(32, true), testH265VPS) ||
		!bytes.Equal(c.First(33, true), testH265SPS) || !bytes.Equal(c.First(34, true), testH265PPS) {
		t.Errorf("hvcC: %+v %v", c, err)
	}
	for name, p := range map[string][]byte{
		"empty": nil, "avcC version 0": append([]byte{0}, avc[1:]...), "avcC pps cut": avc[:6+2+len(testH264SPS)+1+2+len(testH264PPS)-1],
		"avcC 3-byte lengths": append(append([]byte{}, avc[:4]...), append([]byte{0xfe}, avc[5:]...)...),
	} {
		if _, err := ParseAVCConfig(p); !errors.Is(err, ErrInvalidCodecPrivate) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, p := range map[string][]byte{
		"empty": nil, "hvcC version 2": append([]byte{2}, hevc[1:]...), "hvcC cut": hevc[:len(hevc)-1], "array header cut": hevc[:25],
	} {
		if _, err := ParseHEVCConfig(p); !errors.Is(err, ErrInvalidCodecPrivate) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
