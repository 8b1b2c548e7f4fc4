package replay

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/kinedge/kinedge/fragment/mkv"
)

// Movie fragment boxes (ISO/IEC 14496-12 section 8.8), written by hand.
//
// mediacommon's fmp4.Part.Marshal writes the same bytes (a test holds the
// two equal) but marshals every trun entry through reflection and copies
// all samples into an mdat buffer: BenchmarkWriteMP4 spent half its time
// and 80% of its allocations there. appendMoof writes the moof and the mdat
// header only; the samples follow straight from the fragment.

// trun flags (ISO/IEC 14496-12 section 8.8.8.1).
const (
	trunDataOffset       = 0x000001
	trunSampleDuration   = 0x000100
	trunSampleSize       = 0x000200
	trunSampleFlags      = 0x000400
	trunSampleCTOffset   = 0x000800
	tfhdDefaultBaseMoof  = 0x020000 // tfhd default-base-is-moof (section 8.8.7.1)
	sampleIsNonSync      = 1 << 16  // sample_is_non_sync_sample (section 8.8.3.1)
	moofHeaderSize       = 8
	mfhdSize             = 16
	trafHeaderSize       = 8
	tfhdSize             = 16
	tfdtSize             = 20
	trunHeaderSize       = 20 // box header, version+flags, sample_count, data_offset
	mdatHeaderSize       = 8
	boxFullHeaderVersion = 1 // tfdt and trun are written as version 1
)

// trunFlags returns the trun flags a track's samples need: flags only when
// some sample is not a sync sample, composition offsets only when some is
// not zero (as mediacommon writes them).
func trunFlags(pt *fmp4.PartTrack) uint32 {
	f := uint32(trunDataOffset | trunSampleDuration | trunSampleSize)
	for _, s := range pt.Samples {
		if s.IsNonSyncSample {
			f |= trunSampleFlags
		}
		if s.PTSOffset != 0 {
			f |= trunSampleCTOffset
		}
	}
	return f
}

func entrySize(flags uint32) int {
	n := 8
	if flags&trunSampleFlags != 0 {
		n += 4
	}
	if flags&trunSampleCTOffset != 0 {
		n += 4
	}
	return n
}

// appendMoof appends a moof box for the tracks (each with at least one
// sample) and the header of the mdat box that must follow it, holding the
// tracks' sample payloads in order.
func appendMoof(dst []byte, seq uint32, tracks []*fmp4.PartTrack) ([]byte, error) {
	flags := make([]uint32, len(tracks))
	moofSize := moofHeaderSize + mfhdSize
	var dataSize uint64
	for i, pt := range tracks {
		flags[i] = trunFlags(pt)
		moofSize += trafHeaderSize + tfhdSize + tfdtSize + trunHeaderSize + len(pt.Samples)*entrySize(flags[i])
		for _, s := range pt.Samples {
			dataSize += uint64(len(s.Payload))
		}
	}
	// trun data offsets are signed 32-bit: the whole part stays below 2 GiB.
	if uint64(moofSize)+mdatHeaderSize+dataSize > math.MaxInt32 {
		return dst, fmt.Errorf("replay: fragment too large for an mdat (%d bytes)", dataSize)
	}
	be := binary.BigEndian
	b := dst
	b = be.AppendUint32(b, uint32(moofSize))
	b = append(b, "moof"...)
	b = be.AppendUint32(b, mfhdSize)
	b = append(b, "mfhd"...)
	b = be.AppendUint32(b, 0) // version 0, flags 0
	b = be.AppendUint32(b, seq)
	dataOffset := uint64(moofSize + mdatHeaderSize) // from the moof's first byte
	for i, pt := range tracks {
		entry := entrySize(flags[i])
		b = be.AppendUint32(b, uint32(trafHeaderSize+tfhdSize+tfdtSize+trunHeaderSize+len(pt.Samples)*entry))
		b = append(b, "traf"...)
		b = be.AppendUint32(b, tfhdSize)
		b = append(b, "tfhd"...)
		b = be.AppendUint32(b, tfhdDefaultBaseMoof) // version 0
		b = be.AppendUint32(b, uint32(pt.ID))
		b = be.AppendUint32(b, tfdtSize)
		b = append(b, "tfdt"...)
		b = be.AppendUint32(b, boxFullHeaderVersion<<24)
		b = be.AppendUint64(b, pt.BaseTime)
		b = be.AppendUint32(b, uint32(trunHeaderSize+len(pt.Samples)*entry))
		b = append(b, "trun"...)
		b = be.AppendUint32(b, boxFullHeaderVersion<<24|flags[i])
		b = be.AppendUint32(b, uint32(len(pt.Samples)))
		b = be.AppendUint32(b, uint32(int32(dataOffset)))
		for _, s := range pt.Samples {
			b = be.AppendUint32(b, s.Duration)
			b = be.AppendUint32(b, uint32(len(s.Payload)))
			if flags[i]&trunSampleFlags != 0 {
				var sf uint32
				if s.IsNonSyncSample {
					sf = sampleIsNonSync
				}
				b = be.AppendUint32(b, sf)
			}
			if flags[i]&trunSampleCTOffset != 0 {
				b = be.AppendUint32(b, uint32(s.PTSOffset))
			}
			dataOffset += uint64(len(s.Payload))
		}
	}
	b = be.AppendUint32(b, uint32(dataSize+mdatHeaderSize))
	b = append(b, "mdat"...)
	return b, nil
}

