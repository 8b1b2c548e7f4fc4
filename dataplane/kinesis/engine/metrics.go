package engine

import "github.com/prometheus/client_golang/prometheus"

// Collector exports the engine's Stats and shard counts to Prometheus
// (the appliance's GET /metrics). Register it once per engine.
type Collector struct {
	e                                      *Engine
	recordsPut, bytesPut, putCalls         *prometheus.Desc
	batches, syncs, recordsRead, bytesRead *prometheus.Desc
	throttled, streams, openShards         *prometheus.Desc
}

// NewCollector returns a Collector of e's metrics, named kinedge_streams_*.
func NewCollector(e *Engine) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("kinedge_streams_"+name, help, labels, nil)
	}
	return &Collector{
		e:           e,
		recordsPut:  d("records_put_total", "Records stored durably."),
		bytesPut:    d("bytes_put_total", "Data bytes of the records stored."),
		putCalls:    d("put_calls_total", "PutRecord/PutRecords calls that reached the writer."),
		batches:     d("commit_batches_total", "Group commits."),
		syncs:       d("syncs_total", "Syncs making group commits durable."),
		recordsRead: d("records_read_total", "Records returned to readers."),
		bytesRead:   d("bytes_read_total", "Data bytes returned to readers."),
		throttled:   d("throttled_total", "Requests refused by the shard limits.", "direction"),
		streams:     d("streams", "Data streams."),
		openShards:  d("open_shards", "Open shards over all streams."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.recordsPut, c.bytesPut, c.putCalls, c.batches, c.syncs, c.recordsRead, c.bytesRead, c.throttled, c.streams, c.openShards} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.e.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(c.recordsPut, st.RecordsPut)
	counter(c.bytesPut, st.BytesPut)
	counter(c.putCalls, st.PutCalls)
	counter(c.batches, st.Batches)
	counter(c.syncs, st.Syncs)
	counter(c.recordsRead, st.RecordsRead)
	counter(c.bytesRead, st.BytesRead)
	counter(c.throttled, st.ThrottledPuts, "put")
	counter(c.throttled, st.ThrottledReads, "get")
	l := c.e.DescribeLimits()
	ch <- prometheus.MustNewConstMetric(c.streams, prometheus.GaugeValue, float64(len(c.e.ListStreams())))
	ch <- prometheus.MustNewConstMetric(c.openShards, prometheus.GaugeValue, float64(l.OpenShardCount))
}
