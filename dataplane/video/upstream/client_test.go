package upstream

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/putmedia"
)

const testKey, testSecret = "AKIDUPSTREAM", "Qx7Vw2Lp9Zk4Mt8R"

// recorder is the putmedia server's Publisher: it keeps the frames and
// "stores" a fragment at each video keyframe after the first and at
// Close, telling the server, as the appliance's recorder does.
type recorder struct {
	srv *putmedia.Server

	mu     sync.Mutex
	frames []*media.Frame
	n      uint64
}

func (r *recorder) Publish(req *putmedia.PublishRequest) (media.Writer, error) {
	return &recWriter{r: r, stream: req.Stream}, nil
}

type recWriter struct {
	r      *recorder
	stream string
	open   bool
	last   time.Time
}

func (w *recWriter) WriteFrame(f *media.Frame) {
	w.r.mu.Lock()
	w.r.frames = append(w.r.frames, f)
	stored := f.Key && w.open
	if stored {
		w.r.n++
	}
	n := w.r.n
	w.r.mu.Unlock()
	if stored {
		w.r.srv.Stored(w.stream, n, f.Wall)
	}
	w.open = true
	if f.Wall.After(w.last) {
		w.last = f.Wall // the latest frame (B-frames come out of order)
	}
}

func (w *recWriter) Discontinuity(string) {}

func (w *recWriter) Close() {
	if w.open {
		w.r.mu.Lock()
		w.r.n++
		n := w.r.n
		w.r.mu.Unlock()
		w.r.srv.Stored(w.stream, n, w.last.Add(time.Millisecond))
	}
}

func (r *recorder) walls() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Time
	for _, f := range r.frames {
		out = append(out, f.Wall)
	}
	return out
}

// newUpstream serves putmedia behind SigV4 (service kinesisvideo) on
// loopback, as an appliance does.
func newUpstream(t *testing.T) (*recorder, *httptest.Server) {
	t.Helper()
	rec := &recorder{}
	rec.srv = &putmedia.Server{Publisher: rec}
	v := &awsproto.Verifier{Secret: func(k string) (string, bool) { return testSecret, k == testKey }, Service: "kinesisvideo"}
	mux := http.NewServeMux()
	mux.Handle("POST /putMedia", awsproto.StreamingMiddleware(v, rec.srv))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return rec, ts
}

func testClient(endpoint string) *Client {
	return &Client{Endpoint: endpoint, Region: "us-east-1", Credentials: aws.Credentials{AccessKeyID: testKey, SecretAccessKey: testSecret}, AckTimeout: 10 * time.Second}
}

var vp8Tracks = func() []byte {
	b, err := mkv.AppendTracks(nil, []mkv.Track{{Number: 1, Type: mkv.TrackVideo, CodecID: mkv.CodecVP8, Width: 64, Height: 48}})
	if err != nil {
		panic(err)
	}
	return b
}()

// testClusters makes n one-second fragments as stored (timecode 0), each
// of frames blocks 100 ms apart, the first a keyframe; track numbers the
// blocks (1 is the only track).
func testClusters(t testing.TB, n, frames int, start time.Time, track func(i int) uint64) []Cluster {
	t.Helper()
	var out []Cluster
	for i := range n {
		b := mkv.AppendClusterStart(nil, 0)
		var err error
		for j := range frames {
			tr := uint64(1)
			if track != nil {
				tr = track(i)
			}
			if b, err = mkv.AppendSimpleBlock(b, tr, int64(j*100), j == 0, []byte{byte(i), byte(j), 2, 3}); err != nil {
				t.Fatal(err)
			}
		}
		if err := mkv.FinishCluster(b); err != nil {
			t.Fatal(err)
		}
		out = append(out, Cluster{Number: uint64(100 + i), ProducerTime: start.Add(time.Duration(i) * time.Second), Cluster: b})
	}
	return out
}

