package rtsp

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"go.uber.org/goleak"

	"github.com/kinedge/kinedge/dataplane/authlimit"
	"github.com/kinedge/kinedge/index/streamname"
	"github.com/kinedge/kinedge/ingest/media"
)

// H.264 test NAL units: a 352x288 SPS with pic_order_cnt_type 2 (no
// reordering), a PPS, and tiny IDR / non-IDR slices (from mediacommon's
// tests).
var (
	testSPS    = []byte{0x67, 0x64, 0x00, 0x0c, 0xac, 0x3b, 0x50, 0xb0, 0x4b, 0x42, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x3d, 0x08}
	testPPS    = []byte{0x68, 0xee, 0x3c, 0x80}
	testIDR    = []byte{0x65, 0x88, 0x84, 0x00, 0x33, 0xff}
	testNonIDR = []byte{0x41, 0x9a, 0x21, 0x6c, 0x45, 0xff}
)

func h264Format() *format.H264 {
	return &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: testSPS, PPS: testPPS}
}

func aacFormat() *format.MPEG4Audio {
	return &format.MPEG4Audio{
		PayloadTyp: 97,
		Config:     &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 44100, ChannelCount: 2},
		SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3,
	}
}

func tcpTransport() *gortsplib.Transport {
	t := gortsplib.TransportTCP
	return &t
}

// publish starts a gortsplib client recording desc to url.
func publish(t *testing.T, url string, desc *description.Session) (*gortsplib.Client, error) {
	t.Helper()
	c := &gortsplib.Client{Transport: tcpTransport()}
	if err := c.StartRecording(url, desc); err != nil {
		return nil, err
	}
	t.Cleanup(c.Close)
	return c, nil
}

func statusOf(err error) int {
	var bad liberrors.ErrClientBadStatusCode
	if errors.As(err, &bad) {
		return int(bad.Code)
	}
	return 0
}

// nalPacket is a single-NAL-unit packet (RFC 6184 §5.6).
func nalPacket(seq uint16, ts uint32, marker bool, nalu []byte) *rtp.Packet {
	return &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, Marker: marker},
		Payload: append([]byte(nil), nalu...),
	}
}

// videoSender writes H.264 access units as single-NAL packets.
type videoSender struct {
	t    *testing.T
	c    *gortsplib.Client
	m    *description.Media
	seq  uint16
	ntp0 time.Time
	ts0  uint32
	ssrc uint32
}

func (v *videoSender) au(ts uint32, nalus ...[]byte) {
	v.t.Helper()
	for i, n := range nalus {
		pkt := nalPacket(v.seq, ts, i == len(nalus)-1, n)
		v.seq++
		ntp := v.ntp0.Add(time.Duration(int32(ts-v.ts0)) * time.Second / 90000)
		if err := v.c.WritePacketRTPWithNTP(v.m, pkt, ntp); err != nil {
			v.t.Fatal(err)
		}
		v.ssrc = pkt.SSRC
	}
}

