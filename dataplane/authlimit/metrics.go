package authlimit

import "github.com/prometheus/client_golang/prometheus"

// Collector exports a Limiter's counters to Prometheus.
type Collector struct {
	l                                    *Limiter
	failures, lockouts, refused, tracked *prometheus.Desc
}

// NewCollector returns the collector of l.
func NewCollector(l *Limiter) *Collector {
	return &Collector{
		l: l,
		failures: prometheus.NewDesc("kinedge_auth_failures_total",
			"Failed authentications (wrong password, signature or bearer), by surface: http (Basic), login, aws (SigV4), rtsp, whip.", []string{"surface"}, nil),
		lockouts: prometheus.NewDesc("kinedge_auth_lockouts_total", "Lockouts of a source address after too many failed authentications.", nil, nil),
		refused:  prometheus.NewDesc("kinedge_auth_refused_total", "Attempts refused, unchecked, because their address was locked out.", nil, nil),
		tracked:  prometheus.NewDesc("kinedge_auth_addresses", "Source addresses with failed authentications being tracked.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.failures
	ch <- c.lockouts
	ch <- c.refused
	ch <- c.tracked
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.l.Stats()
	for surface, n := range s.Failures {
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(n), surface)
	}
	ch <- prometheus.MustNewConstMetric(c.lockouts, prometheus.CounterValue, float64(s.Lockouts))
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(s.Refused))
	ch <- prometheus.MustNewConstMetric(c.tracked, prometheus.GaugeValue, float64(s.Addresses))
}
