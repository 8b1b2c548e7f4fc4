package whep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/sdp/v3"

	"github.com/kinedge/kinedge/dataplane/video/live"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/webrtc/rtc"
)

// Streams tells whether a video stream exists (the index's registry).
type Streams interface {
	StreamExists(ctx context.Context, name string) (bool, error)
}

// Defaults of the Handler's timeouts.
const (
	DefaultConnectTimeout = 20 * time.Second
	DefaultNoMediaTimeout = 30 * time.Second
)

// Handler serves WHEP. Set the fields, then Register; Close ends every
// session.
type Handler struct {
	// Hub is the live fan-out the sessions subscribe to. Required.
	Hub *live.Hub
	// Network is the pion setup (ICE UDP port). Without it (WebRTC off)
	// every POST is answered 503.
	Network *rtc.Network
	// Streams tells unknown streams (404) from streams without a live
	// source (503). Required.
	Streams Streams
	// ConnectTimeout ends a session whose peer connection did not connect
	// in time. It defaults to DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// NoMediaTimeout ends a session whose stream delivered no frame that
	// long (the source left and did not come back). It defaults to
	// DefaultNoMediaTimeout.
	NoMediaTimeout time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger

	stats counters

	mu       sync.Mutex
	closed   bool
	sessions map[string]*session
	wg       sync.WaitGroup // the sessions' owner goroutines
}

type counters struct {
	started, ended, plis, packets, frames atomic.Uint64
}

// Stats is a snapshot of the handler's counters.
type Stats struct {
	// Sessions now.
	Sessions int
	// Started and Ended sessions since start.
	Started, Ended uint64
	// PLIs received from players (not forwarded: see the package doc).
	PLIs uint64
	// Frames and Packets sent.
	Frames, Packets uint64
}

// Stats returns the current counters.
func (h *Handler) Stats() Stats {
	h.mu.Lock()
	n := len(h.sessions)
	h.mu.Unlock()
	return Stats{Sessions: n, Started: h.stats.started.Load(), Ended: h.stats.ended.Load(), PLIs: h.stats.plis.Load(),
		Frames: h.stats.frames.Load(), Packets: h.stats.packets.Load()}
}

// Register mounts the WHEP routes on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /whep/{name}", h.post)
	mux.HandleFunc("OPTIONS /whep/{name}", h.options)
	mux.HandleFunc("PATCH /whep/{name}/{session}", h.patch)
	mux.HandleFunc("DELETE /whep/{name}/{session}", h.delete)
	mux.HandleFunc("OPTIONS /whep/{name}/{session}", h.options)
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

func (h *Handler) options(w http.ResponseWriter, r *http.Request) {
	rtc.Preflight(w, r, nil)
}

// readBody checks the content type and reads a bounded body, answering
// the request when it cannot.
func readBody(w http.ResponseWriter, r *http.Request, want string) ([]byte, bool) {
	b, code, msg := rtc.ReadBody(w, r, want)
	if code != 0 {
		rtc.Fail(w, code, "%s", msg)
		return nil, false
	}
	return b, true
}

func (h *Handler) post(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	body, ok := readBody(w, r, "application/sdp")
	if !ok {
		return
	}
	if h.Hub == nil || h.Streams == nil {
		rtc.Fail(w, http.StatusInternalServerError, "whep: Hub and Streams are required")
		return
	}
	if h.Network == nil {
		rtc.Fail(w, http.StatusServiceUnavailable, "live view over WebRTC is off on this appliance (webrtc_udp is empty)")
		return
	}
	exists, err := h.Streams.StreamExists(r.Context(), name)
	if err != nil {
		rtc.Fail(w, http.StatusInternalServerError, "looking up video stream %s: %v", name, err)
		return
	}
	if !exists {
		rtc.Fail(w, http.StatusNotFound, "video stream %s not found", name)
		return
	}
	offer, err := parseOffer(body)
	if err != nil {
		rtc.Fail(w, http.StatusBadRequest, "bad SDP offer: %v", err)
		return
	}
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		rtc.Fail(w, http.StatusServiceUnavailable, "the appliance is shutting down")
		return
	}
	viewer, err := h.Hub.Subscribe(name)
	switch {
	case errors.Is(err, live.ErrNoSource):
		w.Header().Set("Retry-After", "5")
		rtc.Fail(w, http.StatusServiceUnavailable, "video stream %s has no live source: no camera is publishing it or being pulled now", name)
		return
	case errors.Is(err, live.ErrTooManyViewers):
		w.Header().Set("Retry-After", "10")
		rtc.Fail(w, http.StatusServiceUnavailable, "video stream %s has the most live viewers allowed (live.max_viewers)", name)
		return
	case err != nil:
		rtc.Fail(w, http.StatusServiceUnavailable, "live view of %s: %v", name, err)
		return
	}
	s, answer, err := h.newSession(r.Context(), name, string(body), offer, viewer)
	if err != nil {
		viewer.Close()
		var bad *offerError
		if errors.As(err, &bad) || errors.Is(err, ErrNothingToSend) || errors.Is(err, ErrVideoNotReceivable) {
			rtc.Fail(w, http.StatusBadRequest, "%v", err)
			return
		}
		h.logger().Error("whep session failed to start", "stream", name, "err", err)
		rtc.Fail(w, http.StatusInternalServerError, "starting the WebRTC session: %v", err)
		return
	}
	rtc.CORS(w)
	loc := "/whep/" + name + "/" + s.id
	w.Header().Set("Location", loc)
	w.Header().Set("ETag", s.ice.ETag())
	w.Header().Set("Accept-Patch", "application/trickle-ice-sdpfrag")
	w.Header().Set("Content-Type", "application/sdp")
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer)
}

