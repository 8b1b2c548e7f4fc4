package whep

import (
	"bytes"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/kinedge/kinedge/dataplane/video/whep/wheptest"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// H.265 NAL units for the tables: two-byte headers (type << 1).
var (
	hVPS = []byte{hevcVPS << 1, 1, 0x0c}
	hSPS = []byte{hevcSPS << 1, 1, 0x01}
	hPPS = []byte{hevcPPS << 1, 1, 0xc1}
	hAUD = []byte{hevcAUD << 1, 1, 0x50}
	hIDR = []byte{19 << 1, 1, 0xaf} // IDR_W_RADL
	hTrl = []byte{1 << 1, 1, 0xd0}  // TRAIL_R
	hSP2 = []byte{hevcSPS << 1, 1, 0x02}
)

func TestHEVCAnnexB(t *testing.T) {
	all := hevcParamSets{vps: hVPS, sps: hSPS, pps: hPPS}
	for _, tc := range []struct {
		name    string
		au      []byte
		key     bool
		ps      hevcParamSets
		want    []byte
		wantErr bool
	}{
		{name: "keyframe with its parameter sets, AUD dropped", au: avccOf(hAUD, hVPS, hSPS, hPPS, hIDR), key: true, want: annexBOf(hVPS, hSPS, hPPS, hIDR)},
		{name: "keyframe without: from the track", au: avccOf(hIDR), key: true, ps: all, want: annexBOf(hVPS, hSPS, hPPS, hIDR)},
		{name: "keyframe with a lone SPS: the set goes first", au: avccOf(hSP2, hIDR), key: true, ps: all, want: annexBOf(hVPS, hSP2, hPPS, hIDR)},
		{name: "keyframe without, none known", au: avccOf(hIDR), key: true, want: annexBOf(hIDR)},
		{name: "keyframe without, only some known", au: avccOf(hIDR), key: true, ps: hevcParamSets{sps: hSPS}, want: annexBOf(hIDR)},
		{name: "P-frame gets nothing", au: avccOf(hTrl), ps: all, want: annexBOf(hTrl)},
		{name: "only an AUD", au: avccOf(hAUD), wantErr: true},
		{name: "truncated length", au: []byte{0, 0, 0}, wantErr: true},
		{name: "length past the end", au: []byte{0, 0, 0, 9, 0x26, 1}, wantErr: true},
		{name: "one-byte NAL unit", au: []byte{0, 0, 0, 1, 0x26}, wantErr: true},
		{name: "empty", au: nil, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := tc.ps
			got, err := hevcAnnexB(tc.au, tc.key, &ps)
			if tc.wantErr {
				if !errors.Is(err, ErrBadHEVCAccessUnit) {
					t.Fatalf("err %v, want ErrBadHEVCAccessUnit", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("got %x, %v; want %x", got, err, tc.want)
			}
		})
	}
	// Parameter sets seen in-band serve the next keyframe that lacks them.
	var ps hevcParamSets
	if _, err := hevcAnnexB(avccOf(hVPS, hSPS, hPPS, hIDR), true, &ps); err != nil {
		t.Fatal(err)
	}
	if got, _ := hevcAnnexB(avccOf(hIDR), true, &ps); !bytes.Equal(got, annexBOf(hVPS, hSPS, hPPS, hIDR)) {
		t.Fatalf("the next keyframe: %x", got)
	}
}

func FuzzHEVCAnnexB(f *testing.F) {
	f.Add(avccOf(hAUD, hVPS, hSPS, hPPS, hIDR), true)
	f.Add(avccOf(hIDR), true)
	f.Add(avccOf(hTrl), false)
	f.Add([]byte{0, 0, 0, 9, 0x26, 1}, false)
	f.Fuzz(func(t *testing.T, au []byte, key bool) {
		ps := hevcParamSets{vps: hVPS, sps: hSPS, pps: hPPS}
		out, err := hevcAnnexB(au, key, &ps)
		if err != nil {
			if !errors.Is(err, ErrBadHEVCAccessUnit) {
				t.Fatalf("error not ErrBadHEVCAccessUnit: %v", err)
			}
			return
		}
		if len(out) == 0 || len(out) > len(au)+12+len(hVPS)+len(hSPS)+len(hPPS) {
			t.Fatalf("output %d bytes for %d in", len(out), len(au))
		}
	})
}

func FuzzHEVCFormatOf(f *testing.F) {
	f.Add(hSPS)
	f.Add([]byte{0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03, 0x00, 0x5d, 0xa0})
	f.Fuzz(func(t *testing.T, sps []byte) {
		if got := hevcFormatOf(sps); got.profileID == 0 {
			t.Fatalf("profile-id 0 for % x", sps)
		}
	})
}

// hevcFrames encodes a test pattern with ffmpeg's libx265 (a keyframe a
// second at 25 fps, no B-frames) and returns its frames as ingest stores
// them (length-prefixed NAL units) and the track, whose VPS, SPS and PPS
// are the only ones: x265 writes them before its first keyframe only, so
// a player that joins later needs the session to send the track's.
func hevcFrames(t testing.TB) (*media.Track, []*media.Frame) {
	t.Helper()
	ffmpeg := testtool.Need(t, "ffmpeg")
	out, err := testtool.Command(t, time.Minute, ffmpeg, "-hide_banner", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
		"-t", "2", "-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
		"-x265-params", "keyint=25:min-keyint=25:bframes=0:log-level=error", "-f", "hevc", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	track := &media.Track{Codec: media.CodecH265, ClockRate: 90000}
	var frames []*media.Frame
	var au [][]byte
	for _, n := range wheptest.SplitAnnexB(out) {
		if len(n) < 2 {
			continue
		}
		switch typ := n[0] >> 1 & 0x3f; {
		case typ == hevcVPS:
			track.VPS = n
		case typ == hevcSPS:
			track.SPS = n
		case typ == hevcPPS:
			track.PPS = n
		case typ < 32: // a slice: x265 writes one per picture here
			au = append(au, n)
			pts := time.Duration(len(frames)) * 40 * time.Millisecond
			frames = append(frames, &media.Frame{PTS: pts, DTS: pts, Key: typ >= 16 && typ <= 23, Data: wheptest.AVCC(au)})
			au = nil
		default: // SEI
			au = append(au, n)
		}
	}
	if len(frames) < 50 || !frames[0].Key || track.VPS == nil || track.SPS == nil || track.PPS == nil {
		t.Fatalf("libx265 gave %d frames (first key: %v), VPS/SPS/PPS found: %v %v %v", len(frames), len(frames) > 0 && frames[0].Key,
			track.VPS != nil, track.SPS != nil, track.PPS != nil)
	}
	return track, frames
}

// TestPlayH265 plays an H.265 camera to a player that offers H.265: the
// answer has H265 only, and what the player
// depacketizes (RFC 7798) decodes in ffmpeg as hevc, from the keyframe it
// joined at, with the parameter sets the session took from the track.
func TestPlayH265(t *testing.T) {
	ffmpeg := testtool.Need(t, "ffmpeg")
	fx := newFixture(t)
	track, frames := hevcFrames(t)
	if f := hevcFormatOf(track.SPS); f.profileID != 1 || f.tierFlag != 0 || f.levelID == 0 {
		t.Fatalf("libx265's SPS read as %+v, want Main profile, Main tier", f)
	}
	opus := &media.Track{Codec: media.CodecOpus, ClockRate: 48000, SampleRate: 48000, Channels: 2}
	var withAudio []*media.Frame
	for _, v := range frames {
		v.Track = 0
		withAudio = append(withAudio, v, &media.Frame{Track: 1, Key: true, PTS: v.PTS, DTS: v.PTS, Data: []byte{0xfc, 0xff, 0xfe}})
	}
	stop := feed(fx.hub, "cam1", []*media.Track{track, opus}, withAudio)
	defer stop()

	p := wheptest.New(t)
	p.Play(t, fx.srv.URL+"/whep/cam1", nil)
	if offer := p.PC.LocalDescription().SDP; !strings.Contains(offer, "H265/90000") || !strings.Contains(offer, "H264/90000") {
		t.Fatalf("the player should offer H.264 and H.265:\n%s", offer)
	}
	answer := p.PC.RemoteDescription().SDP
	if !strings.Contains(answer, "H265/90000") || strings.Contains(answer, "H264/90000") {
		t.Fatalf("the answer should carry H265 only:\n%s", answer)
	}
	p.WaitUntil(t, time.Minute, "40 H.265 frames from a keyframe and Opus", func() bool { return p.Keyframe && p.Frames >= 40 && p.Opus >= 5 })
	p.Lock()
	mime, stream := p.VideoMime, bytes.Clone(p.AnnexB.Bytes())
	p.Unlock()
	if !strings.EqualFold(mime, webrtc.MimeTypeH265) {
		t.Fatalf("video %s, want %s", mime, webrtc.MimeTypeH265)
	}
	// ffmpeg decodes every frame (-xerror: a missing parameter set or a
	// broken slice fails it) and counts them.
	cmd := testtool.Command(t, time.Minute, ffmpeg, "-hide_banner", "-v", "error", "-xerror", "-f", "hevc", "-i", "-",
		"-map", "0:v", "-f", "framemd5", "-")
	cmd.Stdin = bytes.NewReader(stream)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg -f hevc: %v", err)
	}
	decoded := 0
	for _, line := range strings.Split(string(out), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			decoded++
		}
	}
	if decoded < 35 {
		t.Fatalf("ffmpeg decoded %d frames of the H.265 received, want at least 35", decoded)
	}
	cmd = testtool.Command(t, time.Minute, testtool.Need(t, "ffprobe"), "-v", "error", "-f", "hevc",
		"-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", "-")
	cmd.Stdin = bytes.NewReader(stream)
	if out, err := cmd.Output(); err != nil || strings.TrimSpace(string(out)) != "hevc,320,240" {
		t.Fatalf("ffprobe: %q %v, want hevc,320,240", out, err)
	}
}

// TestH265Refused: a player that cannot receive the stream's H.265 gets
// 400 saying why, as for any other codec it cannot receive; an
// audio-only player still gets the sound.
func TestH265Refused(t *testing.T) {
	fx := newFixture(t)
	track := &media.Track{Codec: media.CodecH265, ClockRate: 90000}
	opus := &media.Track{Codec: media.CodecOpus, ClockRate: 48000, SampleRate: 48000, Channels: 2}
	stop := feed(fx.hub, "cam1", []*media.Track{track, opus}, []*media.Frame{{Key: true, Data: avccOf(hIDR)}})
	defer stop()
	offerOf := func(video []webrtc.RTPCodecParameters, audio bool) string {
		me := &webrtc.MediaEngine{}
		for _, c := range video {
			if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
				t.Fatal(err)
			}
		}
		if audio {
			if err := me.RegisterCodec(audioCodec(media.CodecOpus), webrtc.RTPCodecTypeAudio); err != nil {
				t.Fatal(err)
			}
		}
		pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		if len(video) > 0 {
			pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		}
		if audio {
			pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		}
		o, err := pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		return o.SDP
	}
	vp8 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	main10 := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH265, ClockRate: 90000,
		SDPFmtpLine: "level-id=93;profile-id=2;tier-flag=0;tx-mode=SRST"}, PayloadType: 116}
	for _, tc := range []struct {
		name    string
		offer   string
		want    int
		wantMsg []string
	}{
		{"vp8 and opus", offerOf([]webrtc.RTPCodecParameters{vp8}, true), 400, []string{"cannot receive the stream's video", "cannot receive H.265"}},
		{"vp8 only", offerOf([]webrtc.RTPCodecParameters{vp8}, false), 400, []string{"none of the stream's tracks", "cannot receive H.265"}},
		{"h265 main 10 only", offerOf([]webrtc.RTPCodecParameters{main10}, true), 400, []string{"H.265 Main video (profile-id=1 tier-flag=0)", "receives H.265 profile-id=2 tier-flag=0 only"}},
		{"audio only", offerOf(nil, true), 201, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(fx.srv.URL+"/whep/cam1", "application/sdp", strings.NewReader(tc.offer))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got := describeResp(resp)
			if resp.StatusCode != tc.want {
				t.Fatalf("%s, want %d", got, tc.want)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(got, m) {
					t.Fatalf("%s, want %q in it", got, m)
				}
			}
			if tc.want == http.StatusCreated {
				req, _ := http.NewRequest(http.MethodDelete, fx.srv.URL+resp.Header.Get("Location"), nil)
				if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("DELETE: %v %v", resp, err)
				}
			}
		})
	}
}

