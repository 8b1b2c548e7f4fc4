package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/dataplane/streams"
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

// FragmentEvent is the record the appliance appends to the fragment-events
// data stream for every stored fragment (partition key: the video stream
// name). Documented in docs/fragment-events.md.
type FragmentEvent struct {
	ApplianceID       string    `json:"appliance_id"`
	Stream            string    `json:"stream"`
	FragmentNumber    string    `json:"fragment_number"`
	ServerTimestamp   time.Time `json:"server_timestamp"`
	ProducerTimestamp time.Time `json:"producer_timestamp"`
	DurationMs        int64     `json:"duration_ms"`
	SizeBytes         int       `json:"size_bytes"`
	Frames            int       `json:"frames"`
	Codecs            []string  `json:"codecs"`
	KeyID             string    `json:"key_id"`
	SHA256            string    `json:"sha256"`
	Gap               bool      `json:"gap,omitempty"`
}

// eventPublisher appends fragment events to a data stream. A failed append
// is logged and counted; the fragment itself is already stored.
type eventPublisher struct {
	engine      *streams.Engine
	stream      string
	applianceID string
	log         *slog.Logger
	published   atomic.Uint64
	failed      atomic.Uint64
}

func (p *eventPublisher) publish(st *fragment.Stored) {
	ev := FragmentEvent{
		ApplianceID:       p.applianceID,
		Stream:            st.Stream,
		FragmentNumber:    fmt.Sprint(st.Number),
		ServerTimestamp:   st.ServerTime.UTC(),
		ProducerTimestamp: st.ProducerTime.UTC(),
		DurationMs:        st.Duration.Milliseconds(),
		SizeBytes:         len(st.Blob),
		Frames:            st.Frames,
		KeyID:             st.KeyID,
		SHA256:            hex.EncodeToString(st.SHA256[:]),
		Gap:               st.Gap,
	}
	for _, c := range st.Codecs {
		ev.Codecs = append(ev.Codecs, string(c))
	}
	data, err := json.Marshal(ev)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err = p.engine.PutRecord(ctx, p.stream, streams.PutEntry{PartitionKey: st.Stream, Data: data}, "")
		cancel()
	}
	if err != nil {
		p.failed.Add(1)
		p.log.Warn("fragment event not published", "stream", st.Stream, "fragment", st.Number, "events_stream", p.stream, "err", err)
		return
	}
	p.published.Add(1)
}
