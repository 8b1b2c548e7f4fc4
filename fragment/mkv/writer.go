package mkv

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"time"
)

// MuxingApp is the MuxingApp the writer puts in every Info element.
const MuxingApp = "kinedge"

// TimecodeScale is the scale of every timecode this package writes: 1 ms
// (RFC 9559 section 11.1). Block and cluster timecodes are milliseconds.
const TimecodeScale = 1_000_000

// Cluster layout. A cluster written by AppendClusterStart starts with the
// 4-byte Cluster ID, an 8-byte size, then the Timecode element: ID 0xE7,
// size byte 0x88 and an 8-byte big-endian unsigned value. The value
// therefore always sits at ClusterTimecodeOffset from the cluster's first
// byte, and blocks start at ClusterHeaderSize.
const (
	ClusterTimecodeOffset = 14
	ClusterHeaderSize     = 22
)

// matroskaEpoch is 2001-01-01T00:00:00 UTC in Unix seconds, the origin of
// DateUTC (RFC 8794 section 7.6).
const matroskaEpoch = 978307200

// Info is the segment information (RFC 9559 section 5.1.2).
type Info struct {
	// WritingApp names the application. It defaults to MuxingApp.
	WritingApp string
	// Title is optional.
	Title string
	// DateUTC is the production date, omitted when zero.
	DateUTC time.Time
	// Duration of the segment, omitted when 0 (live output).
	Duration time.Duration
}

// AppendEBMLHeader appends the EBML header of a Matroska file (RFC 8794
// section 11.2, RFC 9559 section 4.2): DocType "matroska", DocTypeVersion 4,
// DocTypeReadVersion 2.
func AppendEBMLHeader(dst []byte) []byte {
	b, off := beginMaster(dst, idEBML)
	b = appendUintEl(b, idEBMLVersion, 1)
	b = appendUintEl(b, idEBMLReadVersion, 1)
	b = appendUintEl(b, idEBMLMaxIDLength, 4)
	b = appendUintEl(b, idEBMLMaxSizeLength, 8)
	b = appendStringEl(b, idDocType, "matroska")
	b = appendUintEl(b, idDocTypeVersion, 4)
	b = appendUintEl(b, idDocTypeReadVersion, 2)
	endMaster(b, off)
	return b
}

// AppendSegmentStart appends a Segment header of unknown size, for live and
// streamed output: the segment's children follow and it ends at the end of
// the stream or at the next EBML header.
func AppendSegmentStart(dst []byte) []byte {
	b := appendID(dst, idSegment)
	return binary.BigEndian.AppendUint64(b, unknownSize8)
}

// AppendInfo appends an Info element with TimecodeScale 1 ms.
func AppendInfo(dst []byte, info Info) []byte {
	b, off := beginMaster(dst, idInfo)
	b = appendUintEl(b, idTimecodeScale, TimecodeScale)
	if info.Duration > 0 {
		b = appendFloatEl(b, idDuration, float64(info.Duration)/TimecodeScale)
	}
	if !info.DateUTC.IsZero() {
		b = appendIntEl(b, idDateUTC, dateUTC(info.DateUTC))
	}
	if info.Title != "" {
		b = appendStringEl(b, idTitle, info.Title)
	}
	b = appendStringEl(b, idMuxingApp, MuxingApp)
	app := info.WritingApp
	if app == "" {
		app = MuxingApp
	}
	b = appendStringEl(b, idWritingApp, app)
	endMaster(b, off)
	return b
}

// dateUTC converts t to nanoseconds since 2001-01-01T00:00:00 UTC,
// saturating outside the int64 range.
func dateUTC(t time.Time) int64 {
	d := t.Sub(time.Unix(matroskaEpoch, 0)) // saturates at ±292 years
	return int64(d)
}

// AppendClusterStart appends the start of a Cluster with a placeholder size
// and the given timecode (ms) in the fixed layout described at
// ClusterTimecodeOffset. Append blocks with AppendSimpleBlock, then call
// FinishCluster on the bytes from the cluster's first byte to the end.
func AppendClusterStart(dst []byte, timecode uint64) []byte {
	b := appendID(dst, idCluster)
	b = append(b, 0x01, 0, 0, 0, 0, 0, 0, 0) // 8-byte size, set by FinishCluster
	return appendUint8El(b, idTimecode, timecode)
}

