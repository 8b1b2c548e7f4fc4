// Package wheptest is a WHEP player for tests: a pion peer connection that
// offers to receive pion's default codecs (H.264, H.265, VP8, VP9, AV1,
// Opus, G.711), POSTs its offer, and depacketizes the video it receives:
// H.264 and H.265 into an Annex-B byte stream (which ffprobe decodes), the
// others into frames.
package wheptest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
)

// Player is a WHEP player built on pion. Read its fields under Lock
// (or in WaitUntil's condition).
type Player struct {
	// PC is the player's peer connection.
	PC *webrtc.PeerConnection
	// Location and ETag of the session, after Play.
	Location, ETag string

	mu sync.Mutex
	// AnnexB is the depacketized H.264 or H.265 (RFC 7798).
	AnnexB bytes.Buffer
	// Frames counts the video access units (marker bits) received, of
	// any codec.
	Frames int
	// VideoMime is the video track's codec; VP8 holds the VP8 frames
	// received, depacketized (RFC 7741).
	VideoMime string
	VP8       [][]byte
	// VP9 holds the VP9 frames received (RFC 9628), AV1 the AV1
	// temporal units (low-overhead OBUs, as pion's depacketizer gives
	// them).
	VP9, AV1 [][]byte
	// Keyframe is true once an IDR (H.264) or IRAP picture (H.265) was
	// received.
	Keyframe bool
	// Opus counts the Opus packets received.
	Opus int
	// AudioMime is the audio track's codec (audio/opus, audio/PCMU, …);
	// AudioPackets its packets, in the order received.
	AudioMime    string
	AudioPackets []*rtp.Packet
	// State is the peer connection's state.
	State webrtc.PeerConnectionState
	// Arrivals holds the arrival time of each video access unit's last
	// packet, and RTPTimes its RTP timestamp.
	Arrivals []time.Time
	RTPTimes []uint32

	changed chan struct{} // signalled on every update
}

// Lock and Unlock guard the fields above.
func (p *Player) Lock()   { p.mu.Lock() }
func (p *Player) Unlock() { p.mu.Unlock() }

// New makes a recvonly offer for video and audio with pion's
// default codecs (H.264 among them, as browsers offer).
func New(t testing.TB) *Player {
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
	p := &Player{PC: pc, changed: make(chan struct{}, 1)}
	t.Cleanup(func() { pc.Close() })
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		p.mu.Lock()
		p.State = st
		p.mu.Unlock()
		p.signal()
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		var depack codecs.H264Packet
		var hevc codecs.H265Depacketizer
		var vp8 codecs.VP8Packet
		var vp8Frame []byte
		var vp9 codecs.VP9Packet
		var av1 codecs.AV1Depacketizer
		var vp9Frame, av1Unit []byte
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			now := time.Now()
			p.mu.Lock()
			if tr.Kind() == webrtc.RTPCodecTypeAudio {
				p.AudioMime = tr.Codec().MimeType
				p.AudioPackets = append(p.AudioPackets, pkt)
				if strings.EqualFold(p.AudioMime, webrtc.MimeTypeOpus) {
					p.Opus++
				}
			} else {
				p.VideoMime = tr.Codec().MimeType
				switch {
				case strings.EqualFold(p.VideoMime, webrtc.MimeTypeH264):
					if b, err := depack.Unmarshal(pkt.Payload); err == nil && len(b) > 0 {
						if HasIDR(b) {
							p.Keyframe = true
						}
						p.AnnexB.Write(b)
					}
				case strings.EqualFold(p.VideoMime, webrtc.MimeTypeH265):
					if b, err := hevc.Unmarshal(pkt.Payload); err == nil && len(b) > 0 {
						if HasIRAP(b) {
							p.Keyframe = true
						}
						p.AnnexB.Write(b)
					}
				case strings.EqualFold(p.VideoMime, webrtc.MimeTypeVP8):
					if b, err := vp8.Unmarshal(pkt.Payload); err == nil {
						if vp8.S == 1 {
							vp8Frame = vp8Frame[:0]
						}
						vp8Frame = append(vp8Frame, b...)
					}
				case strings.EqualFold(p.VideoMime, webrtc.MimeTypeVP9):
					if b, err := vp9.Unmarshal(pkt.Payload); err == nil {
						if vp9.B {
							vp9Frame = vp9Frame[:0]
						}
						vp9Frame = append(vp9Frame, b...)
					}
				case strings.EqualFold(p.VideoMime, webrtc.MimeTypeAV1):
					if b, err := av1.Unmarshal(pkt.Payload); err == nil {
						av1Unit = append(av1Unit, b...)
					}
				}
				if pkt.Marker {
					p.Frames++
					p.Arrivals = append(p.Arrivals, now)
					p.RTPTimes = append(p.RTPTimes, pkt.Timestamp)
					if len(vp8Frame) > 0 {
						p.VP8 = append(p.VP8, vp8Frame)
						vp8Frame = nil
					}
					if len(vp9Frame) > 0 {
						p.VP9 = append(p.VP9, vp9Frame)
						vp9Frame = nil
					}
					if len(av1Unit) > 0 {
						p.AV1 = append(p.AV1, av1Unit)
						av1Unit = nil
					}
				}
			}
			p.mu.Unlock()
			p.signal()
		}
	})
	return p
}

