package bitstream

import (
	"encoding/binary"
	"fmt"
)

// VP8Frame is what the frame tag of a VP8 frame says (RFC 6386 section
// 9.1).
type VP8Frame struct {
	// Key is true for a key frame.
	Key bool
	// Width and Height are a key frame's size (0 for other frames).
	Width, Height int
}

// ReadVP8 reads the frame tag of a VP8 frame and, for a key frame, its
// start code and size.
func ReadVP8(frame []byte) (VP8Frame, error) {
	if len(frame) < 3 {
		return VP8Frame{}, fmt.Errorf("%w: vp8 frame of %d bytes", ErrInvalid, len(frame))
	}
	if frame[0]&1 != 0 {
		return VP8Frame{}, nil
	}
	if len(frame) < 10 || frame[3] != 0x9d || frame[4] != 0x01 || frame[5] != 0x2a {
		return VP8Frame{}, fmt.Errorf("%w: vp8 key frame without start code", ErrInvalid)
	}
	return VP8Frame{Key: true,
		Width:  int(binary.LittleEndian.Uint16(frame[6:]) & 0x3fff),
		Height: int(binary.LittleEndian.Uint16(frame[8:]) & 0x3fff),
	}, nil
}
