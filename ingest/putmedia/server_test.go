package putmedia

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/ingest/media"
)

// fakePublisher records frames and "stores" a fragment at every video
// keyframe after the first and at Close, telling the Server, as the
// recorder's OnStored hook does in kinedge.
type fakePublisher struct {
	srv *Server
	err error

	mu     sync.Mutex
	req    *PublishRequest
	frames []*media.Frame
	closed bool
}

func (p *fakePublisher) Publish(req *PublishRequest) (media.Writer, error) {
	if p.err != nil {
		return nil, p.err
	}
	p.mu.Lock()
	p.req = req
	p.mu.Unlock()
	return &fakeWriter{p: p, stream: req.Stream}, nil
}

type fakeWriter struct {
	p      *fakePublisher
	stream string
	n      uint64
	open   bool
	last   time.Time
}

func (w *fakeWriter) WriteFrame(f *media.Frame) {
	w.p.mu.Lock()
	w.p.frames = append(w.p.frames, f)
	w.p.mu.Unlock()
	if f.Key && w.p.req.Tracks[f.Track].Kind() == media.KindVideo {
		if w.open {
			w.n++
			w.p.srv.Stored(w.stream, w.n, f.Wall)
		}
		w.open = true
	}
	w.last = f.Wall
}

func (w *fakeWriter) Discontinuity(string) {}

func (w *fakeWriter) Close() {
	if w.open {
		w.n++
		w.p.srv.Stored(w.stream, w.n, w.last.Add(time.Millisecond))
	}
	w.p.mu.Lock()
	w.p.closed = true
	w.p.mu.Unlock()
}

func (p *fakePublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.frames)
}

// clip builds a VP8 (track 1) Matroska stream; each cluster is a list of
// block timecodes relative to it, the first a keyframe. track overrides
// the track number of the blocks of cluster i when set.
type cluster struct {
	tc     uint64
	blocks []int64
	track  uint64
}

