package mkv

import (
	"bytes"
	"testing"
)

func TestVint(t *testing.T) {
	cases := []struct {
		v    uint64
		want []byte
	}{
		{0, []byte{0x80}},
		{1, []byte{0x81}},
		{126, []byte{0xFE}},
		{127, []byte{0x40, 0x7F}}, // 0xFF would be the unknown-size pattern
		{0x3FFE, []byte{0x7F, 0xFE}},
		{0x3FFF, []byte{0x20, 0x3F, 0xFF}},
		{maxVintValue, []byte{0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE}},
	}
	for _, c := range cases {
		got := appendVint(nil, c.v)
		if !bytes.Equal(got, c.want) {
			t.Errorf("appendVint(%d) = % X, want % X", c.v, got, c.want)
		}
		v, n, ones := parseVint(got)
		if v != c.v || n != len(got) || ones {
			t.Errorf("parseVint(% X) = %d, %d, %v", got, v, n, ones)
		}
	}
}

func TestParseVintInvalid(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		ones bool
		n    int
	}{
		{"empty", nil, false, 0},
		{"zero first byte", []byte{0x00, 1, 2, 3, 4, 5, 6, 7, 8}, false, 0},
		{"short", []byte{0x40}, false, 0},
		{"unknown 1", []byte{0xFF}, true, 1},
		{"unknown 8", []byte{0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, true, 8},
	}
	for _, c := range cases {
		_, n, ones := parseVint(c.in)
		if n != c.n || ones != c.ones {
			t.Errorf("%s: parseVint = n %d ones %v, want %d %v", c.name, n, ones, c.n, c.ones)
		}
	}
}

func TestElementBodies(t *testing.T) {
	uints := []uint64{0, 1, 0xFF, 0x100, 1 << 32, 1<<64 - 1}
	for _, v := range uints {
		b := appendUintEl(nil, idTrackUID, v)
		got, ok := readUint(b[3:])
		if !ok || got != v {
			t.Errorf("uint %d: got %d %v (% X)", v, got, ok, b)
		}
	}
	ints := []int64{0, -1, 1, -1 << 63, 1<<63 - 1}
	for _, v := range ints {
		b := appendIntEl(nil, idDateUTC, v)
		got, ok := readInt(b[3:])
		if !ok || got != v {
			t.Errorf("int %d: got %d %v", v, got, ok)
		}
	}
	if v, ok := readInt([]byte{0xFF, 0xFE}); !ok || v != -2 {
		t.Errorf("readInt(FF FE) = %d %v", v, ok)
	}
	if _, ok := readUint(make([]byte, 9)); ok {
		t.Error("readUint accepted 9 bytes")
	}
	if f, ok := readFloat([]byte{0x47, 0x3B, 0x80, 0x00}); !ok || f != 48000 {
		t.Errorf("readFloat(float32 48000) = %v %v", f, ok)
	}
	if _, ok := readFloat([]byte{1, 2, 3}); ok {
		t.Error("readFloat accepted 3 bytes")
	}
	if s := readString([]byte("abc\x00\x00")); s != "abc" {
		t.Errorf("readString = %q", s)
	}
}