func TestPublishTimestampsWrapAndJump(t *testing.T) {
	_, r, addr := startServer(t)
	desc := &description.Session{Medias: []*description.Media{
		{Type: description.MediaTypeVideo, Formats: []format.Format{h264Format()}},
		{Type: description.MediaTypeAudio, Formats: []format.Format{aacFormat()}},
	}}
	c, err := publish(t, "rtsp://user:pass@"+addr+"/cam1?token=x", desc)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "publish", func() bool { return r.count() == 1 })
	w := r.session(0)
	if w.req.Stream != "cam1" || w.req.Transport != TransportTCP || w.req.User != "user" {
		t.Fatalf("request = %+v", w.req)
	}
	if len(w.req.Tracks) != 2 || w.req.Tracks[0].Codec != media.CodecH264 || w.req.Tracks[1].Codec != media.CodecAAC {
		t.Fatalf("tracks = %+v", w.req.Tracks)
	}
	if !bytes.Equal(w.req.Tracks[0].SPS, testSPS) || w.req.Tracks[0].Width != 352 || w.req.Tracks[0].Height != 288 {
		t.Fatalf("video track = %+v", w.req.Tracks[0])
	}
	if a := w.req.Tracks[1]; a.SampleRate != 44100 || a.Channels != 2 || len(a.Config) == 0 {
		t.Fatalf("audio track = %+v", a)
	}

	// RTP timestamps start 30 frames before the 2^32 wrap; sequence numbers
	// wrap too.
	base := uint32(1<<32 - 30*3000)
	ntp0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	vs := &videoSender{t: t, c: c, m: desc.Medias[0], seq: 65530, ntp0: ntp0, ts0: base}
	vs.au(base, testSPS) // incomplete AU, teaches the server the SSRC
	if err := c.WritePacketRTCP(desc.Medias[0], &rtcp.SenderReport{
		SSRC: vs.ssrc, NTPTime: toNTP(ntp0), RTPTime: base,
	}); err != nil {
		t.Fatal(err)
	}
	vs.au(base, testPPS, testIDR)
	for i := 1; i < 60; i++ {
		ts := base + uint32(i*3000)
		if i == 30 {
			vs.au(ts, testIDR) // no parameter sets: the server must add them
		} else {
			vs.au(ts, testNonIDR)
		}
	}
	// one AAC packet with three access units.
	enc := &rtpmpeg4audio.Encoder{PayloadType: 97, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3}
	if err := enc.Init(); err != nil {
		t.Fatal(err)
	}
	apkts, err := enc.Encode([][]byte{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range apkts {
		p.Timestamp = 12345
		if err := c.WritePacketRTP(desc.Medias[1], p); err != nil {
			t.Fatal(err)
		}
	}
	// a 10 s jump of the video timeline.
	jump := base + 60*3000 + 900000
	vs.au(jump, testIDR)
	vs.au(jump+3000, testNonIDR)

	waitFor(t, 5*time.Second, "frames", func() bool {
		f, _, _ := w.snapshot()
		return len(f) == 65
	})
	frames, discs, _ := w.snapshot()
	var video, audio []*media.Frame
	for _, f := range frames {
		if f.Track == 0 {
			video = append(video, f)
		} else {
			audio = append(audio, f)
		}
	}
	if len(video) != 62 || len(audio) != 3 {
		t.Fatalf("video %d audio %d frames", len(video), len(audio))
	}
	frameDur := time.Second / 30
	for i, f := range video[:60] {
		if d, want := f.PTS-video[0].PTS, time.Duration(i*3000)*time.Second/90000; d != want {
			t.Fatalf("video frame %d at %v, want %v", i, d, want)
		}
		if f.DTS != f.PTS {
			t.Fatalf("frame %d DTS %v != PTS %v without B-frames", i, f.DTS, f.PTS)
		}
		if want := ntp0.Add(time.Duration(i) * frameDur); f.Wall.Sub(want).Abs() > time.Millisecond {
			t.Fatalf("frame %d wall %v, want %v", i, f.Wall, want)
		}
		if key := i == 0 || i == 30; f.Key != key {
			t.Fatalf("frame %d key %v", i, f.Key)
		}
	}
	wantKey := avcc(testSPS, testPPS, testIDR)
	for _, i := range []int{0, 30, 60} {
		if !bytes.Equal(video[i].Data, wantKey) {
			t.Fatalf("keyframe %d data %x, want %x", i, video[i].Data, wantKey)
		}
	}
	if !bytes.Equal(video[1].Data, avcc(testNonIDR)) {
		t.Fatalf("frame 1 data %x", video[1].Data)
	}
	if d := video[60].PTS - video[59].PTS; d < 10*time.Second {
		t.Fatalf("jump frame delta %v", d)
	}
	if len(discs) != 1 || !strings.Contains(discs[0], "jumped ahead") {
		t.Fatalf("discontinuities %q", discs)
	}
	// the discontinuity comes right before the jumped frame.
	w.mu.Lock()
	evs := append([]string(nil), w.events...)
	w.mu.Unlock()
	var n int
	for _, e := range evs {
		if e == "frame" {
			n++
			continue
		}
		if f := frames[n]; f.Track != 0 || f.PTS != video[60].PTS {
			t.Fatalf("discontinuity before frame %d (%+v)", n, f)
		}
	}
	aacDur := time.Duration(1024) * time.Second / 44100
	for i := 1; i < 3; i++ {
		if d := audio[i].PTS - audio[i-1].PTS; (d-aacDur).Abs() > time.Microsecond || !audio[i].Key || audio[i].DTS != audio[i].PTS {
			t.Fatalf("audio frame %d delta %v (want %v) %+v", i, d, aacDur, audio[i])
		}
	}
	if !bytes.Equal(audio[2].Data, []byte{7, 8, 9}) {
		t.Fatalf("audio data %x", audio[2].Data)
	}
	st := w.req.Stats.Snapshot()
	if st.Frames != 65 || st.Discontinuities != 1 || st.DecodeErrors != 0 {
		t.Fatalf("stats %+v", st)
	}

	c.Close()
	waitFor(t, 5*time.Second, "writer closed", func() bool { _, _, closed := w.snapshot(); return closed })
	if len(w.misuse) != 0 {
		t.Fatal(w.misuse)
	}
}

func toNTP(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

func avcc(nalus ...[]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = append(b, byte(len(n)>>24), byte(len(n)>>16), byte(len(n)>>8), byte(len(n)))
		b = append(b, n...)
	}
	return b
}

func TestPublishAuth(t *testing.T) {
	h264Only := &description.Session{Medias: []*description.Media{
		{Type: description.MediaTypeVideo, Formats: []format.Format{h264Format()}},
	}}
	for _, tc := range []struct {
		name   string
		auth   Authenticator
		url    string // userinfo part
		status int    // 0: accepted
	}{
		{"digest ok", StaticCredentials("user", "pass"), "user:pass@", 0},
		{"no credentials", StaticCredentials("user", "pass"), "", 401},
		{"wrong password", StaticCredentials("user", "pass"), "user:nope@", 401},
		{"wrong user", StaticCredentials("user", "pass"), "bob:pass@", 401},
		{"no authenticator", nil, "user:pass@", 401},
		{"empty user configured", StaticCredentials("", ""), ":@", 401},
		{"anonymous", func(string) Credentials { return Credentials{Anonymous: true} }, "", 0},
		{"per-stream", func(s string) Credentials { return Credentials{User: s, Pass: "p-" + s} }, "cam1:p-cam1@", 0},
		{"users digest ok", usersAuth, "alice:a-pass@", 0},
		{"users wrong password", usersAuth, "alice:nope@", 401},
		{"users unknown", usersAuth, "carol:a-pass@", 401},
		{"users forbidden", usersAuth, "bob:b-pass@", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, r, addr := startServer(t, func(s *Server) { s.Auth = tc.auth })
			c, err := publish(t, "rtsp://"+tc.url+addr+"/cam1", h264Only)
			if tc.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				waitFor(t, 5*time.Second, "publish", func() bool { return r.count() == 1 })
				c.Close()
				return
			}
			if statusOf(err) != tc.status {
				t.Fatalf("err = %v, want status %d", err, tc.status)
			}
			if r.count() != 0 {
				t.Fatal("router was called")
			}
			s.Close()
		})
	}
}

