package archive

import "github.com/prometheus/client_golang/prometheus"

// Collector exports an Archiver's Stats as Prometheus metrics
// (kinedge_archive_*), read at scrape time.
type Collector struct {
	a                                           *Archiver
	backlog, backlogBytes, lag                  *prometheus.Desc
	objects, bytes, manifests, failures, passes *prometheus.Desc
	shredded, scrubbed                          *prometheus.Desc
}

// NewCollector returns the collector of a.
func NewCollector(a *Archiver) *Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("kinedge_archive_"+name, help, nil, nil)
	}
	return &Collector{
		a:            a,
		backlog:      d("backlog_fragments", "Stored fragments not yet archived (as of the last reconciliation)."),
		backlogBytes: d("backlog_bytes", "Sealed bytes of the fragments not yet archived."),
		lag:          d("lag_seconds", "Age of the oldest fragment not yet archived (0: none)."),
		objects:      d("objects_total", "Fragments uploaded to the archive bucket."),
		bytes:        d("bytes_total", "Bytes of the fragment objects uploaded."),
		manifests:    d("manifests_total", "Manifest objects written."),
		failures:     d("upload_failures_total", "Failed uploads (each is retried with backoff, forever)."),
		passes:       d("passes_total", "Reconciliations of the archive against the index."),
		shredded:     d("keys_shredded_total", "Archived data keys shredded (tombstone written, key object deleted)."),
		scrubbed:     d("keys_scrubbed_total", "Wrapped copies of destroyed data keys scrubbed from legacy manifests and their objects (one per key and manifest)."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.backlog, c.backlogBytes, c.lag, c.objects, c.bytes, c.manifests, c.failures, c.passes, c.shredded, c.scrubbed} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.a.Stats()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(c.backlog, float64(st.Backlog))
	gauge(c.backlogBytes, float64(st.BacklogBytes))
	gauge(c.lag, st.Lag.Seconds())
	counter(c.objects, st.Objects)
	counter(c.bytes, st.Bytes)
	counter(c.manifests, st.Manifests)
	counter(c.failures, st.UploadFailures)
	counter(c.passes, st.Passes)
	counter(c.shredded, c.a.Shredded())
	counter(c.scrubbed, c.a.Scrubbed())
}
