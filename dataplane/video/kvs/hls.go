package kvs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/dataplane/video/hls"
	"github.com/kinedge/kinedge/dataplane/video/replay"
	"github.com/kinedge/kinedge/index"
)

// HLS session limits and defaults (KVS GetHLSStreamingSessionURL).
const (
	minHLSExpires     = 300
	maxHLSExpires     = 43200
	defaultHLSExpires = 300
	maxHLSResults     = 5000
	// defaultLiveResults is MaxMediaPlaylistFragmentResults of LIVE and
	// LIVE_REPLAY sessions, defaultOnDemandResults of ON_DEMAND ones.
	defaultLiveResults     = 5
	defaultOnDemandResults = 1000
	// maxOnDemandRange is the longest ON_DEMAND TimestampRange (KVS: 24 h).
	maxOnDemandRange = 24 * time.Hour
	// liveRecent is how recent the newest fragment of a LIVE session's
	// stream must be (KVS: ResourceNotFoundException when the stream has
	// had no fragment in the last 30 seconds).
	liveRecent = 30 * time.Second
	// replayLead is how far a LIVE_REPLAY playlist runs ahead of the
	// playback time elapsed since the session began.
	replayLead = 6 * time.Second
)

// Paths of the HLS session resources (GET, the session token is the
// credential), as KVS names them.
const (
	PathHLSMasterPlaylist = "/hls/v1/getHLSMasterPlaylist.m3u8"
	PathHLSMediaPlaylist  = "/hls/v1/getHLSMediaPlaylist.m3u8"
	PathMP4InitFragment   = "/hls/v1/getMP4InitFragment.mp4"
	PathMP4MediaFragment  = "/hls/v1/getMP4MediaFragment.mp4"
	// PathTSFragment is a segment of an MPEG_TS session (KVS
	// GetTSFragment).
	PathTSFragment = "/hls/v1/getTSFragment.ts"
)

// PathGetHLSStreamingSessionURL is the archived-media operation that opens
// an HLS session.
const PathGetHLSStreamingSessionURL = "/getHLSStreamingSessionURL"

// HLSPaths returns the paths RegisterHLS mounts: HLS's and DASH's
// session resources.
func HLSPaths() []string {
	return []string{PathHLSMasterPlaylist, PathHLSMediaPlaylist, PathMP4InitFragment, PathMP4MediaFragment, PathTSFragment,
		PathDASHManifest, PathDASHMP4InitFragment, PathDASHMP4MediaFragment}
}

// RegisterHLS mounts "GET <path>" for the HLS and DASH session resources
// on mux, unwrapped: their SessionToken is the credential (players send
// no SigV4), so they must stand in front of the SigV4 middleware and the
// web page's Guard.
func (h *Handler) RegisterHLS(mux *http.ServeMux) {
	mux.Handle(http.MethodGet+" "+PathHLSMasterPlaylist, h.hlsResource(h.masterPlaylist))
	mux.Handle(http.MethodGet+" "+PathHLSMediaPlaylist, h.hlsResource(h.mediaPlaylist))
	mux.Handle(http.MethodGet+" "+PathMP4InitFragment, h.hlsResource(h.initFragment))
	mux.Handle(http.MethodGet+" "+PathMP4MediaFragment, h.hlsResource(h.mediaFragment))
	mux.Handle(http.MethodGet+" "+PathTSFragment, h.hlsResource(h.tsFragment))
	// DASH sessions: the manifest, and the same init and media segment
	// handlers as HLS fMP4 under the paths KVS gives them.
	mux.Handle(http.MethodGet+" "+PathDASHManifest, h.hlsResource(h.dashManifest))
	mux.Handle(http.MethodGet+" "+PathDASHMP4InitFragment, h.hlsResource(h.initFragment))
	mux.Handle(http.MethodGet+" "+PathDASHMP4MediaFragment, h.hlsResource(h.mediaFragment))
}

// hlsSigner returns the signer of session tokens.
func (h *Handler) hlsSigner() (*hls.Signer, error) {
	h.hlsOnce.Do(func() {
		if h.HLSSigner != nil {
			h.hlsKeys = h.HLSSigner
			return
		}
		h.hlsKeys, h.hlsErr = hls.NewRandomSigner()
	})
	return h.hlsKeys, h.hlsErr
}

// tokenNow is the clock of session token expiry: the HLSSigner's Now
// when it has one, else the Handler's.
func (h *Handler) tokenNow() time.Time {
	if h.HLSSigner != nil && h.HLSSigner.Now != nil {
		return h.HLSSigner.Now()
	}
	return h.now()
}