// TestHEVCOffered reads the H.265 profiles and tiers of offers.
func TestHEVCOffered(t *testing.T) {
	base := "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:0123456789012345678901\r\n"
	for _, tc := range []struct {
		name, media string
		want        []hevcPT
	}{
		{"no fmtp: Main, Main tier", "m=video 9 UDP/TLS/RTP/SAVPF 116\r\na=rtpmap:116 H265/90000\r\na=recvonly\r\n", []hevcPT{{1, 0}}},
		{"two profiles, a high tier", "m=video 9 UDP/TLS/RTP/SAVPF 116 118\r\na=rtpmap:116 H265/90000\r\na=fmtp:116 level-id=93;profile-id=1;tier-flag=1\r\n" +
			"a=rtpmap:118 h265/90000\r\na=fmtp:118 profile-id=2; tier-flag=0\r\na=recvonly\r\n", []hevcPT{{1, 1}, {2, 0}}},
		{"garbage values keep the defaults", "m=video 9 UDP/TLS/RTP/SAVPF 116\r\na=rtpmap:116 H265/90000\r\na=fmtp:116 profile-id=x;tier-flag\r\na=recvonly\r\n", []hevcPT{{1, 0}}},
		{"sendonly section ignored", "m=video 9 UDP/TLS/RTP/SAVPF 116\r\na=rtpmap:116 H265/90000\r\na=sendonly\r\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOffer([]byte(base + tc.media))
			if err != nil {
				t.Fatal(err)
			}
			var got []hevcPT
			for f := range o.hevcFormats {
				got = append(got, f)
			}
			slices.SortFunc(got, func(a, b hevcPT) int { return a.profile*2 + a.tier - b.profile*2 - b.tier })
			if !slices.Equal(got, tc.want) {
				t.Fatalf("formats %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPlanVideoRule: an offer with a video section gets the stream's
// video or a reason; sound only is for offers without video, or cameras
// whose video WebRTC cannot carry.
func TestPlanVideoRule(t *testing.T) {
	pcmu := &media.Track{Codec: media.CodecPCMU, SampleRate: 8000, Channels: 1}
	opus := &media.Track{Codec: media.CodecOpus, SampleRate: 48000, Channels: 2}
	for _, tc := range []struct {
		name    string
		tracks  []*media.Track
		o       *offer
		wantErr error
		audio   bool
	}{
		{"H.264 to a VP8 player with Opus", []*media.Track{{Codec: media.CodecH264}, opus},
			&offer{video: map[string]bool{"VP8": true}, audio: map[string]bool{"OPUS": true}, receivesVideo: true}, ErrVideoNotReceivable, false},
		{"H.264 to an audio-only player", []*media.Track{{Codec: media.CodecH264}, opus},
			&offer{video: map[string]bool{}, audio: map[string]bool{"OPUS": true}}, nil, true},
		{"MJPEG camera: its sound", []*media.Track{{Codec: media.CodecMJPEG}, pcmu},
			&offer{video: map[string]bool{"H264": true}, audio: map[string]bool{"PCMU": true}, receivesVideo: true}, nil, true},
		{"H.265 and AAC to an H.264 player", []*media.Track{{Codec: media.CodecH265}, {Codec: media.CodecAAC}},
			&offer{video: map[string]bool{"H264": true}, audio: map[string]bool{"OPUS": true}, receivesVideo: true}, ErrNothingToSend, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planTracks(tc.tracks, tc.o)
			if !errors.Is(err, tc.wantErr) || (err == nil && (p.audio != nil) != tc.audio) {
				t.Fatalf("plan %+v, err %v; want err %v, audio %v", p, err, tc.wantErr, tc.audio)
			}
		})
	}
}