// usersAuth knows alice (may publish cam1) and bob (may not).
func usersAuth(stream string) Credentials {
	return Credentials{Users: func(user string) (string, bool, bool) {
		switch user {
		case "alice":
			return "a-pass", stream == "cam1", true
		case "bob":
			return "b-pass", false, true
		}
		return "", false, false
	}}
}

// rawRequest sends one RTSP request on a new connection and returns the
// status line and the headers.
func rawRequest(t *testing.T, addr, req string) (string, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	status, err := br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var hdr strings.Builder
	for {
		l, err := br.ReadString('\n')
		if err != nil || l == "\r\n" {
			break
		}
		hdr.WriteString(l)
	}
	return strings.TrimSpace(status), hdr.String()
}

func announce(addr, stream, authz string) string {
	sdp := "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n"
	req := fmt.Sprintf("ANNOUNCE rtsp://%s/%s RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\n", addr, stream)
	if authz != "" {
		req += "Authorization: " + authz + "\r\n"
	}
	return req + fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(sdp), sdp)
}

func TestBasicAuthAndChallenge(t *testing.T) {
	_, _, addr := startServer(t)
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	for _, tc := range []struct {
		name, authz, status string
		challenge           bool
	}{
		{"basic ok", basic("user", "pass"), "RTSP/1.0 200 OK", false},
		{"basic wrong", basic("user", "x"), "RTSP/1.0 401 Unauthorized", true},
		{"none", "", "RTSP/1.0 401 Unauthorized", true},
		{"garbage header", "Bearer xyz", "RTSP/1.0 401 Unauthorized", true},
		{"control characters in name", basic("user", "pass"), "RTSP/1.0 400 Bad Request: " + streamname.Rule, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := "cam1"
			if strings.HasPrefix(tc.name, "control") {
				stream = "cam%0D%0AX-Injected:%201"
			}
			status, hdr := rawRequest(t, addr, announce(addr, stream, tc.authz))
			if status != tc.status {
				t.Fatalf("status %q, want %q", status, tc.status)
			}
			has := strings.Contains(hdr, "WWW-Authenticate: Basic") && strings.Contains(hdr, "WWW-Authenticate: Digest")
			if has != tc.challenge {
				t.Fatalf("challenge %v in headers:\n%s", has, hdr)
			}
		})
	}
}

