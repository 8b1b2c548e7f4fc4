package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/ingest/rtpclock"
)

// H.264 NAL units the ingest decoder takes (mediacommon's test stream): a
// 352x288 SPS without reordering, a PPS, tiny IDR and non-IDR slices.
var (
	ptSPS    = []byte{0x67, 0x64, 0x00, 0x0c, 0xac, 0x3b, 0x50, 0xb0, 0x4b, 0x42, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x3d, 0x08}
	ptPPS    = []byte{0x68, 0xee, 0x3c, 0x80}
	ptIDR    = []byte{0x65, 0x88, 0x84, 0x00, 0x33, 0xff}
	ptNonIDR = []byte{0x41, 0x9a, 0x21, 0x6c, 0x45, 0xff}
)

const (
	ptFrames   = 125 // 5 s at 25 fps
	ptGOP      = 25  // a keyframe a second: a fragment a second
	ptInterval = 40 * time.Millisecond
)

// ptCamera publishes live-paced H.264 over RTSP with sender reports of its
// own, exactly right for a clock that reads ours plus offset: gortsplib's
// own reports (v4.16.2) write nanoseconds in the NTP fraction, so they are
// turned off and the camera writes RFC 3550 reports itself, one before
// its first frame (as ffmpeg does) and one with each keyframe.
type ptCamera struct {
	stream string
	offset time.Duration
	// keyCaptures[k] is when keyframe k was captured, on our clock.
	keyCaptures []time.Time
}

func (c *ptCamera) publish(addr string, start time.Time) error {
	medi := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{
		&format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: ptSPS, PPS: ptPPS}}}
	tcp := gortsplib.TransportTCP
	cl := &gortsplib.Client{Transport: &tcp, DisableRTCPSenderReports: true}
	if err := cl.StartRecording(fmt.Sprintf("rtsp://camera:camsecret@%s/%s", addr, c.stream),
		&description.Session{Medias: []*description.Media{medi}}); err != nil {
		return fmt.Errorf("%s: record: %w", c.stream, err)
	}
	defer cl.Close()
	const ts0 = 0xffffffff - 200000 // the RTP timestamp wraps at frame 55
	var seq uint16
	var ssrc uint32
	write := func(ts uint32, marker bool, nalu []byte) error {
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, Marker: marker},
			Payload: nalu}
		seq++
		err := cl.WritePacketRTP(medi, pkt)
		ssrc = pkt.SSRC
		return err
	}
	for i := range ptFrames {
		capture := start.Add(time.Duration(i) * ptInterval)
		time.Sleep(time.Until(capture)) // a live camera's pace
		ts := uint32(ts0 + i*3600)
		if i%ptGOP == 0 {
			if err := cl.WritePacketRTCP(medi, &rtcp.SenderReport{SSRC: ssrc,
				NTPTime: rtpclock.NTPTimestamp(capture.Add(c.offset)), RTPTime: ts}); err != nil {
				return err
			}
			c.keyCaptures = append(c.keyCaptures, capture)
			for j, n := range [][]byte{ptSPS, ptPPS, ptIDR} {
				if err := write(ts, j == 2, n); err != nil {
					return err
				}
			}
			continue
		}
		if err := write(ts, true, ptNonIDR); err != nil {
			return err
		}
	}
	return nil
}

