package rtsp

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/auth"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	mcav1 "github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/kinedge/kinedge/index/streamname"
	"github.com/kinedge/kinedge/ingest/camsim"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/media/bitstream"
)

// testCamera is an IP camera in the test: a gortsplib Server that serves
// one ServerStream to readers (DESCRIBE/SETUP/PLAY) behind Digest
// authentication, and sends the frames the test asks for.
type testCamera struct {
	t          testing.TB
	srv        *gortsplib.Server
	stream     *gortsplib.ServerStream
	user, pass string
	addr       string
	t0         time.Time     // NTP time of PTS 0
	offset     time.Duration // added to the PTS of sent frames
	closeOnce  sync.Once

	mu           sync.Mutex
	authFailures int
	plays        int

	tracks []*camTrack
}

// camTrack packetizes one track (RFC 6184, RFC 7798, RFC 3640, RFC 7587).
type camTrack struct {
	medi      *description.Media
	clockRate int64
	video     bool
	encode    func(au [][]byte) ([]*rtp.Packet, error)
	// split cuts a frame into what encode takes: NAL units (H.264,
	// H.265), OBUs (AV1), the frame itself (the rest).
	split  func(data []byte) ([][]byte, error)
	seq    uint16
	tsBase uint32
}

// cameraFormats returns the gortsplib formats announcing a clip's tracks.
func cameraFormats(t testing.TB, clip *camsim.Clip) []format.Format {
	t.Helper()
	var out []format.Format
	for _, tr := range clip.Tracks {
		switch tr.Codec {
		case media.CodecH264:
			out = append(out, &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: tr.SPS, PPS: tr.PPS})
		case media.CodecH265:
			out = append(out, &format.H265{PayloadTyp: 96, VPS: tr.VPS, SPS: tr.SPS, PPS: tr.PPS})
		case media.CodecAAC:
			var asc mpeg4audio.AudioSpecificConfig
			if err := asc.Unmarshal(tr.Config); err != nil {
				t.Fatal(err)
			}
			out = append(out, &format.MPEG4Audio{
				PayloadTyp: 97, Config: &asc, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3,
			})
		case media.CodecOpus:
			out = append(out, &format.Opus{PayloadTyp: 97, ChannelCount: tr.Channels})
		default:
			t.Fatalf("codec %s", tr.Codec)
		}
	}
	return out
}

func newEncoder(t testing.TB, f format.Format) func(au [][]byte) ([]*rtp.Packet, error) {
	t.Helper()
	switch f := f.(type) {
	case *format.H264:
		e, err := f.CreateEncoder()
		if err != nil {
			t.Fatal(err)
		}
		return e.Encode
	case *format.H265:
		e, err := f.CreateEncoder()
		if err != nil {
			t.Fatal(err)
		}
		return e.Encode
	case *format.MPEG4Audio:
		e, err := f.CreateEncoder()
		if err != nil {
			t.Fatal(err)
		}
		return e.Encode
	case *format.Opus:
		e, err := f.CreateEncoder()
		if err != nil {
			t.Fatal(err)
		}
		return func(au [][]byte) ([]*rtp.Packet, error) {
			p, err := e.Encode(au[0])
			return []*rtp.Packet{p}, err
		}
	case *format.VP9:
		e, err := f.CreateEncoder()
		if err != nil {
			t.Fatal(err)
		}
		return func(au [][]byte) ([]*rtp.Packet, error) { return e.Encode(au[0]) }
	case *format.AV1:
		e, err := f.CreateEncoder()
		if err != nil {
			t.Fatal(err)
		}
		// One OBU per Encode (gortsplib v4.16.2's packetizer can mark a
		// packet as continued when the next of several OBUs did not fit
		// and was not started); the marker ends the temporal unit.
		return func(obus [][]byte) ([]*rtp.Packet, error) {
			var out []*rtp.Packet
			for _, o := range obus {
				pkts, err := e.Encode([][]byte{o})
				if err != nil {
					return nil, err
				}
				for _, p := range pkts {
					p.Marker = false
				}
				out = append(out, pkts...)
			}
			if len(out) > 0 {
				out[len(out)-1].Marker = true
			}
			return out, nil
		}
	}
	return nil // formats the camera only announces
}

// newSplitter returns how a stored frame of f becomes what newEncoder's
// function takes.
func newSplitter(f format.Format) func([]byte) ([][]byte, error) {
	switch f.(type) {
	case *format.H264, *format.H265:
		return func(b []byte) ([][]byte, error) {
			var avcc h264.AVCC
			err := avcc.Unmarshal(b)
			return avcc, err
		}
	case *format.AV1:
		return func(b []byte) ([][]byte, error) {
			var obus mcav1.Bitstream // OBUs without size fields, as RTP sends them
			err := obus.Unmarshal(b)
			return obus, err
		}
	}
	return func(b []byte) ([][]byte, error) { return [][]byte{b}, nil }
}

