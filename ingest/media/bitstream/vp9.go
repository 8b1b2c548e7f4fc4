package bitstream

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"
)

// VP9Frame is what the uncompressed header of a VP9 frame says (VP9
// specification section 6.2). Profile, BitDepth, Width, Height,
// ChromaSubsampling and FullRange are read from keyframes only (a
// non-key frame leaves them 0).
type VP9Frame struct {
	// Key is true for a key frame (frame_type KEY_FRAME): a decoder can
	// start at it.
	Key bool
	// Profile is 0 to 3 (profiles 2 and 3 are 10 or 12 bits).
	Profile int
	// BitDepth is 8, 10 or 12.
	BitDepth int
	// Width and Height are the frame size.
	Width, Height int
	// ChromaSubsampling is the vpcC chromaSubsampling value (VP Codec
	// ISO Media File Format Binding section 2.2): 0 or 1 for 4:2:0, 2
	// for 4:2:2, 3 for 4:4:4.
	ChromaSubsampling int
	// FullRange is the colour range flag.
	FullRange bool
}

// ReadVP9 reads the uncompressed header at the start of a VP9 frame or
// superframe (whose first frame comes first; Annex B).
func ReadVP9(frame []byte) (VP9Frame, error) {
	var h vp9.Header
	if err := h.Unmarshal(frame); err != nil {
		return VP9Frame{}, fmt.Errorf("%w: vp9 header: %w", ErrInvalid, err)
	}
	f := VP9Frame{Key: !h.ShowExistingFrame && !h.NonKeyFrame}
	if !f.Key || h.ColorConfig == nil || h.FrameSize == nil {
		f.Key = false
		return f, nil
	}
	f.Profile = int(h.Profile)
	f.BitDepth = int(h.ColorConfig.BitDepth)
	f.Width, f.Height = h.Width(), h.Height()
	f.ChromaSubsampling = int(h.ChromaSubsampling())
	f.FullRange = h.ColorConfig.ColorRange
	return f, nil
}
