package main

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/dataplane/streams/fragevents"
	"github.com/kinedge/kinedge/fragment"
)

// awsTargets routes the AWS JSON protocols (POST / with X-Amz-Target) to
// their handlers, behind SigV4 with the admin credentials.
func awsTargets(cfg *Config, kinesis http.Handler) http.Handler {
	v := &awsproto.Verifier{Secret: func(accessKey string) (string, bool) {
		if accessKey == cfg.AccessKey {
			return cfg.SecretKey, true
		}
		return "", false
	}}
	kin := awsproto.Middleware(v, kinesis, 0)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get("X-Amz-Target")
		switch {
		case strings.HasPrefix(target, "Kinesis_20131202."):
			kin.ServeHTTP(w, r)
		default:
			codec, err := awsproto.CodecOf(r)
			if err != nil {
				codec = awsproto.JSON
			}
			awsproto.WriteError(w, codec, awsproto.NewRequestID(), awsproto.Errorf(awsproto.UnknownOperationException,
				"X-Amz-Target %q names no service of this appliance (Kinesis_20131202.<Operation>)", target))
		}
	})
}

// eventPublisher turns stored fragments into fragment events (see package
// fragevents). A failed append is logged and counted; the fragment itself
// is already stored.
type eventPublisher struct {
	pub         *fragevents.Publisher
	applianceID string
	log         *slog.Logger
	published   atomic.Uint64
	failed      atomic.Uint64
}

func (p *eventPublisher) publish(st *fragment.Stored) {
	ev := fragevents.NewEvent(st.Stream, st.Number, st.ServerTime, st.ProducerTime, st.Duration, int64(len(st.Blob)), st.KeyID, st.SHA256)
	ev.ApplianceID, ev.Frames, ev.Gap = p.applianceID, st.Frames, st.Gap
	for _, c := range st.Codecs {
		ev.Codecs = append(ev.Codecs, string(c))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.pub.Publish(ctx, ev); err != nil {
		p.failed.Add(1)
		p.log.Warn("fragment event not published", "stream", st.Stream, "fragment", st.Number, "err", err)
		return
	}
	p.published.Add(1)
}
