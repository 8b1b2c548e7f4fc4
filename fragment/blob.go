package fragment

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/media/bitstream"
)

// The plaintext of a sealed fragment ("blob") is:
//
//	"KVF1"                 magic and version
//	uvarint  n             length of the Tracks element
//	[n]byte                Matroska Tracks element (codec private data:
//	                       SPS/PPS/VPS, AudioSpecificConfig, OpusHead,
//	                       av1C)
//	[...]byte              one Matroska Cluster with timecode 0; block
//	                       timecodes are relative to the fragment start
//
// Keeping Tracks and Cluster as finished Matroska elements makes replay a
// copy: a self-contained MKV of one fragment is header + Tracks + Cluster +
// Tags, and a continuous MKV of a range is one header followed by each
// fragment's Cluster with its timecode patched in place. Codec parameters
// are inside the seal: a camera's SPS identifies its stream as surely as
// its pictures do.
var blobMagic = []byte("KVF1")

// maxTracksElement bounds a decoded blob's tracks part, against hostile input.
const maxTracksElement = 1 << 20

// Blob is a decoded fragment plaintext. Its slices alias the input.
type Blob struct {
	Tracks  []byte // the Tracks element
	Cluster []byte // the Cluster element (timecode 0)
}

// MkvTracks converts session tracks to Matroska track entries. Video tracks
// without parameter sets yet are an error: a fragment starts at a keyframe,
// which carries them.
func MkvTracks(tracks []*media.Track) ([]mkv.Track, error) {
	out := make([]mkv.Track, 0, len(tracks))
	for i, t := range tracks {
		mt := mkv.Track{Number: uint64(i + 1)}
		var err error
		switch t.Codec {
		case media.CodecH264:
			mt.Type, mt.CodecID = mkv.TrackVideo, mkv.CodecH264
			mt.CodecPrivate, err = mkv.AVCConfig(t.SPS, t.PPS)
		case media.CodecH265:
			mt.Type, mt.CodecID = mkv.TrackVideo, mkv.CodecH265
			mt.CodecPrivate, err = mkv.HEVCConfig(t.VPS, t.SPS, t.PPS)
		case media.CodecAAC:
			mt.Type, mt.CodecID = mkv.TrackAudio, mkv.CodecAAC
			mt.CodecPrivate = t.Config
			mt.SampleRate, mt.Channels = float64(t.SampleRate), t.Channels
		case media.CodecOpus:
			mt.Type, mt.CodecID = mkv.TrackAudio, mkv.CodecOpus
			ch := t.Channels
			if ch == 0 {
				ch = 2
			}
			mt.CodecPrivate = mkv.OpusHead(ch, 48000)
			mt.SampleRate, mt.Channels = 48000, ch
			mt.SeekPreRoll = mkv.OpusSeekPreRoll
		case media.CodecPCMU, media.CodecPCMA:
			if t.SampleRate <= 0 || t.Channels <= 0 {
				return nil, fmt.Errorf("track %d: %w: G.711 at %d Hz with %d channels", i, ErrUnsupportedCodec, t.SampleRate, t.Channels)
			}
			tag := uint16(mkv.WaveFormatALaw)
			if t.Codec == media.CodecPCMU {
				tag = mkv.WaveFormatMULaw
			}
			mt.Type, mt.CodecID = mkv.TrackAudio, mkv.CodecACM
			mt.CodecPrivate = mkv.WaveFormatEx(tag, t.Channels, t.SampleRate, 8)
			mt.SampleRate, mt.Channels = float64(t.SampleRate), t.Channels
		case media.CodecLPCM:
			if t.SampleRate <= 0 || t.Channels <= 0 || (t.BitDepth != 16 && t.BitDepth != 24) {
				return nil, fmt.Errorf("track %d: %w: LPCM of %d bits at %d Hz with %d channels", i, ErrUnsupportedCodec, t.BitDepth, t.SampleRate, t.Channels)
			}
			mt.Type, mt.CodecID = mkv.TrackAudio, mkv.CodecPCMBig
			mt.SampleRate, mt.Channels, mt.BitDepth = float64(t.SampleRate), t.Channels, t.BitDepth
		case media.CodecVP8:
			mt.Type, mt.CodecID = mkv.TrackVideo, mkv.CodecVP8
		case media.CodecMJPEG:
			mt.Type, mt.CodecID = mkv.TrackVideo, mkv.CodecMJPEG
		case media.CodecVP9:
			mt.Type, mt.CodecID = mkv.TrackVideo, mkv.CodecVP9
		case media.CodecAV1:
			// The Matroska AV1 mapping requires the av1C: learnt from the
			// first keyframe's sequence header when the ingest had none.
			mt.Type, mt.CodecID = mkv.TrackVideo, mkv.CodecAV1
			if _, err = bitstream.AV1ConfigOBU(t.Config); err != nil {
				err = fmt.Errorf("%w: AV1 without a sequence header yet: %w", mkv.ErrInvalidParameterSet, err)
			}
			mt.CodecPrivate = t.Config
		default:
			return nil, fmt.Errorf("track %d: %w: %q", i, ErrUnsupportedCodec, t.Codec)
		}
		if err != nil {
			return nil, fmt.Errorf("track %d (%s): %w", i, t.Codec, err)
		}
		if mt.Type == mkv.TrackVideo {
			mt.Width, mt.Height = videoSize(t, mt.CodecID)
		}
		out = append(out, mt)
	}
	return out, nil
}

