package mkv

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/bits"
	"time"
)

// Reader defaults.
const (
	// DefaultMaxElementSize bounds every element except Segment and Cluster
	// (which are streamed, not buffered).
	DefaultMaxElementSize = 64 << 20
	// DefaultMaxDepth bounds element nesting (Segment is depth 1).
	DefaultMaxDepth = 16
	// maxTracks and maxSimpleTags bound the slices a small hostile element
	// could otherwise inflate by a large factor.
	maxTracks     = 128
	maxSimpleTags = 4096
	// readChunk is the largest allocation made ahead of the data arriving.
	readChunk = 1 << 20
)

// ReaderOptions configures a Reader. The zero value is usable.
type ReaderOptions struct {
	// MaxElementSize is the largest element, other than Segment and
	// Cluster, the Reader accepts. It defaults to DefaultMaxElementSize.
	MaxElementSize int64
	// MaxDepth is the deepest nesting accepted. It defaults to
	// DefaultMaxDepth.
	MaxDepth int
	// SegmentBody reads a stream of Segment children without EBML header
	// and Segment element, e.g. a stored Tracks element followed by a
	// Cluster and Tags, as if inside an unknown-size Segment with
	// TimecodeScale 1 ms.
	SegmentBody bool
}

// Event is what Reader.Next returns: Header, SegmentInfo, Tracks,
// ClusterStart, Block, ClusterEnd or Tags.
type Event interface{ isEvent() }

// Header is the EBML header of a segment. A stream may hold several
// header+segment pairs back to back (as KVS GetMedia output does).
type Header struct {
	// DocType is "matroska" or "webm".
	DocType string
	// DocTypeVersion and DocTypeReadVersion are the versions of the
	// Matroska specification the writer used and a reader needs.
	DocTypeVersion, DocTypeReadVersion uint64
}

// SegmentInfo is a segment's Info element.
type SegmentInfo struct {
	// Info carries Title, WritingApp, DateUTC and Duration.
	Info
	// MuxingApp as written by the producer.
	MuxingApp string
	// TimecodeScale in nanoseconds per tick.
	TimecodeScale uint64
}

// Tracks is a segment's Tracks element.
type Tracks struct {
	// Tracks in document order.
	Tracks []Track
}

// ClusterStart starts a cluster; Timecode is its timecode in ms.
type ClusterStart struct {
	// Timecode is the cluster's timecode in ms.
	Timecode uint64
}

// ClusterEnd ends the cluster opened by the last ClusterStart. For an
// unknown-size cluster it is returned when the next segment-level element
// or the end of the stream is seen.
type ClusterEnd struct{}

// Block is one frame from a SimpleBlock or a BlockGroup's Block. A laced
// block yields one Block per frame.
type Block struct {
	// Track is the TrackNumber.
	Track uint64
	// Timecode is the absolute presentation time in ms.
	Timecode int64
	// Duration in ms, 0 when the block carries none (laced frames get the
	// track's DefaultDuration).
	Duration int64
	// Key is the SimpleBlock keyframe flag, or for a BlockGroup the absence
	// of ReferenceBlock.
	Key bool
	// Data is the frame. It is owned by the caller.
	Data []byte
}

// Tag is one Tag element: its target type and simple tags (nested simple
// tags are flattened in document order).
type Tag struct {
	// TargetTypeValue is the Targets' level (50 when absent: the segment).
	TargetTypeValue uint64
	// SimpleTags are the name/value pairs.
	SimpleTags []SimpleTag
}

// Tags is a Tags element.
type Tags struct {
	// Tags in document order.
	Tags []Tag
}

// Get returns the value of the first SimpleTag named name.
func (t Tags) Get(name string) (string, bool) {
	for _, tag := range t.Tags {
		for _, s := range tag.SimpleTags {
			if s.Name == name {
				return s.Value, true
			}
		}
	}
	return "", false
}

func (Header) isEvent()       {}
func (SegmentInfo) isEvent()  {}
func (Tracks) isEvent()       {}
func (ClusterStart) isEvent() {}
func (ClusterEnd) isEvent()   {}
func (Block) isEvent()        {}
func (Tags) isEvent()         {}

