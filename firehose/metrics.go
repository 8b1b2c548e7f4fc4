package firehose

import "github.com/prometheus/client_golang/prometheus"

// Collector exports an Engine's Stats as Prometheus metrics
// (kinedge_firehose_*), read at scrape time.
type Collector struct {
	e                                                   *Engine
	backlogRecords, backlogBytes, quota, streams        *prometheus.Desc
	recordsPut, bytesPut, recordsOut, bytesOut, objects *prometheus.Desc
	uploadFailures, refused                             *prometheus.Desc
}

// NewCollector returns the collector of e.
func NewCollector(e *Engine) *Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("kinedge_firehose_"+name, help, nil, nil)
	}
	return &Collector{
		e:              e,
		backlogRecords: d("spool_records", "Records accepted and not yet written to S3 (the backlog)."),
		backlogBytes:   d("spool_bytes", "Bytes of the spool's quota the backlog takes."),
		quota:          d("spool_quota_bytes", "The spool's quota (firehose.spool_bytes)."),
		streams:        d("delivery_streams", "Delivery streams."),
		recordsPut:     d("records_put_total", "Records accepted (spooled durably)."),
		bytesPut:       d("bytes_put_total", "Data bytes of the records accepted."),
		recordsOut:     d("records_delivered_total", "Records written to S3."),
		bytesOut:       d("bytes_delivered_total", "Data bytes written to S3, before compression."),
		objects:        d("objects_total", "Objects written to S3."),
		uploadFailures: d("upload_failures_total", "Failed object writes (each is retried with backoff)."),
		refused:        d("records_refused_full_total", "Records refused because the spool was full."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.backlogRecords, c.backlogBytes, c.quota, c.streams, c.recordsPut, c.bytesPut,
		c.recordsOut, c.bytesOut, c.objects, c.uploadFailures, c.refused} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.e.Stats()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(c.backlogRecords, float64(st.SpoolRecords))
	gauge(c.backlogBytes, float64(st.SpoolBytes))
	gauge(c.quota, float64(st.SpoolQuota))
	gauge(c.streams, float64(st.Streams))
	counter(c.recordsPut, st.RecordsPut)
	counter(c.bytesPut, st.BytesPut)
	counter(c.recordsOut, st.RecordsDelivered)
	counter(c.bytesOut, st.BytesDelivered)
	counter(c.objects, st.Objects)
	counter(c.uploadFailures, st.UploadFailures)
	counter(c.refused, st.RefusedFull)
}
