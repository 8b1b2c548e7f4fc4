package engine

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestCollector(t *testing.T) {
	e, _ := newEngine(t, nil)
	mustCreate(t, e, "s", 3)
	putN(t, e, "s", 7, func(int) string { return "k" })
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(NewCollector(e)); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	n := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			n++
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetValue() + "}"
			}
			got[name] = v
		}
	}
	tests := []struct {
		name string
		want float64
	}{
		{"kinedge_streams_records_put_total", 7},
		{"kinedge_streams_bytes_put_total", 35},
		{"kinedge_streams_open_shards", 3},
		{"kinedge_streams_streams", 1},
		{"kinedge_streams_throttled_total{put}", 0},
		{"kinedge_streams_syncs_total", 1},
	}
	for _, tt := range tests {
		if v, ok := got[tt.name]; !ok || v != tt.want {
			t.Errorf("%s = %v (%v), want %v", tt.name, v, ok, tt.want)
		}
	}
	if n != 11 {
		t.Errorf("%d metrics, want 11", n)
	}
}