// elemHeader is a parsed element ID and size.
type elemHeader struct {
	id      uint32
	size    int64 // -1 when unknown
	start   int64 // offset of the ID
	dataOff int64 // offset of the body
}

func (h elemHeader) end() int64 {
	if h.size < 0 {
		return -1
	}
	return h.dataOff + h.size
}

// Reader is a streaming Matroska reader for untrusted input (RFC 9559,
// RFC 8794). It reads the EBML header, Segments of known or unknown size,
// Info, Tracks, Clusters of known or unknown size with their SimpleBlocks
// and BlockGroups (Xiph, EBML and fixed-size lacing included) and Tags,
// and skips every other element. Memory use is bounded by
// ReaderOptions.MaxElementSize and by the input actually received, never
// by a size field alone.
type Reader struct {
	br   *bufio.Reader
	opts ReaderOptions
	off  int64
	err  error

	sawHeader  bool
	inSegment  bool
	segEnd     int64 // -1: unknown size
	inCluster  bool
	clusterEnd int64 // -1: unknown size
	clusterTC  uint64
	haveTC     bool
	scale      uint64
	tracks     []Track

	pending    elemHeader
	hasPending bool
	lastResync int64 // offset of the cluster the last Resync found, -1 before any
	// resyncAt is a segment-level element found inside a sized cluster
	// (the cluster's size was wrong): Resync resumes with it.
	resyncAt    elemHeader
	hasResyncAt bool

	laceSizes []int
	laceIdx   int
	laceData  []byte
	laceBlock Block
	laceNS    int64 // first frame time in ns
	laceStep  int64 // ns between laced frames
}

// NewReader returns a Reader of r.
func NewReader(r io.Reader, opts ReaderOptions) *Reader {
	if opts.MaxElementSize <= 0 {
		opts.MaxElementSize = DefaultMaxElementSize
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = DefaultMaxDepth
	}
	rd := &Reader{br: bufio.NewReaderSize(r, 64<<10), opts: opts, scale: TimecodeScale, lastResync: -1}
	if opts.SegmentBody {
		rd.sawHeader, rd.inSegment, rd.segEnd = true, true, -1
	}
	return rd
}

// Next returns the next event. At the end of a well-formed stream it
// returns io.EOF (also for an empty stream). Any other error is final and
// returned again by later calls; truncation wraps io.ErrUnexpectedEOF.
func (r *Reader) Next() (Event, error) {
	if r.err != nil {
		return nil, r.err
	}
	ev, err := r.next()
	if err != nil {
		r.err = err
	}
	return ev, err
}

func errAt(off int64, sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s at offset %d", sentinel, fmt.Sprintf(format, args...), off)
}

func truncated(off int64) error {
	return fmt.Errorf("mkv: element at offset %d truncated: %w", off, io.ErrUnexpectedEOF)
}

