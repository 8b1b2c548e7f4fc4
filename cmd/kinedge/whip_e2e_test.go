package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	videoapi "github.com/kinedge/kinedge/dataplane/video/api"
	"github.com/kinedge/kinedge/ingest/webrtc/whiptest"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// whipSamples encodes seconds of a test pattern with ffmpeg (H.264
// baseline, a keyframe a second, 30 fps) and a tone (Opus, 20 ms) and
// returns them as WebRTC samples: one access unit, one Opus packet each.
func whipSamples(t *testing.T, seconds string) (video, audio []pmedia.Sample) {
	t.Helper()
	ffmpeg := testtool.Need(t, "ffmpeg")
	dir := t.TempDir()
	h264, ogg := filepath.Join(dir, "v.h264"), filepath.Join(dir, "a.ogg")
	if b, err := testtool.Command(t, time.Minute, ffmpeg, "-hide_banner", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30",
		"-t", seconds, "-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "30", "-bf", "0", "-f", "h264", h264).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg h264: %v\n%s", err, b)
	}
	if b, err := testtool.Command(t, time.Minute, ffmpeg, "-hide_banner", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", seconds, "-c:a", "libopus", "-frame_duration", "20", "-page_duration", "20000", "-f", "ogg", ogg).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg opus: %v\n%s", err, b)
	}
	f, err := os.Open(h264)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := h264reader.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var au []byte
	for {
		nal, err := r.NextNAL()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		au = append(au, 0, 0, 0, 1)
		au = append(au, nal.Data...)
		if nal.UnitType == h264reader.NalUnitTypeCodedSliceIdr || nal.UnitType == h264reader.NalUnitTypeCodedSliceNonIdr {
			video = append(video, pmedia.Sample{Data: au, Duration: time.Second / 30})
			au = nil
		}
	}
	of, err := os.Open(ogg)
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	or, _, err := oggreader.NewWith(of)
	if err != nil {
		t.Fatal(err)
	}
	for {
		page, _, err := or.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(page, []byte("OpusTags")) || len(page) == 0 {
			continue
		}
		audio = append(audio, pmedia.Sample{Data: page, Duration: 20 * time.Millisecond})
	}
	return video, audio
}

// TestWHIPPublish publishes 4 s of H.264 + Opus from a pion peer over
// WHIP with the publish pass as the bearer: the stream gets fragments,
// the replay holds every video frame sent and ffprobe reads h264 and opus.
// A publish token of the stream is a bearer too; a media token is not.
func TestWHIPPublish(t *testing.T) {
	testtool.Need(t, "ffprobe")
	video, audio := whipSamples(t, "4")
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	base := "http://" + s.httpAddr
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	if _, err := whiptest.Publish(ctx, whiptest.Options{URL: base + "/whip/camw", Video: webrtc.MimeTypeH264}); !isStatus(err, 401) {
		t.Fatalf("without a bearer: %v, want 401", err)
	}
	if _, err := whiptest.Publish(ctx, whiptest.Options{URL: base + "/whip/camw", Token: "adminsecret", Video: webrtc.MimeTypeH264}); !isStatus(err, 401) {
		t.Fatalf("with a wrong bearer: %v, want 401", err)
	}

	p, err := whiptest.Publish(ctx, whiptest.Options{URL: base + "/whip/camw", Token: "camsecret", Video: webrtc.MimeTypeH264, Audio: webrtc.MimeTypeOpus})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := whiptest.Publish(ctx, whiptest.Options{URL: base + "/whip/camw", Token: "camsecret", Video: webrtc.MimeTypeH264}); !isStatus(err, 409) {
		t.Fatalf("a second publisher: %v, want 409 (video.takeover is off)", err)
	}
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		// The audio starts 100 ms after the video, as a camera's
		// keyframe leads: audio before the first keyframe is not stored.
		t := time.NewTimer(100 * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		errc <- whiptest.Send(ctx, p.Audio, audio)
	}()
	if err := whiptest.Send(ctx, p.Video, video); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if code, err := p.Delete(ctx); err != nil || code != http.StatusOK {
		t.Fatalf("DELETE: %d %v", code, err)
	}
	var frames int
	waitFor(t, time.Minute, "the session's fragments", func() error {
		frames = 0
		for _, f := range s.fragments(t, "camw") {
			frames += f.Frames
		}
		if frames < len(video)+len(audio)-5 {
			return errors.New("not all frames stored yet")
		}
		return nil
	})
	mkvPath := fetchMKV(t, s, "camw", start.Add(-time.Minute), time.Now().Add(time.Minute))
	pr := ffprobe(t, mkvPath)
	n := pr.packets(t)
	if strings.Join(pr.codecs(), ",") != "h264,opus" || n["video"] != len(video) || n["audio"] > len(audio) || n["audio"] < len(audio)-5 {
		t.Fatalf("replay: %v, packets %v; sent %d video, %d audio frames", pr.codecs(), n, len(video), len(audio))
	}
	decodeClean(t, mkvPath)
	if v := s.metric(t, "kinedge_stream_fragments_stored_total", "camw"); v < 2 {
		t.Errorf("%d fragments stored", v)
	}

	// A publish token of the stream admits; a media token does not.
	tok := adminToken(t, s, http.MethodPost, "/v1/streams/camw/publish-token")
	p2, err := whiptest.Publish(ctx, whiptest.Options{URL: base + "/whip/camw", Token: tok, Video: webrtc.MimeTypeVP8})
	if err != nil {
		t.Fatalf("publish token: %v", err)
	}
	if code, err := p2.Delete(ctx); err != nil || code != http.StatusOK {
		t.Fatalf("DELETE with the publish token: %d %v", code, err)
	}
	if _, err := whiptest.Publish(ctx, whiptest.Options{URL: base + "/whip/other", Token: tok, Video: webrtc.MimeTypeVP8}); !isStatus(err, 401) {
		t.Fatalf("a publish token of another stream: %v, want 401", err)
	}
	media := adminToken(t, s, http.MethodGet, "/v1/streams/camw/token")
	if _, err := whiptest.Publish(ctx, whiptest.Options{URL: base + "/whip/camw", Token: media, Video: webrtc.MimeTypeVP8}); !isStatus(err, 401) {
		t.Fatalf("a media token: %v, want 401", err)
	}
	resp, err := s.get("/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`kinedge_whip_sessions 0`, `kinedge_whip_sessions_total{result="deleted"} 2`,
		`kinedge_whip_sessions_total{result="refused_401"} 4`, `kinedge_whip_sessions_total{result="refused_409"} 1`} {
		if !strings.Contains(string(m), want+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(string(m), "kinedge_whip"))
		}
	}
	if !strings.Contains(string(m), "kinedge_whip_pli_sent_total ") || strings.Contains(string(m), "kinedge_whip_pli_sent_total 0\n") {
		t.Errorf("no PLI sent:\n%s", grepLines(string(m), "kinedge_whip"))
	}
}