// fragmentSelector is the HLSFragmentSelector or DASHFragmentSelector of
// a session request.
type fragmentSelector struct {
	FragmentSelectorType string `json:"FragmentSelectorType"`
	TimestampRange       *struct {
		StartTimestamp *awsproto.Timestamp `json:"StartTimestamp"`
		EndTimestamp   *awsproto.Timestamp `json:"EndTimestamp"`
	} `json:"TimestampRange"`
}

// getHLSStreamingSessionURLInput is the GetHLSStreamingSessionURL request.
type getHLSStreamingSessionURLInput struct {
	streamRef
	PlaybackMode                    string            `json:"PlaybackMode"`
	HLSFragmentSelector             *fragmentSelector `json:"HLSFragmentSelector"`
	ContainerFormat                 string            `json:"ContainerFormat"`
	DiscontinuityMode               string            `json:"DiscontinuityMode"`
	DisplayFragmentTimestamp        string            `json:"DisplayFragmentTimestamp"`
	Expires                         *int64            `json:"Expires"`
	MaxMediaPlaylistFragmentResults *int64            `json:"MaxMediaPlaylistFragmentResults"`
	// playableAudio (not on the wire): hls.Session.PlayableAudio, for
	// LiveSessionURL.
	playableAudio bool
}

// sessionRequest is what an HLS or a DASH session request asks: the
// two operations differ in names, not in checks.
type sessionRequest struct {
	streamRef
	mode             string
	selector         *fragmentSelector
	container        string
	discontinuity    string
	displayTimestamp string
	displayNumber    string
	expires          *int64
	maxResults       *int64
	playableAudio    bool
	// dash makes a DASH session; the members its errors name are
	// DASH's.
	dash bool
}

// request returns the session request of in.
func (in *getHLSStreamingSessionURLInput) request() sessionRequest {
	return sessionRequest{streamRef: in.streamRef, mode: in.PlaybackMode, selector: in.HLSFragmentSelector,
		container: in.ContainerFormat, discontinuity: in.DiscontinuityMode, displayTimestamp: in.DisplayFragmentTimestamp,
		expires: in.Expires, maxResults: in.MaxMediaPlaylistFragmentResults, playableAudio: in.playableAudio}
}

type getHLSStreamingSessionURLOutput struct {
	HLSStreamingSessionURL string `json:"HLSStreamingSessionURL"`
}

// containerTS is the ContainerFormat of MPEG-TS sessions.
const containerTS = "MPEG_TS"

// Discontinuity modes (KVS HLSDiscontinuityMode).
const (
	discontinuityAlways = "ALWAYS"
	discontinuityNever  = "NEVER"
	discontinuityOn     = "ON_DISCONTINUITY"
)

// getHLSStreamingSessionURL is KVS GetHLSStreamingSessionURL: it checks
// the request as KVS does, finds the session's first fragment (which also
// proves its codecs go into fMP4), and returns the master playlist's URL
// with a signed session token.
func (h *Handler) getHLSStreamingSessionURL(ctx context.Context, r *http.Request, in *getHLSStreamingSessionURLInput) (any, error) {
	tok, err := h.openSession(ctx, in.request())
	if err != nil {
		return nil, err
	}
	return getHLSStreamingSessionURLOutput{HLSStreamingSessionURL: h.endpoint(r) + PathHLSMasterPlaylist + "?SessionToken=" + url.QueryEscape(tok)}, nil
}

// LiveSessionURL opens a LIVE HLS session of stream (the newest 5
// fragments, sliding) that lasts expires (300 s to 12 h), as
// getHLSStreamingSessionURL does, and returns its master playlist's path
// and query, relative to the endpoint: the web page's live view. Its
// errors are KVS's (*awsproto.Error, with HTTPStatus).
func (h *Handler) LiveSessionURL(ctx context.Context, stream string, expires time.Duration) (string, error) {
	secs := int64(expires / time.Second)
	in := &getHLSStreamingSessionURLInput{PlaybackMode: hls.Live, Expires: &secs, DiscontinuityMode: discontinuityOn, playableAudio: true}
	in.StreamName = stream
	tok, err := h.openSession(ctx, in.request())
	if err != nil {
		return "", err
	}
	return PathHLSMasterPlaylist + "?SessionToken=" + url.QueryEscape(tok), nil
}

