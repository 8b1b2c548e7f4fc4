package webrtc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/kinedge/kinedge/dataplane/authlimit"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/webrtc/rtc"
	"github.com/kinedge/kinedge/ingest/webrtc/whiptest"
)

// fakeWriter records the frames of a session.
type fakeWriter struct {
	mu      sync.Mutex
	frames  []*media.Frame
	written []time.Time // when each frame was written
	closed  chan struct{}
}

func (w *fakeWriter) WriteFrame(f *media.Frame) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-w.closed:
		panic("WriteFrame after Close")
	default:
	}
	w.frames = append(w.frames, f)
	w.written = append(w.written, time.Now())
}
func (w *fakeWriter) Discontinuity(string) {}
func (w *fakeWriter) Close()               { close(w.closed) }

func (w *fakeWriter) snapshot() []*media.Frame {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*media.Frame(nil), w.frames...)
}

// fakePublisher hands out fakeWriters, or err.
type fakePublisher struct {
	mu   sync.Mutex
	err  error
	reqs []*PublishRequest
	ws   []*fakeWriter
}

func (p *fakePublisher) Publish(req *PublishRequest) (media.Writer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return nil, p.err
	}
	w := &fakeWriter{closed: make(chan struct{})}
	p.reqs = append(p.reqs, req)
	p.ws = append(p.ws, w)
	return w, nil
}

func (p *fakePublisher) last(t *testing.T) (*PublishRequest, *fakeWriter) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ws) == 0 {
		t.Fatal("Publish was not called")
	}
	return p.reqs[len(p.reqs)-1], p.ws[len(p.ws)-1]
}

const token = "s3cret"

func newServer(t *testing.T, h *Handler) (*httptest.Server, *fakePublisher) {
	t.Helper()
	return newServerOn(t, h, rtc.Config{UDPAddress: "127.0.0.1:0", IncludeLoopback: true})
}

func newServerOn(t *testing.T, h *Handler, cfg rtc.Config) (*httptest.Server, *fakePublisher) {
	t.Helper()
	n, err := rtc.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pub := &fakePublisher{}
	h.Network, h.Publisher = n, pub
	h.Verify = func(stream, tok string) error {
		if tok == "other-stream-token" {
			return fmt.Errorf("%w: token of another stream", ErrForbidden)
		}
		if tok != token {
			return errors.New("wrong token")
		}
		return nil
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		h.Close()
		n.Close()
	})
	return srv, pub
}

// h264AU returns an Annex-B access unit: SPS, PPS and an IDR slice for a
// keyframe, a non-IDR slice otherwise; size bytes of slice.
func h264AU(key bool, i, size int) []byte {
	sc := []byte{0, 0, 0, 1}
	var b []byte
	slice := bytes.Repeat([]byte{byte(i) | 0x80}, size)
	if key {
		b = append(b, sc...)
		b = append(b, 0x67, 0x42, 0xe0, 0x1f, 0xda, 0x02, 0x80, 0xf6, 0x9b)
		b = append(b, sc...)
		b = append(b, 0x68, 0xce, 0x3c, 0x80)
		b = append(b, sc...)
		b = append(b, 0x65)
	} else {
		b = append(b, sc...)
		b = append(b, 0x41)
	}
	return append(b, slice...)
}

// avcc turns an Annex-B access unit of h264AU into AVCC.
func avcc(annexB []byte) []byte {
	var out []byte
	for _, nal := range bytes.Split(annexB, []byte{0, 0, 0, 1}) {
		if len(nal) == 0 {
			continue
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(nal)))
		out = append(out, nal...)
	}
	return out
}

// vp8Frame returns a VP8 frame whose tag says key or not.
func vp8Frame(key bool, i, size int) []byte {
	b := bytes.Repeat([]byte{byte(i)}, size)
	if key {
		copy(b, []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00})
	} else {
		b[0] = 0x11
	}
	return b
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}

