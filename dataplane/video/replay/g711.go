package replay

import (
	"encoding/binary"
	"fmt"

	"github.com/kinedge/kinedge/fragment/mkv"
)

// G.711 in MP4. ISO BMFF has no sample entry for G.711 that players
// read, so an MP4 export carries it as 16-bit big-endian linear PCM
// (ipcm/lpcm, as mediacommon writes it), decoded here by the G.711 rule
// (ITU-T G.711 tables 1a and 2a): a sample doubles in size, 128 kbit/s a
// channel at 8 kHz. The stored fragments keep the G.711 bytes; MKV
// replay copies them as they are.

// waveFormat is the part of a WAVEFORMATEX (A_MS/ACM CodecPrivate) the
// export reads.
type waveFormat struct {
	tag                  uint16
	channels, rate, bits int
}

// parseWaveFormat reads a WAVEFORMATEX's fixed 16 bytes.
func parseWaveFormat(b []byte) (waveFormat, error) {
	if len(b) < 16 {
		return waveFormat{}, fmt.Errorf("%w: WAVEFORMATEX of %d bytes", ErrCodecConfig, len(b))
	}
	w := waveFormat{
		tag:      binary.LittleEndian.Uint16(b[0:]),
		channels: int(binary.LittleEndian.Uint16(b[2:])),
		rate:     int(binary.LittleEndian.Uint32(b[4:])),
		bits:     int(binary.LittleEndian.Uint16(b[14:])),
	}
	if w.channels < 1 || w.channels > 8 || w.rate < 1 || w.rate > 384000 {
		return waveFormat{}, fmt.Errorf("%w: WAVEFORMATEX with %d channels at %d Hz", ErrCodecConfig, w.channels, w.rate)
	}
	return w, nil
}

// g711Decoder returns the function that turns G.711 samples of the
// format into 16-bit big-endian PCM, or false for a format that is not
// 8-bit G.711.
func g711Decoder(w waveFormat) (func([]byte) []byte, bool) {
	var dec func(byte) int16
	switch {
	case w.bits != 8:
		return nil, false
	case w.tag == mkv.WaveFormatMULaw:
		dec = ulawToLinear
	case w.tag == mkv.WaveFormatALaw:
		dec = alawToLinear
	default:
		return nil, false
	}
	return func(in []byte) []byte {
		out := make([]byte, 2*len(in))
		for i, c := range in {
			binary.BigEndian.PutUint16(out[2*i:], uint16(dec(c)))
		}
		return out
	}, true
}

// ulawToLinear expands a µ-law byte: the complemented byte holds a sign,
// a 3-bit segment and a 4-bit step; the magnitude is the step shifted by
// the segment, biased by 0x84 (33 in 14-bit units).
func ulawToLinear(u byte) int16 {
	u = ^u
	t := (int(u&0x0f) << 3) + 0x84
	t <<= (u & 0x70) >> 4
	if u&0x80 != 0 {
		return int16(0x84 - t)
	}
	return int16(t - 0x84)
}

// alawToLinear expands an A-law byte (even bits inverted on the wire):
// a sign, a 3-bit segment and a 4-bit step, linear in segment 0.
func alawToLinear(a byte) int16 {
	a ^= 0x55
	t := int(a&0x0f) << 4
	switch seg := (a & 0x70) >> 4; seg {
	case 0:
		t += 8
	case 1:
		t += 0x108
	default:
		t += 0x108
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}
