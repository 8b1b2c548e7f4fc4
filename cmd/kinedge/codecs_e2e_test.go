package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	mcav1 "github.com/bluenviron/mediacommon/v2/pkg/codecs/av1"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestRTSPCodecs: cameras that send the codecs IP cameras use besides
// H.264/AAC, published by ffmpeg over RTSP, are recorded with every
// track; the replay carries them as ffprobe reads them and decodes
// without an error; MP4 export carries what fMP4 can (G.711 decoded to
// linear PCM, big-endian PCM as it is) and refuses the rest with 415,
// naming the codec.
//   - G.711 µ-law and A-law (most IP cameras' default audio), with H.264;
//   - big-endian PCM (L16, L24), with VP8 and with H.264;
//   - Motion JPEG (cheap cameras), with G.711;
//   - VP9 (ffmpeg's libvpx-vp9, RFC 9628 packetizer) with G.711;
//   - AV1, published by a gortsplib client from an ffmpeg-encoded
//     (libsvtav1) file: this ffmpeg (5.1) has no AV1 RTP packetizer and
//     GStreamer here has no rtpav1pay.
//
// The MKV holds every frame the index counts, and (nearly) every video
// frame published.
func TestRTSPCodecs(t *testing.T) {
	ffmpeg := testtool.Need(t, "ffmpeg")
	s := startServer(t, t.TempDir(), freeUDPPair(t))
	h264 := []string{"-c:v", "libx264", "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p"}
	for _, c := range []struct {
		stream     string
		video      []string
		audio      []string // encoder, rate, channels
		codecs     []string // the index's
		probe      []string // ffprobe's codec_name[,sample_rate,channels] of the MKV
		mp4        []string // of the MP4; nil: 415
		mp4Refusal string
		// publish, if set, publishes instead of ffmpeg (no audio).
		publish func(t *testing.T, url string, seconds int)
	}{
		// (RTP's JPEG, RFC 2435, carries only the standard Huffman tables.)
		{"g711u", h264, []string{"pcm_mulaw", "8000", "1"}, []string{"H264", "PCMU"}, []string{"h264", "pcm_mulaw,8000,1"}, []string{"h264", "pcm_s16be,8000,1"}, "", nil},
		{"g711a", h264, []string{"pcm_alaw", "8000", "1"}, []string{"H264", "PCMA"}, []string{"h264", "pcm_alaw,8000,1"}, []string{"h264", "pcm_s16be,8000,1"}, "", nil},
		{"l24", h264, []string{"pcm_s24be", "48000", "2"}, []string{"H264", "LPCM"}, []string{"h264", "pcm_s24be,48000,2"}, []string{"h264", "pcm_s24be,48000,2"}, "", nil},
		{"vp8", []string{"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-g", "25", "-b:v", "500k"},
			[]string{"pcm_s16be", "16000", "1"}, []string{"VP8", "LPCM"}, []string{"vp8", "pcm_s16be,16000,1"}, []string{"vp8", "pcm_s16be,16000,1"}, "", nil},
		{"mjpeg", []string{"-c:v", "mjpeg", "-pix_fmt", "yuvj420p", "-q:v", "8", "-huffman", "default"},
			[]string{"pcm_alaw", "8000", "1"}, []string{"MJPEG", "PCMA"}, []string{"mjpeg", "pcm_alaw,8000,1"}, nil, "V_MJPEG", nil},
		// (ffmpeg calls its VP9 packetizer experimental.)
		{"vp9", []string{"-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "25", "-b:v", "500k", "-pix_fmt", "yuv420p", "-strict", "experimental"},
			[]string{"pcm_mulaw", "8000", "1"}, []string{"VP9", "PCMU"}, []string{"vp9", "pcm_mulaw,8000,1"}, []string{"vp9", "pcm_s16be,8000,1"}, "", nil},
		{"av1", nil, nil, []string{"AV1"}, []string{"av1"}, []string{"av1"}, "", publishAV1},
	} {
		t.Run(c.stream, func(t *testing.T) {
			const seconds = 4
			u := fmt.Sprintf("rtsp://camera:camsecret@%s/%s", s.rtspAddr, c.stream)
			if c.publish != nil {
				c.publish(t, u, seconds)
			} else {
				publishFFmpeg(t, ffmpeg, u, seconds, c.video, c.audio)
			}
			// The open fragment is stored before "rtsp publish ended" is
			// logged.
			waitFor(t, 2*time.Minute, "the publish to end", func() error {
				if grepLines(s.logs(), "rtsp publish ended", c.stream) == "" {
					return errors.New(`no "rtsp publish ended" line yet`)
				}
				return nil
			})
			if l := grepLines(s.logs(), "rtsp track skipped", c.stream); l != "" {
				t.Fatalf("a track was skipped:\n%s", l)
			}
			frags := s.fragments(t, c.stream)
			if len(frags) == 0 {
				t.Fatalf("no fragments\n%s", grepLines(s.logs(), c.stream))
			}
			for _, f := range frags {
				if !slices.Equal(f.Codecs, c.codecs) {
					t.Fatalf("fragment %s codecs %v, want %v", f.FragmentNumber, f.Codecs, c.codecs)
				}
			}
			start, end := frags[0].ServerTimestamp, frags[len(frags)-1].ServerTimestamp
			file := replayRange(t, s, c.stream, start, end)
			if got := probeStreams(t, file); !slices.Equal(got, c.probe) {
				t.Fatalf("replayed streams %q, want %q", got, c.probe)
			}
			// Every frame the index counts is in the file, and (nearly)
			// every video frame published: a publisher's first frames
			// may arrive before the session records.
			pk, want := ffprobe(t, file).packets(t), 0
			for _, f := range frags {
				want += f.Frames
			}
			if pk["video"]+pk["audio"] != want || pk["video"] < seconds*24 || pk["video"] > seconds*25 {
				t.Fatalf("replayed %v packets; the index counts %d frames; %d video frames were published", pk, want, seconds*25)
			}
			if c.audio != nil {
				checkAudioSpan(t, file, c.audio, false)
			}
			decodeClean(t, file)

			// The picture of a moment (ffmpeg decodes the keyframe).
			resp, err := s.get("/v1/streams/"+c.stream+"/image", url.Values{"at": {end.Format(time.RFC3339Nano)}, "width": {"160"}})
			if err != nil {
				t.Fatal(err)
			}
			img, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" || len(img) < 100 {
				t.Fatalf("image: %s %s, %d bytes %.200s", resp.Status, resp.Header.Get("Content-Type"), len(img), img)
			}

			resp, err = s.get("/v1/streams/"+c.stream+"/media", url.Values{"format": {"mp4"},
				"start": {start.Format(time.RFC3339Nano)}, "end": {end.Format(time.RFC3339Nano)}})
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if c.mp4 == nil {
				if resp.StatusCode != http.StatusUnsupportedMediaType || !strings.Contains(string(body), c.mp4Refusal) {
					t.Fatalf("mp4 export: %s %.300s; want 415 naming %s", resp.Status, body, c.mp4Refusal)
				}
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("mp4 export: %s %.300s", resp.Status, body)
			}
			mp4 := filepath.Join(t.TempDir(), c.stream+".mp4")
			if err := os.WriteFile(mp4, body, 0o600); err != nil {
				t.Fatal(err)
			}
			if got := probeStreams(t, mp4); !slices.Equal(got, c.mp4) {
				t.Fatalf("mp4 streams %q, want %q", got, c.mp4)
			}
			decodeClean(t, mp4)
		})
	}
}

