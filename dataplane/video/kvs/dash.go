package kvs

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/dataplane/video/dash"
	"github.com/kinedge/kinedge/dataplane/video/hls"
	"github.com/kinedge/kinedge/dataplane/video/replay"
	"github.com/kinedge/kinedge/index"
)

// PathGetDASHStreamingSessionURL is the archived-media operation that
// opens an MPEG-DASH session.
const PathGetDASHStreamingSessionURL = "/getDASHStreamingSessionURL"

// Paths of the DASH session resources (GET, the session token is the
// credential), as KVS names them. The init and media segments are
// served by the handlers of HLS fMP4 sessions.
const (
	PathDASHManifest         = "/dash/v1/getDASHManifest.mpd"
	PathDASHMP4InitFragment  = "/dash/v1/getMP4InitFragment.mp4"
	PathDASHMP4MediaFragment = "/dash/v1/getMP4MediaFragment.mp4"
)

// maxTrackNumber bounds the TrackNumber of a segment request (a
// fragment's tracks are few).
const maxTrackNumber = 64

// getDASHStreamingSessionURLInput is the GetDASHStreamingSessionURL
// request.
type getDASHStreamingSessionURLInput struct {
	streamRef
	PlaybackMode               string            `json:"PlaybackMode"`
	DASHFragmentSelector       *fragmentSelector `json:"DASHFragmentSelector"`
	DisplayFragmentTimestamp   string            `json:"DisplayFragmentTimestamp"`
	DisplayFragmentNumber      string            `json:"DisplayFragmentNumber"`
	Expires                    *int64            `json:"Expires"`
	MaxManifestFragmentResults *int64            `json:"MaxManifestFragmentResults"`
}

type getDASHStreamingSessionURLOutput struct {
	DASHStreamingSessionURL string `json:"DASHStreamingSessionURL"`
}

// getDASHStreamingSessionURL is KVS GetDASHStreamingSessionURL: the
// checks, the window and the token of an HLS fMP4 session
// (openSession), and the manifest's URL.
func (h *Handler) getDASHStreamingSessionURL(ctx context.Context, r *http.Request, in *getDASHStreamingSessionURLInput) (any, error) {
	tok, err := h.openSession(ctx, sessionRequest{streamRef: in.streamRef, mode: in.PlaybackMode, selector: in.DASHFragmentSelector,
		displayTimestamp: in.DisplayFragmentTimestamp, displayNumber: in.DisplayFragmentNumber,
		expires: in.Expires, maxResults: in.MaxManifestFragmentResults, dash: true})
	if err != nil {
		return nil, err
	}
	return getDASHStreamingSessionURLOutput{DASHStreamingSessionURL: h.endpoint(r) + PathDASHManifest + "?SessionToken=" + url.QueryEscape(tok)}, nil
}

// dashManifest serves the session's MPD: the same window of fragments
// as the session's HLS media playlist would hold (segments), one Period
// per run of fragments with the same tracks, one AdaptationSet per
// track.
func (h *Handler) dashManifest(ctx context.Context, w http.ResponseWriter, _ *http.Request, s hls.Session, tok string) error {
	if !s.DASH {
		return errorf(awsproto.InvalidArgumentException, "The session is an HLS session: its playlists are getHLSMasterPlaylist.m3u8.")
	}
	segs, changesBefore, ended, err := h.segments(ctx, s)
	if err != nil {
		return err
	}
	q := "SessionToken=" + url.QueryEscape(tok)
	m := dash.MPD{Zero: replay.SegmentLead, ShowNumber: s.ShowNumber, ShowTime: s.ShowTime}
	var newest time.Duration
	for i, sg := range segs {
		// A DASH session's discontinuities are its codec changes (its
		// DiscontinuityMode is NEVER): each starts a Period.
		if i == 0 || sg.discontinuity {
			p, err := h.dashPeriod(ctx, s, sg, q)
			if err != nil {
				return err
			}
			p.ID = strconv.FormatUint(changesBefore+uint64(len(m.Periods)), 10)
			m.Periods = append(m.Periods, p)
		}
		p := &m.Periods[len(m.Periods)-1]
		p.Segments = append(p.Segments, dash.Segment{Time: mediaTime(s, sg.f), Duration: sg.f.Duration,
			FragmentNumber: sg.f.NumberString(), Timestamp: selected(s, sg.f)})
		newest = sg.f.Duration
	}
	if s.Mode != hls.OnDemand && !ended {
		m.Dynamic = true
		m.PublishTime = h.now()
		// Presentation time 0 is the session's Origin: LIVE plays at
		// the wall-clock time of its fragments; LIVE_REPLAY plays from
		// when the session began, at the pace of playback.
		m.AvailabilityStart = s.Origin
		if s.Mode == hls.LiveReplay {
			m.AvailabilityStart = s.Created
		}
		m.MinimumUpdatePeriod = max(newest, time.Second)
		m.SuggestedPresentationDelay = 2 * max(newest, time.Second)
	}
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/dash+xml")
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	hd.Set("Cache-Control", "no-cache")
	_, _ = w.Write(b) // the player went away: nothing more to do
	return nil
}