type cameraOpt func(*gortsplib.Server)

func withCameraUDP(t *testing.T) cameraOpt {
	return func(s *gortsplib.Server) { s.UDPRTPAddress, s.UDPRTCPAddress = freeUDPPair(t) }
}

// startCamera serves formats, one media each, on addr with user "user" and
// password "pass" (Digest MD5 only).
func startCamera(t testing.TB, addr string, formats []format.Format, opts ...cameraOpt) *testCamera {
	t.Helper()
	c := &testCamera{t: t, user: "user", pass: "pass", t0: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	desc := &description.Session{}
	for i, f := range formats {
		typ := description.MediaTypeAudio
		if _, ok := f.(*format.H264); ok {
			typ = description.MediaTypeVideo
		}
		if _, ok := f.(*format.H265); ok {
			typ = description.MediaTypeVideo
		}
		switch f.(type) {
		case *format.MPEG4Video, *format.VP9, *format.AV1:
			typ = description.MediaTypeVideo
		}
		m := &description.Media{Type: typ, Formats: []format.Format{f}}
		desc.Medias = append(desc.Medias, m)
		c.tracks = append(c.tracks, &camTrack{
			medi: m, clockRate: int64(f.ClockRate()), video: typ == description.MediaTypeVideo,
			encode: newEncoder(t, f), split: newSplitter(f), seq: uint16(1000 * (i + 1)), tsBase: uint32(123456 * (i + 1)),
		})
	}
	var mu sync.Mutex
	var ln net.Listener
	c.srv = &gortsplib.Server{
		Handler:        c,
		RTSPAddress:    addr,
		AuthMethods:    []auth.VerifyMethod{auth.VerifyMethodDigestMD5},
		WriteQueueSize: 8192, // the tests send whole clips at once
		Listen: func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			mu.Lock()
			ln = l
			mu.Unlock()
			return l, err
		},
	}
	for _, o := range opts {
		o(c.srv)
	}
	if err := c.srv.Start(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	c.addr = ln.Addr().String()
	mu.Unlock()
	// a puller may connect as soon as the server listens
	stream := &gortsplib.ServerStream{Server: c.srv, Desc: desc}
	if err := stream.Initialize(); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.stream = stream
	c.mu.Unlock()
	t.Cleanup(c.close)
	return c
}

// close stops the camera; idempotent.
func (c *testCamera) close() {
	c.closeOnce.Do(func() {
		c.stream.Close()
		c.srv.Close()
	})
}

// url returns the camera's URL with the given password.
func (c *testCamera) url(pass string) string {
	return "rtsp://" + c.user + ":" + pass + "@" + c.addr + "/stream"
}

func (c *testCamera) counts() (authFailures, plays int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.authFailures, c.plays
}

func (c *testCamera) authorize(ctx *gortsplib.ServerConn, req *base.Request) (*base.Response, error) {
	if ctx.VerifyCredentials(req, c.user, c.pass) {
		return nil, nil
	}
	if _, ok := req.Header["Authorization"]; ok {
		c.mu.Lock()
		c.authFailures++
		c.mu.Unlock()
	}
	return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
}

// ready answers DESCRIBE and SETUP once the stream exists.
func (c *testCamera) ready() (*base.Response, *gortsplib.ServerStream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream == nil {
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, c.stream, nil
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (c *testCamera) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := c.authorize(ctx.Conn, ctx.Request); res != nil {
		return res, nil, err
	}
	return c.ready()
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (c *testCamera) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := c.authorize(ctx.Conn, ctx.Request); res != nil {
		return res, nil, err
	}
	return c.ready()
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (c *testCamera) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	c.mu.Lock()
	c.plays++
	c.mu.Unlock()
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// senderReports sends an RTCP sender report (RFC 3550 §6.4.1) per track
// mapping RTP time tsBase to c.t0.
func (c *testCamera) senderReports() {
	ntp := uint64(c.t0.Unix()+2208988800) << 32
	for _, tr := range c.tracks {
		if err := c.stream.WritePacketRTCP(tr.medi, &rtcp.SenderReport{NTPTime: ntp, RTPTime: tr.tsBase}); err != nil {
			c.t.Fatal(err)
		}
	}
}

// send packetizes and sends frames; with realTime it paces them by DTS.
// It returns the number of frames sent per track.
func (c *testCamera) send(frames []*media.Frame, realTime bool) []int {
	c.t.Helper()
	sent := make([]int, len(c.tracks))
	start := time.Now()
	for _, f := range frames {
		if realTime {
			// pacing a UDP sender, not synchronisation
			time.Sleep(time.Until(start.Add(f.DTS - frames[0].DTS)))
		}
		tr := c.tracks[f.Track]
		au, err := tr.split(f.Data)
		if err != nil {
			c.t.Fatal(err)
		}
		pkts, err := tr.encode(au)
		if err != nil {
			c.t.Fatal(err)
		}
		pts := f.PTS + c.offset
		ts := tr.tsBase + uint32(int64(pts)*tr.clockRate/int64(time.Second))
		for _, pkt := range pkts {
			pkt.SequenceNumber = tr.seq
			pkt.Timestamp = ts
			tr.seq++
			if err := c.stream.WritePacketRTPWithNTP(tr.medi, pkt, c.t0.Add(pts)); err != nil {
				c.t.Fatal(err)
			}
		}
		sent[f.Track]++
	}
	return sent
}

func loadClip(t testing.TB, name string) *camsim.Clip {
	t.Helper()
	clip, err := camsim.ReadClip("../../testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return clip
}

// lockedBuffer collects log output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startPuller starts a Puller of stream "cam" with short backoffs; its log
// goes to the returned buffer (and stderr with -v).
func startPuller(t *testing.T, r Router, rawURL string, mod func(*Puller)) (*Puller, *lockedBuffer) {
	t.Helper()
	logs := &lockedBuffer{}
	var h slog.Handler = slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	if l := testLogger(t); l != nil {
		h = teeHandler{h, l.Handler()}
	}
	p := &Puller{
		Stream: "cam", URL: rawURL, Router: r,
		BackoffMin: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
		Logger: slog.New(h),
	}
	if mod != nil {
		mod(p)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, logs
}

// teeHandler sends records to two handlers.
type teeHandler struct{ a, b slog.Handler }

func (h teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.a.Enabled(ctx, l) || h.b.Enabled(ctx, l)
}

func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	_ = h.a.Handle(ctx, r.Clone())
	return h.b.Handle(ctx, r)
}

func (h teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{h.a.WithAttrs(as), h.b.WithAttrs(as)}
}

func (h teeHandler) WithGroup(n string) slog.Handler {
	return teeHandler{h.a.WithGroup(n), h.b.WithGroup(n)}
}

// countFrames returns the frames of a session per track.
func countFrames(w *recWriter, tracks int) []int {
	frames, _, _ := w.snapshot()
	n := make([]int, tracks)
	for _, f := range frames {
		if f.Track < tracks {
			n[f.Track]++
		}
	}
	return n
}

// waitFrames waits until session w has at least want frames per track and
// then requires exactly want.
func waitFrames(t *testing.T, w *recWriter, want []int) {
	t.Helper()
	waitFor(t, 20*time.Second, fmt.Sprintf("frames %v", want), func() bool {
		got := countFrames(w, len(want))
		for i := range want {
			if got[i] < want[i] {
				return false
			}
		}
		return true
	})
	if got := countFrames(w, len(want)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("frames per track %v, camera sent %v", got, want)
	}
}

func TestPullClip(t *testing.T) {
	for _, tc := range []struct {
		clip      string
		transport string
		paramNALs []int // parameter sets expected at the head of the first keyframe
		udp       bool  // the camera serves UDP; the test then sends 1 s at real time
		want      string
		inBand    bool // the SDP has no parameter sets: they come in-band only
	}{
		{"h264_aac.ts", "tcp", []int{7, 8}, false, "tcp", false},
		{"h265_opus.ts", "tcp", []int{32, 33, 34}, false, "tcp", false},
		{"h264_aac.ts", "udp", []int{7, 8}, true, "udp", false},
		{"h265_opus.ts", "auto", []int{32, 33, 34}, true, "udp", false},
		{"h264_aac.ts", "auto", []int{7, 8}, false, "tcp", false}, // 461 to UDP: TCP
		{"h264_aac.ts", "tcp", []int{7, 8}, false, "tcp", true},
		{"h265_opus.ts", "tcp", []int{32, 33, 34}, false, "tcp", true},
	} {
		name := tc.clip + "/" + tc.transport + "/" + tc.want
		if tc.inBand {
			name += "/in-band"
		}
		t.Run(name, func(t *testing.T) {
			clip := loadClip(t, tc.clip)
			var opts []cameraOpt
			frames := clip.Frames
			if tc.udp {
				opts = append(opts, withCameraUDP(t))
				// one second of media at real time: loopback UDP is
				// lossless when paced
				for i, f := range frames {
					if f.DTS > time.Second {
						frames = frames[:i]
						break
					}
				}
			}
			formats := cameraFormats(t, clip)
			if tc.inBand {
				switch f := formats[0].(type) {
				case *format.H264:
					f.SPS, f.PPS = nil, nil
				case *format.H265:
					f.VPS, f.SPS, f.PPS = nil, nil, nil
				}
			}
			cam := startCamera(t, "127.0.0.1:0", formats, opts...)
			r := &recRouter{}
			p, _ := startPuller(t, r, cam.url("pass"), func(p *Puller) { p.Transport = tc.transport })
			waitFor(t, 10*time.Second, "connected", func() bool { return p.Status().Connected })

			cam.senderReports()
			sent := cam.send(frames, tc.udp)
			w := r.session(0)
			waitFrames(t, w, sent)

			if n := r.count(); n != 1 {
				t.Fatalf("%d sessions", n)
			}
			req := w.req
			if req.Stream != "cam" || req.Transport != tc.want || req.User != "" || req.RemoteAddr != cam.addr {
				t.Fatalf("request %+v", req)
			}
			if len(req.Tracks) != len(clip.Tracks) {
				t.Fatalf("%d tracks", len(req.Tracks))
			}
			for i, tr := range req.Tracks {
				want := clip.Tracks[i]
				if tc.inBand && i == 0 {
					// the Router learns the picture from the keyframes
					if len(tr.SPS) != 0 || tr.Width != 0 {
						t.Fatalf("track %d: %+v from an SDP without parameter sets", i, tr)
					}
					want = &media.Track{Codec: want.Codec}
				}
				if tr.Codec != want.Codec || tr.Width != want.Width || tr.Height != want.Height ||
					tr.SampleRate != want.SampleRate || tr.Channels != want.Channels {
					t.Fatalf("track %d: %+v, want %+v", i, tr, want)
				}
			}

			got, discs, _ := w.snapshot()
			if len(discs) > 0 {
				t.Errorf("discontinuities %q", discs)
			}
			h265 := clip.Tracks[0].Codec == media.CodecH265
			var video, sentVideo []*media.Frame
			for _, f := range got {
				if f.Track == 0 {
					video = append(video, f)
				}
			}
			for _, f := range frames {
				if f.Track == 0 {
					sentVideo = append(sentVideo, f)
				}
			}
			first := video[0]
			if !first.Key {
				t.Fatal("first video frame is not a keyframe")
			}
			types := nalTypesOf(t, first.Data, h265)
			if len(types) <= len(tc.paramNALs) || fmt.Sprint(types[:len(tc.paramNALs)]) != fmt.Sprint(tc.paramNALs) {
				t.Fatalf("first keyframe NAL types %v, want parameter sets %v first", types, tc.paramNALs)
			}
			// over TCP the sender report precedes the packets; over UDP it
			// travels on its own socket
			if !tc.udp && first.Wall.Sub(cam.t0.Add(sentVideo[0].PTS)).Abs() > time.Millisecond {
				t.Errorf("first video wall %v, want %v", first.Wall, cam.t0.Add(sentVideo[0].PTS))
			}
			last := map[int]*media.Frame{}
			for i, f := range got {
				if f.PTS < f.DTS {
					t.Fatalf("frame %d: PTS %v < DTS %v", i, f.PTS, f.DTS)
				}
				if l := last[f.Track]; l != nil && f.DTS <= l.DTS {
					t.Fatalf("frame %d of track %d: DTS %v after %v", i, f.Track, f.DTS, l.DTS)
				}
				last[f.Track] = f
			}
			// video timestamps are exact on the 90 kHz clock
			for i, f := range video {
				gotPTS := f.PTS - video[0].PTS
				wantPTS := sentVideo[i].PTS - sentVideo[0].PTS
				if gotPTS != wantPTS || f.Key != sentVideo[i].Key {
					t.Fatalf("video frame %d: PTS %v key %v, camera sent %v key %v", i, gotPTS, f.Key, wantPTS, sentVideo[i].Key)
				}
			}
			st := p.Status()
			if !st.Connected || st.Connects != 1 || st.Reconnects != 0 || st.Transport != tc.want ||
				st.Stats.Frames != uint64(len(got)) {
				t.Fatalf("status %+v", st)
			}
		})
	}
}

// nalTypesOf lists the NAL unit types of an AVCC access unit.
func nalTypesOf(t *testing.T, data []byte, h265 bool) []int {
	t.Helper()
	var avcc h264.AVCC
	if err := avcc.Unmarshal(data); err != nil {
		t.Fatal(err)
	}
	var types []int
	for _, n := range avcc {
		if h265 {
			types = append(types, int(n[0]>>1)&0x3f)
		} else {
			types = append(types, int(n[0])&0x1f)
		}
	}
	return types
}

// firstSeconds returns the frames of the first d of a clip.
func firstSeconds(frames []*media.Frame, d time.Duration) []*media.Frame {
	for i, f := range frames {
		if f.DTS >= d {
			return frames[:i]
		}
	}
	return frames
}

func TestPullReconnectsAfterCameraRestart(t *testing.T) {
	clip := loadClip(t, "h264_aac.ts")
	part := firstSeconds(clip.Frames, 2*time.Second)
	cam := startCamera(t, "127.0.0.1:0", cameraFormats(t, clip))
	r := &recRouter{}
	p, _ := startPuller(t, r, cam.url("pass"), nil)
	waitFor(t, 10*time.Second, "connected", func() bool { return p.Status().Connected })
	waitFrames(t, r.session(0), cam.send(part, false))

	cam.close() // the camera reboots
	waitFor(t, 10*time.Second, "first Writer closed", func() bool {
		_, _, closed := r.session(0).snapshot()
		return closed
	})
	cam2 := startCamera(t, cam.addr, cameraFormats(t, clip))
	waitFor(t, 10*time.Second, "second connection", func() bool {
		st := p.Status()
		return st.Connected && st.Connects == 2
	})
	if n := r.count(); n != 2 {
		t.Fatalf("%d sessions", n)
	}
	waitFrames(t, r.session(1), cam2.send(part, false))
	st := p.Status()
	if st.Reconnects != 1 || st.LastError == "" {
		t.Fatalf("status %+v", st)
	}
	// Stats are the current connection's; Total adds the ended one's.
	f0, _, _ := r.session(0).snapshot()
	f1, _, _ := r.session(1).snapshot()
	if st.Stats.Frames != uint64(len(f1)) || st.Total.Frames != uint64(len(f0)+len(f1)) ||
		st.Total.Packets <= st.Stats.Packets {
		t.Fatalf("stats %+v, total %+v; sessions got %d and %d frames", st.Stats, st.Total, len(f0), len(f1))
	}
	if w := r.session(0); len(w.misuse) > 0 {
		t.Fatalf("Writer misuse: %v", w.misuse)
	}
}

func TestPullWrongCredentials(t *testing.T) {
	clip := loadClip(t, "h264_aac.ts")
	const secret = "s3cr3t-pw"
	for _, tc := range []struct {
		name string
		url  func(cam *testCamera) string
		want string // in LastError
		log  string // in the log
	}{
		{"wrong password", func(cam *testCamera) string { return cam.url(secret) }, `401 for user "user"`, "user:***@"},
		{"no credentials", func(cam *testCamera) string { return "rtsp://" + cam.addr + "/stream" }, "URL has no credentials", "check user and password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cam := startCamera(t, "127.0.0.1:0", cameraFormats(t, clip))
			r := &recRouter{}
			p, logs := startPuller(t, r, tc.url(cam), nil)
			waitFor(t, 10*time.Second, "three refused attempts", func() bool { return p.Status().Attempts >= 3 })
			st := p.Status()
			if st.Connected || !strings.Contains(st.LastError, "refused the credentials") ||
				!strings.Contains(st.LastError, tc.want) {
				t.Fatalf("status %+v", st)
			}
			p.Close()
			out := logs.String()
			if !strings.Contains(out, "check user and password") || !strings.Contains(out, tc.log) {
				t.Fatalf("log lacks the reason or the redacted URL:\n%s", out)
			}
			if strings.Contains(out, secret) || strings.Contains(fmt.Sprint(p.Status()), secret) {
				t.Fatal("the password leaked")
			}
			if r.count() != 0 {
				t.Fatal("a refused camera reached the Router")
			}
			// the camera saw the wrong credentials of two finished attempts, or none
			if failures, _ := cam.counts(); (failures >= 2) != (tc.name == "wrong password") {
				t.Fatalf("camera counted %d refused credentials", failures)
			}
		})
	}
}

func TestPullStreamNotFound(t *testing.T) {
	clip := loadClip(t, "h264_aac.ts")
	cam := startCamera(t, "127.0.0.1:0", cameraFormats(t, clip))
	r := &recRouter{}
	p, logs := startPuller(t, r, cam.url("pass"), func(p *Puller) { p.Stream = "missing" })
	waitFor(t, 10*time.Second, "two attempts", func() bool { return p.Status().Attempts >= 2 })
	p.Close()
	if st := p.Status(); !strings.Contains(st.LastError, ErrStreamNotFound.Error()) || st.Connects != 0 {
		t.Fatalf("status %+v", st)
	}
	if !strings.Contains(logs.String(), "the stream does not exist") {
		t.Fatalf("log:\n%s", logs)
	}
}

func TestPullUnsupportedCodecOnly(t *testing.T) {
	cam := startCamera(t, "127.0.0.1:0", []format.Format{&format.MPEG4Video{PayloadTyp: 100}, &format.G722{}})
	r := &recRouter{}
	p, logs := startPuller(t, r, cam.url("pass"), nil)
	waitFor(t, 10*time.Second, "an attempt", func() bool { return p.Status().LastError != "" })
	st := p.Status()
	if !strings.Contains(st.LastError, "found MPEG-4 Video, G722") || !strings.Contains(st.LastError, "supported H264") {
		t.Fatalf("last error %q", st.LastError)
	}
	p.Close()
	if !strings.Contains(logs.String(), "no supported codec") {
		t.Fatalf("log:\n%s", logs)
	}
	if r.count() != 0 {
		t.Fatal("the Router was called")
	}
}

// TestPullVP9AV1: a camera serving VP9 or AV1 is pulled: every frame
// arrives whole, the first a keyframe, and the track learns its size (and
// AV1 its av1C) from the stream.
func TestPullVP9AV1(t *testing.T) {
	for _, c := range []struct {
		forma format.Format
		file  string
		codec media.Codec
	}{
		{&format.VP9{PayloadTyp: 96}, "vp9_160x120.ivf", media.CodecVP9},
		{&format.AV1{PayloadTyp: 96}, "av1_192x108.ivf", media.CodecAV1},
	} {
		t.Run(string(c.codec), func(t *testing.T) {
			var frames []*media.Frame
			for i, b := range ivfFrames(t, c.file) {
				if c.codec == media.CodecAV1 {
					var err error
					if b, err = bitstream.AV1FromLowOverhead(b); err != nil {
						t.Fatal(err)
					}
				}
				pts := time.Duration(i) * 100 * time.Millisecond
				frames = append(frames, &media.Frame{PTS: pts, DTS: pts, Data: b})
			}
			cam := startCamera(t, "127.0.0.1:0", []format.Format{c.forma})
			r := &recRouter{}
			p, _ := startPuller(t, r, cam.url("pass"), nil)
			waitFor(t, 10*time.Second, "connected", func() bool { return p.Status().Connected })
			cam.send(frames, false)
			w := r.session(0)
			waitFor(t, 10*time.Second, "every frame", func() bool { got, _, _ := w.snapshot(); return len(got) == len(frames) })
			got, _, _ := w.snapshot()
			for i, f := range got {
				if !bytes.Equal(f.Data, frames[i].Data) || f.Key != (i == 0) {
					t.Fatalf("frame %d: key %v, %d bytes, want %d", i, f.Key, len(f.Data), len(frames[i].Data))
				}
			}
			if tr := w.req.Tracks[0]; tr.Codec != c.codec {
				t.Fatalf("track %+v", tr)
			}
		})
	}
}

// TestPullPicksSupportedTracks: an MPEG-4 Video track next to H.264 is ignored.
func TestPullPicksSupportedTracks(t *testing.T) {
	clip := loadClip(t, "h264_aac.ts")
	formats := append([]format.Format{&format.MPEG4Video{PayloadTyp: 100}}, cameraFormats(t, clip)...)
	cam := startCamera(t, "127.0.0.1:0", formats)
	r := &recRouter{}
	p, _ := startPuller(t, r, cam.url("pass"), nil)
	waitFor(t, 10*time.Second, "connected", func() bool { return p.Status().Connected })
	req := r.session(0).req
	if len(req.Tracks) != 2 || req.Tracks[0].Codec != media.CodecH264 || req.Tracks[1].Codec != media.CodecAAC {
		t.Fatalf("tracks %+v %+v", req.Tracks[0], req.Tracks[1])
	}
}

func TestPullCloseDuringBackoff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	r := &recRouter{}
	p, _ := startPuller(t, r, "rtsp://"+addr+"/x", func(p *Puller) {
		p.BackoffMin, p.BackoffMax = time.Hour, time.Hour
	})
	waitFor(t, 10*time.Second, "a failed attempt", func() bool { return p.Status().LastError != "" })
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second): // hang deadline
		t.Fatal("Close did not interrupt the backoff")
	}
	if st := p.Status(); st.Attempts != 1 {
		t.Fatalf("status %+v", st)
	}
	p.Close() // idempotent
}

