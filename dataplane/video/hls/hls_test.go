package hls

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/kinedge/kinedge/ingest/camsim"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestMediaPlaylist(t *testing.T) {
	segs := []Segment{
		{URI: "s?n=1", Duration: 2 * time.Second, Time: t0},
		{URI: "s?n=2", Duration: 2040 * time.Millisecond, Time: t0.Add(2 * time.Second)},
		{URI: "s?n=3", Duration: 1960 * time.Millisecond, Time: t0.Add(9 * time.Second), Discontinuity: true, MapURI: "init?n=3"},
	}
	cases := []struct {
		name string
		p    MediaPlaylist
		want string
	}{
		{"on demand with times", MediaPlaylist{MapURI: "init?n=1", Sequence: 0, Segments: segs, Ended: true, ShowTime: true}, `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:3
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init?n=1"
#EXT-X-PROGRAM-DATE-TIME:2026-03-01T12:00:00.000Z
#EXTINF:2.000,
s?n=1
#EXT-X-PROGRAM-DATE-TIME:2026-03-01T12:00:02.000Z
#EXTINF:2.040,
s?n=2
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init?n=3"
#EXT-X-PROGRAM-DATE-TIME:2026-03-01T12:00:09.000Z
#EXTINF:1.960,
s?n=3
#EXT-X-ENDLIST
`},
		{"live window", MediaPlaylist{MapURI: "init?n=2", Sequence: 7, DiscontinuitySequence: 2, Segments: segs[1:2]}, `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:3
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-DISCONTINUITY-SEQUENCE:2
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init?n=2"
#EXTINF:2.040,
s?n=2
`},
		{"empty live", MediaPlaylist{MinTargetDuration: 2 * time.Second}, `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-INDEPENDENT-SEGMENTS
`},
		{"MPEG-TS", MediaPlaylist{Version: 3, Segments: []Segment{segs[0], {URI: "s?n=3", Duration: 1960 * time.Millisecond, Discontinuity: true}}, Ended: true}, `#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-INDEPENDENT-SEGMENTS
#EXTINF:2.000,
s?n=1
#EXT-X-DISCONTINUITY
#EXTINF:1.960,
s?n=3
#EXT-X-ENDLIST
`},
	}
	for _, c := range cases {
		if got := string(c.p.Marshal()); got != c.want {
			t.Errorf("%s:\n%s\nwant\n%s", c.name, got, c.want)
		}
	}
}