// mediaTime is the presentation time of the first frame of fragment f's
// segment in session s (replay.WriteMP4Segment: its tfdt plus the
// composition offset of that frame).
func mediaTime(s hls.Session, f index.Fragment) time.Duration {
	return f.ServerTime.Sub(s.Origin) + replay.SegmentLead
}

// dashPeriod returns the Period that begins with segment sg: its tracks,
// each with its own init segment and media template (TrackNumber).
func (h *Handler) dashPeriod(ctx context.Context, s hls.Session, sg sessionSegment, q string) (dash.Period, error) {
	// The Period starts where its run of fragments does, also when that
	// has slid out of a live window: its id and start stay the same on
	// every reload.
	p := dash.Period{Start: sg.runStart.Sub(s.Origin), StartNumber: sg.seq + 1}
	tracks, err := h.sessionTracks(ctx, s.Stream, s, mp4Options(s), sg.f, io.Discard)
	if err != nil {
		return p, err
	}
	for i, t := range tracks {
		n := strconv.Itoa(i + 1)
		dt := dash.Track{ContentType: "audio", Codecs: t.codec,
			Initialization: "getMP4InitFragment.mp4?TrackNumber=" + n + "&FragmentNumber=" + sg.f.NumberString() + "&" + q,
			Media:          "getMP4MediaFragment.mp4?TrackNumber=" + n + "&SequenceNumber=$Number$&" + q}
		if t.video() {
			dt.ContentType, dt.Width, dt.Height = "video", t.width, t.height
			if sg.f.Duration > 0 {
				dt.Bandwidth = sg.f.Size * 8 * int64(time.Second) / int64(sg.f.Duration) * 5 / 4
			}
		} else {
			dt.SampleRate = sampleRate(t.Codec)
			dt.Bandwidth = 128_000
		}
		p.Tracks = append(p.Tracks, dt)
	}
	return p, nil
}

// sampleRate returns an audio codec's sample rate, 0 when unknown.
func sampleRate(c mp4.Codec) int {
	switch c := c.(type) {
	case *mp4.CodecMPEG4Audio:
		return c.Config.SampleRate
	case *mp4.CodecOpus:
		return 48000
	case *mp4.CodecLPCM:
		return c.SampleRate
	}
	return 0
}

// trackNumber returns a segment request's TrackNumber: 0 when absent
// (every track, as HLS fMP4 segments carry them), else the 1-based track
// a DASH representation's segments carry.
func trackNumber(r *http.Request) (int, error) {
	if !r.URL.Query().Has("TrackNumber") {
		return 0, nil
	}
	v := r.URL.Query().Get("TrackNumber")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxTrackNumber {
		return 0, errorf(awsproto.InvalidArgumentException, "TrackNumber %.32q is not a track number (1 to %d).", v, maxTrackNumber)
	}
	return n, nil
}

// sequenceFragment returns the fragment of a DASH segment request by its
// place in the session (SequenceNumber, the manifest's $Number$, 1 for
// the session's first fragment): the n-th fragment of the session's
// selection, counted as segments counts them.
func (h *Handler) sequenceFragment(ctx context.Context, v string, s hls.Session) (index.Fragment, error) {
	if len(v) > 20 || !validFragmentNumber(v) {
		return index.Fragment{}, errorf(awsproto.InvalidArgumentException, "SequenceNumber %.32q is not a segment number.", v)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 {
		return index.Fragment{}, errorf(awsproto.InvalidArgumentException, "SequenceNumber %.32q is not a segment number (1 or more).", v)
	}
	// A player asks for the segments of the manifest it just read: the
	// walk's window has them. An older one is counted from the start.
	if segs, _, _, err := h.segments(ctx, s); err == nil {
		if first := segs[0].seq + 1; n >= first && n-first < uint64(len(segs)) {
			return segs[n-first].f, nil
		}
	}
	var (
		f     index.Fragment
		found bool
		i     uint64
	)
	err = h.Index.Iterate(ctx, s.Stream, h.hlsQuery(s, s.Start, s.End), func(g index.Fragment) error {
		if i++; i == n {
			f, found = g, true
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return index.Fragment{}, err
	}
	if !found {
		return index.Fragment{}, errorf(awsproto.ResourceNotFoundException, "Segment %d of the session is not stored: it is past the session's fragments, or no longer retained.", n)
	}
	return f, nil
}