func TestPullCloseWhileConnectedClosesWriter(t *testing.T) {
	clip := loadClip(t, "h265_opus.ts")
	cam := startCamera(t, "127.0.0.1:0", cameraFormats(t, clip))
	r := &recRouter{}
	p, _ := startPuller(t, r, cam.url("pass"), nil)
	waitFor(t, 10*time.Second, "connected", func() bool { return p.Status().Connected })
	waitFrames(t, r.session(0), cam.send(firstSeconds(clip.Frames, time.Second), false))
	p.Close()
	w := r.session(0)
	_, _, closed := w.snapshot()
	if !closed || len(w.misuse) > 0 {
		t.Fatalf("closed %v misuse %v", closed, w.misuse)
	}
	if st := p.Status(); st.Connected {
		t.Fatalf("status %+v", st)
	}
}

// TestPullRTPTimeout: a camera that plays but sends nothing is dropped
// after ReadTimeout and reconnected.
func TestPullRTPTimeout(t *testing.T) {
	clip := loadClip(t, "h264_aac.ts")
	cam := startCamera(t, "127.0.0.1:0", cameraFormats(t, clip))
	r := &recRouter{}
	p, _ := startPuller(t, r, cam.url("pass"), func(p *Puller) { p.ReadTimeout = 300 * time.Millisecond })
	waitFor(t, 20*time.Second, "a second session", func() bool { return p.Status().Connects >= 2 })
	if _, plays := cam.counts(); plays < 2 {
		t.Fatalf("%d PLAYs", plays)
	}
	if _, _, closed := r.session(0).snapshot(); !closed {
		t.Fatal("the silent session's Writer is open")
	}
	if st := p.Status(); r.count() < 2 || !strings.Contains(st.LastError, "timeout") && !strings.Contains(st.LastError, "no RTP packet") {
		t.Fatalf("status %+v", st)
	}
}