func (r *Reader) next() (Event, error) {
	for {
		if r.laceIdx < len(r.laceSizes) {
			return r.nextLace(), nil
		}
		if r.inCluster && (r.clusterEnd >= 0 && r.off >= r.clusterEnd ||
			r.clusterEnd < 0 && r.inSegment && r.segEnd >= 0 && r.off >= r.segEnd) {
			r.inCluster = false
			if r.haveTC {
				return ClusterEnd{}, nil
			}
			continue
		}
		if r.inSegment && r.segEnd >= 0 && r.off >= r.segEnd {
			r.inSegment = false
			continue
		}
		h, err := r.header()
		if err == io.EOF {
			if r.inCluster {
				if r.clusterEnd >= 0 {
					return nil, truncated(r.off)
				}
				r.inCluster = false
				if r.haveTC {
					return ClusterEnd{}, nil
				}
			}
			if r.inSegment && r.segEnd >= 0 {
				return nil, truncated(r.off)
			}
			return nil, io.EOF
		}
		if err != nil {
			return nil, err
		}

		if r.inCluster {
			if isSegmentChild(h.id) {
				if r.clusterEnd >= 0 {
					r.resyncAt, r.hasResyncAt = h, true // Resync resumes here
					return nil, errAt(h.start, ErrOverflow, "element 0x%X inside a sized cluster", h.id)
				}
				r.inCluster = false
				r.pending, r.hasPending = h, true
				if r.haveTC {
					return ClusterEnd{}, nil
				}
				continue
			}
			parentEnd := r.clusterEnd
			if parentEnd < 0 && r.inSegment {
				parentEnd = r.segEnd
			}
			if err := r.check(h, parentEnd, false); err != nil {
				return nil, err
			}
			ev, err := r.clusterChild(h)
			if err != nil || ev != nil {
				return ev, err
			}
			continue
		}

		if r.inSegment {
			if h.id == idEBML && r.segEnd < 0 {
				r.inSegment = false // a new stream starts
			} else {
				if err := r.check(h, r.segEnd, h.id == idCluster); err != nil {
					return nil, err
				}
				ev, err := r.segmentChild(h)
				if err != nil || ev != nil {
					return ev, err
				}
				continue
			}
		}

		switch {
		case h.id == idEBML:
			if err := r.check(h, -1, false); err != nil {
				return nil, err
			}
			body, err := r.body(h)
			if err != nil {
				return nil, err
			}
			ev, err := r.parseHeader(body, h.dataOff)
			if err != nil {
				return nil, err
			}
			r.sawHeader = true
			return ev, nil
		case !r.sawHeader:
			return nil, errAt(h.start, ErrNotMatroska, "element 0x%X before the EBML header", h.id)
		case h.id == idSegment:
			r.inSegment, r.segEnd = true, h.end()
			r.scale, r.tracks = TimecodeScale, nil
		default:
			if err := r.check(h, -1, false); err != nil {
				return nil, err
			}
			if err := r.skip(h); err != nil {
				return nil, err
			}
		}
	}
}

// check validates h against its parent's end (-1: unknown) and the size
// limits. streamed is true for elements the Reader descends into without
// buffering (a Cluster).
func (r *Reader) check(h elemHeader, parentEnd int64, streamed bool) error {
	if h.size < 0 {
		if !streamed {
			return errAt(h.start, ErrUnknownSize, "element 0x%X", h.id)
		}
		return nil
	}
	if parentEnd >= 0 && h.end() > parentEnd {
		return errAt(h.start, ErrOverflow, "element 0x%X of size %d", h.id, h.size)
	}
	if !streamed && h.size > r.opts.MaxElementSize {
		return errAt(h.start, ErrElementTooLarge, "element 0x%X of size %d", h.id, h.size)
	}
	return nil
}

// header reads an element ID and size. It returns io.EOF only when the
// stream ends cleanly before the ID.
func (r *Reader) header() (elemHeader, error) {
	if r.hasPending {
		r.hasPending = false
		return r.pending, nil
	}
	h := elemHeader{start: r.off}
	first, err := r.br.ReadByte()
	if err != nil {
		if err == io.EOF {
			return h, io.EOF
		}
		return h, err
	}
	r.off++
	n := vintWidth(first)
	if n == 0 || n > 4 {
		return h, errAt(h.start, ErrInvalidVint, "element ID byte 0x%02X", first)
	}
	h.id = uint32(first)
	for i := 1; i < n; i++ {
		c, err := r.readByte(h.start)
		if err != nil {
			return h, err
		}
		h.id = h.id<<8 | uint32(c)
	}
	first, err = r.readByte(h.start)
	if err != nil {
		return h, err
	}
	n = vintWidth(first)
	if n == 0 {
		return h, errAt(h.start, ErrInvalidVint, "element 0x%X size byte 0x00", h.id)
	}
	v := uint64(first) & (0xFF >> n)
	for i := 1; i < n; i++ {
		c, err := r.readByte(h.start)
		if err != nil {
			return h, err
		}
		v = v<<8 | uint64(c)
	}
	if v == 1<<(7*n)-1 {
		h.size = -1
	} else {
		h.size = int64(v) // < 2^56
	}
	h.dataOff = r.off
	return h, nil
}

func (r *Reader) readByte(start int64) (byte, error) {
	c, err := r.br.ReadByte()
	if err != nil {
		if err == io.EOF {
			return 0, truncated(start)
		}
		return 0, err
	}
	r.off++
	return c, nil
}

