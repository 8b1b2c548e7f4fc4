package kvs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/ingest/camsim"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// hlsClock is a settable clock for a Handler (Handler.Now): it stands at
// the real time until set, so that the recordings (made at real times)
// are recent.
type hlsClock struct{ off atomic.Int64 }

func (c *hlsClock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *hlsClock) advance(d time.Duration) { c.off.Add(int64(d)) }
func newHLSEnv(t *testing.T) (*mediaEnv, *hlsClock) {
	clock := &hlsClock{}
	env := newMediaEnv(t, func(h *Handler) { h.Now = clock.now })
	return env, clock
}

// sessionURL asks for an HLS session and returns its URL.
func (env *mediaEnv) sessionURL(t *testing.T, body map[string]any) string {
	t.Helper()
	resp := env.do(t, t.Context(), PathGetHLSStreamingSessionURL, body)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("getHLSStreamingSessionURL: HTTP %d %s", resp.StatusCode, b)
	}
	var out struct{ HLSStreamingSessionURL string }
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.HLSStreamingSessionURL, env.srv.URL+PathHLSMasterPlaylist+"?SessionToken=") {
		t.Fatalf("session URL %q", out.HLSStreamingSessionURL)
	}
	return out.HLSStreamingSessionURL
}

// get fetches u with a plain (unsigned) GET.
func (env *mediaEnv) get(t *testing.T, u string) (*http.Response, []byte) {
	t.Helper()
	resp, err := env.srv.Client().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, b
}

// playlist is what the tests read of a media playlist.
type playlist struct {
	sequence int
	discSeq  int // EXT-X-DISCONTINUITY-SEQUENCE
	mapURI   string
	segments []string // URIs
	times    int      // EXT-X-PROGRAM-DATE-TIME lines
	discs    int      // EXT-X-DISCONTINUITY lines
	ended    bool
}

func parsePlaylist(t *testing.T, b []byte) playlist {
	t.Helper()
	var p playlist
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "#EXT-X-MEDIA-SEQUENCE:"):
			p.sequence, _ = strconv.Atoi(strings.TrimPrefix(l, "#EXT-X-MEDIA-SEQUENCE:"))
		case strings.HasPrefix(l, "#EXT-X-DISCONTINUITY-SEQUENCE:"):
			p.discSeq, _ = strconv.Atoi(strings.TrimPrefix(l, "#EXT-X-DISCONTINUITY-SEQUENCE:"))
		case strings.HasPrefix(l, "#EXT-X-MAP:URI="):
			if p.mapURI == "" {
				p.mapURI = strings.Trim(strings.TrimPrefix(l, "#EXT-X-MAP:URI="), `"`)
			}
		case strings.HasPrefix(l, "#EXT-X-PROGRAM-DATE-TIME:"):
			p.times++
		case l == "#EXT-X-DISCONTINUITY":
			p.discs++
		case l == "#EXT-X-ENDLIST":
			p.ended = true
		case l != "" && !strings.HasPrefix(l, "#"):
			p.segments = append(p.segments, l)
		}
	}
	return p
}