// TestAnnounceInvalidName: a path that is no video stream name is refused
// at ANNOUNCE with 400 and the rule in words, before authentication and
// before the Router (which would fail inside the index: a 500).
func TestAnnounceInvalidName(t *testing.T) {
	_, r, addr := startServer(t)
	for _, stream := range []string{"cam%201", "a/b", "cam%2F1", strings.Repeat("x", 257)} {
		t.Run(stream[:min(len(stream), 16)], func(t *testing.T) {
			status, _ := rawRequest(t, addr, announce(addr, stream, ""))
			if want := "RTSP/1.0 400 Bad Request: " + streamname.Rule; status != want {
				t.Fatalf("status %q, want %q", status, want)
			}
		})
	}
	if r.count() != 0 {
		t.Fatal("router was called")
	}
}

func TestAuthLockout(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	lim := &authlimit.Limiter{MaxFailures: 2, Now: clock}
	_, _, addr := startServer(t, func(s *Server) {
		s.Limiter = lim
		s.Now = clock
	})
	good := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:pass"))
	bad := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:guess"))
	for i := range 2 {
		if st, _ := rawRequest(t, addr, announce(addr, "cam1", bad)); !strings.Contains(st, " 401 ") {
			t.Fatalf("attempt %d: %q", i, st)
		}
	}
	// locked: even the right password is refused, unchecked, with 503 and
	// Retry-After, without a challenge.
	st, hdr := rawRequest(t, addr, announce(addr, "cam1", good))
	if !strings.Contains(st, " 503 ") || strings.Contains(hdr, "WWW-Authenticate") || !strings.Contains(hdr, "Retry-After: 1") {
		t.Fatalf("locked: %q %q", st, hdr)
	}
	// after the backoff the right password gets in and clears the address
	now = now.Add(time.Second)
	if st, _ := rawRequest(t, addr, announce(addr, "cam1", good)); !strings.Contains(st, " 200 ") {
		t.Fatalf("after the backoff: %q", st)
	}
	if s := lim.Stats(); s.Failures["rtsp"] != 2 || s.Lockouts != 1 || s.Addresses != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestPublishRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stream  string
		formats []format.Format
		fail    error
		status  int
		reason  string
	}{
		{"mpeg-4 video only", "cam1", []format.Format{&format.MPEG4Video{PayloadTyp: 100}}, nil, 415, "found MPEG-4 Video"},
		{"g722 only", "cam1", []format.Format{&format.G722{}}, nil, 415, "found G722"},
		{"not found", "missing", []format.Format{h264Format()}, nil, 404, "missing"},
		{"router failure", "cam1", []format.Format{h264Format()}, errTest, 500, ""},
		{"storage full", "cam1", []format.Format{h264Format()}, &UnavailableError{Reason: "storage budget reached\n(1.0 GiB used)"}, 503,
			"Service Unavailable: storage budget reached (1.0 GiB used)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r, addr := startServer(t)
			r.fail = tc.fail
			var medias []*description.Media
			for _, f := range tc.formats {
				typ := description.MediaTypeVideo
				if _, ok := f.(*format.G722); ok {
					typ = description.MediaTypeAudio
				}
				medias = append(medias, &description.Media{Type: typ, Formats: []format.Format{f}})
			}
			_, err := publish(t, "rtsp://user:pass@"+addr+"/"+tc.stream, &description.Session{Medias: medias})
			if statusOf(err) != tc.status || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("err = %v, want %d %q", err, tc.status, tc.reason)
			}
		})
	}
}

