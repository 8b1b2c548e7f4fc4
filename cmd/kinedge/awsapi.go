package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	kinesisapi "github.com/kinedge/kinedge/dataplane/kinesis/api"
	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
	"github.com/kinedge/kinedge/dataplane/video/events"
	"github.com/kinedge/kinedge/fragment"
)

// adminVerifier checks SigV4 signatures made with the admin credentials.
func adminVerifier(cfg *Config) *awsproto.Verifier {
	return &awsproto.Verifier{Secret: func(accessKey string) (string, bool) {
		if accessKey == cfg.AccessKey {
			return cfg.SecretKey, true
		}
		return "", false
	}}
}

// awsTargets routes the AWS JSON protocols (POST / with X-Amz-Target) to
// their handlers, behind SigV4.
func awsTargets(v *awsproto.Verifier, kinesis http.Handler) http.Handler {
	kin := awsproto.Middleware(v, kinesis, 0)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case kinesisapi.Matches(r):
			kin.ServeHTTP(w, r)
		default:
			codec, err := awsproto.CodecOf(r)
			if err != nil {
				codec = awsproto.JSON
			}
			awsproto.WriteError(w, codec, awsproto.NewRequestID(), awsproto.Errorf(awsproto.UnknownOperationException,
				"X-Amz-Target %q names no service of this appliance (%s<Operation>)", r.Header.Get("X-Amz-Target"), kinesisapi.TargetPrefix))
		}
	})
}

// eventPublisher turns stored fragments into fragment events (see package
// dataplane/video/events) on its own goroutine, so a recorder never waits for the data
// stream: publish only enqueues (bounded; a full queue counts the event as
// failed). Events keep their order. A failed append is logged and counted;
// the fragment itself is already stored.
type eventPublisher struct {
	pub         *events.Publisher
	applianceID string
	log         *slog.Logger
	published   atomic.Uint64
	failed      atomic.Uint64

	queue chan events.Event
	done  chan struct{}
	once  sync.Once
}

// eventQueue bounds the events waiting to be appended: minutes of events
// for dozens of cameras.
const eventQueue = 4096

func (p *eventPublisher) start() {
	p.queue = make(chan events.Event, eventQueue)
	p.done = make(chan struct{})
	go p.run()
}

// close appends what is queued and stops the goroutine.
func (p *eventPublisher) close() {
	p.once.Do(func() {
		close(p.queue)
		<-p.done
	})
}

func (p *eventPublisher) publish(st *fragment.Stored) {
	ev := events.NewEvent(st.Stream, st.Number, st.ServerTime, st.ProducerTime, st.Duration, int64(len(st.Blob)), st.KeyID, st.SHA256)
	ev.ApplianceID, ev.Frames, ev.Gap = p.applianceID, st.Frames, st.Gap
	for _, c := range st.Codecs {
		ev.Codecs = append(ev.Codecs, string(c))
	}
	select {
	case p.queue <- ev:
	default:
		p.failed.Add(1)
		p.log.Warn("fragment event dropped: queue full", "stream", st.Stream, "fragment", st.Number)
	}
}

func (p *eventPublisher) run() {
	defer close(p.done)
	for ev := range p.queue {
		if err := p.append(ev); err != nil {
			p.failed.Add(1)
			p.log.Warn("fragment event not published", "stream", ev.Stream, "fragment", ev.FragmentNumber, "err", err)
			continue
		}
		p.published.Add(1)
	}
}

// append publishes one event. Writes wait out the index's prefix drops in
// the store; a refusal (storage full) or any other error is final.
func (p *eventPublisher) append(ev events.Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := p.pub.Publish(ctx, ev)
	if errors.Is(err, engine.ErrNotFound) {
		// The events stream could not be created at start (a full disk)
		// or was deleted: create it and try once more.
		if serr := p.pub.Start(); serr != nil {
			return errors.Join(err, serr)
		}
		_, err = p.pub.Publish(ctx, ev)
	}
	return err
}