func checkCluster(cluster []byte) error {
	if len(cluster) < ClusterHeaderSize ||
		binary.BigEndian.Uint32(cluster) != idCluster ||
		cluster[4] != 0x01 ||
		cluster[12] != idTimecode || cluster[13] != 0x88 {
		return ErrNotCluster
	}
	return nil
}

// FinishCluster sets the size of a cluster started with AppendClusterStart.
// cluster runs from the cluster's first byte to its last block.
func FinishCluster(cluster []byte) error {
	if err := checkCluster(cluster); err != nil {
		return err
	}
	putVint8(cluster[4:], uint64(len(cluster)-12))
	return nil
}

// PatchClusterTimecode rewrites, in place, the timecode (ms) of a cluster
// written by AppendClusterStart. Blocks are relative to it, so this moves
// the whole cluster in time.
func PatchClusterTimecode(cluster []byte, ms uint64) error {
	if err := checkCluster(cluster); err != nil {
		return err
	}
	binary.BigEndian.PutUint64(cluster[ClusterTimecodeOffset:], ms)
	return nil
}

// SimpleBlock flags (RFC 9559 section 10.2).
const (
	flagKeyframe = 0x80
)

// AppendSimpleBlock appends a SimpleBlock (RFC 9559 section 10.2) without
// lacing: track is the TrackNumber, rel the presentation timecode in ms
// relative to the cluster's timecode, key marks a keyframe. It returns
// ErrTimecodeRange when rel does not fit 16 bits and ErrInvalidTrack for
// track 0; dst is returned unchanged with an error. It does not allocate
// when dst has room.
func AppendSimpleBlock(dst []byte, track uint64, rel int64, key bool, data []byte) ([]byte, error) {
	if rel < math.MinInt16 || rel > math.MaxInt16 {
		return dst, fmt.Errorf("%w: %d ms", ErrTimecodeRange, rel)
	}
	if track == 0 || track > maxVintValue {
		return dst, fmt.Errorf("%w: block track number %d", ErrInvalidTrack, track)
	}
	tn := vintLen(track)
	b := append(dst, idSimpleBlock)
	b = appendVint(b, uint64(tn+3+len(data)))
	b = appendVintN(b, track, tn)
	flags := byte(0)
	if key {
		flags = flagKeyframe
	}
	b = append(b, byte(uint16(int16(rel))>>8), byte(int16(rel)), flags)
	return append(b, data...), nil
}

// Kinesis Video Streams fragment tag names. KVS writes them as SimpleTags
// in a Tags element after each fragment's cluster; values are decimal
// strings, timestamps in seconds with millisecond precision (see
// FormatTagTime).
const (
	TagFragmentNumber    = "AWS_KINESISVIDEO_FRAGMENT_NUMBER"
	TagServerTimestamp   = "AWS_KINESISVIDEO_SERVER_TIMESTAMP"
	TagProducerTimestamp = "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP"
	// TagContinuationToken and TagMillisBehindNow are the tags KVS
	// GetMedia adds: the token a later GetMedia resumes after (StartSelector
	// CONTINUATION_TOKEN), and how far behind now the fragment is, in
	// milliseconds.
	TagContinuationToken = "AWS_KINESISVIDEO_CONTINUATION_TOKEN"
	TagMillisBehindNow   = "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW"
)

// SimpleTag is a tag name and string value (RFC 9559 section 5.1.8.1.2).
type SimpleTag struct {
	// Name is the TagName, Value the TagString.
	Name, Value string
}

// FormatTagTime formats t as KVS tag timestamps are: Unix seconds with
// three decimals, e.g. "1700000000.123".
func FormatTagTime(t time.Time) string {
	ms := t.UnixMilli()
	sign := ""
	if ms < 0 {
		sign, ms = "-", -ms
	}
	frac := strconv.FormatInt(ms%1000+1000, 10)[1:]
	return sign + strconv.FormatInt(ms/1000, 10) + "." + frac
}

// tagTargetAlbum is TargetTypeValue 50 (ALBUM/MOVIE/EPISODE): tags that
// apply to the whole segment.
const tagTargetAlbum = 50