// TestProducerTimestamps publishes three cameras over RTSP push whose
// sender reports are exactly right for a clock that is ours, 5 s ahead,
// and 3 s behind, and checks the producer timestamps of their fragments
// through by=producer queries of the plain API and KVS ListFragments
// with PRODUCER_TIMESTAMP: exact (to KVS's millisecond) for the right and
// the late clock, which is kept as sent (docs/producer-time.md); for the
// clock ahead, moved back onto ours: never before the true capture, within
// a frame after it (the first fragment: within its own arrival delay), and
// never after the server timestamp.
func TestProducerTimestamps(t *testing.T) {
	s := startServer(t, t.TempDir(), freeUDPPair(t), "KINEDGE_FRAGMENT_TARGET=1s")
	cams := []*ptCamera{
		{stream: "exact"},
		{stream: "ahead5", offset: 5 * time.Second},
		{stream: "behind3", offset: -3 * time.Second},
	}
	start := time.Now().Add(200 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, len(cams))
	for _, c := range cams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- c.publish(s.rtspAddr, start)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	for _, c := range cams {
		keys := len(c.keyCaptures)
		var frags []videoapi.FragmentJSON
		waitFor(t, 30*time.Second, c.stream+" fragments", func() error {
			frags = s.fragments(t, c.stream)
			if len(frags) < keys {
				return fmt.Errorf("%d fragments of %d", len(frags), keys)
			}
			return nil
		})
		if len(frags) != keys {
			t.Fatalf("%s: %d fragments, want %d (one a keyframe)", c.stream, len(frags), keys)
		}
		// want returns the expected producer time of keyframe k and the
		// tolerance.
		want := func(k int) (time.Time, time.Duration, time.Duration) {
			if c.offset > 0 {
				// corrected: after the capture by the least delay of the
				// frames so far, which a frame's worth of frames keeps
				// under a frame; the first keyframe has only its own (a
				// loaded machine's scheduling).
				if k == 0 {
					return c.keyCaptures[k], 0, 250 * time.Millisecond
				}
				return c.keyCaptures[k], 0, ptInterval
			}
			return c.keyCaptures[k].Add(c.offset), -time.Millisecond, time.Millisecond
		}
		for k, f := range frags {
			w, lo, hi := want(k)
			if d := f.ProducerTimestamp.Sub(w); d < lo || d > hi {
				t.Errorf("%s fragment %d: producer time %v, want %v (%v to %v)", c.stream, k, f.ProducerTimestamp, w, lo, hi)
			}
			if f.ProducerTimestamp.After(f.ServerTimestamp) {
				t.Errorf("%s fragment %d: producer time %v after server time %v", c.stream, k, f.ProducerTimestamp, f.ServerTimestamp)
			}
		}

		// by=producer: a window around keyframe 2's producer time finds
		// its fragment and no other, in both APIs.
		w, lo, hi := want(2)
		from, to := w.Add(lo-time.Millisecond), w.Add(hi+time.Millisecond)
		got := s.fragmentsBy(t, c.stream, "producer", from, to)
		if len(got) != 1 || got[0].FragmentNumber != frags[2].FragmentNumber {
			t.Errorf("%s: by=producer [%v, %v]: %+v, want fragment %s", c.stream, from, to, got, frags[2].FragmentNumber)
		}
		kvs := s.kvsListFragments(t, c.stream, "PRODUCER_TIMESTAMP", from, to)
		if len(kvs) != 1 || kvs[0].FragmentNumber != frags[2].FragmentNumber {
			t.Fatalf("%s: KVS ListFragments PRODUCER_TIMESTAMP [%v, %v]: %+v, want fragment %s", c.stream, from, to, kvs, frags[2].FragmentNumber)
		}
		if d := kvs[0].ProducerTimestamp.Sub(w); d < lo-time.Millisecond || d > hi {
			t.Errorf("%s: KVS ProducerTimestamp %v, want %v (%v to %v)", c.stream, kvs[0].ProducerTimestamp, w, lo, hi)
		}
	}

	m := s.scrape(t)
	for _, c := range cams {
		corr := m[fmt.Sprintf("kinedge_rtsp_producer_clock_corrections_total{stream=%q}", c.stream)]
		ahead := m[fmt.Sprintf("kinedge_rtsp_producer_clock_ahead_seconds{stream=%q}", c.stream)]
		latency := m[fmt.Sprintf("kinedge_rtsp_producer_latency_seconds{stream=%q}", c.stream)]
		t.Logf("%s: %v corrections, ahead %.4f s, latency %.4f s", c.stream, corr, ahead, latency)
		switch {
		case c.offset > 0:
			if corr < 1 || ahead > c.offset.Seconds() || ahead < c.offset.Seconds()-ptInterval.Seconds() {
				t.Errorf("%s: %v corrections, ahead %v s", c.stream, corr, ahead)
			}
		case corr != 0 || ahead != 0:
			t.Errorf("%s: %v corrections, ahead %v s", c.stream, corr, ahead)
		case c.offset < 0 && (latency < -c.offset.Seconds() || latency > -c.offset.Seconds()+1):
			t.Errorf("%s: latency %v s", c.stream, latency)
		}
	}
	if n := strings.Count(s.logs(), "producer clock ahead of arrival"); n != 1 {
		t.Errorf("%d log lines about a producer clock ahead, want 1 (once per session)", n)
	}
}

// fragmentsBy lists a stream's fragments with the plain API, by server or
// producer time.
func (s *server) fragmentsBy(t *testing.T, stream, by string, start, end time.Time) []videoapi.FragmentJSON {
	t.Helper()
	resp, err := s.get("/v1/streams/"+stream+"/fragments", url.Values{"by": {by},
		"start": {start.UTC().Format(time.RFC3339Nano)}, "end": {end.UTC().Format(time.RFC3339Nano)}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("fragments: %s %s", resp.Status, b)
	}
	var page struct{ Fragments []videoapi.FragmentJSON }
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	return page.Fragments
}

// kvsFragment is what the test reads of a KVS ListFragments Fragment.
type kvsFragment struct {
	FragmentNumber                     string
	ProducerTimestamp, ServerTimestamp time.Time
}

// kvsListFragments calls KVS ListFragments (POST /listFragments, SigV4 as
// the AWS SDK signs it) with a timestamp range selector, signed by kvsCall.
func (s *server) kvsListFragments(t *testing.T, stream, selector string, start, end time.Time) []kvsFragment {
	t.Helper()
	secs := func(tm time.Time) string { return fmt.Sprintf("%.3f", float64(tm.UnixMilli())/1000) }
	body := fmt.Sprintf(`{"StreamName":%q,"FragmentSelector":{"FragmentSelectorType":%q,"TimestampRange":{"StartTimestamp":%s,"EndTimestamp":%s}}}`,
		stream, selector, secs(start), secs(end))
	status, b := s.kvsCall(t, "/listFragments", body)
	if status != http.StatusOK {
		t.Fatalf("ListFragments: %d %s", status, b)
	}
	var out struct {
		Fragments []struct {
			FragmentNumber                     string
			ProducerTimestamp, ServerTimestamp float64
		}
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("ListFragments: %v: %s", err, b)
	}
	var fs []kvsFragment
	for _, f := range out.Fragments {
		fs = append(fs, kvsFragment{f.FragmentNumber,
			time.UnixMilli(int64(f.ProducerTimestamp*1000 + 0.5)), time.UnixMilli(int64(f.ServerTimestamp*1000 + 0.5))})
	}
	return fs
}
