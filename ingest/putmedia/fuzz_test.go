package putmedia

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/mkv"
)

// h264Seed is a stream with an H.264 track without CodecPrivate whose
// blocks are length-prefixed NAL units, so the fuzzer reaches the NAL unit
// splitting and DTS code.
func h264Seed(t testing.TB) []byte {
	b := mkv.AppendEBMLHeader(nil)
	b = mkv.AppendSegmentStart(b)
	b = mkv.AppendInfo(b, mkv.Info{})
	b, err := mkv.AppendTracks(b, []mkv.Track{
		{Number: 1, Type: mkv.TrackVideo, CodecID: mkv.CodecH264},
		{Number: 2, Type: mkv.TrackAudio, CodecID: mkv.CodecOpus, SampleRate: 48000, Channels: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	start := len(b)
	b = mkv.AppendClusterStart(b, 0)
	for i, au := range [][]byte{{0, 0, 0, 2, 0x65, 0x88}, {0, 0, 0, 2, 0x41, 0x9a}, {0, 0, 0, 9, 0x41}} {
		if b, err = mkv.AppendSimpleBlock(b, 1, int64(i*40), i == 0, au); err != nil {
			t.Fatal(err)
		}
		if b, err = mkv.AppendSimpleBlock(b, 2, int64(i*20), true, []byte{0xfc}); err != nil {
			t.Fatal(err)
		}
	}
	if err := mkv.FinishCluster(b[start:]); err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzPutMedia feeds arbitrary bodies (and timecode types) to the whole
// request path: it must answer, never panic nor hang, and every line of
// a 200 answer must be an ack.
func FuzzPutMedia(f *testing.F) {
	f.Add(buildMKV(f, []cluster{{0, []int64{0, 40}, 0}, {1000, []int64{0}, 0}}), true)
	f.Add(buildMKV(f, []cluster{{5000, []int64{0}, 0}, {1000, []int64{0}, 9}}), false)
	f.Add(h264Seed(f), true)
	f.Add([]byte("not matroska"), true)
	f.Add([]byte{}, false)
	never := make(chan time.Time)
	f.Fuzz(func(t *testing.T, body []byte, relative bool) {
		pub := &fakePublisher{}
		srv := &Server{Publisher: pub, NewTicker: func(time.Duration) (<-chan time.Time, func()) { return never, func() {} }}
		pub.srv = srv
		req := httptest.NewRequest(http.MethodPost, "/putMedia", bytes.NewReader(body))
		req.Header.Set("x-amzn-stream-name", "cam1")
		if relative {
			req.Header.Set("x-amzn-fragment-timecode-type", TimecodeRelative)
		} else {
			req.Header.Set("x-amzn-fragment-timecode-type", TimecodeAbsolute)
		}
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.ServeHTTP(rec, req)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("ServeHTTP did not return")
		}
		if rec.Code != http.StatusOK {
			return // an HTTP error (an unsupported codec)
		}
		sc := bufio.NewScanner(rec.Body)
		for sc.Scan() {
			var a Ack
			if err := json.Unmarshal(sc.Bytes(), &a); err != nil || a.EventType == "" {
				t.Fatalf("not an ack: %q", sc.Text())
			}
		}
		if srv.Stats().Sessions.Load() != 0 {
			t.Fatal("session still counted")
		}
	})
}
