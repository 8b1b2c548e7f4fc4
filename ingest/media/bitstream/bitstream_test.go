package bitstream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"
)

// readIVF returns the frames of an IVF file (the container ffmpeg writes
// VP9 and AV1 into: a 32-byte header, then a 12-byte header a frame).
func readIVF(t testing.TB, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 32 || string(b[:4]) != "DKIF" {
		t.Fatalf("%s: not IVF", name)
	}
	var frames [][]byte
	for p := b[binary.LittleEndian.Uint16(b[6:]):]; len(p) >= 12; {
		n := int(binary.LittleEndian.Uint32(p))
		if n > len(p)-12 {
			t.Fatalf("%s: truncated frame", name)
		}
		frames = append(frames, p[12:12+n])
		p = p[12+n:]
	}
	return frames
}

func TestReadVP9(t *testing.T) {
	for _, c := range []struct {
		file                    string
		width, height, bitDepth int
		profile                 int
	}{
		{"vp9_160x120.ivf", 160, 120, 8, 0},
		{"vp9p2_176x144.ivf", 176, 144, 10, 2},
	} {
		t.Run(c.file, func(t *testing.T) {
			frames := readIVF(t, c.file)
			if len(frames) < 2 {
				t.Fatalf("%d frames", len(frames))
			}
			for i, fr := range frames {
				f, err := ReadVP9(fr)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if f.Key != (i == 0) {
					t.Fatalf("frame %d: key %v", i, f.Key)
				}
				if i == 0 && (f.Width != c.width || f.Height != c.height || f.BitDepth != c.bitDepth || f.Profile != c.profile || f.ChromaSubsampling != 1) {
					t.Fatalf("keyframe %+v", f)
				}
			}
		})
	}
	if _, err := ReadVP9([]byte{0x00, 0x00}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("garbage: %v", err)
	}
}

// rtpOBUs splits a low-overhead temporal unit into OBUs without size
// fields, as an RTP sender sends them, keeping temporal delimiters.
func rtpOBUs(t testing.TB, tu []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for rest := tu; len(rest) > 0; {
		hdr, payload, next, err := nextOBU(rest, true)
		if err != nil {
			t.Fatal(err)
		}
		o := append([]byte{hdr[0] &^ 0x02}, hdr[1:]...)
		out = append(out, append(o, payload...))
		rest = next
	}
	return out
}

func TestAV1(t *testing.T) {
	for _, c := range []struct {
		file                    string
		width, height, bitDepth int
	}{
		{"av1_192x108.ivf", 192, 108, 8},
		{"av1_10bit_128x96.ivf", 128, 96, 10},
	} {
		t.Run(c.file, func(t *testing.T) {
			tus := readIVF(t, c.file)
			if len(tus) < 2 {
				t.Fatalf("%d temporal units", len(tus))
			}
			for i, ivf := range tus {
				// ffmpeg's IVF keeps temporal delimiters; the frame
				// model drops them, as the RTP path does.
				tu, err := AV1TemporalUnit(rtpOBUs(t, ivf))
				if err != nil {
					t.Fatalf("unit %d: %v", i, err)
				}
				if bytes.Contains(tu[:1], []byte{0x12}) {
					t.Fatalf("unit %d keeps its temporal delimiter", i)
				}
				again, err := AV1TemporalUnit(rtpOBUs(t, tu))
				if err != nil || !bytes.Equal(again, tu) {
					t.Fatalf("unit %d: not stable: %v", i, err)
				}
				f, err := ReadAV1(tu)
				if err != nil {
					t.Fatalf("unit %d: %v", i, err)
				}
				if f.Key != (i == 0) || (f.SequenceHeader != nil) != (i == 0) {
					t.Fatalf("unit %d: key %v, sequence header %x", i, f.Key, f.SequenceHeader)
				}
				if i > 0 {
					continue
				}
				cfg, err := ParseAV1SequenceHeader(f.SequenceHeader)
				if err != nil {
					t.Fatal(err)
				}
				if cfg.Width != c.width || cfg.Height != c.height || cfg.BitDepth != c.bitDepth {
					t.Fatalf("config %dx%d %d bits", cfg.Width, cfg.Height, cfg.BitDepth)
				}
				if hb := cfg.Record[2]&0x40 != 0; hb != (c.bitDepth > 8) || cfg.Record[0] != 0x81 || cfg.Record[3] != 0 {
					t.Fatalf("av1C %x", cfg.Record[:4])
				}
				obu, err := AV1ConfigOBU(cfg.Record)
				if err != nil || !bytes.Equal(obu, f.SequenceHeader) {
					t.Fatalf("av1C OBU %x, %v; want %x", obu, err, f.SequenceHeader)
				}
				// Without its size field too.
				plain := rtpOBUs(t, f.SequenceHeader)[0]
				if c2, err := ParseAV1SequenceHeader(plain); err != nil || !bytes.Equal(c2.Record, cfg.Record) {
					t.Fatalf("unsized: %x %v", c2.Record, err)
				}
			}
		})
	}
	for _, bad := range [][]byte{nil, {0x80}, {0x0a, 0x05, 1}, {0x0e}} {
		if _, err := ReadAV1(bad); bad != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("ReadAV1(%x): %v", bad, err)
		}
		if _, err := ParseAV1SequenceHeader(bad); !errors.Is(err, ErrInvalid) {
			t.Fatalf("ParseAV1SequenceHeader(%x): %v", bad, err)
		}
	}
	if _, err := AV1TemporalUnit([][]byte{{0x12, 0x00}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("temporal delimiter only: %v", err)
	}
}

