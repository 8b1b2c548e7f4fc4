package dash

import (
	"encoding/xml"
	"strconv"
	"time"
)

// Namespace is the XML namespace of the kvs:fn and kvs:ts attributes
// (see the package doc).
const Namespace = "urn:kinedge:kvs:dash:2026"

// Timescale is the SegmentTemplate timescale of the manifests written
// here: times are milliseconds.
const Timescale = 1000

// Profile is the DASH profile the manifests conform to (ISO/IEC 23009-1
// section 8.4: the ISO base media file format live profile).
const Profile = "urn:mpeg:dash:profile:isoff-live:2011"

// MPD is a media presentation description of a session.
type MPD struct {
	// Dynamic makes a live presentation (type "dynamic"): the manifest
	// changes as fragments are stored and players reload it. A static
	// one (ON_DEMAND) is complete.
	Dynamic bool
	// AvailabilityStart is the wall-clock time of presentation time 0
	// (availabilityStartTime; dynamic only).
	AvailabilityStart time.Time
	// PublishTime is when the manifest was made (dynamic only).
	PublishTime time.Time
	// MinimumUpdatePeriod is how long a player may keep the manifest
	// before it reloads it (dynamic only). It defaults to 2 s.
	MinimumUpdatePeriod time.Duration
	// SuggestedPresentationDelay is how far behind the live edge a
	// player should play (dynamic only; 0: not written).
	SuggestedPresentationDelay time.Duration
	// MinBufferTime is minBufferTime. It defaults to 2 s.
	MinBufferTime time.Duration
	// Zero is the media time of presentation time 0: segments' media
	// times (Segment.Time) are the decode times their boxes carry, which
	// start after a lead (replay.SegmentLead).
	Zero time.Duration
	// ShowNumber writes each segment's fragment number (kvs:fn).
	ShowNumber bool
	// ShowTime writes each segment's timestamp (kvs:ts).
	ShowTime bool
	// Periods in order; each has at least one segment.
	Periods []Period
}

// Period is a run of segments with the same tracks.
type Period struct {
	// ID names the period; it stays the same across the reloads of a
	// dynamic manifest.
	ID string
	// Start is the period's presentation time (media time less Zero).
	Start time.Duration
	// Tracks are the period's tracks, one AdaptationSet each.
	Tracks []Track
	// StartNumber is the $Number$ of the period's first segment.
	StartNumber uint64
	// Segments, in order.
	Segments []Segment
}

// Track is one track of a period: an AdaptationSet with one
// Representation.
type Track struct {
	// ContentType is "video" or "audio".
	ContentType string
	// Codecs is the RFC 6381 codec string (hls.CodecString).
	Codecs string
	// Width and Height of a video track, 0 when unknown.
	Width, Height int
	// SampleRate of an audio track in Hz, 0 when unknown.
	SampleRate int
	// Bandwidth in bits per second (0 is written as 1).
	Bandwidth int64
	// Initialization is the URL of the track's init segment.
	Initialization string
	// Media is the URL template of its media segments, with $Number$.
	Media string
}

// Segment is one media segment: for the appliance, one stored fragment.
type Segment struct {
	// Time is the media time of its first sample (S@t).
	Time time.Duration
	// Duration is its length (S@d).
	Duration time.Duration
	// FragmentNumber is the stored fragment's number (kvs:fn).
	FragmentNumber string
	// Timestamp is the fragment's start timestamp, server or producer
	// time as the session selects (kvs:ts).
	Timestamp time.Time
}

// The XML of an MPD (ISO/IEC 23009-1 annex B's schema, the part used).
type (
	xmlMPD struct {
		XMLName                    xml.Name      `xml:"MPD"`
		Xmlns                      string        `xml:"xmlns,attr"`
		XmlnsKVS                   string        `xml:"xmlns:kvs,attr,omitempty"`
		Profiles                   string        `xml:"profiles,attr"`
		Type                       string        `xml:"type,attr"`
		AvailabilityStartTime      string        `xml:"availabilityStartTime,attr,omitempty"`
		PublishTime                string        `xml:"publishTime,attr,omitempty"`
		MediaPresentationDuration  string        `xml:"mediaPresentationDuration,attr,omitempty"`
		MinimumUpdatePeriod        string        `xml:"minimumUpdatePeriod,attr,omitempty"`
		TimeShiftBufferDepth       string        `xml:"timeShiftBufferDepth,attr,omitempty"`
		SuggestedPresentationDelay string        `xml:"suggestedPresentationDelay,attr,omitempty"`
		MaxSegmentDuration         string        `xml:"maxSegmentDuration,attr"`
		MinBufferTime              string        `xml:"minBufferTime,attr"`
		Periods                    []xmlPeriod   `xml:"Period"`
		UTCTiming                  *xmlUTCTiming `xml:"UTCTiming"`
	}
	xmlUTCTiming struct {
		SchemeIDURI string `xml:"schemeIdUri,attr"`
		Value       string `xml:"value,attr"`
	}
	xmlPeriod struct {
		ID    string             `xml:"id,attr"`
		Start string             `xml:"start,attr"`
		Sets  []xmlAdaptationSet `xml:"AdaptationSet"`
	}
	xmlAdaptationSet struct {
		ID               int               `xml:"id,attr"`
		ContentType      string            `xml:"contentType,attr"`
		MimeType         string            `xml:"mimeType,attr"`
		SegmentAlignment bool              `xml:"segmentAlignment,attr"`
		StartWithSAP     int               `xml:"startWithSAP,attr"`
		Representation   xmlRepresentation `xml:"Representation"`
	}
	xmlRepresentation struct {
		ID                string             `xml:"id,attr"`
		Codecs            string             `xml:"codecs,attr"`
		Bandwidth         int64              `xml:"bandwidth,attr"`
		Width             int                `xml:"width,attr,omitempty"`
		Height            int                `xml:"height,attr,omitempty"`
		AudioSamplingRate int                `xml:"audioSamplingRate,attr,omitempty"`
		SegmentTemplate   xmlSegmentTemplate `xml:"SegmentTemplate"`
	}
	xmlSegmentTemplate struct {
		Timescale              int    `xml:"timescale,attr"`
		PresentationTimeOffset int64  `xml:"presentationTimeOffset,attr"`
		StartNumber            uint64 `xml:"startNumber,attr"`
		Initialization         string `xml:"initialization,attr"`
		Media                  string `xml:"media,attr"`
		Timeline               []xmlS `xml:"SegmentTimeline>S"`
	}
	xmlS struct {
		T  int64  `xml:"t,attr"`
		D  int64  `xml:"d,attr"`
		FN string `xml:"kvs:fn,attr,omitempty"`
		TS string `xml:"kvs:ts,attr,omitempty"`
	}
)

