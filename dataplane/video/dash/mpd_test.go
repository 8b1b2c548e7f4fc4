package dash

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"
)

// The manifest as a player reads it: encoding/xml with the DASH and kvs
// namespaces resolved.
type readMPD struct {
	XMLName                   xml.Name `xml:"urn:mpeg:dash:schema:mpd:2011 MPD"`
	Type                      string   `xml:"type,attr"`
	Profiles                  string   `xml:"profiles,attr"`
	AvailabilityStartTime     string   `xml:"availabilityStartTime,attr"`
	MediaPresentationDuration string   `xml:"mediaPresentationDuration,attr"`
	MinimumUpdatePeriod       string   `xml:"minimumUpdatePeriod,attr"`
	TimeShiftBufferDepth      string   `xml:"timeShiftBufferDepth,attr"`
	MaxSegmentDuration        string   `xml:"maxSegmentDuration,attr"`
	UTCTiming                 *struct {
		Value string `xml:"value,attr"`
	} `xml:"UTCTiming"`
	Periods []struct {
		ID    string `xml:"id,attr"`
		Start string `xml:"start,attr"`
		Sets  []struct {
			ContentType string `xml:"contentType,attr"`
			MimeType    string `xml:"mimeType,attr"`
			Rep         []struct {
				ID                string `xml:"id,attr"`
				Codecs            string `xml:"codecs,attr"`
				Bandwidth         int64  `xml:"bandwidth,attr"`
				Width             int    `xml:"width,attr"`
				AudioSamplingRate int    `xml:"audioSamplingRate,attr"`
				Template          struct {
					Timescale              int    `xml:"timescale,attr"`
					PresentationTimeOffset int64  `xml:"presentationTimeOffset,attr"`
					StartNumber            uint64 `xml:"startNumber,attr"`
					Initialization         string `xml:"initialization,attr"`
					Media                  string `xml:"media,attr"`
					S                      []struct {
						T  int64  `xml:"t,attr"`
						D  int64  `xml:"d,attr"`
						FN string `xml:"urn:kinedge:kvs:dash:2026 fn,attr"`
						TS string `xml:"urn:kinedge:kvs:dash:2026 ts,attr"`
					} `xml:"SegmentTimeline>S"`
				} `xml:"SegmentTemplate"`
			} `xml:"Representation"`
		} `xml:"AdaptationSet"`
	} `xml:"Period"`
}

func parse(t *testing.T, b []byte) readMPD {
	t.Helper()
	var m readMPD
	if err := xml.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest does not parse: %v\n%s", err, b)
	}
	return m
}

func TestMPDStatic(t *testing.T) {
	lead := 10 * time.Second
	wall := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	video := Track{ContentType: "video", Codecs: "avc1.4d400d", Width: 320, Height: 240, Bandwidth: 500_000,
		Initialization: "getMP4InitFragment.mp4?TrackNumber=1&FragmentNumber=7&SessionToken=a.b", Media: "getMP4MediaFragment.mp4?TrackNumber=1&SequenceNumber=$Number$&SessionToken=a.b"}
	audio := Track{ContentType: "audio", Codecs: "mp4a.40.2", SampleRate: 44100, Bandwidth: 128_000, Initialization: "i2", Media: "m2"}
	m := MPD{Zero: lead, ShowNumber: true, ShowTime: true, Periods: []Period{{
		ID: "0", Tracks: []Track{video, audio}, StartNumber: 1,
		Segments: []Segment{
			{Time: lead, Duration: 2 * time.Second, FragmentNumber: "7", Timestamp: wall},
			{Time: lead + 2*time.Second, Duration: 1999500 * time.Microsecond, FragmentNumber: "9", Timestamp: wall.Add(2 * time.Second)},
			// a gap of 3 s in the recording
			{Time: lead + 7*time.Second, Duration: 1500 * time.Millisecond, FragmentNumber: "12", Timestamp: wall.Add(7 * time.Second)},
		},
	}}}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte(xml.Header)) || !bytes.Contains(b, []byte(`xmlns:kvs="`+Namespace+`"`)) {
		t.Fatalf("header or kvs namespace missing:\n%s", b)
	}
	got := parse(t, b)
	if got.Type != "static" || got.Profiles != Profile || got.MediaPresentationDuration != "PT8.500S" || got.AvailabilityStartTime != "" ||
		got.MinimumUpdatePeriod != "" || got.UTCTiming != nil || got.MaxSegmentDuration != "PT2.000S" {
		t.Errorf("MPD attributes: %+v", got)
	}
	if len(got.Periods) != 1 || got.Periods[0].Start != "PT0.000S" || len(got.Periods[0].Sets) != 2 {
		t.Fatalf("periods: %+v", got.Periods)
	}
	v, a := got.Periods[0].Sets[0], got.Periods[0].Sets[1]
	if v.ContentType != "video" || v.MimeType != "video/mp4" || a.ContentType != "audio" || a.MimeType != "audio/mp4" ||
		len(v.Rep) != 1 || len(a.Rep) != 1 || v.Rep[0].Codecs != "avc1.4d400d" || v.Rep[0].Width != 320 ||
		a.Rep[0].AudioSamplingRate != 44100 || a.Rep[0].Width != 0 || v.Rep[0].ID == a.Rep[0].ID {
		t.Fatalf("adaptation sets: %+v", got.Periods[0].Sets)
	}
	tpl := v.Rep[0].Template
	// The URL templates come back as written (the XML escapes the &).
	if tpl.Media != video.Media || tpl.Initialization != video.Initialization || !bytes.Contains(b, []byte("&amp;SequenceNumber=$Number$&amp;")) {
		t.Errorf("templates: %q %q", tpl.Initialization, tpl.Media)
	}
	if tpl.Timescale != 1000 || tpl.PresentationTimeOffset != 10000 || tpl.StartNumber != 1 {
		t.Errorf("template: %+v", tpl)
	}
	want := []struct {
		t, d   int64
		fn, ts string
	}{
		{10000, 2000, "7", "2026-12-03T12:00:00.000Z"},
		{12000, 1999, "9", "2026-12-03T12:00:02.000Z"},
		{17000, 1500, "12", "2026-12-03T12:00:07.000Z"},
	}
	if len(tpl.S) != len(want) {
		t.Fatalf("%d S elements, want %d", len(tpl.S), len(want))
	}
	for i, w := range want {
		s := tpl.S[i]
		if s.T != w.t || s.D != w.d || s.FN != w.fn || s.TS != w.ts {
			t.Errorf("S[%d] = %+v, want %+v", i, s, w)
		}
	}
	if a.Rep[0].Template.S == nil || len(a.Rep[0].Template.S) != 3 {
		t.Errorf("audio timeline: %+v", a.Rep[0].Template)
	}

	// Without ShowNumber and ShowTime there are neither the attributes
	// nor the namespace.
	m.ShowNumber, m.ShowTime = false, false
	b, err = m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("kvs")) {
		t.Errorf("kvs attributes without Display*:\n%s", b)
	}
}

