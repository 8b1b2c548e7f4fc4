// Package whiptest is a WHIP publisher for tests: a pion peer connection on
// loopback that POSTs its offer, sends the samples it is given, counts the
// PLIs it receives and DELETEs its session.
package whiptest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/kinedge/kinedge/ingest/webrtc/rtc"
)

// Options of a Publisher.
type Options struct {
	// URL is the WHIP endpoint: http://127.0.0.1:port/whip/<stream>.
	URL string
	// Token is the bearer, "" for none.
	Token string
	// Video is a video MIME type (webrtc.MimeTypeH264, MimeTypeVP8, …),
	// "" for none. Audio likewise (MimeTypeOpus, MimeTypePCMU, …).
	Video, Audio string
	// Client defaults to http.DefaultClient.
	Client *http.Client
	// NetworkTypes are the ICE candidates' networks; nil is UDP4 only.
	// {NetworkTypeTCP4} makes a publisher that can only reach the server
	// over ICE-TCP.
	NetworkTypes []webrtc.NetworkType
	// Drop, when set, loses the first transmission of the RTP packets it
	// returns true for (called once per packet, in sending order); pion's
	// NACK responder resends them when the server asks.
	Drop func(*rtp.Header) bool
	// OwnReports replaces pion's sender reports with exact ones of a
	// clock that reads ours + ClockOffset (see reporter).
	OwnReports  bool
	ClockOffset time.Duration
	// RTX offers video/rtx (RFC 4588, payload type one above the
	// video's): pion's NACK responder then resends on the RTX stream.
	RTX bool
}

// Publisher is one WHIP session.
type Publisher struct {
	PC           *webrtc.PeerConnection
	Video, Audio *webrtc.TrackLocalStaticSample
	// Location is the session URL (absolute), ETag its entity tag.
	Location, ETag string
	// Answer is the server's SDP answer.
	Answer string
	// PLIs counts the PLIs (and FIRs) received.
	PLIs atomic.Int64
	// NACKs counts the NACK packets received; Dropped the RTP packets
	// Options.Drop lost.
	NACKs, Dropped atomic.Int64

	opts      Options
	connected chan struct{}
	reporter  *reporter // with OwnReports
}

// Error is a refused POST: the status and the body.
type Error struct {
	Status int
	Body   string
	Header http.Header
}

func (e *Error) Error() string { return fmt.Sprintf("whip: %d %s", e.Status, e.Body) }

func codecOf(mime string) webrtc.RTPCodecParameters {
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	switch mime {
	case webrtc.MimeTypeH264:
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: fb}, PayloadType: 102}
	case webrtc.MimeTypeH265:
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000,
			SDPFmtpLine: "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST", RTCPFeedback: fb}, PayloadType: 116}
	case webrtc.MimeTypeVP8:
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000, RTCPFeedback: fb}, PayloadType: 96}
	case webrtc.MimeTypeVP9:
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000, SDPFmtpLine: "profile-id=0", RTCPFeedback: fb}, PayloadType: 98}
	case webrtc.MimeTypeAV1:
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000, RTCPFeedback: fb}, PayloadType: 45}
	case webrtc.MimeTypeOpus:
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}, PayloadType: 111}
	case webrtc.MimeTypePCMU:
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 8000, Channels: 1}, PayloadType: 0}
	case webrtc.MimeTypePCMA:
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 8000, Channels: 1}, PayloadType: 8}
	}
	return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}, PayloadType: 100}
}

// NewAPI returns a pion API on loopback only, with pion's default
// interceptors (NACK, RTCP reports) and the codecs of the options.
func NewAPI(video, audio string) (*webrtc.API, error) {
	return newAPI(Options{Video: video, Audio: audio}, &Publisher{})
}