// mediaPlaylistURL reads the master playlist and returns the media
// playlist's URL, checking CODECS and RESOLUTION.
func (env *mediaEnv) mediaPlaylistURL(t *testing.T, session string) string {
	t.Helper()
	resp, b := env.get(t, session)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/vnd.apple.mpegurl" {
		t.Fatalf("master playlist: HTTP %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	// The test clip is x264 Main level 1.3, 320x240, with AAC-LC.
	if !bytes.Contains(b, []byte(`CODECS="avc1.4d400d,mp4a.40.2",RESOLUTION=320x240`)) {
		t.Fatalf("master playlist:\n%s", b)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	u, err := url.Parse(session)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := u.Parse(lines[len(lines)-1])
	if err != nil {
		t.Fatal(err)
	}
	return ref.String()
}

func TestHLSOnDemand(t *testing.T) {
	env, _ := newHLSEnv(t)
	fr := env.frags
	videoFrames := 0
	for _, f := range fr {
		videoFrames += f.Tracks[0].Frames
	}
	rng := map[string]any{"StartTimestamp": fr[0].ServerTime.Unix(), "EndTimestamp": fr[len(fr)-1].ServerTime.Add(time.Second).Unix()}
	session := env.sessionURL(t, map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND",
		"HLSFragmentSelector":      map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP", "TimestampRange": rng},
		"DisplayFragmentTimestamp": "ALWAYS", "DiscontinuityMode": "ON_DISCONTINUITY"})
	mediaURL := env.mediaPlaylistURL(t, session)
	_, b := env.get(t, mediaURL)
	p := parsePlaylist(t, b)
	if len(p.segments) != len(fr) || !p.ended || p.sequence != 0 || p.times != len(fr) || p.discs != 0 {
		t.Fatalf("media playlist (%d fragments recorded, none apart):\n%s", len(fr), b)
	}
	base, _ := url.Parse(mediaURL)
	init, _ := base.Parse(p.mapURI)
	resp, initBytes := env.get(t, init.String())
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("init: HTTP %d %s", resp.StatusCode, initBytes)
	}
	var in fmp4.Init
	if err := in.Unmarshal(bytes.NewReader(initBytes)); err != nil || len(in.Tracks) != 2 {
		t.Fatalf("init segment: %v, %d tracks", err, len(in.Tracks))
	}
	var lastBase uint64
	for i, s := range p.segments {
		u, _ := base.Parse(s)
		resp, seg := env.get(t, u.String())
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("segment %d: HTTP %d %s", i, resp.StatusCode, seg)
		}
		var parts fmp4.Parts
		if err := parts.Unmarshal(seg); err != nil || len(parts) != 1 {
			t.Fatalf("segment %d: %v, %d parts", i, err, len(parts))
		}
		if parts[0].SequenceNumber != uint32(fr[i].Number) || parts[0].Tracks[0].BaseTime <= lastBase {
			t.Errorf("segment %d: sequence %d (fragment %d), tfdt %d after %d", i, parts[0].SequenceNumber, fr[i].Number, parts[0].Tracks[0].BaseTime, lastBase)
		}
		lastBase = parts[0].Tracks[0].BaseTime
		if got := len(parts[0].Tracks[0].Samples); got != fr[i].Tracks[0].Frames {
			t.Errorf("segment %d: %d video samples, fragment has %d", i, got, fr[i].Tracks[0].Frames)
		}
	}

	// A player: ffprobe opens the session URL without credentials and
	// decodes every recorded video frame.
	t.Run("ffprobe", func(t *testing.T) {
		ffprobe := testtool.Need(t, "ffprobe")
		got := ffprobeFrames(t, ffprobe, session)
		if got["h264"] != videoFrames {
			t.Errorf("ffprobe decoded %v, want %d h264 frames", got, videoFrames)
		}
	})

	// MaxMediaPlaylistFragmentResults caps an ON_DEMAND playlist.
	two := env.sessionURL(t, map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND", "MaxMediaPlaylistFragmentResults": 2,
		"HLSFragmentSelector": map[string]any{"FragmentSelectorType": "PRODUCER_TIMESTAMP", "TimestampRange": map[string]any{
			"StartTimestamp": fr[0].ProducerTime.Unix(), "EndTimestamp": fr[len(fr)-1].ProducerTime.Add(time.Second).Unix()}}})
	_, b = env.get(t, env.mediaPlaylistURL(t, two))
	if p := parsePlaylist(t, b); len(p.segments) != 2 || !p.ended || p.times != 0 {
		t.Errorf("2 results: %s", b)
	}
	// The default discontinuity mode ALWAYS marks every boundary.
	always := env.sessionURL(t, map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND",
		"HLSFragmentSelector": map[string]any{"TimestampRange": rng}})
	_, b = env.get(t, env.mediaPlaylistURL(t, always))
	if p := parsePlaylist(t, b); p.discs != len(fr)-1 {
		t.Errorf("ALWAYS: %d discontinuities, want %d:\n%s", p.discs, len(fr)-1, b)
	}
}

