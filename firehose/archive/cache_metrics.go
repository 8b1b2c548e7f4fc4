package archive

import "github.com/prometheus/client_golang/prometheus"

// CacheCollector exports a Cache's counters as Prometheus metrics
// (kinedge_archive_cache_*), read at scrape time.
type CacheCollector struct {
	c                                    *Cache
	hits, misses, evictions, bytes, ents *prometheus.Desc
}

// NewCacheCollector returns the collector of c.
func NewCacheCollector(c *Cache) *CacheCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("kinedge_archive_cache_"+name, help, nil, nil)
	}
	return &CacheCollector{
		c:         c,
		hits:      d("hits_total", "Tiered replay's reads of manifests and hour listings served from the manifest cache."),
		misses:    d("misses_total", "Reads of manifests and hour listings that went to the bucket."),
		evictions: d("evictions_total", "Entries evicted from the manifest cache to keep within its bytes."),
		bytes:     d("bytes", "Bytes held by the manifest cache."),
		ents:      d("entries", "Entries in the manifest cache."),
	}
}

// Describe implements prometheus.Collector.
func (cc *CacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cc.hits, cc.misses, cc.evictions, cc.bytes, cc.ents} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (cc *CacheCollector) Collect(ch chan<- prometheus.Metric) {
	st := cc.c.Stats()
	ch <- prometheus.MustNewConstMetric(cc.hits, prometheus.CounterValue, float64(st.Hits))
	ch <- prometheus.MustNewConstMetric(cc.misses, prometheus.CounterValue, float64(st.Misses))
	ch <- prometheus.MustNewConstMetric(cc.evictions, prometheus.CounterValue, float64(st.Evictions))
	ch <- prometheus.MustNewConstMetric(cc.bytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(cc.ents, prometheus.GaugeValue, float64(st.Entries))
}
