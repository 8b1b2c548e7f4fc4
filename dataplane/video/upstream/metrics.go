package upstream

import "github.com/prometheus/client_golang/prometheus"

// Collector exports the Stats of forwarders as Prometheus metrics
// (kinedge_upstream_*, labelled by local stream), read at scrape time.
type Collector struct {
	fs                                                       func() []*Forwarder
	backlog, lag, fragments, bytes, fails, sessions, skipped *prometheus.Desc
}

// NewCollector returns the collector of fs.
func NewCollector(fs ...*Forwarder) *Collector {
	return newCollector(func() []*Forwarder { return fs })
}

// Collector returns the collector of the manager's forwarders, as they
// are at each scrape.
func (m *Manager) Collector() *Collector { return newCollector(m.Forwarders) }

func newCollector(fs func() []*Forwarder) *Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("kinedge_upstream_"+name, help, []string{"stream"}, nil)
	}
	return &Collector{
		fs:        fs,
		backlog:   d("backlog_fragments", "Stored fragments not yet acknowledged PERSISTED by the upstream."),
		lag:       d("lag_seconds", "Age of the oldest fragment not yet persisted upstream (0: none)."),
		fragments: d("fragments_total", "Fragments acknowledged PERSISTED by the upstream."),
		bytes:     d("bytes_total", "Cluster bytes of the fragments persisted upstream."),
		fails:     d("failures_total", "Failed PutMedia sessions (each is retried with backoff, forever)."),
		sessions:  d("sessions_total", "PutMedia sessions opened."),
		skipped:   d("skipped_total", "Fragments skipped: the upstream refused them for good (a permanent ERROR ack) SkipAfter times in a row."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.backlog, c.lag, c.fragments, c.bytes, c.fails, c.sessions, c.skipped} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, f := range c.fs() {
		if !f.started.Load() {
			continue
		}
		st := f.Stats()
		m := func(d *prometheus.Desc, t prometheus.ValueType, v float64) {
			ch <- prometheus.MustNewConstMetric(d, t, v, f.Stream)
		}
		m(c.backlog, prometheus.GaugeValue, float64(st.Backlog))
		m(c.lag, prometheus.GaugeValue, st.Lag.Seconds())
		m(c.fragments, prometheus.CounterValue, float64(st.Fragments))
		m(c.bytes, prometheus.CounterValue, float64(st.Bytes))
		m(c.fails, prometheus.CounterValue, float64(st.Failures))
		m(c.sessions, prometheus.CounterValue, float64(st.Sessions))
		m(c.skipped, prometheus.CounterValue, float64(st.Skipped))
	}
}
