package whep

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/kinedge/kinedge/dataplane/video/live"
	"github.com/kinedge/kinedge/dataplane/video/whep/wheptest"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/media/bitstream"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// h264Frames encodes a test pattern with ffmpeg (libx264, one keyframe a
// second at 25 fps, no B-frames) and returns its access units as AVCC
// frames, the way ingest delivers them.
func h264Frames(t testing.TB) []*media.Frame {
	t.Helper()
	ffmpeg := testtool.Need(t, "ffmpeg")
	cmd := testtool.Command(t, time.Minute, ffmpeg, "-hide_banner", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
		"-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", "25", "-x264-params", "aud=1", "-f", "h264", "-")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	aus, err := wheptest.AccessUnits(out)
	if err != nil {
		t.Fatal(err)
	}
	frames := make([]*media.Frame, len(aus))
	for i, au := range aus {
		frames[i] = &media.Frame{Track: 0, PTS: time.Duration(i) * 40 * time.Millisecond, Key: wheptest.HasIDR(avccToAnnexB(au)), Data: wheptest.AVCC(au)}
		frames[i].DTS = frames[i].PTS
	}
	if !frames[0].Key {
		t.Fatal("ffmpeg's first access unit is not an IDR")
	}
	return frames
}

func avccToAnnexB(nalus [][]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = append(append(b, 0, 0, 0, 1), n...)
	}
	return b
}

// fixture is a Handler on an httptest server with a hub.
type fixture struct {
	h   *Handler
	hub *live.Hub
	srv *httptest.Server
	mux *http.ServeMux
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	hub := &live.Hub{}
	h := &Handler{Hub: hub, Network: network(t), Streams: streams{"cam1": true, "idle": true}}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		h.Close()
		hub.Close()
		srv.Close()
	})
	return &fixture{h: h, hub: hub, srv: srv, mux: mux}
}

// feed writes the frames in a loop at their rate until the returned stop
// is called (the camera).
func feed(hub *live.Hub, name string, tracks []*media.Track, frames []*media.Frame) (stop func()) {
	f := hub.Attach(name, tracks)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		span := time.Duration(len(frames)) * 40 * time.Millisecond
		for n := 0; ; n++ {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			fr := *frames[n%len(frames)]
			fr.PTS += time.Duration(n/len(frames)) * span
			fr.DTS = fr.PTS
			f.WriteFrame(&fr)
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		f.Close()
	}
}

var h264Track = []*media.Track{{Codec: media.CodecH264, ClockRate: 90000}, {Codec: media.CodecAAC, ClockRate: 48000}}

// TestPlayDecodes plays a stream with a pion player: the H.264 it
// depacketizes decodes in ffprobe, and DELETE ends the session on both
// sides.
func TestPlayDecodes(t *testing.T) {
	ffprobe := testtool.Need(t, "ffprobe")
	fx := newFixture(t)
	stop := feed(fx.hub, "cam1", h264Track, h264Frames(t))
	defer stop()

	p := wheptest.New(t)
	p.Play(t, fx.srv.URL+"/whep/cam1", nil)
	if !strings.HasPrefix(p.Location, "/whep/cam1/") {
		t.Fatalf("Location %q", p.Location)
	}
	p.WaitUntil(t, time.Minute, "30 frames from a keyframe", func() bool { return p.Keyframe && p.Frames >= 30 })

	p.Lock()
	stream := append([]byte(nil), p.AnnexB.Bytes()...)
	p.Unlock()
	cmd := testtool.Command(t, time.Minute, ffprobe, "-v", "error", "-f", "h264", "-count_frames",
		"-show_entries", "stream=width,height,nb_read_frames", "-of", "default=nw=1", "-")
	cmd.Stdin = bytes.NewReader(stream)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		got[k] = v
	}
	if n, _ := strconv.Atoi(got["nb_read_frames"]); n < 25 || got["width"] != "320" || got["height"] != "240" {
		t.Fatalf("ffprobe of the received H.264: %q, want 320x240 and at least 25 frames", out)
	}
	if st := fx.h.Stats(); st.Sessions != 1 || st.Frames == 0 {
		t.Fatalf("stats %+v", st)
	}

	req, _ := http.NewRequest(http.MethodDelete, fx.srv.URL+p.Location, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %s", resp.Status)
	}
	if st := fx.h.Stats(); st.Sessions != 0 || st.Ended != 1 {
		t.Fatalf("after DELETE: %+v", st)
	}
	if v := fx.hub.Stats()["cam1"].Viewers; v != 0 {
		t.Fatalf("after DELETE the hub has %d viewers", v)
	}
	p.WaitUntil(t, time.Minute, "the player's connection to end", func() bool {
		return p.State == webrtc.PeerConnectionStateClosed || p.State == webrtc.PeerConnectionStateFailed || p.State == webrtc.PeerConnectionStateDisconnected
	})
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("second DELETE: %s, want 404", resp.Status)
	}
}