func TestUnsupportedTrackIgnored(t *testing.T) {
	_, r, addr := startServer(t)
	desc := &description.Session{Medias: []*description.Media{
		{Type: description.MediaTypeVideo, Formats: []format.Format{&format.MPEG4Video{PayloadTyp: 100}}},
		{Type: description.MediaTypeVideo, Formats: []format.Format{h264Format()}},
		{Type: description.MediaTypeVideo, Formats: []format.Format{&format.H264{PayloadTyp: 98, PacketizationMode: 1}}},
		{Type: description.MediaTypeAudio, Formats: []format.Format{&format.Opus{PayloadTyp: 111, ChannelCount: 2}}},
	}}
	c, err := publish(t, "rtsp://user:pass@"+addr+"/cam1", desc)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "publish", func() bool { return r.count() == 1 })
	w := r.session(0)
	if len(w.req.Tracks) != 2 || w.req.Tracks[0].Codec != media.CodecH264 || w.req.Tracks[1].Codec != media.CodecOpus ||
		w.req.Tracks[1].Channels != 2 || w.req.Tracks[1].SampleRate != 48000 {
		t.Fatalf("tracks %+v %+v", w.req.Tracks[0], w.req.Tracks[1])
	}
	// The two skipped tracks are reported with why, and counted.
	if len(w.req.Skipped) != 2 || !strings.Contains(w.req.Skipped[0], "video MPEG-4 Video") || !strings.Contains(w.req.Skipped[0], "unsupported codec") ||
		!strings.Contains(w.req.Skipped[1], "video H264") || !strings.Contains(w.req.Skipped[1], "one video track per stream") {
		t.Fatalf("skipped %q", w.req.Skipped)
	}
	if n := w.req.Stats.TracksSkipped.Load(); n != 2 {
		t.Fatalf("TracksSkipped = %d, want 2", n)
	}
	// packets of the ignored MPEG-4 Video media are not counted or decoded.
	if err := c.WritePacketRTP(desc.Medias[0], &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 100}, Payload: []byte{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	opus := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 1, Timestamp: 960, Marker: true}, Payload: []byte{0xfc, 1, 2}}
	if err := c.WritePacketRTP(desc.Medias[3], opus); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "opus frame", func() bool { f, _, _ := w.snapshot(); return len(f) == 1 })
	f, _, _ := w.snapshot()
	if f[0].Track != 1 || !bytes.Equal(f[0].Data, []byte{0xfc, 1, 2}) || !f[0].Key {
		t.Fatalf("frame %+v", f[0])
	}
	if st := w.req.Stats.Snapshot(); st.Packets != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestGarbageSurvives(t *testing.T) {
	s, r, addr := startServer(t)
	desc := &description.Session{Medias: []*description.Media{
		{Type: description.MediaTypeVideo, Formats: []format.Format{h264Format()}},
	}}
	c, err := publish(t, "rtsp://user:pass@"+addr+"/cam1", desc)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "publish", func() bool { return r.count() == 1 })
	w := r.session(0)

	// garbage on another TCP connection: gortsplib drops that connection.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("$\x07\x00\x02zz not RTSP at all \x00\xff\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, rerr := io.ReadAll(conn)
	conn.Close()
	if ne, ok := rerr.(net.Error); ok && ne.Timeout() {
		t.Fatal("server kept the garbage connection open")
	}

	vs := &videoSender{t: t, c: c, m: desc.Medias[0], seq: 1, ntp0: time.Now(), ts0: 1000}
	garbage := [][]byte{
		{0x1f, 1, 2, 3},       // NAL type 31: unsupported packet type
		{0x1c, 0x00},          // FU-A without start bit
		{0x18, 0x00, 0x50, 1}, // STAP-A with a bad size
		{},                    // empty payload
	}
	for i, g := range garbage {
		if err := c.WritePacketRTP(desc.Medias[0], &rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: vs.seq, Timestamp: uint32(i), Marker: true},
			Payload: g,
		}); err != nil {
			t.Fatal(err)
		}
		vs.seq++
	}
	vs.au(3000, testSPS, testPPS, testIDR)
	vs.au(6000, testNonIDR)
	vs.seq += 5 // five packets lost
	vs.au(9000, testNonIDR)
	waitFor(t, 5*time.Second, "frames after garbage", func() bool { f, _, _ := w.snapshot(); return len(f) == 3 })
	st := w.req.Stats.Snapshot()
	if st.DecodeErrors+st.FramesDropped < 3 || st.PacketsLost != 5 {
		t.Fatalf("stats %+v: garbage or loss not counted", st)
	}
	if got := s.Sessions(); len(got) != 1 || got[0].Stream != "cam1" || got[0].Stats.Frames != 3 {
		t.Fatalf("sessions %+v", got)
	}
	if got := s.StreamStats()["cam1"]; got != w.req.Stats.Snapshot() {
		t.Fatalf("stream stats %+v, want the live session's %+v", got, w.req.Stats.Snapshot())
	}

	// The stream's stats outlive the session, and add up over sessions.
	c.Close()
	waitFor(t, 5*time.Second, "session ended", func() bool { return len(s.Sessions()) == 0 })
	if got := s.StreamStats()["cam1"]; got.Frames != 3 || got.PacketsLost != 5 || got.DecodeErrors+got.FramesDropped < 3 {
		t.Fatalf("stream stats after the session ended: %+v", got)
	}
	c2, err := publish(t, "rtsp://user:pass@"+addr+"/cam1", desc)
	if err != nil {
		t.Fatal(err)
	}
	vs2 := &videoSender{t: t, c: c2, m: desc.Medias[0], seq: 1, ntp0: time.Now(), ts0: 0}
	vs2.au(0, testSPS, testPPS, testIDR)
	waitFor(t, 5*time.Second, "the second session's frame in the stream stats", func() bool {
		return s.StreamStats()["cam1"].Frames == 4
	})
	if got := s.StreamStats()["cam1"]; got.PacketsLost != 5 {
		t.Fatalf("stream stats %+v: the first session's losses are gone", got)
	}

	// the server still accepts another camera.
	if _, err := publish(t, "rtsp://user:pass@"+addr+"/cam2", desc); err != nil {
		t.Fatal(err)
	}
}