// AppendTags appends a Tags element with one Tag whose Targets has
// TargetTypeValue 50 (the whole segment) and one SimpleTag per entry.
func AppendTags(dst []byte, tags []SimpleTag) []byte {
	b, tagsOff := beginMaster(dst, idTags)
	var tagOff, tgtOff int
	b, tagOff = beginMaster(b, idTag)
	b, tgtOff = beginMaster(b, idTargets)
	b = appendUintEl(b, idTargetTypeValue, tagTargetAlbum)
	endMaster(b, tgtOff)
	for _, t := range tags {
		var off int
		b, off = beginMaster(b, idSimpleTag)
		b = appendStringEl(b, idTagName, t.Name)
		b = appendStringEl(b, idTagString, t.Value)
		endMaster(b, off)
	}
	endMaster(b, tagOff)
	endMaster(b, tagsOff)
	return b
}

// Fragment is the content of a self-contained Matroska file holding one
// fragment.
type Fragment struct {
	// Info of the segment.
	Info Info
	// Tracks is a Tracks element from AppendTracks.
	Tracks []byte
	// Cluster is a finished cluster from AppendClusterStart/FinishCluster.
	Cluster []byte
	// Tags are written in a Tags element after the cluster, as KVS does.
	// None is written when empty.
	Tags []SimpleTag
	// UnknownSize writes the Segment with an unknown size (streaming) instead
	// of its exact size.
	UnknownSize bool
}

// seekEntrySize is the size of one Seek element as written by appendSeek.
const seekEntrySize = 2 + 1 + (2 + 1 + 4) + (2 + 1 + 8)

func appendSeek(b []byte, id uint32) []byte {
	b = append(b, 0x4D, 0xBB, 0x80|(seekEntrySize-3))
	b = append(b, 0x53, 0xAB, 0x84)
	b = binary.BigEndian.AppendUint32(b, id)
	b = append(b, 0x53, 0xAC, 0x88)
	return append(b, 0, 0, 0, 0, 0, 0, 0, 0) // position, patched later
}

// AppendFragment appends a complete Matroska file: EBML header, Segment,
// SeekHead, Info, Tracks, the cluster and Tags. The SeekHead points at
// Info, Tracks and Tags so players that seek (ffmpeg) find the Tags behind
// the cluster. It returns ErrInvalidTrack or ErrNotCluster when f.Tracks or
// f.Cluster is not such an element.
func AppendFragment(dst []byte, f *Fragment) ([]byte, error) {
	if len(f.Tracks) < 4 || binary.BigEndian.Uint32(f.Tracks) != idTracks {
		return dst, fmt.Errorf("%w: not a tracks element", ErrInvalidTrack)
	}
	if len(f.Cluster) < 4 || binary.BigEndian.Uint32(f.Cluster) != idCluster {
		return dst, ErrNotCluster
	}
	b := AppendEBMLHeader(dst)
	b = appendID(b, idSegment)
	segSize := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	data := len(b)

	ids := [3]uint32{idInfo, idTracks, idTags}
	nSeek := 2
	if len(f.Tags) > 0 {
		nSeek = 3
	}
	b = appendID(b, idSeekHead)
	b = appendVint(b, uint64(nSeek*seekEntrySize))
	seekStart := len(b)
	for _, id := range ids[:nSeek] {
		b = appendSeek(b, id)
	}
	var pos [3]int
	pos[0] = len(b) - data
	b = AppendInfo(b, f.Info)
	pos[1] = len(b) - data
	b = append(b, f.Tracks...)
	b = append(b, f.Cluster...)
	pos[2] = len(b) - data
	if len(f.Tags) > 0 {
		b = AppendTags(b, f.Tags)
	}
	for i := range nSeek {
		p := seekStart + i*seekEntrySize + seekEntrySize - 8
		binary.BigEndian.PutUint64(b[p:], uint64(pos[i]))
	}
	if f.UnknownSize {
		binary.BigEndian.PutUint64(b[segSize:], unknownSize8)
	} else {
		putVint8(b[segSize:], uint64(len(b)-data))
	}
	return b, nil
}
