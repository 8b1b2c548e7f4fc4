package main

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinedge/kinedge/dataplane/authz"
	"github.com/kinedge/kinedge/dataplane/video/mediatoken"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/rtsp"
	"github.com/kinedge/kinedge/ingest/sources"
	"github.com/kinedge/kinedge/ingest/webrtc"
)

// whipPublisher records WHIP sessions through the sources manager, under
// the same rules as RTSP publishers (one source per stream, takeover,
// auto-create, storage refusals), and translates its refusals.
type whipPublisher struct{ m *sources.Manager }

func (p whipPublisher) Publish(req *webrtc.PublishRequest) (media.Writer, error) {
	w, err := p.m.Publish(&rtsp.PublishRequest{Stream: req.Stream, Tracks: req.Tracks, RemoteAddr: req.RemoteAddr,
		Transport: "webrtc", Kick: req.Kick, Stats: &rtsp.SessionStats{}, Skipped: req.Skipped})
	switch {
	case err == nil:
		return w, nil
	case errors.Is(err, rtsp.ErrStreamNotFound):
		return nil, fmt.Errorf("%w: %s (video.auto_create is off: create it first)", webrtc.ErrStreamNotFound, req.Stream)
	case errors.Is(err, rtsp.ErrStreamBusy):
		return nil, fmt.Errorf("%w: %s has a source already (video.takeover is off)", webrtc.ErrStreamBusy, req.Stream)
	case errors.Is(err, rtsp.ErrUnavailable), errors.Is(err, sources.ErrClosed):
		return nil, fmt.Errorf("%w: %v", webrtc.ErrUnavailable, err)
	}
	return nil, err
}

// whipVerifier admits a WHIP request per the contract: the publish pass
// as the bearer (whatever the user), a user's secret with publish on the
// stream (webrtc.ErrForbidden, 403, without it; only users with a publish
// grant of their own: an admin key is not a camera's bearer), or a publish token of the
// stream from the web page's Signer; anyone with anonymous_publish.
func whipVerifier(cfg *Config, tokens *mediatoken.Signer, users *authz.Store) webrtc.Verifier {
	return func(stream, tok string) error {
		if cfg.AnonymousPublish {
			return nil
		}
		if tok == "" {
			return errors.New("no bearer token")
		}
		if cfg.PublishPass != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(cfg.PublishPass)) == 1 {
			return nil
		}
		if users != nil {
			for _, u := range users.Users() {
				camera := slices.ContainsFunc(u.Grants, func(g authz.Grant) bool { return g.Action == authz.Publish })
				if camera && u.SecretEqual(tok) {
					if !u.Granted(authz.Publish, stream) {
						return fmt.Errorf("%w: user %s", webrtc.ErrForbidden, u.Name)
					}
					return nil
				}
			}
		}
		if tokens == nil {
			return errors.New("wrong bearer token")
		}
		if _, err := tokens.Verify(tok, mediatoken.Scope{Stream: stream, Publish: true}); err != nil {
			if errors.Is(err, mediatoken.ErrMalformed) || errors.Is(err, mediatoken.ErrSignature) {
				return errors.New("wrong bearer token")
			}
			return err
		}
		return nil
	}
}

// iceServers splits webrtc_ice_servers.
func iceServers(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

var (
	descWHIPSessions = prometheus.NewDesc("kinedge_whip_sessions", "WHIP publishing sessions now.", nil, nil)
	descWHIPEnded    = prometheus.NewDesc("kinedge_whip_sessions_total", "WHIP sessions ended, by result: deleted, idle, failed (ICE/DTLS or no connection), closed, kicked (takeover, storage), shutdown; and refused POSTs as refused_<HTTP status>.", []string{"result"}, nil)
	descWHIPFrames   = prometheus.NewDesc("kinedge_whip_frames_total", "Frames received over WHIP and handed to the recorder.", nil, nil)
	descWHIPDropped  = prometheus.NewDesc("kinedge_whip_frames_dropped_total", "WHIP frames not recorded: video before the first keyframe, undecodable payloads, a full queue.", nil, nil)
	descWHIPNACKs    = prometheus.NewDesc("kinedge_whip_nacks_sent_total", "RTCP NACKs sent to WebRTC peers, asking for lost RTP packets (WHIP publishers are the peers that send media).", nil, nil)
	descWHIPPLIs     = prometheus.NewDesc("kinedge_whip_pli_sent_total", "Picture loss indications sent to WHIP publishers (at the start, and while a fragment runs past its target without a keyframe).", nil, nil)
)

// whipCollector reports the WHIP handler's counters.
type whipCollector struct{ h *webrtc.Handler }

func (c whipCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c whipCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.h.Stats()
	ch <- prometheus.MustNewConstMetric(descWHIPSessions, prometheus.GaugeValue, float64(st.Sessions))
	for r, n := range st.Ended {
		ch <- prometheus.MustNewConstMetric(descWHIPEnded, prometheus.CounterValue, float64(n), r)
	}
	for code, n := range st.Refused {
		ch <- prometheus.MustNewConstMetric(descWHIPEnded, prometheus.CounterValue, float64(n), "refused_"+strconv.Itoa(code))
	}
	ch <- prometheus.MustNewConstMetric(descWHIPFrames, prometheus.CounterValue, float64(st.Frames))
	ch <- prometheus.MustNewConstMetric(descWHIPDropped, prometheus.CounterValue, float64(st.Dropped))
	ch <- prometheus.MustNewConstMetric(descWHIPPLIs, prometheus.CounterValue, float64(st.PLIs))
	if c.h.Network != nil {
		ch <- prometheus.MustNewConstMetric(descWHIPNACKs, prometheus.CounterValue, float64(c.h.Network.NACKsSent()))
	}
}