func TestSecondPublisherBusyAndKick(t *testing.T) {
	_, r, addr := startServer(t)
	desc := func() *description.Session {
		return &description.Session{Medias: []*description.Media{
			{Type: description.MediaTypeVideo, Formats: []format.Format{h264Format()}},
		}}
	}
	d1 := desc()
	c1, err := publish(t, "rtsp://user:pass@"+addr+"/cam1", d1)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "publish", func() bool { return r.count() == 1 })
	_, err = publish(t, "rtsp://user:pass@"+addr+"/cam1", desc())
	if statusOf(err) != 455 || !strings.Contains(err.Error(), "cam1 is already being published") {
		t.Fatalf("second publisher: %v", err)
	}
	// the first one goes on.
	vs := &videoSender{t: t, c: c1, m: d1.Medias[0], seq: 1, ntp0: time.Now(), ts0: 0}
	vs.au(0, testSPS, testPPS, testIDR)
	w := r.session(0)
	waitFor(t, 5*time.Second, "frame", func() bool { f, _, _ := w.snapshot(); return len(f) == 1 })

	// takeover: the router kicks the first session.
	w.req.Kick("taken over")
	waitFor(t, 5*time.Second, "writer closed", func() bool { _, _, closed := w.snapshot(); return closed })
	waitFor(t, 5*time.Second, "client closed", func() bool {
		return c1.WritePacketRTP(d1.Medias[0], nalPacket(9, 0, true, testNonIDR)) != nil
	})
	if _, err := publish(t, "rtsp://user:pass@"+addr+"/cam1", desc()); err != nil {
		t.Fatalf("publish after kick: %v", err)
	}
}