// session returns the session a request names, answering 404 itself.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) *session {
	h.mu.Lock()
	s := h.sessions[r.PathValue("session")]
	h.mu.Unlock()
	if s == nil || s.stream != r.PathValue("name") {
		rtc.Fail(w, http.StatusNotFound, "WHEP session %s of %s not found (it ended, or never existed)", r.PathValue("session"), r.PathValue("name"))
		return nil
	}
	return s
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	s := h.session(w, r)
	if s == nil {
		return
	}
	s.end("deleted by the player")
	<-s.done
	rtc.CORS(w)
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) patch(w http.ResponseWriter, r *http.Request) {
	s := h.session(w, r)
	if s == nil {
		return
	}
	body, ok := readBody(w, r, "application/trickle-ice-sdpfrag")
	if !ok {
		return
	}
	s.ice.Patch(w, r, s.pc, body) // trickle, or an ICE restart
}

// Close ends every session and waits for them; later POSTs get 503.
// Idempotent.
func (h *Handler) Close() {
	h.mu.Lock()
	h.closed = true
	all := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		all = append(all, s)
	}
	h.mu.Unlock()
	for _, s := range all {
		s.end("the appliance is shutting down")
	}
	h.wg.Wait()
}

// offer is what the handler needs of an SDP offer.
type offer struct {
	video, audio map[string]bool // codec names (upper case) the offer can receive, by kind
	// hevcFormats holds the H.265 profile-id and tier-flag pairs the
	// offer can receive (RFC 7798 section 7.1: 1 and 0 when the fmtp does
	// not say), which pion matches (with tx-mode) when it answers.
	hevcFormats map[hevcPT]bool
	// receivesVideo is true when a video section can receive: a
	// player that asks for video must get the stream's, or a reason.
	receivesVideo bool
	ufrag, pwd    string
}

// offerError is a problem of the player's offer (400).
type offerError struct{ msg string }

func (e *offerError) Error() string { return e.msg }

// parseOffer reads the codecs an offer can receive and its ICE
// credentials.
func parseOffer(b []byte) (*offer, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(b)); err != nil {
		return nil, err
	}
	o := &offer{video: map[string]bool{}, audio: map[string]bool{}, hevcFormats: map[hevcPT]bool{}}
	o.ufrag, _ = sd.Attribute("ice-ufrag")
	o.pwd, _ = sd.Attribute("ice-pwd")
	if len(sd.MediaDescriptions) == 0 {
		return nil, errors.New("the offer has no media section")
	}
	for _, md := range sd.MediaDescriptions {
		if v, ok := md.Attribute("ice-ufrag"); ok && o.ufrag == "" {
			o.ufrag = v
		}
		if v, ok := md.Attribute("ice-pwd"); ok && o.pwd == "" {
			o.pwd = v
		}
		if _, bundleOnly := md.Attribute("bundle-only"); md.MediaName.Port.Value == 0 && !bundleOnly {
			continue // port 0: the section is rejected
		}
		receives := true
		for _, a := range md.Attributes {
			if a.Key == "sendonly" || a.Key == "inactive" {
				receives = false
			}
		}
		if !receives {
			continue
		}
		var dst map[string]bool
		switch md.MediaName.Media {
		case "video":
			dst = o.video
			o.receivesVideo = true
		case "audio":
			dst = o.audio
		default:
			continue
		}
		hevcPTs := map[string]bool{}
		for _, a := range md.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			pt, enc, ok := strings.Cut(a.Value, " ")
			if !ok {
				continue
			}
			codec, _, _ := strings.Cut(enc, "/")
			codec = strings.ToUpper(codec)
			dst[codec] = true
			if codec == "H265" && md.MediaName.Media == "video" {
				hevcPTs[pt] = true
			}
		}
		for pt := range hevcPTs {
			o.hevcFormats[hevcOffered(md, pt)] = true
		}
	}
	if o.ufrag == "" || o.pwd == "" {
		return nil, errors.New("the offer has no ICE credentials (a=ice-ufrag, a=ice-pwd)")
	}
	return o, nil
}