func FuzzReadVP9(f *testing.F) {
	for _, name := range []string{"vp9_160x120.ivf", "vp9p2_176x144.ivf"} {
		for _, fr := range readIVF(f, name)[:2] {
			f.Add(fr[:min(len(fr), 64)])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ReadVP9(b)
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}
		if v.Key && (v.Width <= 0 || v.Height <= 0 || v.BitDepth < 8) {
			t.Fatalf("keyframe without size: %+v", v)
		}
	})
}

func FuzzAV1(f *testing.F) {
	for _, name := range []string{"av1_192x108.ivf", "av1_10bit_128x96.ivf"} {
		for _, tu := range readIVF(f, name)[:2] {
			f.Add(tu[:min(len(tu), 256)])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ReadAV1(b)
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("ReadAV1: %v does not wrap ErrInvalid", err)
		}
		if fr.SequenceHeader != nil {
			if c, err := ParseAV1SequenceHeader(fr.SequenceHeader); err == nil {
				if obu, err := AV1ConfigOBU(c.Record); err != nil || len(obu) == 0 {
					t.Fatalf("record %x does not read back: %v", c.Record, err)
				}
			} else if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseAV1SequenceHeader: %v", err)
			}
		}
		// As RTP OBUs: the whole input as one OBU without size field.
		if tu, err := AV1TemporalUnit([][]byte{b}); err == nil {
			if _, err := ReadAV1(tu); err != nil {
				t.Fatalf("a built temporal unit does not read: %v", err)
			}
		} else if !errors.Is(err, ErrInvalid) {
			t.Fatalf("AV1TemporalUnit: %v", err)
		}
		if _, err := AV1FromLowOverhead(b); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("AV1FromLowOverhead: %v", err)
		}
		if _, err := AV1ConfigOBU(b); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("AV1ConfigOBU: %v", err)
		}
	})
}

func TestAV1FromLowOverhead(t *testing.T) {
	for i, ivf := range readIVF(t, "av1_192x108.ivf") {
		got, err := AV1FromLowOverhead(ivf)
		if err != nil {
			t.Fatal(err)
		}
		want, err := AV1TemporalUnit(rtpOBUs(t, ivf))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("unit %d: %x, want %x (%v)", i, got, want, err)
		}
	}
	if _, err := AV1FromLowOverhead([]byte{0x30}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unsized OBU: %v", err)
	}
}

func FuzzReadVP8(f *testing.F) {
	f.Add([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00})
	f.Add([]byte{0x31, 0x02, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ReadVP8(b)
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatal(err)
		}
		if !v.Key && (v.Width != 0 || v.Height != 0) {
			t.Fatalf("%+v", v)
		}
	})
}

func TestReadVP8(t *testing.T) {
	v, err := ReadVP8([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00})
	if err != nil || !v.Key || v.Width != 320 || v.Height != 240 {
		t.Fatalf("%+v %v", v, err)
	}
	if v, err := ReadVP8([]byte{0x31, 0x02, 0x00}); err != nil || v.Key {
		t.Fatalf("inter frame: %+v %v", v, err)
	}
	if _, err := ReadVP8([]byte{0x10, 0x02, 0x00, 0x9d}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short key frame: %v", err)
	}
}