func (p *Player) signal() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// WaitUntil waits for cond (checked under p.mu) with a deadline.
func (p *Player) WaitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
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

// Offer returns the player's complete offer (candidates included).
func (p *Player) Offer(t testing.TB) string {
	t.Helper()
	o, err := p.PC.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(p.PC)
	if err := p.PC.SetLocalDescription(o); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gathered:
	case <-time.After(10 * time.Second):
		t.Fatal("player: ICE gathering did not complete")
	}
	return p.PC.LocalDescription().SDP
}

// Play POSTs the offer to url (with the request hook, for credentials)
// and applies the answer.
func (p *Player) Play(t testing.TB, url string, hook func(*http.Request)) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(p.Offer(t)))
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
	p.Location, p.ETag = resp.Header.Get("Location"), resp.Header.Get("ETag")
	if p.Location == "" || p.ETag == "" {
		t.Fatalf("201 without Location (%q) or ETag (%q)", p.Location, p.ETag)
	}
	if err := p.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		t.Fatalf("answer: %v\n%s", err, body)
	}
}

// HasIDR reports whether Annex-B data holds an IDR NAL unit.
func HasIDR(b []byte) bool {
	for _, n := range SplitAnnexB(b) {
		if len(n) > 0 && n[0]&0x1f == 5 {
			return true
		}
	}
	return false
}

// HasIRAP reports whether Annex-B H.265 data holds an IRAP picture's
// slice (NAL types 16-23).
func HasIRAP(b []byte) bool {
	for _, n := range SplitAnnexB(b) {
		if len(n) > 1 {
			if t := n[0] >> 1 & 0x3f; t >= 16 && t <= 23 {
				return true
			}
		}
	}
	return false
}

// SplitAnnexB splits Annex-B data into NAL units.
func SplitAnnexB(b []byte) [][]byte {
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

// AVCC converts NAL units to one AVCC access unit.
func AVCC(nalus [][]byte) []byte {
	var out []byte
	for _, n := range nalus {
		out = binary.BigEndian.AppendUint32(out, uint32(len(n)))
		out = append(out, n...)
	}
	return out
}

// ErrNotH264 is returned by accessUnits for data without access unit
// delimiters.
var ErrNotH264 = errors.New("no access unit delimiters")

// AccessUnits groups Annex-B NAL units by their access unit delimiters
// (ffmpeg's libx264 with aud=1).
func AccessUnits(b []byte) ([][][]byte, error) {
	var aus [][][]byte
	for _, n := range SplitAnnexB(b) {
		if len(n) == 0 {
			continue
		}
		if n[0]&0x1f == 9 {
			aus = append(aus, nil)
			continue
		}
		if len(aus) == 0 {
			return nil, ErrNotH264
		}
		aus[len(aus)-1] = append(aus[len(aus)-1], n)
	}
	return aus, nil
}