// TestStatuses checks the answers to requests that cannot start or
// change a session.
func TestStatuses(t *testing.T) {
	fx := newFixture(t)
	stop := feed(fx.hub, "cam1", h264Track, []*media.Frame{{Key: true, Data: []byte{0, 0, 0, 1, 0x65}}})
	defer stop()
	valid := wheptest.New(t).Offer(t)
	vp8Only := func() string {
		me := &webrtc.MediaEngine{}
		me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}, webrtc.RTPCodecTypeVideo)
		pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(me)).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		o, err := pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		return o.SDP
	}()
	for _, tc := range []struct {
		name, method, path, ctype, body string
		want                            int
		wantMsg                         string
	}{
		{"wrong content type", "POST", "/whep/cam1", "application/json", valid, 415, "application/sdp"},
		{"no content type", "POST", "/whep/cam1", "", valid, 415, "application/sdp"},
		{"unknown stream", "POST", "/whep/nope", "application/sdp", valid, 404, "not found"},
		{"no live source", "POST", "/whep/idle", "application/sdp", valid, 503, "no live source"},
		{"garbage offer", "POST", "/whep/cam1", "application/sdp", "hello", 400, "bad SDP offer"},
		{"offer without media", "POST", "/whep/cam1", "application/sdp", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", 400, "no media"},
		{"vp8-only offer", "POST", "/whep/cam1", "application/sdp", vp8Only, 400, "cannot receive H.264"},
		{"delete unknown session", "DELETE", "/whep/cam1/abc", "", "", 404, "not found"},
		{"patch unknown session", "PATCH", "/whep/cam1/abc", "application/trickle-ice-sdpfrag", "", 404, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, fx.srv.URL+tc.path, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got := describeResp(resp)
			if resp.StatusCode != tc.want || !strings.Contains(got, tc.wantMsg) {
				t.Fatalf("%s %s: %s, want %d with %q", tc.method, tc.path, got, tc.want, tc.wantMsg)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Fatal("no CORS header on an error")
			}
		})
	}
	if st := fx.h.Stats(); st.Sessions != 0 || st.Started != 0 {
		t.Fatalf("refused requests left sessions: %+v", st)
	}
	if v := fx.hub.Stats()["cam1"].Viewers; v != 0 {
		t.Fatalf("refused requests left %d hub viewers", v)
	}
}