func newAPI(o Options, p *Publisher) (*webrtc.API, error) {
	video, audio := o.Video, o.Audio
	me := &webrtc.MediaEngine{}
	if video != "" {
		c := codecOf(video)
		if err := me.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
		if o.RTX {
			rtx := webrtc.RTPCodecParameters{PayloadType: c.PayloadType + 1, RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeRTX, ClockRate: c.ClockRate, SDPFmtpLine: fmt.Sprintf("apt=%d", c.PayloadType)}}
			if err := me.RegisterCodec(rtx, webrtc.RTPCodecTypeVideo); err != nil {
				return nil, err
			}
		}
	}
	if audio != "" {
		if err := me.RegisterCodec(codecOf(audio), webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	ir := &interceptor.Registry{}
	if o.Drop != nil {
		// First in the registry is last on the way out: after the NACK
		// responder has kept the packet.
		ir.Add(dropperFactory{&dropper{drop: o.Drop, dropped: &p.Dropped, lost: map[uint64]bool{}}})
	}
	if o.OwnReports {
		if err := webrtc.ConfigureNack(me, ir); err != nil {
			return nil, err
		}
		// After the NACK responder in the registry, before it on the
		// way out: it sees no retransmission.
		p.reporter = &reporter{offset: o.ClockOffset, now: time.Now,
			last: map[uint32]time.Time{}, ts: map[uint32]uint32{}, seen: map[uint32]bool{}, base: map[uint32]base{}}
		ir.Add(reporterFactory{p.reporter})
	} else if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	types := o.NetworkTypes
	if types == nil {
		types = []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	}
	se.SetNetworkTypes(types)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// Offer returns a peer connection with send-only tracks of the options
// and its complete offer (candidates gathered), not yet sent.
func Offer(ctx context.Context, o Options) (*Publisher, string, error) {
	p := &Publisher{opts: o, connected: make(chan struct{})}
	api, err := newAPI(o, p)
	if err != nil {
		return nil, "", err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", err
	}
	p.PC = pc
	var closedOnce atomic.Bool
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected && closedOnce.CompareAndSwap(false, true) {
			close(p.connected)
		}
	})
	add := func(mime, kind string) (*webrtc.TrackLocalStaticSample, error) {
		tr, err := webrtc.NewTrackLocalStaticSample(codecOf(mime).RTPCodecCapability, kind, "whiptest")
		if err != nil {
			return nil, err
		}
		t, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return nil, err
		}
		go func() {
			for {
				pkts, _, err := t.Sender().ReadRTCP()
				if err != nil {
					return
				}
				for _, pk := range pkts {
					switch pk.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						p.PLIs.Add(1)
					case *rtcp.TransportLayerNack:
						p.NACKs.Add(1)
					}
				}
			}
		}()
		return tr, nil
	}
	if o.Video != "" {
		if p.Video, err = add(o.Video, "video"); err != nil {
			pc.Close()
			return nil, "", err
		}
	}
	if o.Audio != "" {
		if p.Audio, err = add(o.Audio, "audio"); err != nil {
			pc.Close()
			return nil, "", err
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		pc.Close()
		return nil, "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		pc.Close()
		return nil, "", err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		pc.Close()
		return nil, "", ctx.Err()
	}
	return p, pc.LocalDescription().SDP, nil
}

// Publish offers, POSTs and applies the answer. A refused POST is an
// *Error.
func Publish(ctx context.Context, o Options) (*Publisher, error) {
	p, offer, err := Offer(ctx, o)
	if err != nil {
		return nil, err
	}
	resp, err := Post(ctx, o, "application/sdp", offer)
	if err != nil {
		p.PC.Close()
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		p.PC.Close()
		return nil, &Error{Status: resp.StatusCode, Body: string(body), Header: resp.Header}
	}
	base, err := url.Parse(o.URL)
	if err != nil {
		p.PC.Close()
		return nil, err
	}
	loc, err := base.Parse(resp.Header.Get("Location"))
	if err != nil {
		p.PC.Close()
		return nil, fmt.Errorf("whip: Location %q: %w", resp.Header.Get("Location"), err)
	}
	p.Location, p.ETag, p.Answer = loc.String(), resp.Header.Get("ETag"), string(body)
	if err := p.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: p.Answer}); err != nil {
		p.PC.Close()
		return nil, fmt.Errorf("whip: answer: %w", err)
	}
	return p, nil
}

