package mkv

import (
	"bytes"
	"errors"
	"testing"
)

// Parameter sets from mediacommon's SPS tests (352x288 H.264 high profile,
// 1920x1080 H.265 main profile).
var (
	testH264SPS = []byte{
		0x67, 0x64, 0x00, 0x0c, 0xac, 0x3b, 0x50, 0xb0,
		0x4b, 0x42, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00,
		0x00, 0x03, 0x00, 0x3d, 0x08,
	}
	testH264PPS = []byte{0x68, 0xee, 0x3c, 0x80}
	testH265VPS = []byte{0x40, 0x01, 0x0c, 0x01, 0xff, 0xff}
	testH265SPS = []byte{
		0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03,
		0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03,
		0x00, 0x78, 0xa0, 0x03, 0xc0, 0x80, 0x10, 0xe5,
		0x96, 0x66, 0x69, 0x24, 0xca, 0xe0, 0x10, 0x00,
		0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x01,
		0xe0, 0x80,
	}
	testH265PPS = []byte{0x44, 0x01, 0xc1, 0x72, 0xb4, 0x62, 0x40}
)

func TestAVCConfig(t *testing.T) {
	got, err := AVCConfig(testH264SPS, testH264PPS)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{1, 0x64, 0x00, 0x0c, 0xFF, 0xE1, 0, byte(len(testH264SPS))}
	want = append(want, testH264SPS...)
	want = append(want, 1, 0, byte(len(testH264PPS)))
	want = append(want, testH264PPS...)
	want = append(want, 0xFD, 0xF8, 0xF8, 0) // high profile: 4:2:0, 8 bit
	if !bytes.Equal(got, want) {
		t.Errorf("AVCConfig =\n% X\nwant\n% X", got, want)
	}

	bad := []struct {
		name     string
		sps, pps []byte
	}{
		{"no sps", nil, testH264PPS},
		{"short sps", testH264SPS[:3], testH264PPS},
		{"pps as sps", testH264PPS, testH264PPS},
		{"sps as pps", testH264SPS, testH264SPS},
		{"no pps", testH264SPS, nil},
		{"truncated high profile sps", testH264SPS[:5], testH264PPS},
	}
	for _, c := range bad {
		if _, err := AVCConfig(c.sps, c.pps); !errors.Is(err, ErrInvalidParameterSet) {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
}

func TestHEVCConfig(t *testing.T) {
	got, err := HEVCConfig(testH265VPS, testH265SPS, testH265PPS)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		1,
		0x01,                   // profile space 0, tier 0, profile 1 (Main)
		0x60, 0x00, 0x00, 0x00, // compatibility flags 1 and 2
		0x90, 0x00, 0x00, 0x00, 0x00, 0x00, // progressive, frame only
		120,        // level 4
		0xF0, 0x00, // min_spatial_segmentation_idc
		0xFC,       // parallelismType
		0xFD,       // 4:2:0
		0xF8, 0xF8, // 8 bit
		0, 0, // avgFrameRate
		1<<3 | 1<<2 | 3, // one temporal layer, nested, 4-byte lengths
		3,
	}
	for _, nal := range [][]byte{testH265VPS, testH265SPS, testH265PPS} {
		want = append(want, 0x80|(nal[0]>>1)&0x3F, 0, 1, 0, byte(len(nal)))
		want = append(want, nal...)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("HEVCConfig =\n% X\nwant\n% X", got, want)
	}

	bad := []struct {
		name          string
		vps, sps, pps []byte
	}{
		{"no vps", nil, testH265SPS, testH265PPS},
		{"sps as vps", testH265SPS, testH265SPS, testH265PPS},
		{"vps as sps", testH265VPS, testH265VPS, testH265PPS},
		{"sps as pps", testH265VPS, testH265SPS, testH265SPS},
		{"truncated sps", testH265VPS, testH265SPS[:10], testH265PPS},
	}
	for _, c := range bad {
		if _, err := HEVCConfig(c.vps, c.sps, c.pps); !errors.Is(err, ErrInvalidParameterSet) {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
}

func TestOpusHead(t *testing.T) {
	cases := []struct {
		channels, rate int
		want           []byte
	}{
		{2, 48000, []byte("OpusHead\x01\x02\x00\x00\x80\xbb\x00\x00\x00\x00\x00")},
		{1, 16000, []byte("OpusHead\x01\x01\x00\x00\x80\x3e\x00\x00\x00\x00\x00")},
		{0, 0, []byte("OpusHead\x01\x01\x00\x00\x80\xbb\x00\x00\x00\x00\x00")},
		{6, 48000, []byte("OpusHead\x01\x06\x00\x00\x80\xbb\x00\x00\x00\x00\x01\x04\x02\x00\x04\x01\x02\x03\x05")},
		{9, 48000, []byte("OpusHead\x01\x08\x00\x00\x80\xbb\x00\x00\x00\x00\x01\x05\x03\x00\x06\x01\x02\x03\x04\x05\x07")},
	}
	for _, c := range cases {
		if got := OpusHead(c.channels, c.rate); !bytes.Equal(got, c.want) {
			t.Errorf("OpusHead(%d, %d) = % X, want % X", c.channels, c.rate, got, c.want)
		}
	}
}

func TestVideoSize(t *testing.T) {
	cases := []struct {
		codec string
		sps   []byte
		w, h  int
		err   error
	}{
		{CodecH264, testH264SPS, 352, 288, nil},
		{CodecH265, testH265SPS, 1920, 1080, nil},
		{CodecH264, testH264SPS[:4], 0, 0, ErrInvalidParameterSet},
		{CodecH265, testH264SPS, 0, 0, ErrInvalidParameterSet},
		{CodecAAC, testH264SPS, 0, 0, ErrUnsupportedCodec},
	}
	for _, c := range cases {
		w, h, err := VideoSize(c.codec, c.sps)
		if w != c.w || h != c.h || !errors.Is(err, c.err) {
			t.Errorf("VideoSize(%s) = %d, %d, %v; want %d, %d, %v", c.codec, w, h, err, c.w, c.h, c.err)
		}
	}
}

func TestWaveFormatEx(t *testing.T) {
	// G.711 µ-law, stereo, 8 kHz: 16,000 bytes a second in blocks of 2.
	want := []byte{0x07, 0x00, 0x02, 0x00, 0x40, 0x1f, 0x00, 0x00, 0x80, 0x3e, 0x00, 0x00, 0x02, 0x00, 0x08, 0x00, 0x00, 0x00}
	if got := WaveFormatEx(WaveFormatMULaw, 2, 8000, 8); !bytes.Equal(got, want) {
		t.Fatalf("WaveFormatEx = % x, want % x", got, want)
	}
}