func TestMasterPlaylist(t *testing.T) {
	p := MasterPlaylist{Variants: []Variant{{URI: "media.m3u8?SessionToken=x", Bandwidth: 2_000_000, Codecs: []string{"avc1.64001f", "mp4a.40.2"}, Width: 1280, Height: 720}}}
	want := `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=2000000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720
media.m3u8?SessionToken=x
`
	if got := string(p.Marshal()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	p.Version = 3
	if got := string(p.Marshal()); !strings.HasPrefix(got, "#EXTM3U\n#EXT-X-VERSION:3\n") {
		t.Errorf("version 3:\n%s", got)
	}
}

func TestCodecString(t *testing.T) {
	h264c, err := camsim.ReadClip(filepath.Join("..", "..", "..", "testdata", "h264_aac.ts"))
	if err != nil {
		t.Fatal(err)
	}
	h265c, err := camsim.ReadClip(filepath.Join("..", "..", "..", "testdata", "h265_opus.ts"))
	if err != nil {
		t.Fatal(err)
	}
	v4, v5 := h264c.Tracks[0], h265c.Tracks[0]
	cases := []struct {
		entry string
		c     mp4.Codec
		want  string
		w, h  int
	}{
		// The clips are x264 Main profile level 1.3 and x265 Main
		// profile (testdata/gen.sh).
		{"avc1", &mp4.CodecH264{SPS: v4.SPS, PPS: v4.PPS}, "avc1.4d400d", 320, 240},
		{"hev1", &mp4.CodecH265{VPS: v5.VPS, SPS: v5.SPS, PPS: v5.PPS}, "hev1.1.6.L60.90", 320, 240},
		{"vp09", &mp4.CodecVP9{Width: 640, Height: 360, Profile: 0, BitDepth: 8}, "vp09.00.10.08", 640, 360},
		{"vp08", &mp4.CodecVP9{Width: 640, Height: 360, BitDepth: 8}, "vp08.00.10.08", 640, 360},
		{"mp4a", &mp4.CodecMPEG4Audio{Config: mpeg4audio.AudioSpecificConfig{Type: 2, SampleRate: 48000, ChannelCount: 2}}, "mp4a.40.2", 0, 0},
		{"Opus", &mp4.CodecOpus{ChannelCount: 2}, "opus", 0, 0},
	}
	for _, c := range cases {
		got, w, h, ok := CodecString(c.entry, c.c)
		t.Logf("%s: %s %dx%d", c.entry, got, w, h)
		if !ok || !strings.HasPrefix(got, c.want) || (c.w > 0 && (w != c.w || h != c.h)) {
			t.Errorf("%s: %q %dx%d %v, want %q…", c.entry, got, w, h, ok, c.want)
		}
		if c.entry[0] == 'a' || c.entry[0] == 'h' {
			if w == 0 || h == 0 {
				t.Errorf("%s: no picture size from the SPS", c.entry)
			}
		}
	}
	if _, _, _, ok := CodecString("ipcm", &mp4.CodecLPCM{BitDepth: 16, SampleRate: 8000, ChannelCount: 1}); ok {
		t.Error("linear PCM has an HLS codec string")
	}
	if _, _, _, ok := CodecString("hev1", &mp4.CodecH265{SPS: []byte{0x42, 1}}); ok {
		t.Error("a truncated H.265 SPS has a codec string")
	}
}

func TestSessionToken(t *testing.T) {
	now := t0
	s, err := NewSigner(make([]byte, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return now }
	in := Session{Stream: "cam1", StreamARN: "arn:aws:kinesisvideo:eu-west-1:1:stream/cam1/1", Mode: OnDemand, Start: t0.Add(-time.Hour), End: t0, Origin: t0.Add(-time.Hour),
		MaxResults: 1000, ShowTime: true, Discontinuity: "ALWAYS", Expires: t0.Add(300 * time.Second)}
	tok, err := s.Mint(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Verify(tok)
	if err != nil || !got.Start.Equal(in.Start) || got.Stream != "cam1" || got.MaxResults != 1000 || !got.ShowTime {
		t.Fatalf("Verify: %+v, %v", got, err)
	}
	other, _ := NewRandomSigner()
	for name, bad := range map[string]string{
		"empty":         "",
		"no dot":        strings.ReplaceAll(tok, ".", ""),
		"other key":     func() string { x, _ := other.Mint(in); return x }(),
		"flipped claim": tok[:5] + string(tok[5]^1) + tok[6:],
		"not base64":    tok + "!",
		"too long":      strings.Repeat("a", MaxTokenLen+1),
	} {
		if _, err := s.Verify(bad); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("%s: %v, want ErrTokenInvalid", name, err)
		}
	}
	now = in.Expires
	if _, err := s.Verify(tok); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("at expiry: %v, want ErrTokenExpired", err)
	}
	if _, err := NewSigner([]byte("short")); !errors.Is(err, ErrKeySize) {
		t.Errorf("short key: %v", err)
	}
}

// FuzzVerify feeds untrusted tokens (the SessionToken query parameter) to
// Verify: it never panics, and what it accepts it minted.
func FuzzVerify(f *testing.F) {
	s, err := NewSigner(make([]byte, KeySize))
	if err != nil {
		f.Fatal(err)
	}
	s.Now = func() time.Time { return t0 }
	good, err := s.Mint(Session{Stream: "cam1", Mode: Live, Expires: t0.Add(time.Hour)})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{good, "", ".", "e30.", good + "x", strings.Repeat("A", 100) + "." + strings.Repeat("B", 43)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := s.Verify(tok)
		if err != nil {
			if !errors.Is(err, ErrTokenInvalid) && !errors.Is(err, ErrTokenExpired) {
				t.Fatalf("%q: %v", tok, err)
			}
			return
		}
		if got.Stream != "cam1" {
			t.Fatalf("%q accepted as %+v", tok, got)
		}
	})
}
