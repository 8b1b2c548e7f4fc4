package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/putmedia"
	"github.com/kinedge/kinedge/ingest/rtsp"
	"github.com/kinedge/kinedge/ingest/sources"
)

// newPutMedia returns the KVS PutMedia server, recording through the
// sources (one source per video stream, the same recorder as RTSP), and
// chains its Stored onto the sources' OnStored hook so that each
// session hears of its durable fragments (PERSISTED acks).
func newPutMedia(src *sources.Manager, cfg KVSConfig, log *slog.Logger) *putmedia.Server {
	s := &putmedia.Server{Publisher: putMediaPublisher{src}, Logger: log,
		RequireAllTracks: cfg.PutMediaRequireAllTracks, MaxFragmentSize: int64(cfg.PutMediaMaxFragmentSize)}
	prev := src.OnStored
	src.OnStored = func(f index.Fragment) {
		if prev != nil {
			prev(f)
		}
		s.Stored(f.Stream, f.Number, f.ProducerTime.Add(f.Duration))
	}
	return s
}

// putMediaPublisher adapts sources.Manager (an rtsp.Router) to
// putmedia.Publisher, translating its refusals.
type putMediaPublisher struct{ m *sources.Manager }

func (p putMediaPublisher) Publish(req *putmedia.PublishRequest) (media.Writer, error) {
	w, err := p.m.Publish(&rtsp.PublishRequest{
		Stream: req.Stream, Tracks: req.Tracks, RemoteAddr: req.RemoteAddr, Transport: "putmedia",
		Kick: req.Kick, Stats: &rtsp.SessionStats{}, ProducerTimes: true,
	})
	switch {
	case err == nil:
		return w, nil
	case errors.Is(err, rtsp.ErrStreamNotFound):
		return nil, fmt.Errorf("%w: %s", putmedia.ErrStreamNotFound, req.Stream)
	case errors.Is(err, rtsp.ErrStreamBusy):
		return nil, fmt.Errorf("%w: %s", putmedia.ErrStreamBusy, req.Stream)
	case errors.Is(err, rtsp.ErrUnavailable), errors.Is(err, sources.ErrClosed):
		return nil, fmt.Errorf("%w: %w", putmedia.ErrUnavailable, err)
	}
	return nil, err
}

var (
	descPutMediaSessions  = prometheus.NewDesc("kinedge_putmedia_sessions", "KVS PutMedia sessions open now.", nil, nil)
	descPutMediaFragments = prometheus.NewDesc("kinedge_putmedia_fragments_total", "PutMedia clusters acknowledged PERSISTED.", nil, nil)
	descPutMediaErrors    = prometheus.NewDesc("kinedge_putmedia_errors_total", "PutMedia ERROR acks sent, by KVS ErrorId.", []string{"error_id"}, nil)
)

// putMediaCollector exports the PutMedia server's counters.
type putMediaCollector struct{ s *putmedia.Server }

func (c putMediaCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c putMediaCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(descPutMediaSessions, prometheus.GaugeValue, float64(st.Sessions.Load()))
	ch <- prometheus.MustNewConstMetric(descPutMediaFragments, prometheus.CounterValue, float64(st.Fragments.Load()))
	for id, n := range st.Errors() {
		ch <- prometheus.MustNewConstMetric(descPutMediaErrors, prometheus.CounterValue, float64(n), strconv.Itoa(int(id)))
	}
}
