package replay

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestG711Decode checks the µ-law and A-law expansions of all 256 bytes
// against ffmpeg's pcm_mulaw and pcm_alaw decoders.
func TestG711Decode(t *testing.T) {
	ffmpeg := testtool.Need(t, "ffmpeg")
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, c := range []struct {
		format string
		tag    uint16
	}{{"mulaw", mkv.WaveFormatMULaw}, {"alaw", mkv.WaveFormatALaw}} {
		cmd := testtool.Command(t, time.Minute, ffmpeg, "-v", "error", "-f", c.format, "-ar", "8000", "-ac", "1", "-i", "pipe:0", "-f", "s16be", "pipe:1")
		cmd.Stdin = bytes.NewReader(all)
		want, err := cmd.Output()
		if err != nil {
			t.Fatalf("ffmpeg %s: %v", c.format, err)
		}
		dec, ok := g711Decoder(waveFormat{tag: c.tag, channels: 1, rate: 8000, bits: 8})
		if !ok {
			t.Fatalf("%s: no decoder", c.format)
		}
		got := dec(all)
		if !bytes.Equal(got, want) {
			for i := 0; i+1 < len(want) && i+1 < len(got); i += 2 {
				if g, w := int16(binary.BigEndian.Uint16(got[i:])), int16(binary.BigEndian.Uint16(want[i:])); g != w {
					t.Fatalf("%s byte 0x%02x: %d, ffmpeg %d", c.format, i/2, g, w)
				}
			}
			t.Fatalf("%s: %d bytes, ffmpeg %d", c.format, len(got), len(want))
		}
	}
	if _, ok := g711Decoder(waveFormat{tag: 1, channels: 1, rate: 8000, bits: 16}); ok {
		t.Fatal("a decoder for 16-bit PCM")
	}
}

func TestParseWaveFormat(t *testing.T) {
	w, err := parseWaveFormat(mkv.WaveFormatEx(mkv.WaveFormatALaw, 2, 16000, 8))
	if err != nil || w != (waveFormat{tag: mkv.WaveFormatALaw, channels: 2, rate: 16000, bits: 8}) {
		t.Fatalf("parseWaveFormat = %+v, %v", w, err)
	}
	for _, b := range [][]byte{nil, make([]byte, 15), make([]byte, 18), mkv.WaveFormatEx(7, 9, 8000, 8)} {
		if _, err := parseWaveFormat(b); err == nil {
			t.Errorf("parseWaveFormat(% x) accepted", b)
		}
	}
}