// hevcPT is an H.265 profile-id and tier-flag.
type hevcPT struct{ profile, tier int }

func (p hevcPT) String() string { return fmt.Sprintf("profile-id=%d tier-flag=%d", p.profile, p.tier) }

// hevcOffered is the profile-id and tier-flag of H.265 payload type pt
// in md's a=fmtp; 1 (Main) and 0 (Main tier) where it has none (RFC
// 7798 section 7.1).
func hevcOffered(md *sdp.MediaDescription, pt string) hevcPT {
	f := hevcPT{profile: 1, tier: 0}
	for _, a := range md.Attributes {
		if a.Key != "fmtp" {
			continue
		}
		p, params, ok := strings.Cut(a.Value, " ")
		if !ok || p != pt {
			continue
		}
		for _, kv := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
			n, err := strconv.Atoi(v)
			if err != nil {
				continue
			}
			switch strings.ToLower(k) {
			case "profile-id":
				f.profile = n
			case "tier-flag":
				f.tier = n
			}
		}
	}
	return f
}

// plan decides which of the stream's tracks a session sends, and says
// why the others are left out.
type plan struct {
	video, audio *media.Track
	leftOut      []string
}

func planTracks(tracks []*media.Track, o *offer) (plan, error) {
	var p plan
	for _, t := range tracks {
		switch t.Codec {
		case media.CodecH264:
			if p.video != nil {
				continue
			}
			if !o.video["H264"] {
				p.leftOut = append(p.leftOut, "H.264 video: the offer cannot receive H.264")
				continue
			}
			p.video = t
		case media.CodecH265:
			if p.video != nil {
				continue
			}
			f := hevcFormatOf(t.SPS)
			switch {
			case !o.video["H265"]:
				p.leftOut = append(p.leftOut, "H.265 video: the offer cannot receive H.265")
			case !o.hevcFormats[hevcPT{f.profileID, f.tierFlag}]:
				p.leftOut = append(p.leftOut, fmt.Sprintf("H.265 %s video (%v): the offer receives H.265 %s only", f.name(), hevcPT{f.profileID, f.tierFlag}, formatList(o.hevcFormats)))
			default:
				p.video = t
			}
		case media.CodecVP8, media.CodecVP9, media.CodecAV1:
			if p.video != nil {
				continue
			}
			if name := passCodecs[t.Codec].sdpName; !o.video[name] {
				p.leftOut = append(p.leftOut, fmt.Sprintf("%s video: the offer cannot receive %s", name, name))
				continue
			}
			p.video = t
		case media.CodecOpus:
			if p.audio != nil {
				continue
			}
			if !o.audio["OPUS"] {
				p.leftOut = append(p.leftOut, "Opus audio: the offer cannot receive Opus")
				continue
			}
			p.audio = t
		case media.CodecPCMU, media.CodecPCMA:
			if p.audio != nil {
				continue
			}
			switch {
			case t.SampleRate != g711Rate || t.Channels != 1:
				p.leftOut = append(p.leftOut, fmt.Sprintf("%s audio at %d Hz, %d channels: WebRTC carries G.711 at 8 kHz mono only", t.Codec, t.SampleRate, t.Channels))
			case !o.audio[string(t.Codec)]:
				p.leftOut = append(p.leftOut, fmt.Sprintf("%s audio: the offer cannot receive it", t.Codec))
			default:
				p.audio = t
			}
		case media.CodecAAC:
			p.leftOut = append(p.leftOut, "AAC audio: WebRTC has no AAC (live view is without sound; the recording keeps it)")
		default:
			p.leftOut = append(p.leftOut, fmt.Sprintf("%s: not sent over WHEP yet", t.Codec))
		}
	}
	if p.video == nil && p.audio == nil {
		return p, fmt.Errorf("%w (%s)", ErrNothingToSend, strings.Join(p.leftOut, "; "))
	}
	if p.video == nil && o.receivesVideo && hasSendableVideo(tracks) {
		// The player asked for video that WebRTC can carry and would get
		// sound only, without knowing why. (A video WebRTC has no codec
		// for, MJPEG, leaves the sound playable.)
		return p, fmt.Errorf("%w (%s)", ErrVideoNotReceivable, strings.Join(p.leftOut, "; "))
	}
	return p, nil
}

// hasSendableVideo reports whether any track is video of a codec a
// session can send.
func hasSendableVideo(tracks []*media.Track) bool {
	for _, t := range tracks {
		switch t.Codec {
		case media.CodecH264, media.CodecH265, media.CodecVP8, media.CodecVP9, media.CodecAV1:
			return true
		}
	}
	return false
}

// formatList is the sorted H.265 formats of set, for messages.
func formatList(set map[hevcPT]bool) string {
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f.String())
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}