func TestCloseEndsSessionsWithoutLeaks(t *testing.T) {
	s, r, addr := startServer(t)
	desc := &description.Session{Medias: []*description.Media{
		{Type: description.MediaTypeVideo, Formats: []format.Format{h264Format()}},
	}}
	c, err := publish(t, "rtsp://user:pass@"+addr+"/cam1", desc)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "publish", func() bool { return r.count() == 1 })
	s.Close()
	s.Close() // idempotent
	if _, _, closed := r.session(0).snapshot(); !closed {
		t.Fatal("Close did not close the session's writer")
	}
	c.Close()
	goleak.VerifyNone(t)
}

func TestStartErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    *Server
		want error
	}{
		{"no router", &Server{Address: "127.0.0.1:0"}, ErrInvalidConfig},
		{"udp half", &Server{Address: "127.0.0.1:0", Router: &recRouter{}, UDPRTPAddress: "127.0.0.1:8000"}, ErrInvalidConfig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Start()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v", err)
			}
			tc.s.Close()
		})
	}
	s := &Server{Address: "127.0.0.1:0", Router: &recRouter{}, UDPRTPAddress: "127.0.0.1:8001", UDPRTCPAddress: "127.0.0.1:8002"}
	if err := s.Start(); err == nil {
		s.Close()
		t.Fatal("odd RTP port accepted")
	}
	s.Close()
}

func TestReadersRefused(t *testing.T) {
	_, _, addr := startServer(t)
	for _, req := range []string{
		"DESCRIBE rtsp://" + addr + "/cam1 RTSP/1.0\r\nCSeq: 1\r\n\r\n",
		"SETUP rtsp://" + addr + "/cam1/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n",
	} {
		if status, _ := rawRequest(t, addr, req); !strings.HasPrefix(status, "RTSP/1.0 501 ") {
			t.Errorf("%q: %q", strings.Fields(req)[0], status)
		}
	}
}

func TestUDPReorder(t *testing.T) {
	_, r, addr := startServer(t, withUDP(t))
	desc := &description.Session{Medias: []*description.Media{
		{Type: description.MediaTypeVideo, Formats: []format.Format{h264Format()}},
	}}
	udp := gortsplib.TransportUDP
	c := &gortsplib.Client{Transport: &udp}
	if err := c.StartRecording("rtsp://user:pass@"+addr+"/cam1", desc); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, 5*time.Second, "publish", func() bool { return r.count() == 1 })
	w := r.session(0)
	if w.req.Transport != TransportUDP {
		t.Fatalf("transport %q", w.req.Transport)
	}
	send := func(seq uint16, ts uint32, marker bool, nalu []byte) {
		if err := c.WritePacketRTP(desc.Medias[0], nalPacket(seq, ts, marker, nalu)); err != nil {
			t.Fatal(err)
		}
	}
	send(10, 0, false, testSPS)
	send(11, 0, false, testPPS)
	send(12, 0, true, testIDR)
	send(14, 6000, true, testNonIDR) // overtakes 13
	send(13, 3000, true, testNonIDR)
	send(15, 9000, true, testNonIDR)
	waitFor(t, 5*time.Second, "frames", func() bool { f, _, _ := w.snapshot(); return len(f) == 4 })
	frames, _, _ := w.snapshot()
	for i, f := range frames {
		if want := time.Duration(i*3000) * time.Second / 90000; f.PTS-frames[0].PTS != want {
			t.Fatalf("frame %d at %v, want %v (reordering not undone)", i, f.PTS-frames[0].PTS, want)
		}
	}
	if st := w.req.Stats.Snapshot(); st.PacketsLost != 0 || st.DecodeErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}