// probeStreams returns ffprobe's codec_name of each stream of file, with
// ",sample_rate,channels" for audio.
func probeStreams(t *testing.T, file string) []string {
	t.Helper()
	b, err := testtool.Command(t, time.Minute, testtool.Need(t, "ffprobe"), "-v", "error",
		"-show_entries", "stream=codec_type,codec_name,sample_rate,channels", "-of", "csv=p=0", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	var out []string
	for _, l := range strings.Fields(string(b)) {
		f := strings.Split(l, ",")
		if len(f) >= 4 && f[1] == "audio" {
			out = append(out, f[0]+","+f[2]+","+f[3])
		} else {
			out = append(out, f[0])
		}
	}
	return out
}

// publishFFmpeg publishes seconds of a test picture and a sine with
// ffmpeg's RTSP muxer: video encoder arguments; audio encoder, rate,
// channels.
func publishFFmpeg(t *testing.T, ffmpeg, u string, seconds int, video, audio []string) {
	t.Helper()
	args := []string{"-hide_banner", "-v", "error",
		"-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
		"-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=" + audio[1],
		"-t", strconv.Itoa(seconds)}
	args = append(args, video...)
	args = append(args, "-c:a", audio[0], "-ar", audio[1], "-ac", audio[2], "-f", "rtsp", "-rtsp_transport", "tcp", u)
	if out, err := testtool.Command(t, 2*time.Minute, ffmpeg, args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
}

// checkAudioSpan: every audio packet's samples are there (PCM: the
// bytes of a sample of every channel over the audio's own span, so no
// hole and the right durations), and the audio lasts as long as the
// video: it starts and ends with it. audio is the encoder, rate and
// channels.
//
// Unless earlyDropped: the fragmenter dropped, and counted, audio that
// arrived before the first keyframe. That is a publisher that held its
// audio back while a slow encoder started (GStreamer's rtspclientsink
// queues every stream until the RECORD, then sends each backlog as a
// burst), and RTSP ingest aligns tracks by the arrival of their first
// packets (ingest/rtsp doc, "Track alignment"): the audio is then
// shifted by the difference between the bursts, at start and end alike,
// by an amount this test cannot know. Loss is still ruled out: no hole
// here, and the caller checks every frame received is stored or counted.
func checkAudioSpan(t *testing.T, file string, audio []string, earlyDropped bool) {
	t.Helper()
	rate, _ := strconv.Atoi(audio[1])
	channels, _ := strconv.Atoi(audio[2])
	block := channels * map[string]int{"pcm_mulaw": 1, "pcm_alaw": 1, "pcm_s16be": 2, "pcm_s24be": 3}[audio[0]]
	a := packetSpan(t, file, "a:0")
	v := packetSpan(t, file, "v:0")
	secs := float64(a.bytes) / float64(block*rate)
	if span := a.end - a.start; secs < span-0.1 || secs > span+0.1 {
		t.Fatalf("%.3f s of audio samples over an audio span of %.3f s", secs, span)
	}
	if earlyDropped {
		t.Logf("audio from %.3f to %.3f s beside video from %.3f to %.3f s: audio arrived before the first keyframe, so the tracks are aligned as their bursts arrived", a.start, a.end, v.start, v.end)
		return
	}
	if a.end < v.end-0.5 || a.end > v.end+0.5 || a.start > v.start+0.5 || a.start < v.start-0.5 {
		t.Fatalf("audio from %.3f to %.3f s beside video from %.3f to %.3f s", a.start, a.end, v.start, v.end)
	}
}

// publishAV1 publishes seconds of a test picture in AV1 over RTSP (RTP
// payload format for AV1, gortsplib's packetizer) at the pace of a
// camera, from a file ffmpeg encodes with libsvtav1.
func publishAV1(t *testing.T, u string, seconds int) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "av1.ivf")
	if out, err := testtool.Command(t, 2*time.Minute, testtool.Need(t, "ffmpeg"), "-hide_banner", "-v", "error",
		"-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", strconv.Itoa(seconds),
		"-c:v", "libsvtav1", "-preset", "12", "-g", "25", "-pix_fmt", "yuv420p", "-f", "ivf", file).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	forma := &format.AV1{PayloadTyp: 96}
	desc := &description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}}}
	enc, err := forma.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.TransportTCP
	c := &gortsplib.Client{Transport: &tcp}
	if err := c.StartRecording(u, desc); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A camera sends a frame every 40 ms; so does this publisher.
	tick := time.NewTicker(40 * time.Millisecond)
	defer tick.Stop()
	n := 0
	for p := b[32:]; len(p) >= 12; n++ {
		size := int(binary.LittleEndian.Uint32(p))
		var obus mcav1.Bitstream // OBUs without size fields, as RTP sends them
		if err := obus.Unmarshal(p[12 : 12+size]); err != nil {
			t.Fatal(err)
		}
		p = p[12+size:]
		// One OBU per Encode: given several, gortsplib v4.16.2's
		// packetizer marks a packet as continued (Y) when the next OBU
		// did not fit and was not started in it, which splices two OBUs
		// at the receiver. The marker ends the temporal unit.
		for j, obu := range obus {
			pkts, err := enc.Encode([][]byte{obu})
			if err != nil {
				t.Fatal(err)
			}
			for k, pkt := range pkts {
				pkt.Timestamp = uint32(n * 3600)
				pkt.Marker = j == len(obus)-1 && k == len(pkts)-1
				if err := c.WritePacketRTP(desc.Medias[0], pkt); err != nil {
					t.Fatal(err)
				}
			}
		}
		<-tick.C
	}
	if n != seconds*25 {
		t.Fatalf("published %d AV1 frames", n)
	}
}