// body reads the body of h, allocating as data arrives rather than from
// the size field alone.
func (r *Reader) body(h elemHeader) ([]byte, error) {
	n := h.size
	buf := make([]byte, 0, min(n, readChunk))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*int64(cap(buf))))
			copy(grown, buf)
			buf = grown
		}
		m, err := io.ReadFull(r.br, buf[len(buf):cap(buf)])
		r.off += int64(m)
		buf = buf[:len(buf)+m]
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil, truncated(h.start)
			}
			return nil, err
		}
	}
	return buf, nil
}

func (r *Reader) skip(h elemHeader) error {
	n := h.size
	for n > 0 {
		m, err := r.br.Discard(int(min(n, 1<<30)))
		r.off += int64(m)
		n -= int64(m)
		if err != nil {
			if err == io.EOF {
				return truncated(h.start)
			}
			return err
		}
	}
	return nil
}

func (r *Reader) segmentChild(h elemHeader) (Event, error) {
	switch h.id {
	case idCluster:
		r.inCluster, r.clusterEnd, r.haveTC = true, h.end(), false
		return nil, nil
	case idSegment:
		return nil, errAt(h.start, ErrInvalidElement, "segment inside a segment")
	case idInfo, idTracks, idTags:
	default:
		return nil, r.skip(h)
	}
	body, err := r.body(h)
	if err != nil {
		return nil, err
	}
	switch h.id {
	case idInfo:
		return r.parseInfo(body, h.dataOff)
	case idTracks:
		return r.parseTracks(body, h.dataOff)
	}
	return r.parseTags(body, h.dataOff)
}