// openSession checks a session request, HLS or DASH, and returns its
// token.
func (h *Handler) openSession(ctx context.Context, in sessionRequest) (string, error) {
	var c checker
	s := hls.Session{Mode: hls.Live, Discontinuity: discontinuityAlways, PlayableAudio: in.playableAudio, DASH: in.dash}
	selectorMember, resultsMember := "hLSFragmentSelector", "maxMediaPlaylistFragmentResults"
	if in.dash {
		// A DASH manifest has no discontinuity tags: a codec change
		// starts a Period, and a gap is a gap in the SegmentTimeline.
		s.Discontinuity = discontinuityNever
		selectorMember, resultsMember = "dASHFragmentSelector", "maxManifestFragmentResults"
	}
	if in.StreamName == "" && in.StreamARN == "" {
		c.required("streamName")
	}
	switch in.mode {
	case "":
	case hls.Live, hls.LiveReplay, hls.OnDemand:
		s.Mode = in.mode
	default:
		c.fail("playbackMode", in.mode, "Member must satisfy enum value set: [LIVE, LIVE_REPLAY, ON_DEMAND]")
	}
	switch in.container {
	case "", "FRAGMENTED_MP4":
	case containerTS:
		s.TS = true
	default:
		c.fail("containerFormat", in.container, "Member must satisfy enum value set: [FRAGMENTED_MP4, MPEG_TS]")
	}
	switch in.displayTimestamp {
	case "", "NEVER":
	case "ALWAYS":
		s.ShowTime = true
	default:
		c.fail("displayFragmentTimestamp", in.displayTimestamp, "Member must satisfy enum value set: [ALWAYS, NEVER]")
	}
	switch in.displayNumber {
	case "", "NEVER":
	case "ALWAYS":
		s.ShowNumber = true
	default:
		c.fail("displayFragmentNumber", in.displayNumber, "Member must satisfy enum value set: [ALWAYS, NEVER]")
	}
	expires := int64(defaultHLSExpires)
	if in.expires != nil {
		expires = *in.expires
		if expires < minHLSExpires || expires > maxHLSExpires {
			c.fail("expires", strconv.FormatInt(expires, 10), fmt.Sprintf("Member must have value between %d and %d", minHLSExpires, maxHLSExpires))
		}
	}
	s.MaxResults = defaultLiveResults
	if s.Mode == hls.OnDemand {
		s.MaxResults = defaultOnDemandResults
	}
	if in.maxResults != nil {
		n := *in.maxResults
		if n < 1 || n > maxHLSResults {
			c.fail(resultsMember, strconv.FormatInt(n, 10), fmt.Sprintf("Member must have value between 1 and %d", maxHLSResults))
		} else {
			s.MaxResults = int(n)
		}
	}
	var start, end *time.Time
	if sel := in.selector; sel != nil {
		switch sel.FragmentSelectorType {
		case "", serverTimestamp:
		case producerTimestamp:
			s.Producer = true
		default:
			c.fail(selectorMember+".fragmentSelectorType", sel.FragmentSelectorType, "Member must satisfy enum value set: [PRODUCER_TIMESTAMP, SERVER_TIMESTAMP]")
		}
		if tr := sel.TimestampRange; tr != nil {
			if tr.StartTimestamp != nil {
				t := clampTime(tr.StartTimestamp.Time)
				start = &t
			}
			if tr.EndTimestamp != nil {
				t := clampTime(tr.EndTimestamp.Time)
				end = &t
			}
		}
	}
	switch in.discontinuity {
	case "":
		if s.Producer && !s.DASH {
			s.Discontinuity = discontinuityNever
		}
	case discontinuityAlways, discontinuityNever, discontinuityOn:
		s.Discontinuity = in.discontinuity
	default:
		c.fail("discontinuityMode", in.discontinuity, "Member must satisfy enum value set: [ALWAYS, NEVER, ON_DISCONTINUITY]")
	}
	if err := c.err(); err != nil {
		return "", err
	}
	switch s.Mode {
	case hls.Live:
		if start != nil || end != nil {
			return "", errorf(awsproto.InvalidArgumentException, "TimestampRange must not be set when PlaybackMode is LIVE.")
		}
	case hls.LiveReplay:
		if start == nil {
			return "", errorf(awsproto.InvalidArgumentException, "StartTimestamp must be set when PlaybackMode is LIVE_REPLAY.")
		}
	case hls.OnDemand:
		if start == nil || end == nil {
			return "", errorf(awsproto.InvalidArgumentException, "StartTimestamp and EndTimestamp must be set when PlaybackMode is ON_DEMAND.")
		}
	}
	if start != nil && end != nil {
		if !end.After(*start) {
			return "", errorf(awsproto.InvalidArgumentException, "EndTimestamp must be after StartTimestamp.")
		}
		if s.Mode == hls.OnDemand && end.Sub(*start) > maxOnDemandRange {
			return "", errorf(awsproto.InvalidArgumentException, "The TimestampRange of an ON_DEMAND session must be at most 24 hours.")
		}
	}
	if h.Opener == nil {
		return "", ErrNoOpener
	}
	st, err := h.resolve(ctx, in.StreamName, in.StreamARN)
	if err != nil {
		return "", err
	}
	if st.RetentionHours == 0 {
		return "", errorf(NoDataRetentionException, "The stream %s does not retain data (DataRetentionInHours is 0).", st.Name)
	}
	s.Stream, s.StreamARN = st.Name, st.ARN
	now := h.now()
	var first index.Fragment
	if s.Mode == hls.Live {
		latest, err := h.Index.Latest(ctx, st.Name)
		if errors.Is(err, index.ErrFragmentNotFound) || err == nil && now.Sub(latest.ServerTime.Add(latest.Duration)) > liveRecent {
			return "", errorf(awsproto.ResourceNotFoundException, "No fragments of %s were stored in the last %v: LIVE needs a stream that is recording.", st.Name, liveRecent)
		}
		if err != nil {
			return "", err
		}
		// The session counts its segments from the oldest fragment of
		// its first playlist.
		win, err := h.window(ctx, s, latest.ServerTime.Add(-time.Duration(s.MaxResults)*liveSpan(latest)), time.Time{})
		if err != nil {
			return "", err
		}
		first = win[0]
	} else {
		s.Start = *start
		if end != nil {
			s.End = *end
		}
		var found bool
		err := h.Index.Iterate(ctx, st.Name, h.hlsQuery(s, s.Start, s.End), func(f index.Fragment) error {
			first, found = f, true
			return errStop
		})
		if err != nil && !errors.Is(err, errStop) {
			return "", err
		}
		if !found {
			return "", errorf(awsproto.ResourceNotFoundException, "No fragments found in the requested time range.")
		}
	}
	if s.Start.IsZero() {
		s.Start = selected(s, first)
	}
	s.Origin = first.ServerTime
	s.Created = now
	s.Expires = h.tokenNow().Add(time.Duration(expires) * time.Second)
	if err := h.checkHLSCodecs(ctx, st.Name, s, first); err != nil {
		return "", err
	}
	signer, err := h.hlsSigner()
	if err != nil {
		return "", err
	}
	return signer.Mint(s)
}