// TestClientPersistsInOrder sends five fragments in one session: each is
// PERSISTED, in order, and the upstream recorded every frame at the
// producer time sent (ABSOLUTE timecodes).
func TestClientPersistsInOrder(t *testing.T) {
	rec, ts := newUpstream(t)
	start := time.UnixMilli(1_700_000_000_000)
	cls := testClusters(t, 5, 4, start, nil)
	var got []int
	if err := testClient(ts.URL).Put(t.Context(), "cam1", vp8Tracks, cls, func(i int) error { got = append(got, i); return nil }); err != nil {
		t.Fatal(err)
	}
	for k, i := range got {
		if k > 0 && i <= got[k-1] {
			t.Fatalf("persisted out of order: %v", got)
		}
	}
	if len(got) == 0 || got[len(got)-1] != 4 {
		t.Fatalf("persisted %v, want the last to be 4", got)
	}
	walls := rec.walls()
	if len(walls) != 20 {
		t.Fatalf("upstream recorded %d frames, sent 20", len(walls))
	}
	for i, w := range walls {
		if want := start.Add(time.Duration(i/4)*time.Second + time.Duration(i%4)*100*time.Millisecond); !w.Equal(want) {
			t.Errorf("frame %d at %v, want %v", i, w, want)
		}
	}
}

// TestClientRefusals: a wrong secret is KVS's 403 before any ack, and a
// cluster the upstream refuses ends the session with its ERROR ack,
// after the PERSISTED of the clusters before it.
func TestClientRefusals(t *testing.T) {
	_, ts := newUpstream(t)
	start := time.UnixMilli(1_700_000_000_000)
	c := testClient(ts.URL)
	c.Credentials.SecretAccessKey = "wrong"
	err := c.Put(t.Context(), "cam1", vp8Tracks, testClusters(t, 2, 2, start, nil), func(int) error { return nil })
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusForbidden {
		t.Fatalf("wrong secret: %v, want HTTP 403", err)
	}

	// The third cluster's blocks name a track the Tracks do not list.
	cls := testClusters(t, 5, 3, start, func(i int) uint64 { return map[bool]uint64{true: 7, false: 1}[i == 2] })
	last := -1
	err = testClient(ts.URL).Put(t.Context(), "cam1", vp8Tracks, cls, func(i int) error { last = i; return nil })
	var ae *AckError
	if !errors.As(err, &ae) || ae.Number != cls[2].Number || ae.Code != "TRACK_NUMBER_MISMATCH" {
		t.Fatalf("bad cluster: %v, want an ERROR ack TRACK_NUMBER_MISMATCH for fragment %d", err, cls[2].Number)
	}
	if last > 1 {
		t.Fatalf("cluster %d persisted, only 0 and 1 may be before the error", last)
	}
}

// TestClientAckTimeout: an upstream that answers 200 and then says
// nothing is given up after AckTimeout.
func TestClientAckTimeout(t *testing.T) {
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer ts.Close()
	defer close(release)
	c := testClient(ts.URL)
	c.AckTimeout = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := c.Put(ctx, "cam1", vp8Tracks, testClusters(t, 1, 2, time.UnixMilli(1_700_000_000_000), nil), func(int) error { return nil })
	if !errors.Is(err, ErrAckTimeout) {
		t.Fatalf("silent upstream: %v, want ErrAckTimeout", err)
	}
}

func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// TestClientPlacesClustersOnOneTimeline: the second fragment's producer
// time is 250 ms after the first's, but the first holds 300 ms of media.
// Sent at its producer time, the second's first frame would come before
// the first's last (a kinedge upstream drops it as backwards): it is
// placed 1 ms after it instead, and the third, whose producer time leaves
// room, stays at its producer time.
func TestClientPlacesClustersOnOneTimeline(t *testing.T) {
	rec, ts := newUpstream(t)
	start := time.UnixMilli(1_700_000_000_000)
	cls := testClusters(t, 3, 4, start, nil)
	cls[1].ProducerTime = start.Add(250 * time.Millisecond)
	cls[2].ProducerTime = start.Add(2 * time.Second)
	if err := testClient(ts.URL).Put(t.Context(), "cam1", vp8Tracks, cls, func(int) error { return nil }); err != nil {
		t.Fatal(err)
	}
	walls := rec.walls()
	if len(walls) != 12 {
		t.Fatalf("upstream recorded %d frames, sent 12", len(walls))
	}
	for i := 1; i < len(walls); i++ {
		if !walls[i].After(walls[i-1]) {
			t.Errorf("frame %d at %v, not after frame %d at %v", i, walls[i], i-1, walls[i-1])
		}
	}
	for i, want := range []time.Time{start, start.Add(301 * time.Millisecond), start.Add(2 * time.Second)} {
		if got := walls[4*i]; !got.Equal(want) {
			t.Errorf("fragment %d's first frame at %v, want %v", i, got.Sub(start), want.Sub(start))
		}
		if got := cls[i].Timecode(); got != uint64(want.UnixMilli()) {
			t.Errorf("fragment %d placed at %d, want %d", i, got, want.UnixMilli())
		}
	}
}