// TestPullStreamBusy: while a camera pushes the stream the puller waits and
// retries; it takes the stream when the push ends, and a Kick reconnects it.
func TestPullStreamBusy(t *testing.T) {
	clip := loadClip(t, "h264_aac.ts")
	cam := startCamera(t, "127.0.0.1:0", cameraFormats(t, clip))
	r := &recRouter{}
	push, err := r.Publish(&PublishRequest{Stream: "cam"})
	if err != nil {
		t.Fatal(err)
	}
	p, logs := startPuller(t, r, cam.url("pass"), nil)
	waitFor(t, 10*time.Second, "two refused publishes", func() bool {
		st := p.Status()
		return st.Attempts >= 2 && strings.Contains(st.LastError, ErrStreamBusy.Error())
	})
	if !strings.Contains(logs.String(), "published by another session") {
		t.Fatalf("log:\n%s", logs)
	}
	push.Close()
	waitFor(t, 10*time.Second, "pull session", func() bool { return p.Status().Connected })
	w := r.session(1)
	w.req.Kick("test takeover")
	waitFor(t, 10*time.Second, "reconnect after the kick", func() bool { return p.Status().Connects == 2 })
	if _, _, closed := w.snapshot(); !closed {
		t.Fatal("kicked session's Writer is open")
	}
	if st := p.Status(); !strings.Contains(st.LastError, "test takeover") {
		t.Fatalf("status %+v", st)
	}
}