func buildMKV(t testing.TB, clusters []cluster) []byte {
	t.Helper()
	b := mkv.AppendEBMLHeader(nil)
	b = mkv.AppendSegmentStart(b)
	b = mkv.AppendInfo(b, mkv.Info{})
	b, err := mkv.AppendTracks(b, []mkv.Track{{Number: 1, Type: mkv.TrackVideo, CodecID: mkv.CodecVP8, Width: 64, Height: 48}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range clusters {
		start := len(b)
		b = mkv.AppendClusterStart(b, c.tc)
		tr := c.track
		if tr == 0 {
			tr = 1
		}
		for i, rel := range c.blocks {
			if b, err = mkv.AppendSimpleBlock(b, tr, rel, i == 0, []byte{byte(i), 1, 2, 3}); err != nil {
				t.Fatal(err)
			}
		}
		if err := mkv.FinishCluster(b[start:]); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func newTestServer(t *testing.T, pub *fakePublisher) (*Server, *httptest.Server) {
	t.Helper()
	srv := &Server{Publisher: pub}
	pub.srv = srv
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return srv, ts
}

func post(t *testing.T, url string, hdr map[string]string, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/putMedia", body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

var relHeaders = map[string]string{
	"x-amzn-stream-name":              "cam1",
	"x-amzn-fragment-timecode-type":   "RELATIVE",
	"x-amzn-producer-start-timestamp": "1700000000.5",
}

func readAcks(t *testing.T, r io.Reader) []Ack {
	t.Helper()
	var acks []Ack
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var a Ack
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("ack %q: %v", sc.Text(), err)
		}
		if a.EventType != EventIdle {
			acks = append(acks, a)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return acks
}

// perCluster renders acks grouped by cluster, in the order of each
// cluster's first ack: "0: BUFFERING RECEIVED PERSISTED; 1000: ...". The
// order within a cluster is the protocol's; across clusters a PERSISTED
// may overtake the next cluster's BUFFERING. Acks without timecode go
// under "-".
func perCluster(acks []Ack) string {
	var order []string
	groups := map[string][]string{}
	for _, a := range acks {
		k := "-"
		if a.FragmentTimecode != nil {
			k = itoa(*a.FragmentTimecode)
		}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		s := a.EventType
		if a.ErrorId != 0 {
			s += "(" + a.ErrorCode + ")"
		}
		groups[k] = append(groups[k], s)
	}
	var parts []string
	for _, k := range order {
		parts = append(parts, k+": "+strings.Join(groups[k], " "))
	}
	return strings.Join(parts, "; ")
}

// ackString renders acks as "BUFFERING 0, RECEIVED 0, ..." for comparison.
func ackString(acks []Ack) string {
	var parts []string
	for _, a := range acks {
		s := a.EventType
		if a.FragmentTimecode != nil {
			s += " " + itoa(*a.FragmentTimecode)
		}
		if a.ErrorId != 0 {
			s += " " + a.ErrorCode
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func itoa(v uint64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAcksPerCluster(t *testing.T) {
	pub := &fakePublisher{}
	_, ts := newTestServer(t, pub)
	body := buildMKV(t, []cluster{{0, []int64{0, 40, 80}, 0}, {1000, []int64{0, 40}, 0}, {2000, []int64{0}, 0}})
	resp := post(t, ts.URL, relHeaders, bytes.NewReader(body))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	got := perCluster(readAcks(t, resp.Body))
	want := "0: BUFFERING RECEIVED PERSISTED; 1000: BUFFERING RECEIVED PERSISTED; 2000: BUFFERING RECEIVED PERSISTED"
	if got != want {
		t.Fatalf("acks\n got %s\nwant %s", got, want)
	}
	if n := pub.count(); n != 6 {
		t.Fatalf("%d frames recorded, want 6", n)
	}
	f := pub.frames[3] // cluster 1000, first block
	wantWall := time.Unix(1700000000, 500_000_000).Add(time.Second)
	if !f.Wall.Equal(wantWall) || f.PTS != time.Second || !f.Key {
		t.Fatalf("frame 3: wall %v pts %v key %v; want wall %v pts 1s key", f.Wall, f.PTS, f.Key, wantWall)
	}
}

func TestPersistedCarriesFragmentNumber(t *testing.T) {
	pub := &fakePublisher{}
	_, ts := newTestServer(t, pub)
	body := buildMKV(t, []cluster{{0, []int64{0}, 0}, {1000, []int64{0}, 0}})
	acks := readAcks(t, post(t, ts.URL, relHeaders, bytes.NewReader(body)).Body)
	var nums []string
	for _, a := range acks {
		if a.EventType == EventPersisted {
			nums = append(nums, a.FragmentNumber)
		}
	}
	if strings.Join(nums, ",") != "1,2" {
		t.Fatalf("PERSISTED fragment numbers %v, want 1,2", nums)
	}
}

func TestAbsoluteTimecodes(t *testing.T) {
	pub := &fakePublisher{}
	_, ts := newTestServer(t, pub)
	const tc = 1_700_000_000_000
	body := buildMKV(t, []cluster{{tc, []int64{0, 40}, 0}})
	hdr := map[string]string{"x-amzn-stream-name": "cam1", "x-amzn-fragment-timecode-type": "ABSOLUTE"}
	readAcks(t, post(t, ts.URL, hdr, bytes.NewReader(body)).Body)
	if pub.count() != 2 {
		t.Fatalf("%d frames", pub.count())
	}
	if w := pub.frames[1].Wall; !w.Equal(time.UnixMilli(tc + 40)) {
		t.Fatalf("wall %v, want %v", w, time.UnixMilli(tc+40))
	}
	if pub.frames[0].PTS != 0 || pub.frames[1].PTS != 40*time.Millisecond {
		t.Fatalf("pts %v %v", pub.frames[0].PTS, pub.frames[1].PTS)
	}
}

func TestClusterErrorsAndSessionGoesOn(t *testing.T) {
	for _, tc := range []struct {
		name     string
		clusters []cluster
		want     string
	}{
		{"timecode back", []cluster{{0, []int64{0}, 0}, {2000, []int64{0}, 0}, {1000, []int64{0}, 0}, {3000, []int64{0}, 0}},
			"0: BUFFERING RECEIVED PERSISTED; 2000: BUFFERING RECEIVED PERSISTED; 1000: ERROR(FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS); 3000: BUFFERING RECEIVED PERSISTED"},
		{"unknown track", []cluster{{0, []int64{0}, 0}, {1000, []int64{0}, 7}, {2000, []int64{0}, 0}},
			"0: BUFFERING RECEIVED PERSISTED; 1000: BUFFERING ERROR(TRACK_NUMBER_MISMATCH); 2000: BUFFERING RECEIVED PERSISTED"},
		{"too long", []cluster{{0, []int64{0}, 0}, {1000, []int64{0, 11000}, 0}, {20000, []int64{0}, 0}},
			"0: BUFFERING RECEIVED PERSISTED; 1000: BUFFERING ERROR(MAX_FRAGMENT_DURATION_REACHED); 20000: BUFFERING RECEIVED PERSISTED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{}
			_, ts := newTestServer(t, pub)
			resp := post(t, ts.URL, relHeaders, bytes.NewReader(buildMKV(t, tc.clusters)))
			if got := perCluster(readAcks(t, resp.Body)); got != tc.want {
				t.Fatalf("acks\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestInvalidMKV(t *testing.T) {
	good := buildMKV(t, []cluster{{0, []int64{0}, 0}, {1000, []int64{0}, 0}})
	// The last cluster's SimpleBlock ID (after the 8-byte Timecode at
	// ClusterTimecodeOffset) becomes 0x00: not a valid element ID.
	broken := append([]byte(nil), good...)
	cs := bytes.LastIndex(broken, []byte{0x1F, 0x43, 0xB6, 0x75})
	broken[cs+mkv.ClusterTimecodeOffset+8] = 0
	// The same in the middle of three clusters: the session goes on.
	three := buildMKV(t, []cluster{{0, []int64{0}, 0}, {1000, []int64{0, 40}, 0}, {2000, []int64{0}, 0}})
	second := bytes.Index(three[bytes.Index(three, []byte{0x1F, 0x43, 0xB6, 0x75})+4:], []byte{0x1F, 0x43, 0xB6, 0x75}) + bytes.Index(three, []byte{0x1F, 0x43, 0xB6, 0x75}) + 4
	three[second+mkv.ClusterTimecodeOffset+8] = 0
	// The same stream cut in the middle of the second cluster.
	cut := good[:len(good)-3]
	for _, tc := range []struct {
		name, body, want string
	}{
		{"not matroska", "hello, world", "-: ERROR(INVALID_MKV_DATA)"},
		{"empty", "", "-: ERROR(INVALID_MKV_DATA)"},
		{"broken cluster", string(broken), "0: BUFFERING RECEIVED PERSISTED; 1000: BUFFERING ERROR(INVALID_MKV_DATA)"},
		{"cut short", string(cut), "0: BUFFERING RECEIVED PERSISTED; 1000: BUFFERING ERROR(STREAM_READ_ERROR)"},
		{"broken middle cluster", string(three), "0: BUFFERING RECEIVED PERSISTED; 1000: BUFFERING ERROR(INVALID_MKV_DATA); 2000: BUFFERING RECEIVED PERSISTED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{}
			srv, ts := newTestServer(t, pub)
			resp := post(t, ts.URL, relHeaders, strings.NewReader(tc.body))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := perCluster(readAcks(t, resp.Body)); got != tc.want {
				t.Fatalf("acks\n got %s\nwant %s", got, tc.want)
			}
			if e := srv.Stats().Errors(); e[InvalidMKVData]+e[StreamReadError] != 1 {
				t.Fatalf("errors %v", srv.Stats().Errors())
			}
		})
	}
}

func TestHTTPErrors(t *testing.T) {
	body := buildMKV(t, []cluster{{0, []int64{0}, 0}})
	for _, tc := range []struct {
		name   string
		hdr    map[string]string
		pubErr error
		status int
		typ    string
	}{
		{"unknown stream", relHeaders, ErrStreamNotFound, 404, "ResourceNotFoundException"},
		{"busy", relHeaders, ErrStreamBusy, 400, "ResourceInUseException"},
		{"storage", relHeaders, errors.Join(ErrUnavailable, errors.New("disk full")), 503, "ServiceUnavailableException"},
		{"no stream", map[string]string{"x-amzn-fragment-timecode-type": "RELATIVE"}, nil, 400, "InvalidArgumentException"},
		{"both names", map[string]string{"x-amzn-stream-name": "a", "x-amzn-stream-arn": "arn:aws:kinesisvideo:us-east-1:1:stream/a/1", "x-amzn-fragment-timecode-type": "RELATIVE"}, nil, 400, "InvalidArgumentException"},
		{"bad arn", map[string]string{"x-amzn-stream-arn": "arn:aws:s3:::bucket", "x-amzn-fragment-timecode-type": "RELATIVE"}, nil, 400, "InvalidArgumentException"},
		{"no timecode type", map[string]string{"x-amzn-stream-name": "a"}, nil, 400, "InvalidArgumentException"},
		{"bad timecode type", map[string]string{"x-amzn-stream-name": "a", "x-amzn-fragment-timecode-type": "LOCAL"}, nil, 400, "InvalidArgumentException"},
		{"bad start", map[string]string{"x-amzn-stream-name": "a", "x-amzn-fragment-timecode-type": "RELATIVE", "x-amzn-producer-start-timestamp": "yesterday"}, nil, 400, "InvalidArgumentException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{err: tc.pubErr}
			_, ts := newTestServer(t, pub)
			resp := post(t, ts.URL, tc.hdr, bytes.NewReader(body))
			var e struct {
				Type string `json:"__type"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != tc.status || e.Type != tc.typ {
				t.Fatalf("got %d %q, want %d %q", resp.StatusCode, e.Type, tc.status, tc.typ)
			}
		})
	}
}

func TestStreamARN(t *testing.T) {
	pub := &fakePublisher{}
	_, ts := newTestServer(t, pub)
	hdr := map[string]string{"x-amzn-stream-arn": "arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam9/1700000000000", "x-amzn-fragment-timecode-type": "RELATIVE"}
	readAcks(t, post(t, ts.URL, hdr, bytes.NewReader(buildMKV(t, []cluster{{0, []int64{0}, 0}}))).Body)
	if pub.req == nil || pub.req.Stream != "cam9" {
		t.Fatalf("published %+v", pub.req)
	}
}

func TestTooManyTracks(t *testing.T) {
	b := mkv.AppendEBMLHeader(nil)
	b = mkv.AppendSegmentStart(b)
	var tracks []mkv.Track
	for i := 1; i <= 4; i++ {
		tracks = append(tracks, mkv.Track{Number: uint64(i), Type: mkv.TrackVideo, CodecID: mkv.CodecVP8})
	}
	b, err := mkv.AppendTracks(b, tracks)
	if err != nil {
		t.Fatal(err)
	}
	pub := &fakePublisher{}
	_, ts := newTestServer(t, pub)
	if got := ackString(readAcks(t, post(t, ts.URL, relHeaders, bytes.NewReader(b)).Body)); got != "ERROR MORE_THAN_ALLOWED_TRACKS_FOUND" {
		t.Fatalf("acks %s", got)
	}
}

// TestIdleAndKick streams a body that stops after one cluster: the server
// sends IDLE acks (on an injected ticker), then a Kick ends the session.
func TestIdleAndKick(t *testing.T) {
	pub := &fakePublisher{}
	tick := make(chan time.Time)
	srv := &Server{Publisher: pub, Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})), NewTicker: func(time.Duration) (<-chan time.Time, func()) { return tick, func() {} }}
	pub.srv = srv
	ts := httptest.NewServer(srv)
	defer ts.Close()
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write(buildMKV(t, []cluster{{0, []int64{0}, 0}})) }()
	resp := post(t, ts.URL, relHeaders, pr)
	br := bufio.NewReader(resp.Body)
	next := func() Ack {
		line, err := br.ReadBytes('\n')
		if err != nil {
			t.Fatalf("reading acks: %v", err)
		}
		var a Ack
		if err := json.Unmarshal(line, &a); err != nil {
			t.Fatal(err)
		}
		return a
	}
	if a := next(); a.EventType != EventBuffering {
		t.Fatalf("first ack %+v", a)
	}
	if a := next(); a.EventType != EventReceived {
		t.Fatalf("second ack %+v", a)
	}
	tick <- time.Time{} // something was written: no IDLE yet
	tick <- time.Time{}
	if a := next(); a.EventType != EventIdle {
		t.Fatalf("ack %+v, want IDLE", a)
	}
	pub.mu.Lock()
	kick := pub.req.Kick
	pub.mu.Unlock()
	kick("test")
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(rest, []byte(`"ERROR"`)) {
		t.Fatalf("after the kick: %s", rest)
	}
	pub.mu.Lock()
	closed := pub.closed
	pub.mu.Unlock()
	if !closed {
		t.Fatal("writer not closed after the kick")
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// twoTrackMKV builds a stream with a VP8 track 1 and an Opus track 2; each
// cluster lists the tracks of its blocks (one block each, 40 ms apart).
func twoTrackMKV(t *testing.T, clusters map[uint64][]uint64, order []uint64) []byte {
	t.Helper()
	b := mkv.AppendEBMLHeader(nil)
	b = mkv.AppendSegmentStart(b)
	b = mkv.AppendInfo(b, mkv.Info{})
	b, err := mkv.AppendTracks(b, []mkv.Track{
		{Number: 1, Type: mkv.TrackVideo, CodecID: mkv.CodecVP8, Width: 64, Height: 48},
		{Number: 2, Type: mkv.TrackAudio, CodecID: mkv.CodecOpus, SampleRate: 48000, Channels: 2, CodecPrivate: mkv.OpusHead(2, 48000)},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range order {
		start := len(b)
		b = mkv.AppendClusterStart(b, tc)
		for i, tr := range clusters[tc] {
			if b, err = mkv.AppendSimpleBlock(b, tr, int64(i*40), i == 0, []byte{byte(i), 1, 2, 3}); err != nil {
				t.Fatal(err)
			}
		}
		if err := mkv.FinishCluster(b[start:]); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// TestFramesMissingForTrack: with RequireAllTracks (KVS's rule), a
// cluster without a block of one of the Tracks gets ERROR 4011
// FRAMES_MISSING_FOR_TRACK, and the session goes on; without it, the
// same stream is all PERSISTED.
func TestFramesMissingForTrack(t *testing.T) {
	clusters := map[uint64][]uint64{0: {1, 2, 1}, 1000: {1, 1}, 2000: {1, 2}}
	body := twoTrackMKV(t, clusters, []uint64{0, 1000, 2000})
	for _, require := range []bool{true, false} {
		pub := &fakePublisher{}
		srv, ts := newTestServer(t, pub)
		srv.RequireAllTracks = require
		got := perCluster(readAcks(t, post(t, ts.URL, relHeaders, bytes.NewReader(body)).Body))
		want := "0: BUFFERING RECEIVED PERSISTED; 1000: BUFFERING RECEIVED PERSISTED; 2000: BUFFERING RECEIVED PERSISTED"
		if require {
			want = "0: BUFFERING RECEIVED PERSISTED; 1000: BUFFERING ERROR(FRAMES_MISSING_FOR_TRACK); 2000: BUFFERING RECEIVED PERSISTED"
		}
		if got != want {
			t.Errorf("RequireAllTracks %v: acks\n got %s\nwant %s", require, got, want)
		}
		if n := srv.Stats().Errors()[FramesMissingForTrack]; (n == 1) != require {
			t.Errorf("RequireAllTracks %v: %d FRAMES_MISSING_FOR_TRACK counted", require, n)
		}
	}
}

// TestMaxConnectionDuration: the first cluster that starts after
// MaxConnectionDuration gets ERROR 4003 MAX_CONNECTION_DURATION_REACHED
// and ends the session; the clusters before it are persisted. The
// server's clock is injected: each cluster start reads it once more.
func TestMaxConnectionDuration(t *testing.T) {
	pub := &fakePublisher{}
	srv, ts := newTestServer(t, pub)
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	srv.Now = func() time.Time { // 20 s a reading: the request, then each cluster
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(20 * time.Second)
		return now
	}
	srv.MaxConnectionDuration = 50 * time.Second
	body := buildMKV(t, []cluster{{0, []int64{0}, 0}, {1000, []int64{0}, 0}, {2000, []int64{0}, 0}, {3000, []int64{0}, 0}})
	got := perCluster(readAcks(t, post(t, ts.URL, relHeaders, bytes.NewReader(body)).Body))
	want := "0: BUFFERING RECEIVED PERSISTED; 1000: BUFFERING RECEIVED PERSISTED; 2000: ERROR(MAX_CONNECTION_DURATION_REACHED)"
	if got != want {
		t.Fatalf("acks\n got %s\nwant %s", got, want)
	}
	if n := pub.count(); n != 2 {
		t.Fatalf("%d frames recorded, want 2", n)
	}
}
