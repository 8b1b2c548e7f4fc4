package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kinedge/kinedge/dataplane/streams"
	"github.com/kinedge/kinedge/index"
)

// metricsHandler serves Prometheus metrics, read from the components'
// counters at scrape time (no per-frame metric updates on the hot path).
func metricsHandler(idx *index.Index, rt *router, eng *streams.Engine, events *eventPublisher) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&applianceCollector{idx: idx, rt: rt, events: events}, streams.NewCollector(eng))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

var (
	descFramesIn       = prometheus.NewDesc("kinedge_stream_frames_received_total", "Frames received from publishers.", []string{"stream"}, nil)
	descFramesDropped  = prometheus.NewDesc("kinedge_stream_frames_dropped_total", "Frames dropped because storage fell behind (bounded queue).", []string{"stream"}, nil)
	descFragments      = prometheus.NewDesc("kinedge_stream_fragments_stored_total", "Fragments sealed and stored.", []string{"stream"}, nil)
	descFragmentBytes  = prometheus.NewDesc("kinedge_stream_fragment_bytes_total", "Sealed fragment bytes stored.", []string{"stream"}, nil)
	descStoreErrors    = prometheus.NewDesc("kinedge_stream_store_errors_total", "Fragments that failed to encode, seal or store.", []string{"stream"}, nil)
	descIndexFragments = prometheus.NewDesc("kinedge_index_fragments_stored_total", "Fragments written to the index.", nil, nil)
	descIndexExpired   = prometheus.NewDesc("kinedge_index_fragments_expired_total", "Fragments dropped by retention.", nil, nil)
	descIndexGCRuns    = prometheus.NewDesc("kinedge_index_gc_runs_total", "Retention and value-log GC cycles.", nil, nil)
	descIndexReclaimed = prometheus.NewDesc("kinedge_index_bytes_reclaimed_total", "Bytes reclaimed by value-log GC.", nil, nil)
	descIndexDiskVlog  = prometheus.NewDesc("kinedge_index_vlog_bytes", "Size of the value log on disk.", nil, nil)
	descIndexDiskLSM   = prometheus.NewDesc("kinedge_index_lsm_bytes", "Size of the LSM tree on disk.", nil, nil)
	descEvents         = prometheus.NewDesc("kinedge_fragment_events_total", "Fragment events appended to the events data stream, by result.", []string{"result"}, nil)
)

type applianceCollector struct {
	idx    *index.Index
	rt     *router
	events *eventPublisher // nil when fragment events are off
}

func (c *applianceCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *applianceCollector) Collect(ch chan<- prometheus.Metric) {
	for name, st := range c.rt.snapshot() {
		ch <- prometheus.MustNewConstMetric(descFramesIn, prometheus.CounterValue, float64(st.FramesIn.Load()), name)
		ch <- prometheus.MustNewConstMetric(descFramesDropped, prometheus.CounterValue, float64(st.FramesDropped.Load()), name)
		ch <- prometheus.MustNewConstMetric(descFragments, prometheus.CounterValue, float64(st.FragmentsStored.Load()), name)
		ch <- prometheus.MustNewConstMetric(descFragmentBytes, prometheus.CounterValue, float64(st.BytesStored.Load()), name)
		ch <- prometheus.MustNewConstMetric(descStoreErrors, prometheus.CounterValue, float64(st.StoreErrors.Load()), name)
	}
	if c.events != nil {
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(c.events.published.Load()), "published")
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(c.events.failed.Load()), "failed")
	}
	s := c.idx.Stats()
	ch <- prometheus.MustNewConstMetric(descIndexFragments, prometheus.CounterValue, float64(s.FragmentsStored))
	ch <- prometheus.MustNewConstMetric(descIndexExpired, prometheus.CounterValue, float64(s.FragmentsExpired))
	ch <- prometheus.MustNewConstMetric(descIndexGCRuns, prometheus.CounterValue, float64(s.GCRuns))
	ch <- prometheus.MustNewConstMetric(descIndexReclaimed, prometheus.CounterValue, float64(s.BytesReclaimed))
	if lsm, vlog, err := c.idx.DiskUsage(); err == nil {
		ch <- prometheus.MustNewConstMetric(descIndexDiskVlog, prometheus.GaugeValue, float64(vlog))
		ch <- prometheus.MustNewConstMetric(descIndexDiskLSM, prometheus.GaugeValue, float64(lsm))
	}
}