func TestPullerStartValidates(t *testing.T) {
	r := &recRouter{}
	for _, tc := range []struct {
		name string
		p    *Puller
		want string
	}{
		{"no router", &Puller{Stream: "a", URL: "rtsp://h/x"}, "Router"},
		{"no stream", &Puller{URL: "rtsp://h/x", Router: r}, "stream name"},
		{"bad stream", &Puller{Stream: "cam 1", URL: "rtsp://h/x", Router: r}, streamname.Rule},
		{"no URL", &Puller{Stream: "a", Router: r}, "URL is required"},
		{"http", &Puller{Stream: "a", URL: "http://u:hidden1@h/x", Router: r}, "u:***@h"},
		{"garbage", &Puller{Stream: "a", URL: "rtsp://u:hid%zzden1@h/x", Router: r}, "not an rtsp"},
		{"no host", &Puller{Stream: "a", URL: "rtsp:///x", Router: r}, "no host"},
		{"transport", &Puller{Stream: "a", URL: "rtsp://h/x", Router: r, Transport: "sctp"}, "sctp"},
		{"backoff", &Puller{Stream: "a", URL: "rtsp://h/x", Router: r, BackoffMin: time.Minute, BackoffMax: time.Second}, "BackoffMin"},
		{"all at once", &Puller{Transport: "x"}, "Router is required; streamname: invalid video stream name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Start()
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hid") {
				t.Fatalf("password in %v", err)
			}
			tc.p.Close()
		})
	}
	var p Puller
	p.Close() // Close without Start
	if err := p.Start(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Start after Close: %v", err)
	}
}