// children returns the boxes directly inside b (a container's payload),
// as their full bytes (header included), or false when a box size does
// not fit.
func children(b []byte) ([][]byte, bool) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, false
		}
		n := uint64(binary.BigEndian.Uint32(b))
		if n < 8 || n > uint64(len(b)) {
			return nil, false
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out, true
}

// child returns the first box of type typ inside container (the
// container's full bytes), or nil.
func child(container []byte, typ string) []byte {
	if len(container) < 8 {
		return nil
	}
	boxes, ok := children(container[8:])
	if !ok {
		return nil
	}
	for _, c := range boxes {
		if string(c[4:8]) == typ {
			return c
		}
	}
	return nil
}

// declareInBand rewrites an initialisation segment (ftyp+moov) in place
// for parameter sets that change in-band (see MP4Options): each video
// track's avc1/hvc1 sample entry becomes avc3/hev1, and the track header
// of each H.264/H.265 track gets width and height 0. The sizes of all boxes stay the
// same.
func declareInBand(init []byte) error {
	top, ok := children(init)
	if !ok {
		return fmt.Errorf("replay: unreadable init segment")
	}
	for _, moov := range top {
		if string(moov[4:8]) != "moov" {
			continue
		}
		traks, ok := children(moov[8:])
		if !ok {
			return fmt.Errorf("replay: unreadable moov")
		}
		for _, trak := range traks {
			if string(trak[4:8]) != "trak" {
				continue
			}
			stsd := child(child(child(child(trak, "mdia"), "minf"), "stbl"), "stsd")
			// stsd: header, version and flags, entry_count, then the
			// first entry's size and type (ISO/IEC 14496-12 8.5.2).
			if len(stsd) < 24 {
				continue
			}
			entry := stsd[20:24]
			switch string(entry) {
			case "avc1":
				copy(entry, "avc3")
			case "hvc1":
				copy(entry, "hev1")
			case "avc3", "hev1":
				// In-band already (mediacommon writes H.265 as hev1).
			default:
				continue
			}
			// tkhd ends with width and height (16.16 fixed point;
			// section 8.3.2).
			if tkhd := child(trak, "tkhd"); len(tkhd) >= 92 {
				clear(tkhd[len(tkhd)-8:])
			}
		}
	}
	return nil
}

// renameVP8 turns the vp09 sample entry of each VP8 track of an
// initialisation segment (tracks in order) into vp08: the VP codec
// binding gives both the same VisualSampleEntry and vpcC, which
// mediacommon writes for VP9 only. The box sizes stay the same.
func renameVP8(init []byte, tracks []*mp4Track) error {
	top, ok := children(init)
	if !ok {
		return fmt.Errorf("replay: unreadable init segment")
	}
	for _, moov := range top {
		if string(moov[4:8]) != "moov" {
			continue
		}
		traks, ok := children(moov[8:])
		if !ok {
			return fmt.Errorf("replay: unreadable moov")
		}
		n := 0
		for _, trak := range traks {
			if string(trak[4:8]) != "trak" {
				continue
			}
			if n < len(tracks) && tracks[n].codecID == mkv.CodecVP8 {
				stsd := child(child(child(child(trak, "mdia"), "minf"), "stbl"), "stsd")
				if len(stsd) < 24 || string(stsd[20:24]) != "vp09" {
					return fmt.Errorf("replay: VP8 track %d without its sample entry", n+1)
				}
				copy(stsd[20:24], "vp08")
			}
			n++
		}
	}
	return nil
}
