package webrtc

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
	pion "github.com/pion/webrtc/v4"

	"github.com/kinedge/kinedge/ingest/media"
)

// choice is the codec the handler answers for one kind.
type choice struct {
	codec  media.Codec
	params pion.RTPCodecParameters
	// rtx is the offer's RTX format (RFC 4588) for the video codec,
	// nil when it offers none.
	rtx *pion.RTPCodecParameters
}

// offer is what the handler reads of an SDP offer before pion does.
type offer struct {
	video, audio *choice
	// offered lists the offer's codecs by kind, for the refusal of an offer
	// with nothing storable: "video H265/90000".
	offered    []string
	ufrag, pwd string
}

var videoFeedback = []pion.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}

// storable returns the media codec of an offered rtpmap encoding, or "" with
// the reason it is not stored.
func storable(kind, enc string, rate, channels int, fmtp string) (media.Codec, string) {
	switch kind + " " + strings.ToUpper(enc) {
	case "video H264":
		if fmtpValue(fmtp, "packetization-mode") != "1" {
			return "", "packetization-mode is not 1"
		}
		return media.CodecH264, ""
	case "video H265":
		if d := fmtpValue(fmtp, "sprop-max-don-diff"); d != "" && d != "0" {
			return "", "decoding order numbers (sprop-max-don-diff) are not read"
		}
		return media.CodecH265, ""
	case "video VP8":
		return media.CodecVP8, ""
	case "video VP9":
		return media.CodecVP9, ""
	case "video AV1":
		return media.CodecAV1, ""
	case "audio OPUS":
		if rate != 48000 {
			return "", "Opus not at 48 kHz"
		}
		return media.CodecOpus, ""
	case "audio PCMU":
		if rate != 8000 || channels > 1 {
			return "", "G.711 not 8 kHz mono"
		}
		return media.CodecPCMU, ""
	case "audio PCMA":
		if rate != 8000 || channels > 1 {
			return "", "G.711 not 8 kHz mono"
		}
		return media.CodecPCMA, ""
	}
	return "", "not stored"
}

// fmtpValue returns the value of key in an fmtp parameter list.
func fmtpValue(fmtp, key string) string {
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// parseOffer reads an offer's ICE credentials and picks, per kind, the first
// codec of the first m-line of that kind the publisher sends that the
// appliance can store. It returns an error wrapping ErrBadOffer or
// ErrNoStorableCodec.
func parseOffer(b []byte) (*offer, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(b)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	if len(sd.MediaDescriptions) == 0 {
		return nil, fmt.Errorf("%w: it has no media section", ErrBadOffer)
	}
	o := &offer{}
	o.ufrag, _ = sd.Attribute("ice-ufrag")
	o.pwd, _ = sd.Attribute("ice-pwd")
	for _, md := range sd.MediaDescriptions {
		if v, ok := md.Attribute("ice-ufrag"); ok && o.ufrag == "" {
			o.ufrag = v
		}
		if v, ok := md.Attribute("ice-pwd"); ok && o.pwd == "" {
			o.pwd = v
		}
		kind := md.MediaName.Media
		var dst **choice
		switch kind {
		case "video":
			dst = &o.video
		case "audio":
			dst = &o.audio
		default:
			continue
		}
		if _, bundleOnly := md.Attribute("bundle-only"); md.MediaName.Port.Value == 0 && !bundleOnly {
			continue // rejected section
		}
		sends := true
		for _, a := range md.Attributes {
			if a.Key == "recvonly" || a.Key == "inactive" {
				sends = false
			}
		}
		if !sends {
			continue
		}
		rtpmap, fmtp := map[string]string{}, map[string]string{}
		for _, a := range md.Attributes {
			pt, val, _ := strings.Cut(a.Value, " ")
			switch a.Key {
			case "rtpmap":
				rtpmap[pt] = val
			case "fmtp":
				fmtp[pt] = val
			}
		}
		// rtxFor maps a payload type to that of its RTX format (apt=).
		rtxFor := map[string]string{}
		for pt, enc := range rtpmap {
			if strings.HasPrefix(strings.ToUpper(enc), "RTX/") {
				if apt := fmtpValue(fmtp[pt], "apt"); apt != "" {
					rtxFor[apt] = pt
				}
			}
		}
		for _, pt := range md.MediaName.Formats {
			enc, ok := rtpmap[pt]
			if !ok {
				continue // static payload types without rtpmap
			}
			parts := strings.Split(enc, "/")
			if len(parts) < 2 {
				continue
			}
			rate, _ := strconv.Atoi(parts[1])
			channels := 0
			if len(parts) > 2 {
				channels, _ = strconv.Atoi(parts[2])
			}
			switch strings.ToUpper(parts[0]) {
			case "RTX", "RED", "ULPFEC", "FLEXFEC-03", "TELEPHONE-EVENT", "CN":
				continue // not a media codec
			}
			c, _ := storable(kind, parts[0], rate, channels, fmtp[pt])
			if c == "" {
				o.offered = append(o.offered, kind+" "+enc)
				continue
			}
			if *dst != nil {
				continue
			}
			n, err := strconv.ParseUint(pt, 10, 7)
			if err != nil {
				return nil, fmt.Errorf("%w: payload type %q", ErrBadOffer, pt)
			}
			params := pion.RTPCodecParameters{PayloadType: pion.PayloadType(n), RTPCodecCapability: pion.RTPCodecCapability{
				MimeType: kind + "/" + parts[0], ClockRate: uint32(rate), Channels: uint16(channels), SDPFmtpLine: fmtp[pt]}}
			ch := &choice{codec: c, params: params}
			if kind == "video" {
				ch.params.RTCPFeedback = videoFeedback
				if rpt, ok := rtxFor[pt]; ok {
					rn, err := strconv.ParseUint(rpt, 10, 7)
					if err != nil {
						return nil, fmt.Errorf("%w: RTX payload type %q", ErrBadOffer, rpt)
					}
					ch.rtx = &pion.RTPCodecParameters{PayloadType: pion.PayloadType(rn), RTPCodecCapability: pion.RTPCodecCapability{
						MimeType: pion.MimeTypeRTX, ClockRate: uint32(rate), SDPFmtpLine: "apt=" + pt}}
				}
			}
			*dst = ch
		}
	}
	if o.video == nil && o.audio == nil {
		what := "nothing"
		if len(o.offered) > 0 {
			what = strings.Join(o.offered, ", ")
		}
		return nil, fmt.Errorf("%w: offered %s (stored: H264 packetization-mode 1, H265, VP8, VP9, AV1; Opus, PCMU, PCMA)", ErrNoStorableCodec, what)
	}
	if o.ufrag == "" || o.pwd == "" {
		return nil, fmt.Errorf("%w: it has no ICE credentials (a=ice-ufrag, a=ice-pwd)", ErrBadOffer)
	}
	return o, nil
}

// track returns the media track of a choice.
func (c *choice) track() *media.Track {
	t := &media.Track{Codec: c.codec, ClockRate: int(c.params.ClockRate)}
	if c.codec.Kind() == media.KindAudio {
		t.SampleRate = int(c.params.ClockRate)
		t.Channels = max(int(c.params.Channels), 1)
		if c.codec == media.CodecOpus {
			t.Channels = 2 // RFC 7587: always opus/48000/2 in SDP; the stream says
		}
	}
	return t
}