func TestMPDDynamicPeriods(t *testing.T) {
	lead := 10 * time.Second
	ast := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tr := []Track{{ContentType: "video", Codecs: "avc1.640028", Initialization: "i", Media: "m"}}
	tr2 := []Track{{ContentType: "video", Codecs: "hev1.1.6.L93.B0", Initialization: "i2", Media: "m2"}}
	m := MPD{Dynamic: true, Zero: lead, AvailabilityStart: ast, PublishTime: ast.Add(time.Minute),
		MinimumUpdatePeriod: 2 * time.Second, SuggestedPresentationDelay: 4 * time.Second, Periods: []Period{
			{ID: "3", Start: 40 * time.Second, Tracks: tr, StartNumber: 21, Segments: []Segment{
				{Time: lead + 40*time.Second, Duration: 2 * time.Second}, {Time: lead + 42*time.Second, Duration: 2 * time.Second}}},
			{ID: "4", Start: 44 * time.Second, Tracks: tr2, StartNumber: 23, Segments: []Segment{
				{Time: lead + 44*time.Second, Duration: 3 * time.Second}}},
		}}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got := parse(t, b)
	if got.Type != "dynamic" || got.AvailabilityStartTime != "2026-12-03T12:00:00.000Z" || got.MinimumUpdatePeriod != "PT2.000S" ||
		got.TimeShiftBufferDepth != "PT7.000S" || got.MediaPresentationDuration != "" || got.MaxSegmentDuration != "PT3.000S" ||
		got.UTCTiming == nil || got.UTCTiming.Value != "2026-12-03T12:01:00.000Z" {
		t.Errorf("dynamic MPD: %+v", got)
	}
	if strings.Contains(string(b), "kvs") {
		t.Errorf("kvs namespace without Display*")
	}
	if len(got.Periods) != 2 {
		t.Fatalf("%d periods", len(got.Periods))
	}
	p0, p1 := got.Periods[0], got.Periods[1]
	if p0.ID != "3" || p0.Start != "PT40.000S" || p1.ID != "4" || p1.Start != "PT44.000S" {
		t.Errorf("periods %s@%s, %s@%s", p0.ID, p0.Start, p1.ID, p1.Start)
	}
	t0, t1 := p0.Sets[0].Rep[0].Template, p1.Sets[0].Rep[0].Template
	// A segment's presentation time is its media time less the period's
	// offset plus the period's start: both periods are on one timeline.
	if t0.PresentationTimeOffset != 50000 || t0.StartNumber != 21 || len(t0.S) != 2 || t0.S[1].T != 52000 ||
		t1.PresentationTimeOffset != 54000 || t1.StartNumber != 23 || len(t1.S) != 1 || t1.S[0].T != 54000 || t1.S[0].D != 3000 ||
		p1.Sets[0].Rep[0].Codecs != "hev1.1.6.L93.B0" {
		t.Errorf("templates: %+v / %+v", t0, t1)
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "PT0.000S", 1500 * time.Millisecond: "PT1.500S", time.Hour: "PT3600.000S", 999 * time.Microsecond: "PT0.001S"} {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %s, want %s", d, got, want)
		}
	}
}