func TestPullBackoff(t *testing.T) {
	p := &Puller{BackoffMin: time.Second, BackoffMax: 30 * time.Second}
	for _, tc := range []struct {
		failures int
		max      time.Duration
	}{
		{0, time.Second}, {1, 2 * time.Second}, {2, 4 * time.Second}, {4, 16 * time.Second},
		{5, 30 * time.Second}, {6, 30 * time.Second}, {1000, 30 * time.Second},
	} {
		for range 50 {
			d := p.backoff(tc.failures)
			if d > tc.max || d < tc.max/2 {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", tc.failures, d, tc.max/2, tc.max)
			}
		}
	}
}

var redactCases = []struct{ in, want string }{
	{"rtsp://user:pass@host:554/path?x=1", "rtsp://user:***@host:554/path?x=1"},
	{"rtsp://host/path", "rtsp://host/path"},
	{"rtsp://user@host/path", "rtsp://user@host/path"},
	{"rtsps://a%20b:p%40ss@[::1]:322/p", "rtsps://a%20b:***@[::1]:322/p"},
	{"rtsp://admin:p@ss@10.0.0.2/live", "rtsp://admin:***@10.0.0.2/live"},
	{"rtsp://admin:p/ss@10.0.0.2/live", "rtsp://admin:***@10.0.0.2/live"},
	{"rtsp://admin:%zz@10.0.0.2/live", "rtsp://admin:***@10.0.0.2/live"},
	{"http://u:secret@h/x", "http://u:***@h/x"},
	{"u:secret@h", "<invalid URL>"},
	{"", "<invalid URL>"},
}