func TestMaxViewers503(t *testing.T) {
	fx := newFixture(t)
	fx.hub.MaxViewers = 1
	stop := feed(fx.hub, "cam1", h264Track, []*media.Frame{{Key: true, Data: []byte{0, 0, 0, 1, 0x65}}})
	defer stop()
	wheptest.New(t).Play(t, fx.srv.URL+"/whep/cam1", nil)
	resp, err := http.Post(fx.srv.URL+"/whep/cam1", "application/sdp", strings.NewReader(wheptest.New(t).Offer(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := describeResp(resp); resp.StatusCode != 503 || !strings.Contains(got, "max_viewers") {
		t.Fatalf("second viewer: %s, want 503 naming max_viewers", got)
	}
}

func TestOptionsAndPatch(t *testing.T) {
	fx := newFixture(t)
	stop := feed(fx.hub, "cam1", h264Track, []*media.Frame{{Key: true, Data: []byte{0, 0, 0, 1, 0x65}}})
	defer stop()
	req, _ := http.NewRequest(http.MethodOptions, fx.srv.URL+"/whep/cam1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") || resp.Header.Get("Accept-Post") != "application/sdp" {
		t.Fatalf("OPTIONS: %s %v", resp.Status, resp.Header)
	}
	p := wheptest.New(t)
	p.Play(t, fx.srv.URL+"/whep/cam1", nil)
	patch := func(ctype, ifMatch, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPatch, fx.srv.URL+p.Location, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if ifMatch != "" {
			req.Header.Set("If-Match", ifMatch)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	o, _ := parseOffer([]byte(p.PC.LocalDescription().SDP))
	cand := "a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n"
	for _, tc := range []struct {
		name, ctype, ifMatch, body string
		want                       int
	}{
		{"candidate", "application/trickle-ice-sdpfrag", p.ETag, "a=ice-ufrag:" + o.ufrag + "\r\na=ice-pwd:" + o.pwd + "\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n" + cand, 204},
		{"end of candidates", "application/trickle-ice-sdpfrag", "", "a=end-of-candidates\r\n", 204},
		{"wrong content type", "application/sdp", "", cand, 415},
		{"stale etag", "application/trickle-ice-sdpfrag", `"nope"`, cand, 412},
		{"malformed", "application/trickle-ice-sdpfrag", "", "a=candidate:1 1 udp\r\n", 400},
		{"ice restart", "application/trickle-ice-sdpfrag", "*", "a=ice-ufrag:new1\r\na=ice-pwd:newpasswordnewpassword12\r\n", 200},
	} {
		if resp := patch(tc.ctype, tc.ifMatch, tc.body); resp.StatusCode != tc.want {
			t.Errorf("PATCH %s: %s, want %d", tc.name, resp.Status, tc.want)
		} else if tc.want == http.StatusOK && (resp.Header.Get("ETag") == p.ETag || resp.Header.Get("Content-Type") != "application/trickle-ice-sdpfrag") {
			t.Errorf("ICE restart: ETag %q (was %q), Content-Type %q", resp.Header.Get("ETag"), p.ETag, resp.Header.Get("Content-Type"))
		}
	}
	// The restart changed the ETag: the old one is stale.
	if resp := patch("application/trickle-ice-sdpfrag", p.ETag, "a=end-of-candidates\r\n"); resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("PATCH with the ETag before the restart: %s, want 412", resp.Status)
	}
}

// TestNoMediaTimeout ends a session whose stream stops sending.
func TestNoMediaTimeout(t *testing.T) {
	fx := newFixture(t)
	fx.h.NoMediaTimeout = 500 * time.Millisecond
	stop := feed(fx.hub, "cam1", h264Track, h264Frames(t))
	p := wheptest.New(t)
	p.Play(t, fx.srv.URL+"/whep/cam1", nil)
	p.WaitUntil(t, time.Minute, "a frame", func() bool { return p.Frames > 0 })
	fx.h.mu.Lock()
	var sess *session
	for _, s := range fx.h.sessions {
		sess = s
	}
	fx.h.mu.Unlock()
	stop()
	select {
	case <-sess.done:
	case <-time.After(time.Minute):
		t.Fatal("session still there a minute after its source stopped")
	}
	if cause := context.Cause(sess.ctx); !strings.Contains(cause.Error(), "sent nothing") {
		t.Fatalf("ended by %v, want the no-media timeout", cause)
	}
}

// TestSourceChange keeps a session across a camera reconnect: the new
// source's frames reach the player from its first keyframe, and the RTP
// timestamps keep going forward although the new source's PTS start over.
func TestSourceChange(t *testing.T) {
	fx := newFixture(t)
	frames := h264Frames(t)
	stop := feed(fx.hub, "cam1", h264Track, frames)
	p := wheptest.New(t)
	p.Play(t, fx.srv.URL+"/whep/cam1", nil)
	p.WaitUntil(t, time.Minute, "10 frames", func() bool { return p.Frames >= 10 })
	stop()
	p.Lock()
	n := p.Frames
	p.Unlock()
	stop = feed(fx.hub, "cam1", h264Track, frames) // PTS from 0 again
	defer stop()
	p.WaitUntil(t, time.Minute, "10 frames of the new source", func() bool { return p.Frames >= n+10 })
	p.Lock()
	defer p.Unlock()
	for i := 1; i < len(p.RTPTimes); i++ {
		if d := int32(p.RTPTimes[i] - p.RTPTimes[i-1]); d <= 0 {
			t.Fatalf("RTP timestamp %d went from %d to %d (frame %d of %d; the source changed after %d)", i, p.RTPTimes[i-1], p.RTPTimes[i], i, len(p.RTPTimes), n)
		}
	}
}

// TestWebRTCOff answers 503 when the appliance has no ICE port.
func TestWebRTCOff(t *testing.T) {
	hub := &live.Hub{}
	defer hub.Close()
	h := &Handler{Hub: hub, Streams: streams{"cam1": true}}
	defer h.Close()
	hub.Attach("cam1", h264Track)
	mux := http.NewServeMux()
	h.Register(mux)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/whep/cam1", strings.NewReader("v=0"))
	req.Header.Set("Content-Type", "application/sdp")
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "webrtc_udp") {
		t.Fatalf("%d %s, want 503 naming webrtc_udp", rec.Code, rec.Body)
	}
}

// TestOpusPassThrough sends a stream's Opus packets as they came, next
// to its video.
func TestOpusPassThrough(t *testing.T) {
	fx := newFixture(t)
	tracks := []*media.Track{{Codec: media.CodecH264, ClockRate: 90000}, {Codec: media.CodecOpus, ClockRate: 48000, SampleRate: 48000, Channels: 2}}
	var frames []*media.Frame
	for _, v := range h264Frames(t) {
		frames = append(frames, v, &media.Frame{Track: 1, Key: true, PTS: v.PTS, DTS: v.PTS, Data: []byte{0xfc, 0xff, 0xfe}})
	}
	stop := feed(fx.hub, "cam1", tracks, frames)
	defer stop()
	p := wheptest.New(t)
	p.Play(t, fx.srv.URL+"/whep/cam1", nil)
	p.WaitUntil(t, time.Minute, "video frames and Opus packets", func() bool { return p.Frames >= 5 && p.Opus >= 5 })
}

// TestG711PassThrough sends a camera's G.711 (µ-law and A-law, the
// default audio of most IP cameras) as WebRTC's PCMU/PCMA, in 20 ms
// packets whose timestamps follow the samples.
func TestG711PassThrough(t *testing.T) {
	for _, c := range []struct {
		codec media.Codec
		mime  string
	}{{media.CodecPCMU, webrtc.MimeTypePCMU}, {media.CodecPCMA, webrtc.MimeTypePCMA}} {
		t.Run(string(c.codec), func(t *testing.T) {
			fx := newFixture(t)
			tracks := []*media.Track{{Codec: media.CodecH264, ClockRate: 90000}, {Codec: c.codec, ClockRate: 8000, SampleRate: 8000, Channels: 1}}
			var frames []*media.Frame
			for i, v := range h264Frames(t) {
				// 40 ms of samples beside each 40 ms video frame, every
				// byte the frame's index.
				frames = append(frames, v, &media.Frame{Track: 1, Key: true, PTS: v.PTS, DTS: v.PTS, Data: bytes.Repeat([]byte{byte(i + 1)}, 320)})
			}
			stop := feed(fx.hub, "cam1", tracks, frames)
			defer stop()
			p := wheptest.New(t)
			p.Play(t, fx.srv.URL+"/whep/cam1", nil)
			p.WaitUntil(t, time.Minute, "video frames and G.711 packets", func() bool { return p.Frames >= 5 && len(p.AudioPackets) >= 10 })
			p.Lock()
			defer p.Unlock()
			if !strings.EqualFold(p.AudioMime, c.mime) {
				t.Fatalf("audio %s, want %s", p.AudioMime, c.mime)
			}
			pkts := p.AudioPackets
			for i, pkt := range pkts {
				if n := len(pkt.Payload); n != 160 || !bytes.Equal(pkt.Payload, bytes.Repeat(pkt.Payload[:1], n)) {
					t.Fatalf("packet %d: %d bytes % x…, want 160 of one frame", i, n, pkt.Payload[:min(n, 8)])
				}
				if i == 0 {
					continue
				}
				prev := pkts[i-1]
				if pkt.SequenceNumber != prev.SequenceNumber+1 || pkt.Timestamp-prev.Timestamp != 160 {
					t.Fatalf("packet %d: sequence %d after %d, timestamp +%d; want +1, +160", i, pkt.SequenceNumber, prev.SequenceNumber, pkt.Timestamp-prev.Timestamp)
				}
			}
			// Each frame's 320 samples are two packets in a row (the
			// last frame may be half there when the player was read).
			run := 1
			for i := 1; i < len(pkts); i++ {
				if pkts[i].Payload[0] == pkts[i-1].Payload[0] {
					run++
					continue
				}
				if run != 2 {
					t.Fatalf("packet %d: the frame before came in %d packets, want 2", i, run)
				}
				run = 1
			}
		})
	}
}

// TestG711LeftOut: G.711 other than 8 kHz mono has no WebRTC codec; the
// video plays without it.
func TestG711LeftOut(t *testing.T) {
	p, err := planTracks([]*media.Track{{Codec: media.CodecH264}, {Codec: media.CodecPCMU, SampleRate: 16000, Channels: 1}},
		&offer{video: map[string]bool{"H264": true}, audio: map[string]bool{"PCMU": true}})
	if err != nil || p.video == nil || p.audio != nil || len(p.leftOut) != 1 || !strings.Contains(p.leftOut[0], "8 kHz mono") {
		t.Fatalf("plan %+v, %v", p, err)
	}
}

// encodedFrames has ffmpeg encode two seconds of a test picture (320x240,
// 25 fps, a keyframe a second) with encoder and returns the frames as
// ingest stores them (AV1: temporal units without delimiters), read from
// IVF.
func encodedFrames(t testing.TB, codec media.Codec, encoder ...string) []*media.Frame {
	t.Helper()
	ffmpeg := testtool.Need(t, "ffmpeg")
	args := []string{"-hide_banner", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "2", "-g", "25", "-pix_fmt", "yuv420p"}
	args = append(append(args, encoder...), "-f", "ivf", "-")
	out, err := testtool.Command(t, time.Minute, ffmpeg, args...).Output()
	if err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	if len(out) < 32 || string(out[:4]) != "DKIF" {
		t.Fatal("ffmpeg wrote no IVF")
	}
	var frames []*media.Frame
	for b := out[32:]; len(b) >= 12; {
		n := int(binary.LittleEndian.Uint32(b))
		if 12+n > len(b) {
			t.Fatal("a truncated IVF frame")
		}
		data := b[12 : 12+n]
		b = b[12+n:]
		var key bool
		switch codec {
		case media.CodecVP8:
			v, err := bitstream.ReadVP8(data)
			key = err == nil && v.Key
		case media.CodecVP9:
			v, err := bitstream.ReadVP9(data)
			key = err == nil && v.Key
		case media.CodecAV1:
			if data, err = bitstream.AV1FromLowOverhead(data); err != nil {
				t.Fatal(err)
			}
			a, err := bitstream.ReadAV1(data)
			key = err == nil && a.Key
		}
		pts := time.Duration(len(frames)) * 40 * time.Millisecond
		frames = append(frames, &media.Frame{Track: 0, PTS: pts, DTS: pts, Key: key, Data: data})
	}
	if len(frames) == 0 || !frames[0].Key {
		t.Fatalf("ffmpeg's first %s frame is not a key frame", codec)
	}
	return frames
}

// TestPassThrough plays VP8, VP9 and AV1 cameras: their frames
// re-packetized by pion (RFC 7741, RFC 9628, the AV1 RTP payload format),
// depacketized by the player, decode in ffprobe.
func TestPassThrough(t *testing.T) {
	for _, c := range []struct {
		codec   media.Codec
		mime    string
		fourcc  string
		probe   string
		encoder []string
	}{
		{media.CodecVP8, webrtc.MimeTypeVP8, "VP80", "vp8", []string{"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8"}},
		{media.CodecVP9, webrtc.MimeTypeVP9, "VP90", "vp9", []string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"}},
		{media.CodecAV1, webrtc.MimeTypeAV1, "AV01", "av1", []string{"-c:v", "libsvtav1", "-preset", "12"}},
	} {
		t.Run(c.probe, func(t *testing.T) {
			fx := newFixture(t)
			stop := feed(fx.hub, "cam1", []*media.Track{{Codec: c.codec, ClockRate: 90000}}, encodedFrames(t, c.codec, c.encoder...))
			defer stop()
			p := wheptest.New(t)
			p.Play(t, fx.srv.URL+"/whep/cam1", nil)
			received := func() [][]byte {
				return map[media.Codec][][]byte{media.CodecVP8: p.VP8, media.CodecVP9: p.VP9, media.CodecAV1: p.AV1}[c.codec]
			}
			p.WaitUntil(t, time.Minute, string(c.codec)+" frames", func() bool { return len(received()) >= 25 })
			p.Lock()
			mime, got := p.VideoMime, slices.Clone(received())
			p.Unlock()
			if !strings.EqualFold(mime, c.mime) {
				t.Fatalf("video %s, want %s", mime, c.mime)
			}
			// The frames as IVF, for ffprobe.
			ivf := make([]byte, 32)
			copy(ivf, "DKIF")
			binary.LittleEndian.PutUint16(ivf[6:], 32)
			copy(ivf[8:], c.fourcc)
			binary.LittleEndian.PutUint16(ivf[12:], 320)
			binary.LittleEndian.PutUint16(ivf[14:], 240)
			binary.LittleEndian.PutUint32(ivf[16:], 25)
			binary.LittleEndian.PutUint32(ivf[20:], 1)
			binary.LittleEndian.PutUint32(ivf[24:], uint32(len(got)))
			for i, f := range got {
				ivf = binary.LittleEndian.AppendUint32(ivf, uint32(len(f)))
				ivf = binary.LittleEndian.AppendUint64(ivf, uint64(i))
				ivf = append(ivf, f...)
			}
			cmd := testtool.Command(t, time.Minute, testtool.Need(t, "ffprobe"), "-v", "error", "-f", "ivf", "-count_frames",
				"-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", "-")
			cmd.Stdin = bytes.NewReader(ivf)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("ffprobe: %v", err)
			}
			f := strings.Split(strings.TrimSpace(string(out)), ",")
			if len(f) != 4 || f[0] != c.probe || f[1] != "320" || f[2] != "240" {
				t.Fatalf("ffprobe: %q", out)
			}
			if n, err := strconv.Atoi(f[3]); err != nil || n < 25 {
				t.Fatalf("ffprobe decoded %q frames of %d received", f[3], len(got))
			}
		})
	}
}