// TestHLSLive: a LIVE playlist holds the newest fragments, has no
// ENDLIST, and slides when a fragment is stored.
func TestHLSLive(t *testing.T) {
	env, _ := newHLSEnv(t)
	env.next = time.Now().Add(-10 * time.Second).Truncate(time.Millisecond)
	first := env.record(t, "cam2")
	session := env.sessionURL(t, map[string]any{"StreamName": "cam2", "MaxMediaPlaylistFragmentResults": 3})
	mediaURL := env.mediaPlaylistURL(t, session)
	_, b := env.get(t, mediaURL)
	p := parsePlaylist(t, b)
	if len(p.segments) != 3 || p.ended || !strings.Contains(p.segments[2], "FragmentNumber="+first[len(first)-1].NumberString()+"&") {
		t.Fatalf("live playlist (newest %d):\n%s", first[len(first)-1].Number, b)
	}
	more := env.record(t, "cam2")
	_, b = env.get(t, mediaURL)
	p2 := parsePlaylist(t, b)
	if len(p2.segments) != 3 || p2.ended || p2.sequence != p.sequence+len(more) ||
		!strings.Contains(p2.segments[2], "FragmentNumber="+more[len(more)-1].NumberString()+"&") {
		t.Fatalf("after %d more fragments, sequence %d → %d:\n%s", len(more), p.sequence, p2.sequence, b)
	}
	// DiscontinuityMode ALWAYS: every boundary is one, so as many lie
	// before the playlist as segments slid out of it, and 2 within.
	if p2.discSeq != p2.sequence || p2.discs != 2 {
		t.Errorf("discontinuity sequence %d and %d within, at media sequence %d:\n%s", p2.discSeq, p2.discs, p2.sequence, b)
	}
	base, _ := url.Parse(mediaURL)
	u, _ := base.Parse(p2.segments[2])
	if resp, seg := env.get(t, u.String()); resp.StatusCode != http.StatusOK || len(seg) == 0 {
		t.Fatalf("newest segment: HTTP %d", resp.StatusCode)
	}

	// The same window as MPEG-TS.
	tsURL := env.mediaPlaylistURL(t, env.sessionURL(t, map[string]any{"StreamName": "cam2", "MaxMediaPlaylistFragmentResults": 3, "ContainerFormat": "MPEG_TS"}))
	_, b = env.get(t, tsURL)
	p3 := parsePlaylist(t, b)
	if len(p3.segments) != 3 || p3.ended || p3.mapURI != "" || !strings.HasPrefix(p3.segments[2], "getTSFragment.ts?FragmentNumber="+more[len(more)-1].NumberString()+"&") {
		t.Fatalf("live MPEG_TS playlist:\n%s", b)
	}
	u, _ = base.Parse(p3.segments[2])
	if resp, seg := env.get(t, u.String()); resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/mp2t" || len(seg) == 0 || seg[0] != 0x47 {
		t.Fatalf("newest TS segment: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestHLSLiveReplay: a LIVE_REPLAY playlist starts at the start time and
// runs ahead of the playback time since the session began.
func TestHLSLiveReplay(t *testing.T) {
	env, clock := newHLSEnv(t)
	fr := env.frags
	session := env.sessionURL(t, map[string]any{"StreamName": "cam1", "PlaybackMode": "LIVE_REPLAY",
		"HLSFragmentSelector": map[string]any{"TimestampRange": map[string]any{"StartTimestamp": fr[1].ServerTime.Unix()}}})
	mediaURL := env.mediaPlaylistURL(t, session)
	_, b := env.get(t, mediaURL)
	p := parsePlaylist(t, b)
	if p.ended || p.sequence != 0 || len(p.segments) == 0 || !strings.Contains(p.segments[0], "FragmentNumber="+fr[1].NumberString()+"&") {
		t.Fatalf("live replay playlist:\n%s", b)
	}
	var total time.Duration
	for _, f := range fr {
		total += f.Duration
	}
	clock.advance(total)
	_, b = env.get(t, mediaURL)
	p = parsePlaylist(t, b)
	if p.ended || len(p.segments) == 0 || !strings.Contains(p.segments[len(p.segments)-1], "FragmentNumber="+fr[len(fr)-1].NumberString()+"&") {
		t.Fatalf("live replay after %v:\n%s", total, b)
	}
}

// TestHLSTokens: the session token is the only credential of the GETs;
// an expired or altered one is 403 in KVS's error shape, and a session
// opens only its own stream's fragments in its range (403 for others).
func TestHLSTokens(t *testing.T) {
	env, clock := newHLSEnv(t)
	fr := env.frags
	session := env.sessionURL(t, map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND", "Expires": 300,
		"HLSFragmentSelector": map[string]any{"TimestampRange": map[string]any{"StartTimestamp": fr[0].ServerTime.Unix(), "EndTimestamp": fr[1].ServerTime.Unix()}}})
	u, _ := url.Parse(session)
	tok := u.Query().Get("SessionToken")
	seg := func(tok, number string) string {
		return env.srv.URL + PathMP4MediaFragment + "?FragmentNumber=" + number + "&SessionToken=" + url.QueryEscape(tok)
	}
	resp, _ := env.get(t, seg(tok, fr[0].NumberString()))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("own fragment: HTTP %d", resp.StatusCode)
	}
	resp, _ = env.get(t, seg(tok, fr[len(fr)-1].NumberString()))
	wantAWSError(t, "fragment after the range", resp, 403, NotAuthorizedException)
	cam2, err := env.idx.Latest(t.Context(), "cam2")
	if err != nil {
		t.Fatal(err)
	}
	resp, _ = env.get(t, seg(tok, cam2.NumberString()))
	wantAWSError(t, "another stream's fragment", resp, 403, NotAuthorizedException)
	resp, _ = env.get(t, env.srv.URL+PathMP4InitFragment+"?FragmentNumber="+cam2.NumberString()+"&SessionToken="+url.QueryEscape(tok))
	wantAWSError(t, "another stream's init fragment", resp, 403, NotAuthorizedException)
	resp, _ = env.get(t, seg(tok, "99999999999999"))
	wantAWSError(t, "no such fragment", resp, 404, awsproto.ResourceNotFoundException)
	resp, _ = env.get(t, seg(tok, "x1"))
	wantAWSError(t, "bad fragment number", resp, 400, awsproto.InvalidArgumentException)
	resp, _ = env.get(t, env.srv.URL+PathHLSMasterPlaylist)
	wantAWSError(t, "no token", resp, 400, awsproto.InvalidArgumentException)
	resp, _ = env.get(t, env.srv.URL+PathHLSMasterPlaylist+"?SessionToken="+url.QueryEscape(tok[:10]+"A"+tok[11:]))
	wantAWSError(t, "altered token", resp, 403, NotAuthorizedException)
	clock.advance(301 * time.Second)
	resp, _ = env.get(t, session)
	if msg := wantAWSError(t, "expired token", resp, 403, NotAuthorizedException); !strings.Contains(msg, "expired") {
		t.Errorf("expired token: message %q", msg)
	}
}