// Post sends body to the options' URL with the bearer.
func Post(ctx context.Context, o Options, contentType, body string) (*http.Response, error) {
	return do(ctx, o, http.MethodPost, o.URL, contentType, body)
}

func do(ctx context.Context, o Options, method, u, contentType, body string) (*http.Response, error) {
	return doIf(ctx, o, method, u, contentType, body, "")
}

// doIf is do with an If-Match header, none when ifMatch is "".
func doIf(ctx context.Context, o Options, method, u, contentType, body, ifMatch string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewBufferString(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if ifMatch != "" {
		req.Header.Set("If-Match", ifMatch)
	}
	if o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+o.Token)
	}
	c := o.Client
	if c == nil {
		c = http.DefaultClient
	}
	return c.Do(req)
}

// WaitConnected waits for the peer connection to connect.
func (p *Publisher) WaitConnected(ctx context.Context) error {
	select {
	case <-p.connected:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("whip: not connected: %w", ctx.Err())
	}
}

// Send writes samples to a track, paced by their durations (a real
// publisher's rate), until they are sent or ctx ends.
func Send(ctx context.Context, tr *webrtc.TrackLocalStaticSample, samples []media.Sample) error {
	if len(samples) == 0 {
		return nil
	}
	start := time.Now()
	var at time.Duration
	for _, s := range samples {
		if d := time.Until(start.Add(at)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
		if err := tr.WriteSample(s); err != nil {
			return err
		}
		at += s.Duration
	}
	return nil
}

// Delete DELETEs the session and closes the peer connection; it returns
// the status.
func (p *Publisher) Delete(ctx context.Context) (int, error) {
	defer p.PC.Close()
	resp, err := do(ctx, p.opts, http.MethodDelete, p.Location, "", "")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Patch sends a trickle-ICE fragment to the session.
func (p *Publisher) Patch(ctx context.Context, frag string) (*http.Response, error) {
	return do(ctx, p.opts, http.MethodPatch, p.Location, "application/trickle-ice-sdpfrag", frag)
}

// PatchIf sends a trickle-ICE fragment with an If-Match header.
func (p *Publisher) PatchIf(ctx context.Context, frag, ifMatch string) (*http.Response, error) {
	return doIf(ctx, p.opts, http.MethodPatch, p.Location, "application/trickle-ice-sdpfrag", frag, ifMatch)
}

// RestartICE restarts ICE as RFC 9725 section 4.4 has a client do it: a
// new offer with new credentials, whose ICE lines are PATCHed with
// If-Match: "*"; the server's fragment (200) replaces the credentials
// and candidates of its answer, and its ETag becomes ETag. A refusal is
// an *Error.
func (p *Publisher) RestartICE(ctx context.Context) error {
	offer, err := p.PC.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(p.PC)
	if err := p.PC.SetLocalDescription(offer); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return ctx.Err()
	}
	resp, err := p.PatchIf(ctx, string(rtc.ICEFrag(p.PC.LocalDescription().SDP)), "*")
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &Error{Status: resp.StatusCode, Body: string(body), Header: resp.Header}
	}
	frag, err := rtc.ParseSDPFrag(body)
	if err != nil {
		return fmt.Errorf("whip: restart answer: %w", err)
	}
	p.Answer = rtc.ReplaceICE(p.Answer, frag.Ufrag, frag.Pwd)
	if err := p.PC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: p.Answer}); err != nil {
		return fmt.Errorf("whip: restart answer: %w", err)
	}
	for _, c := range frag.Candidates {
		init := webrtc.ICECandidateInit{Candidate: c.Candidate}
		if c.Mid != "" {
			init.SDPMid = &c.Mid
		}
		if err := p.PC.AddICECandidate(init); err != nil {
			return fmt.Errorf("whip: restart candidate: %w", err)
		}
	}
	p.ETag = resp.Header.Get("ETag")
	return nil
}

// Close closes the peer connection without DELETE.
func (p *Publisher) Close() error { return p.PC.Close() }