func TestPublishH264Opus(t *testing.T) {
	h := &Handler{}
	srv, pub := newServer(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := whiptest.Publish(ctx, whiptest.Options{URL: srv.URL + "/whip/cam1", Token: token, Video: pion.MimeTypeH264, Audio: pion.MimeTypeOpus})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Location, srv.URL+"/whip/cam1/") || p.ETag == "" {
		t.Fatalf("Location %q ETag %q", p.Location, p.ETag)
	}
	req, w := pub.last(t)
	if req.Stream != "cam1" || len(req.Tracks) != 2 || req.Tracks[0].Codec != media.CodecH264 || req.Tracks[1].Codec != media.CodecOpus {
		t.Fatalf("publish request %+v", req)
	}
	if err := p.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 45
	var video, audio []pmedia.Sample
	var want [][]byte
	for i := range n {
		au := h264AU(i%15 == 0, i, 300+i*97) // up to ~4.6 kB: FU-A
		video = append(video, pmedia.Sample{Data: au, Duration: time.Second / 30})
		want = append(want, avcc(au))
	}
	for i := range 75 {
		audio = append(audio, pmedia.Sample{Data: bytes.Repeat([]byte{0xfc, byte(i)}, 40), Duration: 20 * time.Millisecond})
	}
	errc := make(chan error, 1)
	go func() { errc <- whiptest.Send(ctx, p.Audio, audio) }()
	if err := whiptest.Send(ctx, p.Video, video); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// The last frame of each track leaves the reorder buffer when the
	// session ends.
	waitFor(t, "the frames", 10*time.Second, func() bool { return len(w.snapshot()) >= n-1+75-1 })
	waitFor(t, "a PLI at the start", 5*time.Second, func() bool { return p.PLIs.Load() > 0 })
	code, err := p.Delete(ctx)
	if err != nil || code != http.StatusOK {
		t.Fatalf("DELETE: %d %v", code, err)
	}
	select {
	case <-w.closed:
	default:
		t.Fatal("the writer is not closed after DELETE")
	}
	var gotVideo [][]byte
	var keys []bool
	audioN := 0
	var lastPTS time.Duration = -1
	for _, f := range w.snapshot() {
		switch f.Track {
		case 0:
			gotVideo = append(gotVideo, f.Data)
			keys = append(keys, f.Key)
			if f.PTS <= lastPTS {
				t.Errorf("video PTS %v after %v", f.PTS, lastPTS)
			}
			lastPTS = f.PTS
		case 1:
			audioN++
		}
	}
	if len(gotVideo) != n {
		t.Fatalf("%d video frames, want %d", len(gotVideo), n)
	}
	for i := range gotVideo {
		if !bytes.Equal(gotVideo[i], want[i]) {
			t.Fatalf("video frame %d: %d bytes, want %d", i, len(gotVideo[i]), len(want[i]))
		}
		if keys[i] != (i%15 == 0) {
			t.Errorf("video frame %d: key %v", i, keys[i])
		}
	}
	if audioN != 75 {
		t.Errorf("%d audio frames, want 75", audioN)
	}
	// Producer times from the publisher's RTCP sender reports (pion
	// sends one a second): never after the frame was written, and close
	// to it on loopback with one clock.
	w.mu.Lock()
	withWall := 0
	for i, f := range w.frames {
		if f.Wall.IsZero() {
			continue
		}
		withWall++
		if lag := w.written[i].Sub(f.Wall); lag < 0 || lag > 500*time.Millisecond {
			t.Errorf("frame %d (track %d): producer time %v before its write", i, f.Track, lag)
		}
	}
	w.mu.Unlock()
	if withWall == 0 {
		t.Error("no frame has a producer time from the sender reports")
	}
	if code, _ := p.Delete(ctx); code != http.StatusNotFound {
		t.Errorf("second DELETE: %d, want 404", code)
	}
	st := h.Stats()
	if st.Started != 1 || st.Ended["deleted"] != 1 || st.Sessions != 0 || st.PLIs == 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestPublishVP8PCMU(t *testing.T) {
	h := &Handler{}
	srv, pub := newServer(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := whiptest.Publish(ctx, whiptest.Options{URL: srv.URL + "/whip/cam2", Token: token, Video: pion.MimeTypeVP8, Audio: pion.MimeTypePCMU})
	if err != nil {
		t.Fatal(err)
	}
	req, w := pub.last(t)
	if req.Tracks[0].Codec != media.CodecVP8 || req.Tracks[1].Codec != media.CodecPCMU || req.Tracks[1].SampleRate != 8000 {
		t.Fatalf("tracks %+v %+v", req.Tracks[0], req.Tracks[1])
	}
	if err := p.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	var video []pmedia.Sample
	for i := range 30 {
		video = append(video, pmedia.Sample{Data: vp8Frame(i%10 == 0, i, 200+i*150), Duration: time.Second / 30})
	}
	if err := whiptest.Send(ctx, p.Video, video); err != nil {
		t.Fatal(err)
	}
	if err := whiptest.Send(ctx, p.Audio, []pmedia.Sample{{Data: make([]byte, 160), Duration: 20 * time.Millisecond}, {Data: make([]byte, 160), Duration: 20 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the frames", 10*time.Second, func() bool { return len(w.snapshot()) >= 29+1 })
	if code, err := p.Delete(ctx); err != nil || code != http.StatusOK {
		t.Fatalf("DELETE: %d %v", code, err)
	}
	var n, audio int
	for _, f := range w.snapshot() {
		if f.Track == 1 {
			audio++
			continue
		}
		if f.Key != (n%10 == 0) || !bytes.Equal(f.Data, video[n].Data) {
			t.Errorf("vp8 frame %d: key %v, %d bytes", n, f.Key, len(f.Data))
		}
		n++
	}
	if n != 30 || audio != 2 {
		t.Errorf("%d video and %d audio frames, want 30 and 2", n, audio)
	}
}

func TestIdleTimeout(t *testing.T) {
	h := &Handler{IdleTimeout: 300 * time.Millisecond}
	srv, pub := newServer(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := whiptest.Publish(ctx, whiptest.Options{URL: srv.URL + "/whip/cam3", Token: token, Video: pion.MimeTypeVP8})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, w := pub.last(t)
	select {
	case <-w.closed:
	case <-ctx.Done():
		t.Fatal("the idle session did not end")
	}
	waitFor(t, "the session's end", 5*time.Second, func() bool { return h.Stats().Ended["idle"] == 1 })
}

func TestRefusals(t *testing.T) {
	h := &Handler{ICEServers: []string{"stun:stun.example.net:3478"}}
	srv, pub := newServer(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, offer, err := whiptest.Offer(ctx, whiptest.Options{Video: pion.MimeTypeH264})
	if err != nil {
		t.Fatal(err)
	}
	unstorable := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 100\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:100 H263-1998/90000\r\na=sendonly\r\na=mid:0\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 9\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:9 G722/8000\r\na=sendonly\r\na=mid:1\r\n"
	for _, c := range []struct {
		name, token, ctype, body string
		status                   int
		msg                      string
	}{
		{"no token", "", "application/sdp", offer, 401, "Bearer"},
		{"wrong token", "nope", "application/sdp", offer, 401, "wrong token"},
		{"forbidden", "other-stream-token", "application/sdp", offer, 403, "token of another stream"},
		{"content type", token, "text/plain", offer, 415, "application/sdp"},
		{"garbage", token, "application/sdp", "hello", 400, "bad SDP offer"},
		{"no storable codec", token, "application/sdp", unstorable, 400, "offered video H263-1998/90000, audio G722/8000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := whiptest.Post(ctx, whiptest.Options{URL: srv.URL + "/whip/cam4", Token: c.token}, c.ctype, c.body)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || !strings.Contains(string(b), c.msg) {
				t.Fatalf("%d %s, want %d with %q", resp.StatusCode, b, c.status, c.msg)
			}
			if c.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	for _, c := range []struct {
		err    error
		status int
	}{{ErrStreamBusy, 409}, {ErrStreamNotFound, 404}, {ErrUnavailable, 503}} {
		pub.mu.Lock()
		pub.err = c.err
		pub.mu.Unlock()
		_, err := whiptest.Publish(ctx, whiptest.Options{URL: srv.URL + "/whip/cam4", Token: token, Video: pion.MimeTypeH264})
		var we *whiptest.Error
		if !errors.As(err, &we) || we.Status != c.status {
			t.Errorf("publisher error %v: got %v, want %d", c.err, err, c.status)
		}
	}
	if n := h.Stats().Sessions; n != 0 {
		t.Errorf("%d sessions after refusals", n)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodOptions, srv.URL+"/whip/cam4", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		resp.Header.Get("Link") != `<stun:stun.example.net:3478>; rel="ice-server"` {
		t.Errorf("OPTIONS: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestPatch(t *testing.T) {
	h := &Handler{}
	srv, _ := newServer(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := whiptest.Publish(ctx, whiptest.Options{URL: srv.URL + "/whip/cam5", Token: token, Video: pion.MimeTypeVP8})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, c := range []struct {
		frag   string
		status int
	}{
		{"a=ice-ufrag:other\r\n", 400}, // a restart needs both credentials
		{"a=end-of-candidates\r\n", 204},
		{"garbage", 400},
	} {
		resp, err := p.Patch(ctx, c.frag)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("PATCH %q: %d, want %d", c.frag, resp.StatusCode, c.status)
		}
	}
	resp, err := whiptest.Post(ctx, whiptest.Options{URL: srv.URL + "/whip/cam5/nosuchsession", Token: token}, "application/trickle-ice-sdpfrag", "")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST on a session: %d", resp.StatusCode)
	}
}

// A publisher restarts ICE mid-session (RFC 9725 section 4.4): 200 with
// the server's new credentials, a new ETag, the old one stale (412), and
// the frames after the restart go on into the same recording.
func TestICERestart(t *testing.T) {
	h := &Handler{}
	srv, pub := newServer(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := whiptest.Publish(ctx, whiptest.Options{URL: srv.URL + "/whip/camre", Token: token, Video: pion.MimeTypeVP8})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	var video []pmedia.Sample
	for i := range 60 {
		video = append(video, pmedia.Sample{Data: vp8Frame(i%15 == 0, i, 300), Duration: time.Second / 30})
	}
	if err := whiptest.Send(ctx, p.Video, video[:30]); err != nil {
		t.Fatal(err)
	}
	_, w := pub.last(t)
	waitFor(t, "the frames before the restart", 5*time.Second, func() bool { return len(w.snapshot()) >= 29 })
	oldETag, oldUfrag := p.ETag, iceUfrag(p.Answer)
	var statesMu sync.Mutex
	var states []pion.ICEConnectionState
	p.PC.OnICEConnectionStateChange(func(st pion.ICEConnectionState) {
		statesMu.Lock()
		states = append(states, st)
		statesMu.Unlock()
	})
	if err := p.RestartICE(ctx); err != nil {
		t.Fatal(err)
	}
	if p.ETag == "" || p.ETag == oldETag {
		t.Errorf("ETag %q after the restart, was %q", p.ETag, oldETag)
	}
	if u := iceUfrag(p.Answer); u == "" || u == oldUfrag {
		t.Errorf("server ufrag %q after the restart, was %q", u, oldUfrag)
	}
	// The publisher's agent checks again with the new credentials and
	// connects.
	waitFor(t, "ICE checking, then connected again", 10*time.Second, func() bool {
		statesMu.Lock()
		defer statesMu.Unlock()
		checking := false
		for _, st := range states {
			checking = checking || st == pion.ICEConnectionStateChecking
			if checking && st == pion.ICEConnectionStateConnected {
				return true
			}
		}
		return false
	})
	resp, err := p.PatchIf(ctx, "a=end-of-candidates\r\n", oldETag)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("PATCH with the old ETag: %d, want 412", resp.StatusCode)
	}
	resp, err = p.PatchIf(ctx, "a=end-of-candidates\r\n", p.ETag)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("PATCH with the new ETag: %d, want 204", resp.StatusCode)
	}
	if err := whiptest.Send(ctx, p.Video, video[30:]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the frames after the restart", 10*time.Second, func() bool { return len(w.snapshot()) >= 59 })
	got := w.snapshot()
	if len(got) != 59 {
		t.Fatalf("%d frames, want 59", len(got))
	}
	for i, f := range got {
		if !bytes.Equal(f.Data, video[i].Data) {
			t.Fatalf("frame %d: %d bytes, want %d", i, len(f.Data), len(video[i].Data))
		}
	}
	if st := h.Stats(); st.Started != 1 || st.Sessions != 1 {
		t.Errorf("stats %+v: the restart must keep the one session", st)
	}
}

func iceUfrag(sdp string) string {
	for _, l := range strings.Split(sdp, "\n") {
		if u, ok := strings.CutPrefix(strings.TrimSpace(l), "a=ice-ufrag:"); ok {
			return u
		}
	}
	return ""
}

// A publisher that sends no keyframe past the target gets PLIs every
// PLIInterval, not just the one at the start.
func TestPLIPastTarget(t *testing.T) {
	h := &Handler{KeyframeTarget: 200 * time.Millisecond, PLIInterval: 100 * time.Millisecond}
	srv, _ := newServer(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := whiptest.Publish(ctx, whiptest.Options{URL: srv.URL + "/whip/cam6", Token: token, Video: pion.MimeTypeVP8})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	var video []pmedia.Sample
	for i := range 30 { // one keyframe, then 1 s of delta frames
		video = append(video, pmedia.Sample{Data: vp8Frame(i == 0, i, 100), Duration: time.Second / 30})
	}
	if err := whiptest.Send(ctx, p.Video, video); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "repeated PLIs", 5*time.Second, func() bool { return p.PLIs.Load() >= 4 })
}

// 50 publish/unpublish cycles leave no goroutine behind (the server's or
// the test peers') and the heap back near where it was.
func TestCyclesLeaveNoGoroutines(t *testing.T) {
	const cycles = 50
	h := &Handler{}
	srv, pub := newServer(t, h)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cycle := func() {
		p, err := whiptest.Publish(ctx, whiptest.Options{URL: srv.URL + "/whip/cyc", Token: token, Video: pion.MimeTypeVP8, Audio: pion.MimeTypeOpus, Client: client})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.WaitConnected(ctx); err != nil {
			t.Fatal(err)
		}
		if err := whiptest.Send(ctx, p.Video, []pmedia.Sample{{Data: vp8Frame(true, 0, 500), Duration: 30 * time.Millisecond}, {Data: vp8Frame(false, 1, 100), Duration: 30 * time.Millisecond}}); err != nil {
			t.Fatal(err)
		}
		if code, err := p.Delete(ctx); err != nil || code != 200 {
			t.Fatalf("DELETE: %d %v", code, err)
		}
		// The fake keeps every request, whose Kick holds the session:
		// forget them, as the real publisher does at Close.
		pub.mu.Lock()
		pub.reqs, pub.ws = nil, nil
		pub.mu.Unlock()
	}
	cycle() // warm up pion's and net/http's lazily started goroutines
	base := runtime.NumGoroutine()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapAlloc
	for range cycles {
		cycle()
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after %d cycles, %d before:\n%s", runtime.NumGoroutine(), cycles, base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
	// The heap comes back too: a session's buffers (pion's, the sample
	// builder's) are not kept: 1 MiB of slack, a leaked session holds ~90 KiB.
	for {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc < baseHeap+1<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("heap %d KiB after %d cycles, %d KiB before", ms.HeapAlloc>>10, cycles, baseHeap>>10)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
	if st := h.Stats(); st.Ended["deleted"] != cycles+1 || st.Sessions != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A publisher that can only use TCP candidates publishes through the
// ICE-TCP port, and its frames arrive whole.
func TestPublishOverICETCP(t *testing.T) {
	h := &Handler{}
	srv, pub := newServerOn(t, h, rtc.Config{UDPAddress: "127.0.0.1:0", TCPAddress: "127.0.0.1:0", IncludeLoopback: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := whiptest.Publish(ctx, whiptest.Options{URL: srv.URL + "/whip/camtcp", Token: token, Video: pion.MimeTypeVP8,
		NetworkTypes: []pion.NetworkType{pion.NetworkTypeTCP4}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !strings.Contains(p.Answer, " tcp ") || !strings.Contains(p.Answer, "tcptype passive") {
		t.Fatalf("the answer has no passive TCP candidate:\n%s", p.Answer)
	}
	if err := p.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	pair, err := p.PC.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Protocol != pion.ICEProtocolTCP {
		t.Fatalf("selected pair %v (%v), want TCP", pair, err)
	}
	var video []pmedia.Sample
	for i := range 30 {
		video = append(video, pmedia.Sample{Data: vp8Frame(i%10 == 0, i, 200+i*150), Duration: time.Second / 30})
	}
	if err := whiptest.Send(ctx, p.Video, video); err != nil {
		t.Fatal(err)
	}
	_, w := pub.last(t)
	// The last frame is whole only when the next one starts.
	waitFor(t, "the frames over TCP", 10*time.Second, func() bool { return len(w.snapshot()) >= 29 })
	for i, f := range w.snapshot()[:29] {
		if f.Key != (i%10 == 0) || !bytes.Equal(f.Data, video[i].Data) {
			t.Errorf("frame %d: key %v, %d bytes", i, f.Key, len(f.Data))
		}
	}
}

// With public IPs set, the answer's host candidates carry them instead of
// the interfaces' addresses; a bad one is refused by Listen.
func TestPublicIPs(t *testing.T) {
	if _, err := rtc.Listen(rtc.Config{UDPAddress: "127.0.0.1:0", PublicIPs: []string{"appliance.local"}}); !errors.Is(err, rtc.ErrInvalidConfig) {
		t.Fatalf("a host name as public IP: %v, want ErrInvalidConfig", err)
	}
	h := &Handler{}
	srv, _ := newServerOn(t, h, rtc.Config{UDPAddress: "127.0.0.1:0", TCPAddress: "127.0.0.1:0", IncludeLoopback: true, PublicIPs: []string{"203.0.113.7"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := whiptest.Publish(ctx, whiptest.Options{URL: srv.URL + "/whip/campub", Token: token, Video: pion.MimeTypeVP8})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var cands []string
	for _, l := range strings.Split(p.Answer, "\n") {
		if strings.HasPrefix(l, "a=candidate:") {
			cands = append(cands, strings.TrimSpace(l))
		}
	}
	if len(cands) == 0 {
		t.Fatalf("no candidates in the answer:\n%s", p.Answer)
	}
	var udp, tcp bool
	for _, c := range cands {
		f := strings.Fields(c)
		if len(f) < 8 || f[4] != "203.0.113.7" || f[7] != "host" {
			t.Errorf("candidate %q does not carry the public IP as host", c)
			continue
		}
		udp = udp || strings.EqualFold(f[2], "udp")
		tcp = tcp || strings.EqualFold(f[2], "tcp")
	}
	if !udp || !tcp {
		t.Errorf("public candidates: udp %v tcp %v, want both:\n%s", udp, tcp, strings.Join(cands, "\n"))
	}
}

// A publisher that loses every 7th video packet's first transmission gets
// NACKs for them and resends them from its buffer: every frame arrives
// whole and in order.
func TestNACKRecoversLoss(t *testing.T) {
	t.Run("same SSRC", func(t *testing.T) { testNACKRecoversLoss(t, false) })
	t.Run("RTX", func(t *testing.T) { testNACKRecoversLoss(t, true) })
}

// testNACKRecoversLoss loses every 7th video packet once; with rtx the
// publisher offers video/rtx and the repairs come on the RTX stream
// (RFC 4588), unwrapped by pion's receiver.
func testNACKRecoversLoss(t *testing.T, rtx bool) {
	h := &Handler{}
	srv, pub := newServer(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n, repairs int // under the dropper's lock
	var repaired atomic.Int64
	p, err := whiptest.Publish(ctx, whiptest.Options{URL: srv.URL + "/whip/camloss", Token: token, Video: pion.MimeTypeVP8, RTX: rtx,
		Drop: func(h *rtp.Header) bool {
			if h.PayloadType == 97 { // VP8's RTX format in whiptest
				repairs++
				repaired.Store(int64(repairs))
				return false
			}
			n++
			return n%7 == 3 && n < 150
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if hasRTX := strings.Contains(p.Answer, "rtx/90000") && strings.Contains(p.Answer, "apt=96"); hasRTX != rtx {
		t.Fatalf("RTX offered %v, answered %v:\n%s", rtx, hasRTX, p.Answer)
	}
	if err := p.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	var video []pmedia.Sample
	for i := range 60 {
		video = append(video, pmedia.Sample{Data: vp8Frame(i%20 == 0, i, 200+(i%20)*300), Duration: time.Second / 30})
	}
	if err := whiptest.Send(ctx, p.Video, video); err != nil {
		t.Fatal(err)
	}
	_, w := pub.last(t)
	// The last frame is whole only when the next one starts.
	waitFor(t, "every frame but the last", 10*time.Second, func() bool { return len(w.snapshot()) >= 59 })
	if p.Dropped.Load() < 10 || p.NACKs.Load() == 0 {
		t.Fatalf("%d packets dropped, %d NACKs received: the test lost nothing or nobody asked", p.Dropped.Load(), p.NACKs.Load())
	}
	got := w.snapshot()
	if len(got) != 59 {
		t.Fatalf("%d frames, want 59", len(got))
	}
	for i, f := range got {
		if f.Key != (i%20 == 0) || !bytes.Equal(f.Data, video[i].Data) {
			t.Errorf("frame %d: key %v, %d bytes, want %d", i, f.Key, len(f.Data), len(video[i].Data))
		}
	}
	if rtx && repaired.Load() == 0 {
		t.Error("RTX negotiated, but no packet was resent on the RTX stream")
	}
	if !rtx && repaired.Load() != 0 {
		t.Errorf("%d RTX packets without RTX negotiated", repaired.Load())
	}
	if sent := h.Network.NACKsSent(); sent < uint64(p.NACKs.Load()) {
		t.Errorf("the network counted %d NACKs sent, the publisher received %d", sent, p.NACKs.Load())
	}
	t.Logf("%d packets dropped, %d NACKs, %d RTX packets", p.Dropped.Load(), p.NACKs.Load(), repaired.Load())
}

// Producer time over WebRTC (docs/producer-time.md): publishers whose
// sender reports are exact for a clock that reads ours, ours − 3 s and
// ours + 3 s. Exact: each frame's producer time is its capture, at most
// its arrival; −3 s: kept, 3 s before arrival; +3 s: corrected, never
// after arrival and close to it.
func TestProducerTimeOverWebRTC(t *testing.T) {
	for _, tc := range []struct {
		name     string
		offset   time.Duration
		min, max time.Duration // of arrival − producer time
	}{
		// The upper bounds allow a loaded machine's delays.
		{"exact", 0, 0, 300 * time.Millisecond},
		{"behind", -3 * time.Second, 3 * time.Second, 3*time.Second + 300*time.Millisecond},
		{"ahead", 3 * time.Second, 0, 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &Handler{}
			srv, pub := newServer(t, h)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			p, err := whiptest.Publish(ctx, whiptest.Options{URL: srv.URL + "/whip/campt", Token: token, Video: pion.MimeTypeVP8,
				OwnReports: true, ClockOffset: tc.offset})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if err := p.WaitConnected(ctx); err != nil {
				t.Fatal(err)
			}
			var video []pmedia.Sample
			for i := range 45 {
				video = append(video, pmedia.Sample{Data: vp8Frame(i%15 == 0, i, 300), Duration: time.Second / 30})
			}
			if err := whiptest.Send(ctx, p.Video, video); err != nil {
				t.Fatal(err)
			}
			_, w := pub.last(t)
			waitFor(t, "the frames", 10*time.Second, func() bool { return len(w.snapshot()) >= 44 })
			w.mu.Lock()
			defer w.mu.Unlock()
			// The first report leaves before the first packet, but the
			// server reads RTCP and RTP on their own goroutines: on a
			// loaded machine the first frames may be handled before it.
			// From the first mapped frame on, every frame is mapped.
			first := -1
			for i, f := range w.frames {
				if f.Wall.IsZero() {
					if first >= 0 {
						t.Errorf("frame %d has no producer time after frame %d had one", i, first)
					}
					continue
				}
				if first < 0 {
					first = i
				}
				if d := w.written[i].Sub(f.Wall); d < tc.min || d > tc.max {
					t.Errorf("frame %d: arrival − producer time %v, want %v..%v", i, d, tc.min, tc.max)
				}
			}
			if first < 0 {
				t.Fatalf("none of %d frames has a producer time", len(w.frames))
			}
			if first > 0 {
				t.Logf("the first %d frames were handled before the first sender report", first)
			}
		})
	}
}

// TestBearerLockout: wrong bearers from one address lock it out (429 +
// Retry-After, the right bearer unchecked); a missing bearer is no guess
// and does not count.
func TestBearerLockout(t *testing.T) {
	now := time.Now()
	lim := &authlimit.Limiter{MaxFailures: 2, Now: func() time.Time { return now }}
	h := &Handler{Limiter: lim}
	srv, _ := newServer(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	post := func(tok string) (*http.Response, string) {
		t.Helper()
		resp, err := whiptest.Post(ctx, whiptest.Options{URL: srv.URL + "/whip/cam4", Token: tok}, "application/sdp", "v=0\r\n")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	for range 3 {
		if resp, _ := post(""); resp.StatusCode != 401 {
			t.Fatalf("no bearer: %d", resp.StatusCode)
		}
	}
	for range 2 {
		if resp, _ := post("nope"); resp.StatusCode != 401 {
			t.Fatalf("wrong bearer: %d", resp.StatusCode)
		}
	}
	resp, body := post(token)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" || !strings.Contains(body, "try again in 1 s") {
		t.Fatalf("locked out: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	now = now.Add(time.Second)
	if resp, body := post(token); resp.StatusCode != http.StatusBadRequest { // past auth: the SDP is bad
		t.Fatalf("after the backoff: %d %s", resp.StatusCode, body)
	}
	if s := lim.Stats(); s.Failures["whip"] != 2 || s.Lockouts != 1 || s.Addresses != 0 {
		t.Fatalf("stats %+v", s)
	}
}