func TestRedactURL(t *testing.T) {
	for _, tc := range redactCases {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzRedactURL: whatever the input, a password gortsplib would send is not
// in the output.
func FuzzRedactURL(f *testing.F) {
	for _, tc := range redactCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out := RedactURL(raw)
		u, err := base.ParseURL(raw)
		if err != nil || u.User == nil {
			return
		}
		pass, ok := u.User.Password()
		if !ok || len(pass) < 4 {
			return // short passwords occur in any text
		}
		rest := strings.Replace(raw, pass, "", 1)
		if strings.Contains(out, pass) && !strings.Contains(rest, pass) {
			t.Fatalf("RedactURL(%q) = %q shows the password %q", raw, out, pass)
		}
		if v, err := base.ParseURL(out); err == nil && v.User != nil {
			if got, ok := v.User.Password(); ok && got != "***" {
				t.Fatalf("RedactURL(%q) = %q has password %q", raw, out, got)
			}
		}
	})
}

// selfSigned returns a TLS certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "camera"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// TestPullRTSPS pulls a camera over TLS (RFC 7826 §4.2) with a self-signed
// certificate the Puller is told to trust; without it the handshake fails.
func TestPullRTSPS(t *testing.T) {
	clip := loadClip(t, "h264_aac.ts")
	cert, pool := selfSigned(t)
	cam := startCamera(t, "127.0.0.1:0", cameraFormats(t, clip), func(s *gortsplib.Server) {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	})
	rawURL := strings.Replace(cam.url("pass"), "rtsp://", "rtsps://", 1)

	untrusting, _ := startPuller(t, &recRouter{}, rawURL, nil)
	waitFor(t, 10*time.Second, "a failed handshake", func() bool { return untrusting.Status().LastError != "" })
	if st := untrusting.Status(); !strings.Contains(st.LastError, "certificate") || st.Connects != 0 {
		t.Fatalf("status %+v", st)
	}
	untrusting.Close()

	r := &recRouter{}
	p, _ := startPuller(t, r, rawURL, func(p *Puller) { p.TLSConfig = &tls.Config{RootCAs: pool} })
	waitFor(t, 10*time.Second, "connected", func() bool { return p.Status().Connected })
	waitFrames(t, r.session(0), cam.send(firstSeconds(clip.Frames, time.Second), false))
}

