package mkv

import "errors"

// Errors returned by the writer helpers.
var (
	// ErrTimecodeRange is returned when a block's timecode relative to its
	// cluster does not fit the signed 16-bit field of a (Simple)Block, i.e.
	// lies outside [-32768, 32767] ms.
	ErrTimecodeRange = errors.New("mkv: block timecode out of int16 range relative to cluster")
	// ErrNotCluster is returned by FinishCluster and PatchClusterTimecode for
	// bytes that do not start with a cluster in this package's layout.
	ErrNotCluster = errors.New("mkv: not a cluster written by this package")
	// ErrInvalidTrack is returned by AppendTracks for a track without number,
	// type or codec ID.
	ErrInvalidTrack = errors.New("mkv: invalid track")
	// ErrInvalidParameterSet is returned by AVCConfig, HEVCConfig and
	// VideoSize for a missing, mistyped or unparsable SPS/PPS/VPS.
	ErrInvalidParameterSet = errors.New("mkv: invalid parameter set")
	// ErrUnsupportedCodec is returned by VideoSize for a codec ID it does
	// not know.
	ErrUnsupportedCodec = errors.New("mkv: unsupported codec")
	// ErrNotFinishable is returned by FinishFile for a file that is not a
	// stream from AppendSeekHeadVoid…AppendCues: no Void to hold the
	// SeekHead, no Cues, or elements it cannot walk.
	ErrNotFinishable = errors.New("mkv: file cannot be finished")
	// ErrInvalidCodecPrivate is returned by ParseAVCConfig and
	// ParseHEVCConfig for a decoder configuration record they cannot read.
	ErrInvalidCodecPrivate = errors.New("mkv: invalid codec private data")
)

// Errors returned by the Reader. Every error other than io.EOF is final: the
// Reader returns it again on every later call. Truncated input yields an
// error that wraps io.ErrUnexpectedEOF; the others wrap one of these
// sentinels, with the byte offset of the offending element in the message.
var (
	// ErrNotMatroska means the stream does not start with an EBML header
	// whose DocType is "matroska" or "webm".
	ErrNotMatroska = errors.New("mkv: not a matroska stream")
	// ErrInvalidVint is an element ID or size that is not a valid EBML
	// variable-size integer (RFC 8794 section 4).
	ErrInvalidVint = errors.New("mkv: invalid variable-size integer")
	// ErrElementTooLarge is an element larger than ReaderOptions.MaxElementSize.
	ErrElementTooLarge = errors.New("mkv: element too large")
	// ErrTooDeep is nesting beyond ReaderOptions.MaxDepth.
	ErrTooDeep = errors.New("mkv: elements nested too deep")
	// ErrOverflow is a child element that extends past the end of its parent.
	ErrOverflow = errors.New("mkv: element overflows its parent")
	// ErrUnknownSize is an unknown size on an element other than Segment or
	// Cluster.
	ErrUnknownSize = errors.New("mkv: unknown size not allowed here")
	// ErrInvalidElement is an element whose content is malformed (bad integer
	// or float width, zero timecode scale, duplicate cluster timecode, ...).
	ErrInvalidElement = errors.New("mkv: invalid element")
	// ErrInvalidBlock is a SimpleBlock or Block that is malformed or comes
	// before its cluster's Timecode.
	ErrInvalidBlock = errors.New("mkv: invalid block")
	// ErrInvalidLacing is a laced block whose lace sizes do not add up.
	ErrInvalidLacing = errors.New("mkv: invalid lacing")
	// ErrUnsupported is a valid feature the Reader does not implement:
	// content encodings (compression, encryption), IDs longer than 4 bytes
	// or sizes longer than 8 bytes.
	ErrUnsupported = errors.New("mkv: unsupported feature")
)
