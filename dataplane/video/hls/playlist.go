package hls

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Segment is one media segment of a media playlist: for the appliance,
// one stored fragment.
type Segment struct {
	// URI of the segment (relative to the playlist, or absolute).
	URI string
	// Duration is the segment's length (EXTINF).
	Duration time.Duration
	// Time is the wall-clock time of its first sample
	// (EXT-X-PROGRAM-DATE-TIME when the playlist's ShowTime is set).
	Time time.Time
	// Discontinuity marks a segment that does not continue the one
	// before it: a gap, or other codec parameters (EXT-X-DISCONTINUITY).
	Discontinuity bool
	// MapURI, when set, is a new initialisation segment from this
	// segment on (an EXT-X-MAP after the discontinuity).
	MapURI string
}

// MediaPlaylist is an RFC 8216 media playlist of fMP4 segments (with
// MapURI) or MPEG-TS segments (without).
type MediaPlaylist struct {
	// Version is EXT-X-VERSION: 7 when 0 (fMP4 segments need EXT-X-MAP);
	// 3 for MPEG-TS segments (decimal EXTINF durations, RFC 8216
	// section 7).
	Version int
	// MapURI is the initialisation segment (EXT-X-MAP) of the first
	// segment.
	MapURI string
	// Sequence is the media sequence number of the first segment
	// (EXT-X-MEDIA-SEQUENCE).
	Sequence uint64
	// DiscontinuitySequence is EXT-X-DISCONTINUITY-SEQUENCE: the
	// discontinuities before the first segment, for a sliding playlist.
	DiscontinuitySequence uint64
	// Segments, in order.
	Segments []Segment
	// Ended closes the playlist (EXT-X-ENDLIST, and the playlist type
	// VOD): no segment will be added.
	Ended bool
	// ShowTime writes each segment's EXT-X-PROGRAM-DATE-TIME.
	ShowTime bool
	// MinTargetDuration is the least EXT-X-TARGETDURATION written (a live
	// playlist without segments yet still needs one). It defaults to 1 s.
	MinTargetDuration time.Duration
}

// TargetDuration returns EXT-X-TARGETDURATION in seconds: the longest
// segment rounded to the nearest integer second, as RFC 8216 section
// 4.3.3.1 requires EXTINF durations rounded to be at most it; here it is
// rounded up so a segment never exceeds it.
func (p *MediaPlaylist) TargetDuration() int64 {
	d := max(p.MinTargetDuration, time.Second)
	for _, s := range p.Segments {
		d = max(d, s.Duration)
	}
	return int64(math.Ceil(d.Seconds()))
}

// version is the playlist's EXT-X-VERSION (see Version).
func (p *MediaPlaylist) version() int {
	if p.Version == 0 {
		return 7
	}
	return p.Version
}

// Marshal returns the playlist's text.
func (p *MediaPlaylist) Marshal() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:%d\n", p.version())
	fmt.Fprintf(&b, "#EXT-X-TARGETDURATION:%d\n", p.TargetDuration())
	fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n", p.Sequence)
	if p.DiscontinuitySequence > 0 {
		fmt.Fprintf(&b, "#EXT-X-DISCONTINUITY-SEQUENCE:%d\n", p.DiscontinuitySequence)
	}
	if p.Ended {
		b.WriteString("#EXT-X-PLAYLIST-TYPE:VOD\n")
	}
	b.WriteString("#EXT-X-INDEPENDENT-SEGMENTS\n")
	if p.MapURI != "" {
		fmt.Fprintf(&b, "#EXT-X-MAP:URI=%s\n", quote(p.MapURI))
	}
	for i, s := range p.Segments {
		if s.Discontinuity && i > 0 {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		if s.MapURI != "" && i > 0 {
			fmt.Fprintf(&b, "#EXT-X-MAP:URI=%s\n", quote(s.MapURI))
		}
		if p.ShowTime && !s.Time.IsZero() {
			fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", s.Time.UTC().Format("2006-01-02T15:04:05.000Z"))
		}
		fmt.Fprintf(&b, "#EXTINF:%s,\n%s\n", strconv.FormatFloat(s.Duration.Seconds(), 'f', 3, 64), s.URI)
	}
	if p.Ended {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return []byte(b.String())
}

// Variant is one EXT-X-STREAM-INF of a master playlist.
type Variant struct {
	// URI of the variant's media playlist.
	URI string
	// Bandwidth is the peak bit rate in bits per second (BANDWIDTH,
	// required; 0 is written as 1).
	Bandwidth int64
	// Codecs are RFC 6381 codec strings (CODECS), e.g. "avc1.64001f".
	Codecs []string
	// Width and Height of the video (RESOLUTION), 0 when unknown.
	Width, Height int
}

// MasterPlaylist is an RFC 8216 master (multivariant) playlist.
type MasterPlaylist struct {
	Variants []Variant
	// Version is EXT-X-VERSION: 7 when 0 (fMP4 sessions); 3 for
	// MPEG-TS ones.
	Version int
}

// Marshal returns the playlist's text.
func (p *MasterPlaylist) Marshal() []byte {
	var b strings.Builder
	ver := p.Version
	if ver == 0 {
		ver = 7
	}
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-INDEPENDENT-SEGMENTS\n", ver)
	for _, v := range p.Variants {
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d", max(v.Bandwidth, 1))
		if len(v.Codecs) > 0 {
			fmt.Fprintf(&b, ",CODECS=%s", quote(strings.Join(v.Codecs, ",")))
		}
		if v.Width > 0 && v.Height > 0 {
			fmt.Fprintf(&b, ",RESOLUTION=%dx%d", v.Width, v.Height)
		}
		fmt.Fprintf(&b, "\n%s\n", v.URI)
	}
	return []byte(b.String())
}

// quote returns s as an RFC 8216 quoted-string: the characters it cannot
// hold (a double quote, CR, LF) are dropped; the URIs written here are
// built by the caller and hold none.
func quote(s string) string {
	return `"` + strings.Map(func(r rune) rune {
		if r == '"' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s) + `"`
}
