package whep

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/kinedge/kinedge/ingest/webrtc/rtc"
)

// player is a WHEP player built on pion: the tests' peer.
type player struct {
	pc       *webrtc.PeerConnection
	location string
	etag     string

	mu       sync.Mutex
	annexB   bytes.Buffer // depacketized H.264
	frames   int          // marker bits seen (access units)
	keyframe bool         // an IDR was received
	opus     int          // Opus packets received
	firstAt  time.Time    // arrival of the first video packet
	state    webrtc.PeerConnectionState
	changed  chan struct{} // signalled on every update
	arrivals []time.Time   // arrival of each access unit's last packet
}

// newPlayer makes a recvonly offer for video and audio with pion's
// default codecs (H.264 among them, as browsers offer).
func newPlayer(t *testing.T) *player {
	t.Helper()
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &player{pc: pc, changed: make(chan struct{}, 1)}
	t.Cleanup(func() { pc.Close() })
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		p.mu.Lock()
		p.state = st
		p.mu.Unlock()
		p.signal()
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		var depack codecs.H264Packet
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			now := time.Now()
			p.mu.Lock()
			if tr.Kind() == webrtc.RTPCodecTypeAudio {
				p.opus++
			} else if strings.EqualFold(tr.Codec().MimeType, webrtc.MimeTypeH264) {
				if p.firstAt.IsZero() {
					p.firstAt = now
				}
				if b, err := depack.Unmarshal(pkt.Payload); err == nil && len(b) > 0 {
					if hasIDR(b) {
						p.keyframe = true
					}
					p.annexB.Write(b)
				}
				if pkt.Marker {
					p.frames++
					p.arrivals = append(p.arrivals, now)
				}
			}
			p.mu.Unlock()
			p.signal()
		}
	})
	return p
}

func (p *player) signal() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// waitUntil waits for cond (checked under p.mu) with a deadline.
func (p *player) waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		ok := cond()
		p.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-p.changed:
		case <-deadline.C:
			t.Fatalf("player: %s not within %v", what, d)
		}
	}
}

// offer returns the player's complete offer (candidates included).
func (p *player) offer(t *testing.T) string {
	t.Helper()
	o, err := p.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		t.Fatal("player: ICE gathering did not complete")
	}
	return p.pc.LocalDescription().SDP
}

// play POSTs the offer to url (with the request hook, for credentials)
// and applies the answer.
func (p *player) play(t *testing.T, url string, hook func(*http.Request)) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(p.offer(t)))
	req.Header.Set("Content-Type", "application/sdp")
	if hook != nil {
		hook(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s: %s: %s", url, resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/sdp" {
		t.Fatalf("answer content type %q", ct)
	}
	p.location, p.etag = resp.Header.Get("Location"), resp.Header.Get("ETag")
	if p.location == "" || p.etag == "" {
		t.Fatalf("201 without Location (%q) or ETag (%q)", p.location, p.etag)
	}
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		t.Fatalf("answer: %v\n%s", err, body)
	}
}

// hasIDR reports whether Annex-B data holds an IDR NAL unit.
func hasIDR(b []byte) bool {
	for _, n := range splitAnnexB(b) {
		if len(n) > 0 && n[0]&0x1f == nalIDR {
			return true
		}
	}
	return false
}

// splitAnnexB splits Annex-B data into NAL units.
func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				for end > start && b[end-1] == 0 {
					end--
				}
				out = append(out, b[start:end])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

// avcc converts NAL units to one AVCC access unit.
func avcc(nalus [][]byte) []byte {
	var out []byte
	for _, n := range nalus {
		out = binary.BigEndian.AppendUint32(out, uint32(len(n)))
		out = append(out, n...)
	}
	return out
}

// errNotH264 is returned by accessUnits for data without access unit
// delimiters.
var errNotH264 = errors.New("no access unit delimiters")

// accessUnits groups Annex-B NAL units by their access unit delimiters
// (ffmpeg's libx264 with aud=1).
func accessUnits(b []byte) ([][][]byte, error) {
	var aus [][][]byte
	for _, n := range splitAnnexB(b) {
		if len(n) == 0 {
			continue
		}
		if n[0]&0x1f == nalAUD {
			aus = append(aus, nil)
			continue
		}
		if len(aus) == 0 {
			return nil, errNotH264
		}
		aus[len(aus)-1] = append(aus[len(aus)-1], n)
	}
	return aus, nil
}

// network opens an rtc.Network on loopback for tests.
func network(t *testing.T) *rtc.Network {
	t.Helper()
	n, err := rtc.Listen(rtc.Config{UDPAddress: "127.0.0.1:0", IncludeLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// streams is a Streams with a fixed set of names.
type streams map[string]bool

func (s streams) StreamExists(_ context.Context, name string) (bool, error) { return s[name], nil }

func describeResp(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%s %s", resp.Status, b)
}