// liveSpan is the time a LIVE window reaches back per fragment: twice
// the newest fragment's duration (at least a second), so that a window of
// n fragments starts early enough to hold n of them.
func liveSpan(latest index.Fragment) time.Duration {
	return 2 * max(latest.Duration, time.Second)
}

// selected returns the timestamp the session selects fragments by.
func selected(s hls.Session, f index.Fragment) time.Time {
	if s.Producer {
		return f.ProducerTime
	}
	return f.ServerTime
}

// hlsQuery is the index query of a session's fragments between start and
// end (zero: open).
func (h *Handler) hlsQuery(s hls.Session, start, end time.Time) index.Query {
	q := index.Query{By: index.ServerTime, Start: start, End: end}
	if s.Producer {
		q.By = index.ProducerTime
	}
	return q
}

// window returns the last s.MaxResults fragments of s's stream between
// start and end.
func (h *Handler) window(ctx context.Context, s hls.Session, start, end time.Time) ([]index.Fragment, error) {
	var ring []index.Fragment
	err := h.Index.Iterate(ctx, s.Stream, h.hlsQuery(s, start, end), func(f index.Fragment) error {
		if len(ring) == s.MaxResults {
			ring = append(ring[:0], ring[1:]...)
		}
		ring = append(ring, f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(ring) == 0 {
		return nil, errorf(awsproto.ResourceNotFoundException, "No fragments found in the requested time range.")
	}
	return ring, nil
}

// checkHLSCodecs checks that fragment f's tracks go into the session's
// container (fMP4; MPEG-TS: H.264, H.265 and AAC) and have HLS codec
// strings, as KVS refuses a session whose media it cannot package.
func (h *Handler) checkHLSCodecs(ctx context.Context, stream string, s hls.Session, f index.Fragment) error {
	_, err := h.hlsTracks(ctx, stream, s, f, io.Discard)
	return err
}

// mp4Options are the options of session s's segments. An MPEG_TS
// session leaves Opus out (fMP4 sessions carry it; in TS it is an ETSI
// mapping hls.js and Safari do not play), as the web page's session
// leaves out the audio HLS does not carry at all.
func mp4Options(s hls.Session) replay.MP4Options {
	var o replay.MP4Options
	switch {
	case s.PlayableAudio:
		o.Skip = func(codecID string) bool {
			return strings.HasPrefix(codecID, "A_") && !strings.HasPrefix(codecID, "A_AAC") && (codecID != "A_OPUS" || s.TS)
		}
	case s.TS:
		o.Skip = func(codecID string) bool { return codecID == "A_OPUS" }
	}
	return o
}

// hlsTracks writes fragment f's init segment to w and returns its
// tracks' codec strings and picture size, or the KVS error of codecs HLS
// cannot carry.
func (h *Handler) hlsTracks(ctx context.Context, stream string, s hls.Session, f index.Fragment, w io.Writer) (variant hls.Variant, err error) {
	tracks, err := h.sessionTracks(ctx, stream, s, mp4Options(s), f, w)
	if err != nil {
		return variant, err
	}
	for _, t := range tracks {
		variant.Codecs = append(variant.Codecs, t.codec)
		if t.width > 0 && variant.Width == 0 {
			variant.Width, variant.Height = t.width, t.height
		}
	}
	if f.Duration > 0 {
		variant.Bandwidth = f.Size * 8 * int64(time.Second) / int64(f.Duration) * 5 / 4
	}
	return variant, nil
}

// sessionTrack is a track of a session's init segment, as a playlist or
// a manifest names it.
type sessionTrack struct {
	replay.MP4Track
	// codec is the RFC 6381 codec string.
	codec         string
	width, height int
}

// video reports whether the track is a picture.
func (t sessionTrack) video() bool {
	switch t.SampleEntry {
	case "mp4a", "Opus", "ipcm":
		return false
	}
	return true
}

// sessionTracks writes fragment f's init segment with options o to w and
// returns its tracks, or the KVS error of codecs the session's container
// cannot carry (HLS and DASH sessions alike).
func (h *Handler) sessionTracks(ctx context.Context, stream string, s hls.Session, o replay.MP4Options, f index.Fragment, w io.Writer) ([]sessionTrack, error) {
	src := replay.Source{Store: h.Index, Opener: h.Opener}
	tracks, err := src.WriteMP4Init(ctx, w, stream, o, replayFragment(f))
	switch {
	case errors.Is(err, replay.ErrUnsupportedMP4):
		return nil, errorf(UnsupportedStreamMediaTypeException, "The media type of the stream cannot be had as %s %s: %s.", protocolName(s), containerName(s), trimReplay(err))
	case errors.Is(err, replay.ErrCodecConfig):
		return nil, errorf(MissingCodecPrivateDataException, "The codec private data of a track cannot be read: %s.", trimReplay(err))
	case errors.Is(err, replay.ErrNoTrack):
		return nil, errorf(awsproto.InvalidArgumentException, "TrackNumber %d: fragment %d has no such track.", o.Track, f.Number)
	case errors.Is(err, index.ErrFragmentNotFound):
		return nil, errorf(awsproto.ResourceNotFoundException, "Fragment %d is no longer stored.", f.Number)
	case err != nil:
		return nil, err
	}
	out := make([]sessionTrack, 0, len(tracks))
	for _, t := range tracks {
		if s.TS && t.SampleEntry != "avc1" && t.SampleEntry != "hev1" && t.SampleEntry != "mp4a" {
			return nil, errorf(UnsupportedStreamMediaTypeException, "The media type of the stream cannot be had as HLS MPEG-TS: a %s track (MPEG_TS carries H.264, H.265 and AAC; use FRAGMENTED_MP4).", t.SampleEntry)
		}
		c, width, height, ok := hls.CodecString(t.SampleEntry, t.Codec)
		if !ok {
			return nil, errorf(UnsupportedStreamMediaTypeException, "The media type of the stream cannot be played over %s: a %s track.", protocolName(s), t.SampleEntry)
		}
		out = append(out, sessionTrack{MP4Track: t, codec: c, width: width, height: height})
	}
	return out, nil
}

// protocolName names a session's streaming protocol in errors.
func protocolName(s hls.Session) string {
	if s.DASH {
		return "MPEG-DASH"
	}
	return "HLS"
}

// containerName names a session's segment container in errors.
func containerName(s hls.Session) string {
	if s.TS {
		return "MPEG-TS"
	}
	return "fMP4"
}

// hlsResource returns the handler of a session resource: it verifies the
// SessionToken (403 in KVS's error shape when it is invalid or expired)
// and the stream it names, then calls fn.
func (h *Handler) hlsResource(fn func(ctx context.Context, w http.ResponseWriter, r *http.Request, s hls.Session, tok string) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := awsproto.RequestID(r.Context())
		// Any page may play a session (hls.js fetches with XHR): the
		// token in the URL is the credential, no cookie is involved.
		w.Header().Set("Access-Control-Allow-Origin", "*")
		err := h.serveHLS(w, r, fn)
		if err == nil {
			return
		}
		e, known := awsError(err)
		if !known {
			h.logger().Error("kvs hls request failed", "path", r.URL.Path, "request_id", reqID, "err", err)
		}
		writeError(w, reqID, e)
	})
}

func (h *Handler) serveHLS(w http.ResponseWriter, r *http.Request, fn func(ctx context.Context, w http.ResponseWriter, r *http.Request, s hls.Session, tok string) error) error {
	if h.Index == nil {
		return ErrNoIndex
	}
	if h.Opener == nil {
		return ErrNoOpener
	}
	tok := r.URL.Query().Get("SessionToken")
	if tok == "" {
		return errorf(awsproto.InvalidArgumentException, "The SessionToken query parameter is required.")
	}
	signer, err := h.hlsSigner()
	if err != nil {
		return err
	}
	s, err := signer.VerifyAt(tok, h.tokenNow())
	switch {
	case errors.Is(err, hls.ErrTokenExpired):
		return &awsproto.Error{Type: NotAuthorizedException, Message: "The session token has expired: request a new session URL.", Status: http.StatusForbidden}
	case err != nil:
		return &awsproto.Error{Type: NotAuthorizedException, Message: "The session token is not valid.", Status: http.StatusForbidden}
	}
	st, err := h.Index.Stream(r.Context(), s.Stream)
	if err != nil || st.ARN != s.StreamARN {
		return errorf(awsproto.ResourceNotFoundException, "The stream of this session no longer exists.")
	}
	return fn(r.Context(), w, r, s, tok)
}

// masterPlaylist serves the session's master playlist: one variant, the
// media playlist, with the codecs and picture size of its first fragment.
func (h *Handler) masterPlaylist(ctx context.Context, w http.ResponseWriter, _ *http.Request, s hls.Session, tok string) error {
	if err := wantHLS(s); err != nil {
		return err
	}
	frags, _, _, err := h.segments(ctx, s)
	if err != nil {
		return err
	}
	v, err := h.hlsTracks(ctx, s.Stream, s, frags[0].f, io.Discard)
	if err != nil {
		return err
	}
	v.URI = "getHLSMediaPlaylist.m3u8?SessionToken=" + url.QueryEscape(tok)
	m := hls.MasterPlaylist{Variants: []hls.Variant{v}}
	if s.TS {
		m.Version = 3
	}
	writePlaylist(w, m.Marshal())
	return nil
}

// sessionSegment is a fragment of a session's playlist.
type sessionSegment struct {
	f             index.Fragment
	seq           uint64
	discontinuity bool
	newMap        bool
	// runStart is the server time of the first fragment of the run of
	// fragments with f's tracks (where a DASH Period starts), even when
	// that fragment has slid out of a live window.
	runStart time.Time
}

// segments walks the session's fragments and returns its current
// playlist: the fragments, the discontinuities before the first, and
// whether the playlist is ended. Media sequence numbers count the
// session's fragments from its first, so every reload of a sliding
// playlist numbers a fragment alike. The walk goes on from where the
// session's last one ended (walks.go).
func (h *Handler) segments(ctx context.Context, s hls.Session) (segs []sessionSegment, discBefore uint64, ended bool, err error) {
	now := h.now()
	elapsed := now.Sub(s.Created)
	w, key := h.walks.get(s)
	w.mu.Lock()
	defer w.mu.Unlock()
	stoppedDue := false
	if !w.full {
		start := s.Start
		if w.walked {
			start = selected(s, w.prev)
		}
		err = h.Index.Iterate(ctx, s.Stream, h.hlsQuery(s, start, s.End), func(f index.Fragment) error {
			if !w.after(s, f) {
				return nil // walked before
			}
			err := w.step(s, f, elapsed)
			stoppedDue = errors.Is(err, errStop) && !w.full
			return err
		})
		h.walks.held(key, len(w.segs))
		if err != nil && !errors.Is(err, errStop) {
			return nil, 0, false, err
		}
	}
	if len(w.segs) == 0 {
		return nil, 0, false, errorf(awsproto.ResourceNotFoundException, "No fragments found in the session's time range.")
	}
	switch s.Mode {
	case hls.OnDemand:
		ended = true
	case hls.LiveReplay:
		ended = !s.End.IsZero() && !stoppedDue && now.After(s.End)
	}
	return w.window(), w.discBefore, ended, nil
}

// sameTracks reports whether two fragments have the same codecs and
// picture size (one init segment serves both).
func sameTracks(a, b index.Fragment) bool {
	if len(a.Tracks) != len(b.Tracks) {
		return false
	}
	for i := range a.Tracks {
		x, y := a.Tracks[i], b.Tracks[i]
		if x.Codec != y.Codec || x.Width != y.Width || x.Height != y.Height {
			return false
		}
	}
	return true
}

// mediaPlaylist serves the session's media playlist.
func (h *Handler) mediaPlaylist(ctx context.Context, w http.ResponseWriter, _ *http.Request, s hls.Session, tok string) error {
	if err := wantHLS(s); err != nil {
		return err
	}
	segs, discBefore, ended, err := h.segments(ctx, s)
	if err != nil {
		return err
	}
	q := "SessionToken=" + url.QueryEscape(tok)
	initURI := func(f index.Fragment) string {
		return "getMP4InitFragment.mp4?FragmentNumber=" + f.NumberString() + "&" + q
	}
	p := hls.MediaPlaylist{MapURI: initURI(segs[0].f), Sequence: segs[0].seq, DiscontinuitySequence: discBefore,
		Ended: ended, ShowTime: s.ShowTime, MinTargetDuration: 2 * time.Second}
	segURI := "getMP4MediaFragment.mp4"
	if s.TS {
		// Each MPEG-TS segment carries its own tables and parameter
		// sets: no EXT-X-MAP, version 3.
		p.MapURI, p.Version, segURI = "", 3, "getTSFragment.ts"
	}
	for _, sg := range segs {
		seg := hls.Segment{URI: segURI + "?FragmentNumber=" + sg.f.NumberString() + "&" + q,
			Duration: sg.f.Duration, Time: sg.f.ProducerTime, Discontinuity: sg.discontinuity}
		if !s.Producer {
			seg.Time = sg.f.ServerTime
		}
		if sg.newMap && !s.TS {
			seg.MapURI = initURI(sg.f)
		}
		p.Segments = append(p.Segments, seg)
	}
	writePlaylist(w, p.Marshal())
	return nil
}

// sessionFragment returns the fragment a segment request names, if it
// belongs to the session.
func (h *Handler) sessionFragment(ctx context.Context, r *http.Request, s hls.Session) (index.Fragment, error) {
	num := r.URL.Query().Get("FragmentNumber")
	if num == "" && r.URL.Query().Has("SequenceNumber") {
		return h.sequenceFragment(ctx, r.URL.Query().Get("SequenceNumber"), s)
	}
	if num == "" {
		return index.Fragment{}, errorf(awsproto.InvalidArgumentException, "The FragmentNumber query parameter is required.")
	}
	if !validFragmentNumber(num) {
		return index.Fragment{}, errorf(awsproto.InvalidArgumentException, "FragmentNumber %.32q is not a fragment number.", num)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return index.Fragment{}, fragmentNotFound(num)
	}
	f, err := h.Index.Fragment(ctx, n)
	if errors.Is(err, index.ErrFragmentNotFound) {
		return index.Fragment{}, fragmentNotFound(num)
	}
	if err != nil {
		return index.Fragment{}, err
	}
	t := selected(s, f)
	if f.Stream != s.Stream || t.Before(s.Start) || !s.End.IsZero() && t.After(s.End) {
		// Out of the token's scope: 403, as KVS answers a session that
		// is not authorized for what it asks (issue 13: out-of-scope
		// tokens get 403 on every surface).
		return index.Fragment{}, &awsproto.Error{Type: NotAuthorizedException, Status: http.StatusForbidden,
			Message: fmt.Sprintf("The session token does not open fragment %s: it is another stream's or outside the session's time range.", num)}
	}
	return f, nil
}

// initFragment serves the init segment (ftyp+moov) of the fragment named
// (the session's first when none is).
func (h *Handler) initFragment(ctx context.Context, w http.ResponseWriter, r *http.Request, s hls.Session, _ string) error {
	if err := wantContainer(s, false); err != nil {
		return err
	}
	var f index.Fragment
	var err error
	if r.URL.Query().Has("FragmentNumber") {
		f, err = h.sessionFragment(ctx, r, s)
	} else {
		var segs []sessionSegment
		if segs, _, _, err = h.segments(ctx, s); err == nil {
			f = segs[0].f
		}
	}
	if err != nil {
		return err
	}
	o := mp4Options(s)
	if o.Track, err = trackNumber(r); err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := h.sessionTracks(ctx, s.Stream, s, o, f, &buf); err != nil {
		return err
	}
	writeMP4(w, buf.Bytes(), &h.counters)
	return nil
}

// mediaFragment serves one fragment as an fMP4 media segment, decrypted
// in memory.
func (h *Handler) mediaFragment(ctx context.Context, w http.ResponseWriter, r *http.Request, s hls.Session, _ string) error {
	return h.segment(ctx, w, r, s, false)
}

// tsFragment serves one fragment as an MPEG-TS segment (KVS
// GetTSFragment), decrypted in memory.
func (h *Handler) tsFragment(ctx context.Context, w http.ResponseWriter, r *http.Request, s hls.Session, _ string) error {
	return h.segment(ctx, w, r, s, true)
}

// wantHLS answers the error of an HLS playlist asked with a DASH
// session's token.
func wantHLS(s hls.Session) error {
	if s.DASH {
		return errorf(awsproto.InvalidArgumentException, "The session is an MPEG-DASH session: its manifest is getDASHManifest.mpd.")
	}
	return nil
}

// wantContainer answers KVS's error for a segment resource of the other
// container than the session's.
func wantContainer(s hls.Session, ts bool) error {
	switch {
	case s.TS && !ts:
		return errorf(awsproto.InvalidArgumentException, "The session's ContainerFormat is MPEG_TS: its segments are getTSFragment.ts.")
	case !s.TS && ts:
		return errorf(awsproto.InvalidArgumentException, "The session's ContainerFormat is FRAGMENTED_MP4: its segments are getMP4MediaFragment.mp4.")
	}
	return nil
}

// segment serves one fragment of session s as a media segment: fMP4, or
// MPEG-TS when ts.
func (h *Handler) segment(ctx context.Context, w http.ResponseWriter, r *http.Request, s hls.Session, ts bool) error {
	if err := wantContainer(s, ts); err != nil {
		return err
	}
	f, err := h.sessionFragment(ctx, r, s)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	src := replay.Source{Store: h.Index, Opener: h.Opener}
	o := replay.SegmentOptions{MP4Options: mp4Options(s), Origin: s.Origin, Sequence: uint32(f.Number)}
	if o.Track, err = trackNumber(r); err != nil {
		return err
	}
	if ts && o.Track > 0 {
		return errorf(awsproto.InvalidArgumentException, "TrackNumber is not a parameter of getTSFragment.ts: an MPEG-TS segment carries every track.")
	}
	if ts {
		_, err = src.WriteTSSegment(ctx, &buf, s.Stream, o, replayFragment(f))
	} else {
		_, err = src.WriteMP4Segment(ctx, &buf, s.Stream, o, replayFragment(f))
	}
	switch {
	case errors.Is(err, index.ErrFragmentNotFound):
		return fragmentNotFound(f.NumberString())
	case errors.Is(err, replay.ErrUnsupportedMP4), errors.Is(err, replay.ErrUnsupportedTS):
		return errorf(UnsupportedStreamMediaTypeException, "The media type of fragment %d cannot be had as %s %s: %s.", f.Number, protocolName(s), containerName(s), trimReplay(err))
	case errors.Is(err, replay.ErrCodecConfig):
		return errorf(MissingCodecPrivateDataException, "The codec private data of fragment %d cannot be read: %s.", f.Number, trimReplay(err))
	case errors.Is(err, replay.ErrNoTrack):
		return errorf(awsproto.InvalidArgumentException, "TrackNumber %d: fragment %d has no such track.", o.Track, f.Number)
	case err != nil:
		return err
	}
	if ts {
		writeSegment(w, "video/mp2t", buf.Bytes(), &h.counters)
	} else {
		writeSegment(w, "video/mp4", buf.Bytes(), &h.counters)
	}
	return nil
}

// writePlaylist writes an m3u8 response. Playlists are not cached: a live
// one changes with every fragment stored.
func writePlaylist(w http.ResponseWriter, b []byte) {
	hd := w.Header()
	hd.Set("Content-Type", "application/vnd.apple.mpegurl")
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	hd.Set("Cache-Control", "no-cache")
	_, _ = w.Write(b) // the player went away: nothing more to do
}

// writeMP4 writes an fMP4 segment response.
func writeMP4(w http.ResponseWriter, b []byte, c *mediaCounters) {
	writeSegment(w, "video/mp4", b, c)
}

// writeSegment writes a media segment response of type typ.
func writeSegment(w http.ResponseWriter, typ string, b []byte, c *mediaCounters) {
	hd := w.Header()
	hd.Set("Content-Type", typ)
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	n, _ := w.Write(b)
	c.bytes.Add(uint64(n))
}