// Marshal returns the manifest's XML.
func (m *MPD) Marshal() ([]byte, error) {
	x := xmlMPD{Xmlns: "urn:mpeg:dash:schema:mpd:2011", Profiles: Profile, Type: "static",
		MinBufferTime: duration(orDefault(m.MinBufferTime, 2*time.Second))}
	if m.ShowNumber || m.ShowTime {
		x.XmlnsKVS = Namespace
	}
	var maxDur, first, end time.Duration
	for i, p := range m.Periods {
		xp := xmlPeriod{ID: p.ID, Start: duration(max(p.Start, 0))}
		var timeline []xmlS
		for j, s := range p.Segments {
			maxDur = max(maxDur, s.Duration)
			if i == 0 && j == 0 {
				first = s.Time
			}
			end = s.Time + s.Duration
			e := xmlS{T: ticks(s.Time), D: max(ticks(s.Time+s.Duration)-ticks(s.Time), 1)}
			if m.ShowNumber {
				e.FN = s.FragmentNumber
			}
			if m.ShowTime && !s.Timestamp.IsZero() {
				e.TS = s.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z")
			}
			timeline = append(timeline, e)
		}
		for k, t := range p.Tracks {
			set := xmlAdaptationSet{ID: k + 1, ContentType: t.ContentType, MimeType: t.ContentType + "/mp4",
				SegmentAlignment: true, StartWithSAP: 1}
			rep := xmlRepresentation{ID: strconv.Itoa(k + 1), Codecs: t.Codecs, Bandwidth: max(t.Bandwidth, 1),
				SegmentTemplate: xmlSegmentTemplate{Timescale: Timescale, PresentationTimeOffset: ticks(p.Start + m.Zero),
					StartNumber: p.StartNumber, Initialization: t.Initialization, Media: t.Media, Timeline: timeline}}
			if t.ContentType == "video" {
				rep.Width, rep.Height = t.Width, t.Height
			} else {
				rep.AudioSamplingRate = t.SampleRate
			}
			set.Representation = rep
			xp.Sets = append(xp.Sets, set)
		}
		x.Periods = append(x.Periods, xp)
	}
	x.MaxSegmentDuration = duration(max(maxDur, time.Second))
	if m.Dynamic {
		x.Type = "dynamic"
		x.AvailabilityStartTime = m.AvailabilityStart.UTC().Format("2006-01-02T15:04:05.000Z")
		x.PublishTime = m.PublishTime.UTC().Format("2006-01-02T15:04:05.000Z")
		x.MinimumUpdatePeriod = duration(orDefault(m.MinimumUpdatePeriod, 2*time.Second))
		x.TimeShiftBufferDepth = duration(max(end-first, time.Second))
		if m.SuggestedPresentationDelay > 0 {
			x.SuggestedPresentationDelay = duration(m.SuggestedPresentationDelay)
		}
		// The player's clock may not be the appliance's: it reads the
		// appliance's time from the manifest (ISO/IEC 23009-1 section
		// 5.8.5.7, urn:mpeg:dash:utc:direct:2014).
		x.UTCTiming = &xmlUTCTiming{SchemeIDURI: "urn:mpeg:dash:utc:direct:2014", Value: x.PublishTime}
	} else {
		x.MediaPresentationDuration = duration(max(end-m.Zero, 0))
	}
	b, err := xml.MarshalIndent(x, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// ticks is d in Timescale units, rounded down.
func ticks(d time.Duration) int64 {
	return int64(d / (time.Second / Timescale))
}

// duration writes d as an xs:duration in seconds ("PT12.345S").
func duration(d time.Duration) string {
	return "PT" + strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "S"
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