// TestPullDiscontinuity: a camera whose clock jumps without reconnecting
// (an NTP step, a reset of its encoder) is signalled to the Writer once, as
// for push.
func TestPullDiscontinuity(t *testing.T) {
	clip := loadClip(t, "h264_aac.ts")
	part := firstSeconds(clip.Frames, time.Second)
	cam := startCamera(t, "127.0.0.1:0", cameraFormats(t, clip))
	r := &recRouter{}
	p, _ := startPuller(t, r, cam.url("pass"), nil)
	waitFor(t, 10*time.Second, "connected", func() bool { return p.Status().Connected })
	w := r.session(0)
	sent := cam.send(part, false)
	waitFrames(t, w, sent)
	cam.offset = time.Hour
	for i, n := range cam.send(part, false) {
		sent[i] += n
	}
	waitFrames(t, w, sent)
	if _, discs, _ := w.snapshot(); len(discs) != 1 || !strings.Contains(discs[0], "jumped ahead") {
		t.Fatalf("discontinuities %q", discs)
	}
	// the keyframe after the jump restarts DTS extraction: nothing dropped
	if st := p.Status(); st.Stats.Discontinuities != 1 || st.Connects != 1 || st.Stats.FramesDropped != 0 {
		t.Fatalf("status %+v", st)
	}
}

// The zero Puller backs off from 1 s to 30 s; a BackoffMax below 1 s also
// lowers the start.
func TestPullBackoffDefaults(t *testing.T) {
	for _, tc := range []struct {
		max              time.Duration
		wantMin, wantMax time.Duration
	}{
		{0, time.Second, 30 * time.Second},
		{200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond},
		{time.Minute, time.Second, time.Minute},
	} {
		p := &Puller{Stream: "a", URL: "rtsp://h/x", Router: &recRouter{}, BackoffMax: tc.max}
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		p.Close()
		if p.BackoffMin != tc.wantMin || p.BackoffMax != tc.wantMax {
			t.Errorf("BackoffMax %v: got %v..%v, want %v..%v", tc.max, p.BackoffMin, p.BackoffMax, tc.wantMin, tc.wantMax)
		}
	}
}