func isStatus(err error, code int) bool {
	var we *whiptest.Error
	return errors.As(err, &we) && we.Status == code
}

// adminToken asks the API for a token with the admin's Basic credentials.
func adminToken(t *testing.T, s *server, method, path string) string {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+s.httpAddr+path, nil)
	req.SetBasicAuth("admin", "adminsecret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tj struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&tj); err != nil || resp.StatusCode != 200 || tj.Token == "" {
		t.Fatalf("%s %s: %s %v", method, path, resp.Status, err)
	}
	return tj.Token
}

// TestWHIPOverICETCP: with webrtc_tcp set, a pion publisher that may only
// use TCP candidates publishes over ICE-TCP and its frames are stored;
// with webrtc_public_ips set, the answer's candidates carry that address.
func TestWHIPOverICETCP(t *testing.T) {
	video, _ := whipSamples(t, "3")
	s := startServer(t, t.TempDir(), freeUDPPair(t), fmt.Sprintf("KINEDGE_WEBRTC_TCP=127.0.0.1:%d", freePort(t)))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := whiptest.Publish(ctx, whiptest.Options{URL: "http://" + s.httpAddr + "/whip/camtcp", Token: "camsecret", Video: webrtc.MimeTypeH264,
		NetworkTypes: []webrtc.NetworkType{webrtc.NetworkTypeTCP4}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.WaitConnected(ctx); err != nil {
		t.Fatal(err)
	}
	if pair, err := p.PC.SCTP().Transport().ICETransport().GetSelectedCandidatePair(); err != nil || pair == nil || pair.Local.Protocol != webrtc.ICEProtocolTCP {
		t.Fatalf("selected pair %v (%v), want TCP", pair, err)
	}
	if err := whiptest.Send(ctx, p.Video, video); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Delete(ctx); err != nil || code != http.StatusOK {
		t.Fatalf("DELETE: %d %v", code, err)
	}
	waitFor(t, time.Minute, "the session's fragments", func() error {
		frames := 0
		for _, f := range s.fragments(t, "camtcp") {
			frames += f.Frames
		}
		// Every frame, but the last may be lost: the DELETE can end the
		// session before its last packets are read.
		if frames != len(video) && frames != len(video)-1 {
			return fmt.Errorf("%d of %d frames stored", frames, len(video))
		}
		return nil
	})

	pub := startServer(t, t.TempDir(), freeUDPPair(t), "KINEDGE_WEBRTC_PUBLIC_IPS=203.0.113.7")
	p2, err := whiptest.Publish(ctx, whiptest.Options{URL: "http://" + pub.httpAddr + "/whip/campub", Token: "camsecret", Video: webrtc.MimeTypeVP8})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if !strings.Contains(p2.Answer, " 203.0.113.7 ") || strings.Contains(p2.Answer, " 127.0.0.1 ") {
		t.Fatalf("the answer's candidates do not carry the public IP only:\n%s", p2.Answer)
	}
}

// TestWHIPProducerTimestamps is TestProducerTimestamps over WHIP: pion
// publishers whose sender reports are exact for a clock that reads ours,
// ours + 3 s and ours − 3 s publish 4 s of H.264 (a keyframe a second);
// by=producer finds each fragment at its keyframe's capture time (exact,
// −3 s: within 1 ms; +3 s: corrected, at or after the capture by at most
// a loaded machine's delay, never after the server time).
func TestWHIPProducerTimestamps(t *testing.T) {
	video, _ := whipSamples(t, "4")
	s := startServer(t, t.TempDir(), freeUDPPair(t), "KINEDGE_FRAGMENT_TARGET=1s")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cams := []struct {
		stream string
		offset time.Duration
		first  time.Time
	}{{stream: "wexact"}, {stream: "wahead3", offset: 3 * time.Second}, {stream: "wbehind3", offset: -3 * time.Second}}
	errs := make(chan error, len(cams))
	for i := range cams {
		c := &cams[i]
		go func() {
			p, err := whiptest.Publish(ctx, whiptest.Options{URL: "http://" + s.httpAddr + "/whip/" + c.stream, Token: "camsecret",
				Video: webrtc.MimeTypeH264, OwnReports: true, ClockOffset: c.offset})
			if err != nil {
				errs <- err
				return
			}
			defer p.Close()
			if err := p.WaitConnected(ctx); err != nil {
				errs <- err
				return
			}
			if err := whiptest.Send(ctx, p.Video, video); err != nil {
				errs <- err
				return
			}
			c.first = p.FirstSent()
			if code, err := p.Delete(ctx); err != nil || code != http.StatusOK {
				errs <- fmt.Errorf("DELETE: %d %v", code, err)
				return
			}
			errs <- nil
		}()
	}
	for range cams {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cams {
		var frags []videoapi.FragmentJSON
		waitFor(t, 30*time.Second, c.stream+" fragments", func() error {
			frags = s.fragments(t, c.stream)
			n := 0
			for _, f := range frags {
				n += f.Frames
			}
			// The last frame may be lost: it is whole only when a next
			// one starts or the session flushes it.
			if n < len(video)-1 {
				return fmt.Errorf("%d frames of %d stored", n, len(video)-1)
			}
			return nil
		})
		if len(frags) < 2 {
			t.Fatalf("%s: %d fragments", c.stream, len(frags))
		}
		// want returns the expected producer time of the fragment that
		// starts with frame n (30 fps) and the tolerance.
		want := func(n int) (time.Time, time.Duration, time.Duration) {
			capture := c.first.Add(time.Duration(n) * time.Second / 30)
			if c.offset > 0 {
				return capture, 0, 250 * time.Millisecond
			}
			return capture.Add(c.offset), -time.Millisecond, time.Millisecond
		}
		n, n1 := 0, 0
		for k, f := range frags {
			if n%30 != 0 {
				t.Errorf("%s fragment %d starts with frame %d, not a keyframe", c.stream, k, n)
			}
			w, lo, hi := want(n)
			if d := f.ProducerTimestamp.Sub(w); d < lo || d > hi {
				t.Errorf("%s fragment %d: producer time %v, want %v (%v to %v)", c.stream, k, f.ProducerTimestamp, w, lo, hi)
			}
			if f.ProducerTimestamp.After(f.ServerTimestamp) {
				t.Errorf("%s fragment %d: producer time %v after server time %v", c.stream, k, f.ProducerTimestamp, f.ServerTimestamp)
			}
			if k == 0 {
				n1 = f.Frames
			}
			n += f.Frames
		}
		// by=producer: a window around fragment 1's producer time finds
		// it and no other.
		w, lo, hi := want(n1)
		from, to := w.Add(lo-time.Millisecond), w.Add(hi+time.Millisecond)
		if got := s.fragmentsBy(t, c.stream, "producer", from, to); len(got) != 1 || got[0].FragmentNumber != frags[1].FragmentNumber {
			t.Errorf("%s: by=producer [%v, %v]: %+v, want fragment %s", c.stream, from, to, got, frags[1].FragmentNumber)
		}
	}
}
