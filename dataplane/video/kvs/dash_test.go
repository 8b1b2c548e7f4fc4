package kvs

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/ingest/camsim"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// mpd is what the tests read of a DASH manifest (encoding/xml, the DASH
// and kvs namespaces resolved).
type mpd struct {
	Type     string `xml:"type,attr"`
	Duration string `xml:"mediaPresentationDuration,attr"`
	Update   string `xml:"minimumUpdatePeriod,attr"`
	Periods  []struct {
		ID    string `xml:"id,attr"`
		Start string `xml:"start,attr"`
		Sets  []struct {
			ContentType string `xml:"contentType,attr"`
			Rep         struct {
				Codecs   string `xml:"codecs,attr"`
				Width    int    `xml:"width,attr"`
				Height   int    `xml:"height,attr"`
				Rate     int    `xml:"audioSamplingRate,attr"`
				Template struct {
					PTO         int64  `xml:"presentationTimeOffset,attr"`
					StartNumber uint64 `xml:"startNumber,attr"`
					Init        string `xml:"initialization,attr"`
					Media       string `xml:"media,attr"`
					S           []struct {
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

// dashSessionURL asks for a DASH session and returns its URL.
func (env *mediaEnv) dashSessionURL(t *testing.T, body map[string]any) string {
	t.Helper()
	resp := env.do(t, t.Context(), PathGetDASHStreamingSessionURL, body)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("getDASHStreamingSessionURL: HTTP %d %s", resp.StatusCode, b)
	}
	var out struct{ DASHStreamingSessionURL string }
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.DASHStreamingSessionURL, env.srv.URL+PathDASHManifest+"?SessionToken=") {
		t.Fatalf("session URL %q", out.DASHStreamingSessionURL)
	}
	return out.DASHStreamingSessionURL
}

// manifest fetches and parses a session's MPD.
func (env *mediaEnv) manifest(t *testing.T, u string) (mpd, []byte) {
	t.Helper()
	resp, b := env.get(t, u)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/dash+xml" {
		t.Fatalf("manifest: HTTP %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var m mpd
	if err := xml.Unmarshal(b, &m); err != nil {
		t.Fatalf("manifest is not XML: %v\n%s", err, b)
	}
	return m, b
}

// segmentURL resolves a media template for segment number n.
func segmentURL(t *testing.T, manifestURL, tpl string, n uint64) string {
	t.Helper()
	base, err := url.Parse(manifestURL)
	if err != nil {
		t.Fatal(err)
	}
	u, err := base.Parse(strings.ReplaceAll(tpl, "$Number$", strconv.FormatUint(n, 10)))
	if err != nil {
		t.Fatal(err)
	}
	return u.String()
}

// TestDASHOnDemand: an ON_DEMAND manifest is static, lists every
// recorded fragment once per track with its number and timestamp, and
// its per-track init and media segments (the HLS fMP4 handlers) carry one
// track each at the time the timeline says; ffprobe opens the manifest
// URL without credentials and decodes every recorded video frame.
func TestDASHOnDemand(t *testing.T) {
	env, _ := newHLSEnv(t)
	fr := env.frags
	videoFrames, audioFrames := 0, 0
	for _, f := range fr {
		videoFrames += f.Tracks[0].Frames
		audioFrames += f.Tracks[1].Frames
	}
	rng := map[string]any{"StartTimestamp": fr[0].ServerTime.Unix(), "EndTimestamp": fr[len(fr)-1].ServerTime.Add(time.Second).Unix()}
	session := env.dashSessionURL(t, map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND",
		"DASHFragmentSelector":     map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP", "TimestampRange": rng},
		"DisplayFragmentTimestamp": "ALWAYS", "DisplayFragmentNumber": "ALWAYS"})
	m, b := env.manifest(t, session)
	if m.Type != "static" || len(m.Periods) != 1 || len(m.Periods[0].Sets) != 2 || m.Periods[0].Start != "PT0.000S" {
		t.Fatalf("manifest:\n%s", b)
	}
	// The test clip is x264 Main level 1.3, 320x240, with AAC-LC 48 kHz.
	v, a := m.Periods[0].Sets[0], m.Periods[0].Sets[1]
	if v.ContentType != "video" || v.Rep.Codecs != "avc1.4d400d" || v.Rep.Width != 320 || v.Rep.Height != 240 ||
		a.ContentType != "audio" || a.Rep.Codecs != "mp4a.40.2" || a.Rep.Rate != 48000 {
		t.Fatalf("adaptation sets:\n%s", b)
	}
	tpl := v.Rep.Template
	if tpl.StartNumber != 1 || tpl.PTO != 10000 || len(tpl.S) != len(fr) || len(a.Rep.Template.S) != len(fr) {
		t.Fatalf("%d segments, start number %d, offset %d (%d fragments recorded):\n%s", len(tpl.S), tpl.StartNumber, tpl.PTO, len(fr), b)
	}
	for i, s := range tpl.S {
		if s.FN != fr[i].NumberString() || s.TS != fr[i].ServerTime.UTC().Format("2006-01-02T15:04:05.000Z") ||
			s.T != 10000+fr[i].ServerTime.Sub(fr[0].ServerTime).Milliseconds() || s.D != fr[i].Duration.Milliseconds() {
			t.Errorf("S[%d] = %+v, fragment %d at %v for %v", i, s, fr[i].Number, fr[i].ServerTime, fr[i].Duration)
		}
	}
	if want := "PT" + strconv.FormatFloat((fr[len(fr)-1].ServerTime.Sub(fr[0].ServerTime)+fr[len(fr)-1].Duration).Seconds(), 'f', 3, 64) + "S"; m.Duration != want {
		t.Errorf("mediaPresentationDuration %s, want %s", m.Duration, want)
	}

	// Each track's init segment holds that track alone.
	for k, set := range m.Periods[0].Sets {
		init := segmentURL(t, session, set.Rep.Template.Init, 0)
		resp, ib := env.get(t, init)
		var in fmp4.Init
		if resp.StatusCode != http.StatusOK || in.Unmarshal(bytes.NewReader(ib)) != nil || len(in.Tracks) != 1 {
			t.Fatalf("init of track %d: HTTP %d, %d tracks", k+1, resp.StatusCode, len(in.Tracks))
		}
		if _, isAudio := in.Tracks[0].Codec.(*mp4.CodecMPEG4Audio); isAudio != (set.ContentType == "audio") {
			t.Errorf("init of track %d (%s): codec %T", k+1, set.ContentType, in.Tracks[0].Codec)
		}
	}
	// Each media segment is the fragment the manifest numbers, one
	// track, at the time its S element says.
	var in fmp4.Init
	_, ib := env.get(t, segmentURL(t, session, tpl.Init, 0))
	if err := in.Unmarshal(bytes.NewReader(ib)); err != nil {
		t.Fatal(err)
	}
	scale := int64(in.Tracks[0].TimeScale)
	for i, s := range tpl.S {
		resp, seg := env.get(t, segmentURL(t, session, tpl.Media, tpl.StartNumber+uint64(i)))
		var parts fmp4.Parts
		if resp.StatusCode != http.StatusOK || parts.Unmarshal(seg) != nil || len(parts) != 1 || len(parts[0].Tracks) != 1 {
			t.Fatalf("segment %d: HTTP %d %.200s", i, resp.StatusCode, seg)
		}
		p := parts[0]
		if p.SequenceNumber != uint32(fr[i].Number) || len(p.Tracks[0].Samples) != fr[i].Tracks[0].Frames {
			t.Errorf("segment %d: sequence %d (fragment %d), %d samples (%d frames)", i, p.SequenceNumber, fr[i].Number, len(p.Tracks[0].Samples), fr[i].Tracks[0].Frames)
		}
		// The manifest's time is the presentation time of the segment's
		// first frame: its decode time (tfdt) plus its composition
		// offset (the delay of the frames the video reorders).
		pts := int64(p.Tracks[0].BaseTime) + int64(p.Tracks[0].Samples[0].PTSOffset)
		if ms := pts * 1000 / scale; ms < s.T-1 || ms > s.T+1 {
			t.Errorf("segment %d: presentation time %d ms (tfdt %d/%d), manifest t %d", i, ms, p.Tracks[0].BaseTime, scale, s.T)
		}
	}
	// The audio track's segments hold every recorded audio frame.
	atpl := a.Rep.Template
	for i := range atpl.S {
		resp, seg := env.get(t, segmentURL(t, session, atpl.Media, atpl.StartNumber+uint64(i)))
		var parts fmp4.Parts
		if resp.StatusCode != http.StatusOK || parts.Unmarshal(seg) != nil || len(parts) != 1 || len(parts[0].Tracks) != 1 {
			t.Fatalf("audio segment %d: HTTP %d %.200s", i, resp.StatusCode, seg)
		}
		if got := len(parts[0].Tracks[0].Samples); got != fr[i].Tracks[1].Frames {
			t.Errorf("audio segment %d: %d samples, fragment %d has %d audio frames", i, got, fr[i].Number, fr[i].Tracks[1].Frames)
		}
	}
	resp, _ := env.get(t, segmentURL(t, session, tpl.Media, tpl.StartNumber+uint64(len(fr))))
	wantAWSError(t, "segment past the session", resp, 404, awsproto.ResourceNotFoundException)

	t.Run("ffprobe", func(t *testing.T) {
		ffprobe := testtool.Need(t, "ffprobe")
		got := ffprobeFrames(t, ffprobe, session)
		if got["h264"] != videoFrames || got["aac"] != audioFrames {
			t.Errorf("ffprobe decoded %v, want %d h264 and %d aac frames", got, videoFrames, audioFrames)
		}
	})

	// MaxManifestFragmentResults caps an ON_DEMAND manifest; without
	// Display* there are no kvs attributes.
	two := env.dashSessionURL(t, map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND", "MaxManifestFragmentResults": 2,
		"DASHFragmentSelector": map[string]any{"FragmentSelectorType": "PRODUCER_TIMESTAMP", "TimestampRange": map[string]any{
			"StartTimestamp": fr[0].ProducerTime.Unix(), "EndTimestamp": fr[len(fr)-1].ProducerTime.Add(time.Second).Unix()}}})
	m, b = env.manifest(t, two)
	if s := m.Periods[0].Sets[0].Rep.Template.S; len(s) != 2 || s[0].FN != "" || s[0].TS != "" || bytes.Contains(b, []byte("kvs")) {
		t.Errorf("2 results:\n%s", b)
	}
}

// TestDASHLive: a LIVE manifest is dynamic, holds the newest fragments,
// and slides when a fragment is stored: its segment numbers go on, its
// Period stays the same; ffmpeg plays it.
func TestDASHLive(t *testing.T) {
	env, _ := newHLSEnv(t)
	env.next = time.Now().Add(-10 * time.Second).Truncate(time.Millisecond)
	first := env.record(t, "cam2")
	session := env.dashSessionURL(t, map[string]any{"StreamName": "cam2", "MaxManifestFragmentResults": 3, "DisplayFragmentNumber": "ALWAYS"})
	m, b := env.manifest(t, session)
	tpl := m.Periods[0].Sets[0].Rep.Template
	if m.Type != "dynamic" || m.Update == "" || len(m.Periods) != 1 || m.Periods[0].ID != "0" || m.Periods[0].Start != "PT0.000S" ||
		len(tpl.S) != 3 || tpl.S[2].FN != first[len(first)-1].NumberString() {
		t.Fatalf("live manifest (newest %d):\n%s", first[len(first)-1].Number, b)
	}
	more := env.record(t, "cam2")
	m2, b := env.manifest(t, session)
	tpl2 := m2.Periods[0].Sets[0].Rep.Template
	if len(m2.Periods) != 1 || m2.Periods[0].ID != "0" || m2.Periods[0].Start != "PT0.000S" || len(tpl2.S) != 3 ||
		tpl2.StartNumber != tpl.StartNumber+uint64(len(more)) || tpl2.S[2].FN != more[len(more)-1].NumberString() || tpl2.PTO != tpl.PTO {
		t.Fatalf("after %d more fragments, start number %d → %d:\n%s", len(more), tpl.StartNumber, tpl2.StartNumber, b)
	}
	// The newest segment by its number is the newest fragment.
	resp, seg := env.get(t, segmentURL(t, session, tpl2.Media, tpl2.StartNumber+2))
	var parts fmp4.Parts
	if resp.StatusCode != http.StatusOK || parts.Unmarshal(seg) != nil || len(parts) != 1 || parts[0].SequenceNumber != uint32(more[len(more)-1].Number) {
		t.Fatalf("newest segment: HTTP %d", resp.StatusCode)
	}

	// A player: ffmpeg reads the live manifest and decodes frames of the
	// window (it stops at a frame count: a live presentation has no end).
	t.Run("ffmpeg", func(t *testing.T) {
		ffmpeg := testtool.Need(t, "ffmpeg")
		want := more[len(more)-1].Tracks[0].Frames
		out, err := testtool.Command(t, time.Minute, ffmpeg, "-v", "error", "-i", session, "-map", "0:v:0",
			"-frames:v", strconv.Itoa(want), "-f", "framemd5", "-").Output()
		if err != nil {
			t.Fatalf("ffmpeg: %v", err)
		}
		if n := bytes.Count(out, []byte("\n0,")); n != want {
			t.Errorf("ffmpeg decoded %d frames of the live window, want %d", n, want)
		}
	})
}

// TestDASHLiveReplay: a LIVE_REPLAY manifest starts at the start time,
// is dynamic while the playback runs, and available from when the
// session began.
func TestDASHLiveReplay(t *testing.T) {
	env, clock := newHLSEnv(t)
	fr := env.frags
	session := env.dashSessionURL(t, map[string]any{"StreamName": "cam1", "PlaybackMode": "LIVE_REPLAY", "DisplayFragmentNumber": "ALWAYS",
		"DASHFragmentSelector": map[string]any{"TimestampRange": map[string]any{"StartTimestamp": fr[1].ServerTime.Unix()}}})
	m, b := env.manifest(t, session)
	if m.Type != "dynamic" || len(m.Periods) != 1 || m.Periods[0].Sets[0].Rep.Template.S[0].FN != fr[1].NumberString() {
		t.Fatalf("live replay manifest:\n%s", b)
	}
	var total time.Duration
	for _, f := range fr {
		total += f.Duration
	}
	clock.advance(total)
	m, b = env.manifest(t, session)
	s := m.Periods[0].Sets[0].Rep.Template.S
	if m.Type != "dynamic" || s[len(s)-1].FN != fr[len(fr)-1].NumberString() {
		t.Fatalf("live replay after %v:\n%s", total, b)
	}

	// With an EndTimestamp that has passed, the presentation is over: a
	// static manifest.
	ended := env.dashSessionURL(t, map[string]any{"StreamName": "cam1", "PlaybackMode": "LIVE_REPLAY",
		"DASHFragmentSelector": map[string]any{"TimestampRange": map[string]any{"StartTimestamp": fr[1].ServerTime.Unix(), "EndTimestamp": fr[2].ServerTime.Unix()}}})
	m, b = env.manifest(t, ended)
	if m.Type != "static" || m.Duration == "" || m.Update != "" {
		t.Fatalf("ended live replay:\n%s", b)
	}
}

// TestDASHTokens: a DASH session's token opens its manifest and its own
// stream's segments in its range, nothing else: an expired or altered
// token is 403, another stream's fragment is 403, an HLS token does not
// open a manifest nor a DASH token an HLS playlist.
func TestDASHTokens(t *testing.T) {
	env, clock := newHLSEnv(t)
	fr := env.frags
	rng := map[string]any{"TimestampRange": map[string]any{"StartTimestamp": fr[0].ServerTime.Unix(), "EndTimestamp": fr[1].ServerTime.Unix()}}
	session := env.dashSessionURL(t, map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND", "Expires": 300, "DASHFragmentSelector": rng})
	u, _ := url.Parse(session)
	tok := url.QueryEscape(u.Query().Get("SessionToken"))
	seg := func(q string) string {
		return env.srv.URL + PathDASHMP4MediaFragment + "?" + q + "&SessionToken=" + tok
	}
	if resp, _ := env.get(t, seg("TrackNumber=1&SequenceNumber=1")); resp.StatusCode != http.StatusOK {
		t.Fatalf("own segment: HTTP %d", resp.StatusCode)
	}
	if resp, _ := env.get(t, seg("FragmentNumber="+fr[0].NumberString())); resp.StatusCode != http.StatusOK {
		t.Fatalf("own fragment by number: HTTP %d", resp.StatusCode)
	}
	cam2, err := env.idx.Latest(t.Context(), "cam2")
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := env.get(t, seg("TrackNumber=1&FragmentNumber="+cam2.NumberString()))
	wantAWSError(t, "another stream's fragment", resp, 403, NotAuthorizedException)
	resp, _ = env.get(t, env.srv.URL+PathDASHMP4InitFragment+"?TrackNumber=1&FragmentNumber="+cam2.NumberString()+"&SessionToken="+tok)
	wantAWSError(t, "another stream's init", resp, 403, NotAuthorizedException)
	resp, _ = env.get(t, seg("FragmentNumber="+fr[len(fr)-1].NumberString()))
	wantAWSError(t, "fragment after the range", resp, 403, NotAuthorizedException)
	resp, _ = env.get(t, seg("TrackNumber=3&SequenceNumber=1"))
	wantAWSError(t, "no third track", resp, 400, awsproto.InvalidArgumentException)
	for _, q := range []string{"TrackNumber=0&SequenceNumber=1", "TrackNumber=x&SequenceNumber=1", "SequenceNumber=0", "SequenceNumber=-1", "SequenceNumber=123456789012345678901234"} {
		resp, _ = env.get(t, seg(q))
		wantAWSError(t, q, resp, 400, awsproto.InvalidArgumentException)
	}
	resp, _ = env.get(t, seg("SequenceNumber=1000"))
	wantAWSError(t, "segment past the session", resp, 404, awsproto.ResourceNotFoundException)
	// An HLS session's token opens no manifest, and a DASH session's no
	// HLS playlist.
	hlsSession := env.sessionURL(t, map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND", "HLSFragmentSelector": rng})
	hu, _ := url.Parse(hlsSession)
	resp, _ = env.get(t, env.srv.URL+PathDASHManifest+"?"+hu.RawQuery)
	wantAWSError(t, "HLS token on the manifest", resp, 400, awsproto.InvalidArgumentException)
	resp, _ = env.get(t, env.srv.URL+PathHLSMasterPlaylist+"?SessionToken="+tok)
	wantAWSError(t, "DASH token on the master playlist", resp, 400, awsproto.InvalidArgumentException)
	resp, _ = env.get(t, env.srv.URL+PathDASHManifest)
	wantAWSError(t, "no token", resp, 400, awsproto.InvalidArgumentException)
	altered := u.Query().Get("SessionToken")
	altered = altered[:10] + string('A'+(altered[10]-'A'+1)%26) + altered[11:]
	resp, _ = env.get(t, env.srv.URL+PathDASHManifest+"?SessionToken="+url.QueryEscape(altered))
	wantAWSError(t, "altered token", resp, 403, NotAuthorizedException)
	clock.advance(301 * time.Second)
	resp, _ = env.get(t, session)
	if msg := wantAWSError(t, "expired token", resp, 403, NotAuthorizedException); !strings.Contains(msg, "expired") {
		t.Errorf("expired token: message %q", msg)
	}
}

// TestDASHSessionErrors: GetDASHStreamingSessionURL checks its request
// as KVS does, in KVS's error shape, naming DASH's members.
func TestDASHSessionErrors(t *testing.T) {
	env, _ := newHLSEnv(t)
	fr := env.frags
	rng := func(a, b time.Time) map[string]any {
		return map[string]any{"TimestampRange": map[string]any{"StartTimestamp": a.Unix(), "EndTimestamp": b.Unix()}}
	}
	t0 := fr[0].ServerTime
	cases := []struct {
		name   string
		body   map[string]any
		status int
		typ    string
		msg    string
	}{
		{"no stream", map[string]any{}, 400, awsproto.InvalidArgumentException, "streamName"},
		{"bad mode", map[string]any{"StreamName": "cam1", "PlaybackMode": "LATER"}, 400, awsproto.InvalidArgumentException, "playbackMode"},
		{"bad display number", map[string]any{"StreamName": "cam1", "DisplayFragmentNumber": "SOMETIMES"}, 400, awsproto.InvalidArgumentException, "displayFragmentNumber"},
		{"bad display timestamp", map[string]any{"StreamName": "cam1", "DisplayFragmentTimestamp": "SOMETIMES"}, 400, awsproto.InvalidArgumentException, "displayFragmentTimestamp"},
		{"expires too short", map[string]any{"StreamName": "cam1", "Expires": 299}, 400, awsproto.InvalidArgumentException, "expires"},
		{"expires too long", map[string]any{"StreamName": "cam1", "Expires": 43201}, 400, awsproto.InvalidArgumentException, "expires"},
		{"no results", map[string]any{"StreamName": "cam1", "MaxManifestFragmentResults": 0}, 400, awsproto.InvalidArgumentException, "maxManifestFragmentResults"},
		{"too many results", map[string]any{"StreamName": "cam1", "MaxManifestFragmentResults": 5001}, 400, awsproto.InvalidArgumentException, "maxManifestFragmentResults"},
		{"bad selector", map[string]any{"StreamName": "cam1", "DASHFragmentSelector": map[string]any{"FragmentSelectorType": "ARRIVAL"}}, 400, awsproto.InvalidArgumentException, "dASHFragmentSelector.fragmentSelectorType"},
		{"LIVE with a range", map[string]any{"StreamName": "cam1", "DASHFragmentSelector": rng(t0, t0.Add(time.Minute))}, 400, awsproto.InvalidArgumentException, "TimestampRange"},
		{"ON_DEMAND without a range", map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND"}, 400, awsproto.InvalidArgumentException, "ON_DEMAND"},
		{"ON_DEMAND over 24 h", map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND", "DASHFragmentSelector": rng(t0, t0.Add(25*time.Hour))}, 400, awsproto.InvalidArgumentException, "24 hours"},
		{"end before start", map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND", "DASHFragmentSelector": rng(t0, t0.Add(-time.Minute))}, 400, awsproto.InvalidArgumentException, "after"},
		{"LIVE_REPLAY without a start", map[string]any{"StreamName": "cam1", "PlaybackMode": "LIVE_REPLAY"}, 400, awsproto.InvalidArgumentException, "LIVE_REPLAY"},
		{"unknown stream", map[string]any{"StreamName": "nope"}, 404, awsproto.ResourceNotFoundException, "not found"},
		{"no retention", map[string]any{"StreamName": "live0"}, 400, NoDataRetentionException, "live0"},
		{"empty range", map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND", "DASHFragmentSelector": rng(t0.Add(-2*time.Hour), t0.Add(-time.Hour))}, 404, awsproto.ResourceNotFoundException, "No fragments"},
		{"LIVE of a stream not recording", map[string]any{"StreamName": "cam1"}, 404, awsproto.ResourceNotFoundException, "LIVE"},
	}
	for _, c := range cases {
		msg := wantAWSError(t, c.name, env.do(t, t.Context(), PathGetDASHStreamingSessionURL, c.body), c.status, c.typ)
		if !strings.Contains(msg, c.msg) {
			t.Errorf("%s: message %q does not name %q", c.name, msg, c.msg)
		}
	}
	// GetDataEndpoint hands out the appliance for DASH sessions.
	resp := env.do(t, t.Context(), PathGetDataEndpoint, map[string]any{"StreamName": "cam1", "APIName": "GET_DASH_STREAMING_SESSION_URL"})
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), env.srv.URL) {
		t.Errorf("GetDataEndpoint GET_DASH_STREAMING_SESSION_URL: HTTP %d %s", resp.StatusCode, b)
	}
}

// TestDASHCodecChange: a camera that restarts with other codecs (H.264 +
// AAC, then H.265 + Opus) starts a second Period with its own tracks,
// codec strings and init segments, on the same timeline.
func TestDASHCodecChange(t *testing.T) {
	env, _ := newHLSEnv(t)
	h264 := env.record(t, "cam2")
	clip, err := camsim.ReadClip(filepath.Join("..", "..", "..", "testdata", "h265_opus.ts"))
	if err != nil {
		t.Fatal(err)
	}
	env.clip = clip
	h265 := env.record(t, "cam2")
	last := h265[len(h265)-1]
	session := env.dashSessionURL(t, map[string]any{"StreamName": "cam2", "PlaybackMode": "ON_DEMAND",
		"DASHFragmentSelector": map[string]any{"TimestampRange": map[string]any{"StartTimestamp": h264[0].ServerTime.Unix(), "EndTimestamp": last.ServerTime.Add(time.Second).Unix()}}})
	m, b := env.manifest(t, session)
	if len(m.Periods) != 2 || m.Periods[0].ID != "0" || m.Periods[1].ID != "1" {
		t.Fatalf("one codec change, 2 periods:\n%s", b)
	}
	p0, p1 := m.Periods[0], m.Periods[1]
	if n := len(p0.Sets[0].Rep.Template.S); n != len(h264) || len(p1.Sets[0].Rep.Template.S) != len(h265) ||
		p1.Sets[0].Rep.Template.StartNumber != uint64(len(h264))+1 {
		t.Fatalf("periods of %d and %d segments:\n%s", len(h264), len(h265), b)
	}
	if !strings.HasPrefix(p1.Sets[0].Rep.Codecs, "hev1.") || p1.Sets[1].Rep.Codecs != "opus" || p1.Sets[1].Rep.Rate != 48000 {
		t.Errorf("second period's codecs %q %q", p1.Sets[0].Rep.Codecs, p1.Sets[1].Rep.Codecs)
	}
	// The second period starts where its first segment is on the
	// session's timeline.
	wantStart := "PT" + strconv.FormatFloat(h265[0].ServerTime.Sub(h264[0].ServerTime).Seconds(), 'f', 3, 64) + "S"
	if p1.Start != wantStart || p1.Sets[0].Rep.Template.PTO != p1.Sets[0].Rep.Template.S[0].T {
		t.Errorf("second period at %s (offset %d, first t %d), want %s", p1.Start, p1.Sets[0].Rep.Template.PTO, p1.Sets[0].Rep.Template.S[0].T, wantStart)
	}
	resp, ib := env.get(t, segmentURL(t, session, p1.Sets[0].Rep.Template.Init, 0))
	var in fmp4.Init
	if err := in.Unmarshal(bytes.NewReader(ib)); resp.StatusCode != http.StatusOK || err != nil || len(in.Tracks) != 1 {
		t.Fatalf("second period's video init: HTTP %d %v", resp.StatusCode, err)
	}
	if _, ok := in.Tracks[0].Codec.(*mp4.CodecH265); !ok {
		t.Errorf("second period's video is %T, want H.265", in.Tracks[0].Codec)
	}
	resp, seg := env.get(t, segmentURL(t, session, p1.Sets[1].Rep.Template.Media, p1.Sets[1].Rep.Template.StartNumber))
	var parts fmp4.Parts
	if resp.StatusCode != http.StatusOK || parts.Unmarshal(seg) != nil || len(parts) != 1 || len(parts[0].Tracks[0].Samples) != h265[0].Tracks[1].Frames {
		t.Fatalf("second period's first Opus segment: HTTP %d", resp.StatusCode)
	}
}