// videoSize returns a video track's picture size: from its SPS when the
// codec (Matroska codec ID) has one that reads, else the track's Width and
// Height.
func videoSize(t *media.Track, codecID string) (width, height int) {
	if w, h, err := mkv.VideoSize(codecID, t.SPS); err == nil {
		return w, h
	}
	return t.Width, t.Height
}

// AppendBlob appends a fragment's blob plaintext to dst.
func AppendBlob(dst []byte, f *Fragment) ([]byte, error) {
	tracks, err := MkvTracks(f.Tracks)
	if err != nil {
		return dst, err
	}
	size := 64
	for _, fr := range f.Frames {
		size += len(fr.Data) + 16
	}
	b := slices.Grow(dst, size+1024)
	b = append(b, blobMagic...)
	te, err := mkv.AppendTracks(nil, tracks)
	if err != nil {
		return dst, err
	}
	b = binary.AppendUvarint(b, uint64(len(te)))
	b = append(b, te...)
	start := len(b)
	b = mkv.AppendClusterStart(b, 0)
	for _, fr := range f.Frames {
		rel := (fr.PTS - f.Start).Round(time.Millisecond) / time.Millisecond
		if b, err = mkv.AppendSimpleBlock(b, uint64(fr.Track+1), int64(rel), fr.Key, fr.Data); err != nil {
			return dst, err
		}
	}
	if err := mkv.FinishCluster(b[start:]); err != nil {
		return dst, err
	}
	return b, nil
}

// BufferPool recycles blob plaintext buffers between the recorders of an
// appliance: each holds a fragment's plaintext only from encoding to
// sealing, so a few buffers serve many cameras whose fragments close at
// different times. The zero value is ready to use.
type BufferPool struct {
	pool sync.Pool
}

// Get returns an empty buffer.
func (p *BufferPool) Get() []byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return nil
}

// Put returns a buffer after wiping it: it held plaintext media.
func (p *BufferPool) Put(b []byte) {
	if cap(b) == 0 || cap(b) > 64<<20 {
		return
	}
	clear(b[:cap(b)])
	b = b[:0]
	p.pool.Put(&b)
}

// DecodeBlob splits blob plaintext into its elements.
func DecodeBlob(p []byte) (Blob, error) {
	if len(p) < len(blobMagic) || string(p[:len(blobMagic)]) != string(blobMagic) {
		return Blob{}, fmt.Errorf("%w: bad magic", ErrCorruptBlob)
	}
	p = p[len(blobMagic):]
	n, k := binary.Uvarint(p)
	if k <= 0 || n > maxTracksElement || n > uint64(len(p)-k) {
		return Blob{}, fmt.Errorf("%w: bad tracks length", ErrCorruptBlob)
	}
	p = p[k:]
	if len(p) == int(n) {
		return Blob{}, fmt.Errorf("%w: no cluster", ErrCorruptBlob)
	}
	return Blob{Tracks: p[:n], Cluster: p[n:]}, nil
}