func TestHLSSessionErrors(t *testing.T) {
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
	}{
		{"no stream", map[string]any{}, 400, awsproto.InvalidArgumentException},
		{"bad mode", map[string]any{"StreamName": "cam1", "PlaybackMode": "LATER"}, 400, awsproto.InvalidArgumentException},
		{"bad container", map[string]any{"StreamName": "cam1", "ContainerFormat": "MPEG_PS"}, 400, awsproto.InvalidArgumentException},
		{"expires too short", map[string]any{"StreamName": "cam1", "Expires": 299}, 400, awsproto.InvalidArgumentException},
		{"expires too long", map[string]any{"StreamName": "cam1", "Expires": 43201}, 400, awsproto.InvalidArgumentException},
		{"too many results", map[string]any{"StreamName": "cam1", "MaxMediaPlaylistFragmentResults": 5001}, 400, awsproto.InvalidArgumentException},
		{"bad selector", map[string]any{"StreamName": "cam1", "HLSFragmentSelector": map[string]any{"FragmentSelectorType": "ARRIVAL"}}, 400, awsproto.InvalidArgumentException},
		{"bad discontinuity mode", map[string]any{"StreamName": "cam1", "DiscontinuityMode": "SOMETIMES"}, 400, awsproto.InvalidArgumentException},
		{"LIVE with a range", map[string]any{"StreamName": "cam1", "HLSFragmentSelector": rng(t0, t0.Add(time.Minute))}, 400, awsproto.InvalidArgumentException},
		{"ON_DEMAND without a range", map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND"}, 400, awsproto.InvalidArgumentException},
		{"ON_DEMAND over 24 h", map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND", "HLSFragmentSelector": rng(t0, t0.Add(25*time.Hour))}, 400, awsproto.InvalidArgumentException},
		{"end before start", map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND", "HLSFragmentSelector": rng(t0, t0.Add(-time.Minute))}, 400, awsproto.InvalidArgumentException},
		{"LIVE_REPLAY without a start", map[string]any{"StreamName": "cam1", "PlaybackMode": "LIVE_REPLAY"}, 400, awsproto.InvalidArgumentException},
		{"unknown stream", map[string]any{"StreamName": "nope"}, 404, awsproto.ResourceNotFoundException},
		{"no retention", map[string]any{"StreamName": "live0"}, 400, NoDataRetentionException},
		{"empty range", map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND", "HLSFragmentSelector": rng(t0.Add(-2*time.Hour), t0.Add(-time.Hour))}, 404, awsproto.ResourceNotFoundException},
		{"LIVE of a stream not recording", map[string]any{"StreamName": "cam1"}, 404, awsproto.ResourceNotFoundException},
	}
	for _, c := range cases {
		wantAWSError(t, c.name, env.do(t, t.Context(), PathGetHLSStreamingSessionURL, c.body), c.status, c.typ)
	}
}

// FuzzHLSResources sends arbitrary query strings (SessionToken,
// FragmentNumber: the untrusted input of the unsigned GETs) to the HLS
// session resources over a real recording: every answer is 200 or a KVS
// error with its type, never a panic or a 500.
func FuzzHLSResources(f *testing.F) {
	env := newMediaEnv(f, nil)
	fr := env.frags
	resp := env.do(f, context.Background(), PathGetHLSStreamingSessionURL, map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND",
		"HLSFragmentSelector": map[string]any{"TimestampRange": map[string]any{"StartTimestamp": fr[0].ServerTime.Unix(), "EndTimestamp": fr[len(fr)-1].ServerTime.Unix()}}})
	var out struct{ HLSStreamingSessionURL string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		f.Fatal(err)
	}
	u, err := url.Parse(out.HLSStreamingSessionURL)
	if err != nil {
		f.Fatal(err)
	}
	q := u.RawQuery
	paths := HLSPaths()
	for i := range paths {
		f.Add(uint8(i), q)
		f.Add(uint8(i), q+"&FragmentNumber="+fr[1].NumberString())
		f.Add(uint8(i), q+"&FragmentNumber=99999999999999999999999")
		f.Add(uint8(i), "SessionToken=e30.AAAA&FragmentNumber=1")
		f.Add(uint8(i), q+"&TrackNumber=2&SequenceNumber=2")
		f.Add(uint8(i), q+"&TrackNumber=9&FragmentNumber="+fr[1].NumberString())
		f.Add(uint8(i), q+"&SequenceNumber=99999999999999999999999")
		f.Add(uint8(i), "")
	}
	mux := http.NewServeMux()
	env.h.RegisterHLS(mux)
	f.Fuzz(func(t *testing.T, op uint8, query string) {
		req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080"+paths[int(op)%len(paths)], nil)
		req.URL.RawQuery = query
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code == http.StatusOK {
			return
		}
		var e struct {
			Type string `json:"__type"`
		}
		if w.Code >= 500 || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Type == "" {
			t.Fatalf("%s?%s: HTTP %d %q", req.URL.Path, query, w.Code, w.Body.Bytes())
		}
	})
}

// TestHLSH265Opus: an H.265 + Opus recording plays over HLS too (hev1
// and Opus sample entries, their codec strings in the master playlist),
// every video frame read back by ffprobe.
func TestHLSH265Opus(t *testing.T) {
	ffprobe := testtool.Need(t, "ffprobe")
	env, _ := newHLSEnv(t)
	clip, err := camsim.ReadClip(filepath.Join("..", "..", "..", "testdata", "h265_opus.ts"))
	if err != nil {
		t.Fatal(err)
	}
	env.clip = clip
	fr := env.record(t, "cam2")
	videoFrames := 0
	for _, f := range fr {
		videoFrames += f.Tracks[0].Frames
	}
	session := env.sessionURL(t, map[string]any{"StreamName": "cam2", "PlaybackMode": "ON_DEMAND",
		"HLSFragmentSelector": map[string]any{"TimestampRange": map[string]any{"StartTimestamp": fr[0].ServerTime.Unix(), "EndTimestamp": fr[len(fr)-1].ServerTime.Add(time.Second).Unix()}}})
	_, b := env.get(t, session)
	if !bytes.Contains(b, []byte(`CODECS="hev1.1.6.L60.90,opus"`)) {
		t.Fatalf("master playlist:\n%s", b)
	}
	if got := ffprobeFrames(t, ffprobe, session); got["hevc"] != videoFrames || got["opus"] == 0 {
		t.Errorf("ffprobe decoded %v, want %d hevc frames and opus", got, videoFrames)
	}
}

// TestHLSMPEGTS: a ContainerFormat MPEG_TS session. Its playlists are
// version 3 without EXT-X-MAP, its segments getTSFragment.ts (video/mp2t,
// one per fragment, each with its own tables and parameter sets), the
// fMP4 resources refuse it, ffprobe reads every recorded video frame from
// the session URL, and an H.265 stream's Opus audio (which TS players do
// not take) is left out while its picture plays.
func TestHLSMPEGTS(t *testing.T) {
	env, _ := newHLSEnv(t)
	fr := env.frags
	videoFrames := 0
	for _, f := range fr {
		videoFrames += f.Tracks[0].Frames
	}
	rng := map[string]any{"StartTimestamp": fr[0].ServerTime.Unix(), "EndTimestamp": fr[len(fr)-1].ServerTime.Add(time.Second).Unix()}
	session := env.sessionURL(t, map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND", "ContainerFormat": "MPEG_TS",
		"HLSFragmentSelector": map[string]any{"TimestampRange": rng}, "DiscontinuityMode": "ON_DISCONTINUITY"})
	_, master := env.get(t, session)
	if !bytes.HasPrefix(master, []byte("#EXTM3U\n#EXT-X-VERSION:3\n")) {
		t.Errorf("master playlist:\n%s", master)
	}
	mediaURL := env.mediaPlaylistURL(t, session)
	_, b := env.get(t, mediaURL)
	p := parsePlaylist(t, b)
	if len(p.segments) != len(fr) || !p.ended || p.mapURI != "" || !bytes.HasPrefix(b, []byte("#EXTM3U\n#EXT-X-VERSION:3\n")) {
		t.Fatalf("media playlist (%d fragments):\n%s", len(fr), b)
	}
	base, _ := url.Parse(mediaURL)
	for i, sg := range p.segments {
		if !strings.HasPrefix(sg, "getTSFragment.ts?FragmentNumber="+fr[i].NumberString()+"&SessionToken=") {
			t.Fatalf("segment %d URI %q", i, sg)
		}
		u, _ := base.Parse(sg)
		resp, seg := env.get(t, u.String())
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "video/mp2t" || len(seg) == 0 || len(seg)%188 != 0 || seg[0] != 0x47 {
			t.Fatalf("segment %d: HTTP %d %s, %d bytes", i, resp.StatusCode, resp.Header.Get("Content-Type"), len(seg))
		}
		if i == 0 {
			// The fMP4 resources are not this session's.
			for _, path := range []string{"getMP4MediaFragment.mp4", "getMP4InitFragment.mp4"} {
				v, _ := base.Parse(strings.Replace(sg, "getTSFragment.ts", path, 1))
				resp, _ := env.get(t, v.String())
				wantAWSError(t, path+" of a TS session", resp, 400, awsproto.InvalidArgumentException)
			}
		}
	}
	t.Run("ffprobe", func(t *testing.T) {
		ffprobe := testtool.Need(t, "ffprobe")
		if got := ffprobeFrames(t, ffprobe, session); got["h264"] != videoFrames || got["aac"] == 0 {
			t.Errorf("ffprobe decoded %v, want %d h264 frames and aac", got, videoFrames)
		}
	})
	// An fMP4 session's segments are not TS.
	fmp4Session := env.sessionURL(t, map[string]any{"StreamName": "cam1", "PlaybackMode": "ON_DEMAND", "HLSFragmentSelector": map[string]any{"TimestampRange": rng}})
	tok := strings.TrimPrefix(fmp4Session, env.srv.URL+PathHLSMasterPlaylist+"?SessionToken=")
	resp, _ := env.get(t, env.srv.URL+PathTSFragment+"?FragmentNumber="+fr[0].NumberString()+"&SessionToken="+tok)
	wantAWSError(t, "TS segment of an fMP4 session", resp, 400, awsproto.InvalidArgumentException)

	// H.265 with Opus: KVS's MPEG_TS carries AAC audio only.
	clip, err := camsim.ReadClip(filepath.Join("..", "..", "..", "testdata", "h265_opus.ts"))
	if err != nil {
		t.Fatal(err)
	}
	env.clip = clip
	h265 := env.record(t, "cam2")
	h265Frames := 0
	for _, f := range h265 {
		h265Frames += f.Tracks[0].Frames
	}
	h265TS := env.sessionURL(t, map[string]any{"StreamName": "cam2", "PlaybackMode": "ON_DEMAND", "ContainerFormat": "MPEG_TS",
		"HLSFragmentSelector": map[string]any{"TimestampRange": map[string]any{"StartTimestamp": h265[0].ServerTime.Unix(), "EndTimestamp": h265[len(h265)-1].ServerTime.Add(time.Second).Unix()}}})
	_, master = env.get(t, h265TS)
	if !bytes.Contains(master, []byte(`CODECS="hev1.1.6.L60.90"`)) {
		t.Fatalf("H.265 + Opus master playlist:\n%s", master)
	}
	t.Run("ffprobe h265", func(t *testing.T) {
		ffprobe := testtool.Need(t, "ffprobe")
		if got := ffprobeFrames(t, ffprobe, h265TS); got["hevc"] != h265Frames || len(got) != 1 {
			t.Errorf("ffprobe decoded %v, want %d hevc frames and no audio", got, h265Frames)
		}
	})
}

// TestHLSCodecChange: where a stream's codecs change (H.264 then H.265
// in one stream), the playlist marks a discontinuity and names a new
// init segment, in every discontinuity mode, and that init segment is
// the new codec's.
func TestHLSCodecChange(t *testing.T) {
	env, _ := newHLSEnv(t)
	h264 := env.record(t, "cam2")[0]
	clip, err := camsim.ReadClip(filepath.Join("..", "..", "..", "testdata", "h265_opus.ts"))
	if err != nil {
		t.Fatal(err)
	}
	env.clip = clip
	h265 := env.record(t, "cam2")
	last := h265[len(h265)-1]
	session := env.sessionURL(t, map[string]any{"StreamName": "cam2", "PlaybackMode": "ON_DEMAND", "DiscontinuityMode": "NEVER",
		"HLSFragmentSelector": map[string]any{"TimestampRange": map[string]any{"StartTimestamp": h264.ServerTime.Unix(), "EndTimestamp": last.ServerTime.Add(time.Second).Unix()}}})
	mediaURL := env.mediaPlaylistURL(t, session)
	_, b := env.get(t, mediaURL)
	p := parsePlaylist(t, b)
	if p.discs != 1 || bytes.Count(b, []byte("#EXT-X-MAP:")) != 2 {
		t.Fatalf("one codec change, NEVER mode:\n%s", b)
	}
	lines := strings.Split(string(b), "\n")
	var second string
	for _, l := range lines {
		if strings.HasPrefix(l, "#EXT-X-MAP:URI=") && !strings.Contains(l, p.mapURI) {
			second = strings.Trim(strings.TrimPrefix(l, "#EXT-X-MAP:URI="), `"`)
		}
	}
	if !strings.Contains(second, "FragmentNumber="+h265[0].NumberString()+"&") {
		t.Fatalf("second map %q, want the first H.265 fragment %d's", second, h265[0].Number)
	}
	base, _ := url.Parse(mediaURL)
	u, _ := base.Parse(second)
	resp, initBytes := env.get(t, u.String())
	var in fmp4.Init
	if err := in.Unmarshal(bytes.NewReader(initBytes)); resp.StatusCode != http.StatusOK || err != nil || len(in.Tracks) == 0 {
		t.Fatalf("second init: HTTP %d %v", resp.StatusCode, err)
	}
	if _, ok := in.Tracks[0].Codec.(*mp4.CodecH265); !ok {
		t.Errorf("second init's video is %T, want H.265", in.Tracks[0].Codec)
	}
}

// TestHLSG711: a camera with G.711 audio (most IP cameras' default).
// GetHLSStreamingSessionURL refuses it as KVS does (HLS fMP4 carries no
// G.711); the web page's live session (LiveSessionURL) leaves the audio
// out and plays the picture: its master playlist names H.264 alone and
// ffprobe reads every video frame and no audio.
func TestHLSG711(t *testing.T) {
	ffprobe := testtool.Need(t, "ffprobe")
	env, _ := newHLSEnv(t)
	// The test clip with its AAC replaced by G.711 A-law: 8 kHz mono, one
	// 20-ms packet (160 samples of silence) in each AAC frame's place.
	clip := *env.clip
	clip.Tracks = []*media.Track{env.clip.Tracks[0], {Codec: media.CodecPCMA, SampleRate: 8000, Channels: 1}}
	clip.Frames = nil
	for _, f := range env.clip.Frames {
		if f.Track == 1 {
			g := *f
			g.Data = bytes.Repeat([]byte{0xd5}, 160)
			f = &g
		}
		clip.Frames = append(clip.Frames, f)
	}
	env.clip = &clip
	env.next = time.Now().Add(-10 * time.Second).Truncate(time.Millisecond)
	fr := env.record(t, "cam2")
	videoFrames := 0
	for _, f := range fr {
		videoFrames += f.Tracks[0].Frames
	}

	resp := env.do(t, t.Context(), PathGetHLSStreamingSessionURL, map[string]any{"StreamName": "cam2", "PlaybackMode": "LIVE"})
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(b, []byte(UnsupportedStreamMediaTypeException)) {
		t.Fatalf("KVS session of a G.711 stream: HTTP %d %s, want 400 %s", resp.StatusCode, b, UnsupportedStreamMediaTypeException)
	}

	path, err := env.h.LiveSessionURL(t.Context(), "cam2", time.Hour)
	if err != nil {
		t.Fatalf("the page's live session: %v", err)
	}
	session := env.srv.URL + path
	_, b = env.get(t, session)
	if !bytes.Contains(b, []byte(`CODECS="avc1.4d400d",RESOLUTION=320x240`)) {
		t.Fatalf("master playlist:\n%s", b)
	}
	// LIVE holds the newest fragments: count those.
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	u, err := url.Parse(session)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := u.Parse(lines[len(lines)-1])
	if err != nil {
		t.Fatal(err)
	}
	_, mp := env.get(t, ref.String())
	p := parsePlaylist(t, mp)
	want := 0
	for _, f := range fr[len(fr)-len(p.segments):] {
		want += f.Tracks[0].Frames
	}
	// (ffprobe would wait on a LIVE playlist for ever: it reads the
	// init segment and the media segments joined into a file.)
	var joined []byte
	for _, uri := range append([]string{p.mapURI}, p.segments...) {
		su, err := ref.Parse(uri)
		if err != nil {
			t.Fatal(err)
		}
		resp, seg := env.get(t, su.String())
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: HTTP %d %s", uri, resp.StatusCode, seg)
		}
		joined = append(joined, seg...)
	}
	file := filepath.Join(t.TempDir(), "live.mp4")
	if err := os.WriteFile(file, joined, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := ffprobeFrames(t, ffprobe, file); got["h264"] != want || len(got) != 1 {
		t.Errorf("ffprobe decoded %v, want %d h264 frames and nothing else", got, want)
	}
}