func (r *Reader) clusterChild(h elemHeader) (Event, error) {
	switch h.id {
	case idTimecode, idSimpleBlock, idBlockGroup:
	default:
		return nil, r.skip(h)
	}
	body, err := r.body(h)
	if err != nil {
		return nil, err
	}
	if h.id == idTimecode {
		v, ok := readUint(body)
		if !ok || r.haveTC {
			return nil, errAt(h.start, ErrInvalidElement, "cluster timecode")
		}
		ms, ok := r.clusterMS(v)
		if !ok {
			return nil, errAt(h.start, ErrInvalidElement, "cluster timecode %d out of range", v)
		}
		r.clusterTC, r.haveTC = v, true
		return ClusterStart{Timecode: ms}, nil
	}
	if !r.haveTC {
		return nil, errAt(h.start, ErrInvalidBlock, "block before the cluster timecode")
	}
	if h.id == idSimpleBlock {
		return r.parseBlock(body, h.start, true, false, 0)
	}
	var block []byte
	var ref bool
	var dur uint64
	err = r.walk(body, h.dataOff, 3, func(id uint32, p []byte, off int64) error {
		switch id {
		case idBlock:
			if block != nil {
				return errAt(off, ErrInvalidBlock, "two blocks in a group")
			}
			block = p
		case idReferenceBlock:
			ref = true
		case idBlockDuration:
			v, ok := readUint(p)
			if !ok {
				return errAt(off, ErrInvalidElement, "block duration")
			}
			dur = v
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if block == nil {
		return nil, errAt(h.start, ErrInvalidBlock, "block group without block")
	}
	return r.parseBlock(block, h.start, false, !ref, dur)
}

// clusterMS converts a cluster timecode to ms.
func (r *Reader) clusterMS(tc uint64) (uint64, bool) {
	hi, lo := bits.Mul64(tc, r.scale)
	if hi >= 1e6 {
		return 0, false
	}
	q, _ := bits.Div64(hi, lo, 1e6)
	return q, true
}

// blockNS returns the absolute time in ns of a block at rel ticks from the
// cluster timecode.
func (r *Reader) blockNS(rel int16) (int64, bool) {
	if r.clusterTC > math.MaxInt64/2 {
		return 0, false
	}
	ticks := int64(r.clusterTC) + int64(rel)
	mag := uint64(ticks)
	if ticks < 0 {
		mag = uint64(-ticks)
	}
	hi, lo := bits.Mul64(mag, r.scale)
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false
	}
	if ticks < 0 {
		return -int64(lo), true
	}
	return int64(lo), true
}

// floorMS converts ns to ms rounding toward minus infinity.
func floorMS(ns int64) int64 {
	ms := ns / 1e6
	if ns < 0 && ns%1e6 != 0 {
		ms--
	}
	return ms
}

// parseBlock decodes a SimpleBlock or Block body (RFC 9559 section 10).
func (r *Reader) parseBlock(p []byte, off int64, simple, groupKey bool, durTicks uint64) (Event, error) {
	track, n, _ := parseVint(p)
	if n == 0 || len(p) < n+3 || track == 0 {
		return nil, errAt(off, ErrInvalidBlock, "block header")
	}
	rel := int16(uint16(p[n])<<8 | uint16(p[n+1]))
	flags := p[n+2]
	ns, ok := r.blockNS(rel)
	if !ok {
		return nil, errAt(off, ErrInvalidBlock, "block time out of range")
	}
	b := Block{Track: track, Timecode: floorMS(ns), Key: groupKey}
	if simple {
		b.Key = flags&flagKeyframe != 0
	}
	if durTicks > 0 {
		hi, lo := bits.Mul64(durTicks, r.scale)
		if hi == 0 && lo <= math.MaxInt64 {
			b.Duration = int64(lo / 1e6)
		}
	}
	data := p[n+3:]
	lacing := (flags >> 1) & 3
	if lacing == 0 {
		b.Data = data[:len(data):len(data)]
		return b, nil
	}
	if err := r.parseLaces(data, lacing, off); err != nil {
		return nil, err
	}
	var step int64
	for i := range r.tracks {
		if r.tracks[i].Number == track {
			step = int64(r.tracks[i].DefaultDuration)
		}
	}
	if step > (math.MaxInt64-max(ns, -ns))/256 {
		step = 0 // absurd DefaultDuration: time all frames at the block's time
	}
	b.Duration = step / 1e6
	r.laceBlock, r.laceNS, r.laceStep = b, ns, step
	return r.nextLace(), nil
}

// parseLaces splits a laced block's frames (RFC 9559 section 10.3) into
// r.laceSizes and r.laceData.
func (r *Reader) parseLaces(p []byte, lacing byte, off int64) error {
	bad := func(what string) error { return errAt(off, ErrInvalidLacing, "%s", what) }
	if len(p) < 1 {
		return bad("missing frame count")
	}
	count := int(p[0]) + 1
	p = p[1:]
	sizes := r.laceSizes[:0]
	total := 0
	switch lacing {
	case 1: // Xiph
		for range count - 1 {
			size := 0
			for {
				if len(p) == 0 {
					return bad("xiph lace sizes truncated")
				}
				c := p[0]
				p = p[1:]
				size += int(c)
				if c != 0xFF {
					break
				}
			}
			sizes = append(sizes, size)
			total += size
		}
	case 3: // EBML
		v, n, _ := parseVint(p)
		if n == 0 || v > uint64(len(p)) {
			return bad("ebml lace size")
		}
		p = p[n:]
		size := int64(v)
		sizes = append(sizes, int(size))
		total += int(size)
		for range count - 2 {
			v, n, _ := parseVint(p)
			if n == 0 {
				return bad("ebml lace size")
			}
			p = p[n:]
			size += int64(v) - (1<<(7*n-1) - 1) // signed difference
			if size < 0 || size > int64(len(p)) {
				return bad("ebml lace size")
			}
			sizes = append(sizes, int(size))
			total += int(size)
		}
	case 2: // fixed
		if len(p)%count != 0 {
			return bad("fixed lace sizes")
		}
		for range count - 1 {
			sizes = append(sizes, len(p)/count)
		}
		total = len(p) / count * (count - 1)
	}
	if total > len(p) {
		return bad("lace sizes exceed the block")
	}
	sizes = append(sizes, len(p)-total)
	r.laceSizes, r.laceIdx, r.laceData = sizes, 0, p
	return nil
}

func (r *Reader) nextLace() Block {
	b := r.laceBlock
	size := r.laceSizes[r.laceIdx]
	b.Data = r.laceData[:size:size]
	b.Timecode = floorMS(r.laceNS + int64(r.laceIdx)*r.laceStep)
	r.laceData = r.laceData[size:]
	r.laceIdx++
	if r.laceIdx == len(r.laceSizes) {
		r.laceSizes, r.laceIdx, r.laceData = r.laceSizes[:0], 0, nil
	}
	return b
}

// walk calls fn for each child of a buffered master element body. base is
// the stream offset of body and depth the depth of its children.
func (r *Reader) walk(body []byte, base int64, depth int, fn func(id uint32, p []byte, off int64) error) error {
	if depth > r.opts.MaxDepth {
		return errAt(base, ErrTooDeep, "depth %d", depth)
	}
	pos := 0
	for pos < len(body) {
		off := base + int64(pos)
		id, n := parseID(body[pos:])
		if n == 0 {
			return errAt(off, ErrInvalidVint, "element ID")
		}
		size, m, unknown := parseVint(body[pos+n:])
		if m == 0 {
			return errAt(off, ErrInvalidVint, "element 0x%X size", id)
		}
		if unknown {
			return errAt(off, ErrUnknownSize, "element 0x%X", id)
		}
		start := pos + n + m
		if size > uint64(len(body)-start) {
			return errAt(off, ErrOverflow, "element 0x%X of size %d", id, size)
		}
		if err := fn(id, body[start:start+int(size)], off); err != nil {
			return err
		}
		pos = start + int(size)
	}
	return nil
}

func (r *Reader) parseHeader(body []byte, base int64) (Event, error) {
	h := Header{DocType: "matroska", DocTypeVersion: 1, DocTypeReadVersion: 1}
	err := r.walk(body, base, 1, func(id uint32, p []byte, off int64) error {
		var ok = true
		var v uint64
		switch id {
		case idDocType:
			h.DocType = readString(p)
		case idDocTypeVersion:
			h.DocTypeVersion, ok = readUint(p)
		case idDocTypeReadVersion:
			h.DocTypeReadVersion, ok = readUint(p)
		case idEBMLMaxIDLength:
			v, ok = readUint(p)
			if ok && v > 4 {
				return errAt(off, ErrUnsupported, "EBMLMaxIDLength %d", v)
			}
		case idEBMLMaxSizeLength:
			v, ok = readUint(p)
			if ok && v > 8 {
				return errAt(off, ErrUnsupported, "EBMLMaxSizeLength %d", v)
			}
		}
		if !ok {
			return errAt(off, ErrInvalidElement, "header element 0x%X", id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if h.DocType != "matroska" && h.DocType != "webm" {
		return nil, errAt(base, ErrNotMatroska, "doc type %q", h.DocType)
	}
	return h, nil
}

func (r *Reader) parseInfo(body []byte, base int64) (Event, error) {
	info := SegmentInfo{TimecodeScale: TimecodeScale}
	var dur float64
	err := r.walk(body, base, 2, func(id uint32, p []byte, off int64) error {
		ok := true
		switch id {
		case idTimecodeScale:
			info.TimecodeScale, ok = readUint(p)
			ok = ok && info.TimecodeScale > 0
		case idDuration:
			dur, ok = readFloat(p)
		case idDateUTC:
			var d int64
			d, ok = readInt(p)
			info.DateUTC = time.Unix(matroskaEpoch, 0).Add(time.Duration(d)).UTC()
		case idTitle:
			info.Title = readString(p)
		case idMuxingApp:
			info.MuxingApp = readString(p)
		case idWritingApp:
			info.WritingApp = readString(p)
		}
		if !ok {
			return errAt(off, ErrInvalidElement, "info element 0x%X", id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if ns := dur * float64(info.TimecodeScale); ns > 0 && ns < math.MaxInt64 {
		info.Duration = time.Duration(ns)
	}
	r.scale = info.TimecodeScale
	return info, nil
}

// nsDuration converts a uint nanosecond count, saturating.
func nsDuration(v uint64) time.Duration {
	return time.Duration(min(v, math.MaxInt64))
}

func clampInt(v uint64) int {
	return int(min(v, math.MaxInt32))
}

func (r *Reader) parseTracks(body []byte, base int64) (Event, error) {
	var tracks []Track
	err := r.walk(body, base, 2, func(id uint32, p []byte, off int64) error {
		if id != idTrackEntry {
			return nil
		}
		if len(tracks) == maxTracks {
			return errAt(off, ErrUnsupported, "more than %d tracks", maxTracks)
		}
		var t Track
		err := r.walk(p, off, 3, func(id uint32, p []byte, off int64) error {
			ok := true
			var v uint64
			switch id {
			case idTrackNumber:
				t.Number, ok = readUint(p)
			case idTrackUID:
				t.UID, ok = readUint(p)
			case idTrackType:
				v, ok = readUint(p)
				t.Type = TrackType(min(v, 255))
			case idCodecID:
				t.CodecID = readString(p)
			case idCodecPrivate:
				t.CodecPrivate = append([]byte(nil), p...)
			case idCodecDelay:
				v, ok = readUint(p)
				t.CodecDelay = nsDuration(v)
			case idSeekPreRoll:
				v, ok = readUint(p)
				t.SeekPreRoll = nsDuration(v)
			case idDefaultDuration:
				v, ok = readUint(p)
				t.DefaultDuration = nsDuration(v)
			case idContentEncodings:
				return errAt(off, ErrUnsupported, "content encodings")
			case idVideo, idAudio:
				return r.walk(p, off, 4, func(id uint32, p []byte, off int64) error {
					ok := true
					var v uint64
					switch id {
					case idPixelWidth:
						v, ok = readUint(p)
						t.Width = clampInt(v)
					case idPixelHeight:
						v, ok = readUint(p)
						t.Height = clampInt(v)
					case idSamplingFrequency:
						t.SampleRate, ok = readFloat(p)
					case idChannels:
						v, ok = readUint(p)
						t.Channels = clampInt(v)
					case idBitDepth:
						v, ok = readUint(p)
						t.BitDepth = clampInt(v)
					}
					if !ok {
						return errAt(off, ErrInvalidElement, "track element 0x%X", id)
					}
					return nil
				})
			}
			if !ok {
				return errAt(off, ErrInvalidElement, "track element 0x%X", id)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if t.Number == 0 {
			return errAt(off, ErrInvalidElement, "track without number")
		}
		tracks = append(tracks, t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.tracks = tracks
	return Tracks{Tracks: tracks}, nil
}

func (r *Reader) parseTags(body []byte, base int64) (Event, error) {
	var tags Tags
	count := 0
	var simpleTag func(p []byte, off int64, depth int, tag *Tag) error
	simpleTag = func(p []byte, off int64, depth int, tag *Tag) error {
		if count == maxSimpleTags {
			return errAt(off, ErrUnsupported, "more than %d simple tags", maxSimpleTags)
		}
		count++
		i := len(tag.SimpleTags)
		tag.SimpleTags = append(tag.SimpleTags, SimpleTag{})
		return r.walk(p, off, depth, func(id uint32, p []byte, off int64) error {
			switch id {
			case idTagName:
				tag.SimpleTags[i].Name = readString(p)
			case idTagString:
				tag.SimpleTags[i].Value = readString(p)
			case idSimpleTag:
				return simpleTag(p, off, depth+1, tag)
			}
			return nil
		})
	}
	err := r.walk(body, base, 2, func(id uint32, p []byte, off int64) error {
		if id != idTag {
			return nil
		}
		if count == maxSimpleTags {
			return errAt(off, ErrUnsupported, "more than %d tags", maxSimpleTags)
		}
		count++
		tag := Tag{TargetTypeValue: tagTargetAlbum}
		err := r.walk(p, off, 3, func(id uint32, p []byte, off int64) error {
			switch id {
			case idTargets:
				return r.walk(p, off, 4, func(id uint32, p []byte, off int64) error {
					if id == idTargetTypeValue {
						v, ok := readUint(p)
						if !ok {
							return errAt(off, ErrInvalidElement, "target type value")
						}
						tag.TargetTypeValue = v
					}
					return nil
				})
			case idSimpleTag:
				return simpleTag(p, off, 4, &tag)
			}
			return nil
		})
		if err != nil {
			return err
		}
		tags.Tags = append(tags.Tags, tag)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return tags, nil
}
