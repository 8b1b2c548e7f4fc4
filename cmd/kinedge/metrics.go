package main

import (
	"context"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
	"github.com/kinedge/kinedge/dataplane/video/events"
	"github.com/kinedge/kinedge/dataplane/video/kvs"
	"github.com/kinedge/kinedge/dataplane/video/live"
	"github.com/kinedge/kinedge/dataplane/video/whep"
	"github.com/kinedge/kinedge/firehose"
	"github.com/kinedge/kinedge/firehose/archive"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/ingest/rtsp"
	"github.com/kinedge/kinedge/ingest/sources"
)

// metricsHandler serves Prometheus metrics, read from the components'
// snapshots at scrape time (no per-frame metric updates on the hot path).
// The README's metrics table lists them all.
func metricsHandler(db *store.DB, idx *index.Index, src *sources.Manager, srv *rtsp.Server, eng *engine.Engine, events *events.Queue, fh *firehose.Engine, arc *archive.Archiver, extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(&applianceCollector{idx: idx, sources: src, events: events}, &storageCollector{db: db, idx: idx},
		&ingestCollector{srv: srv, sources: src}, engine.NewCollector(eng), firehose.NewCollector(fh))
	if arc != nil {
		reg.MustRegister(archive.NewCollector(arc))
	}
	reg.MustRegister(extra...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

var (
	descFramesIn       = prometheus.NewDesc("kinedge_stream_frames_received_total", "Frames received from publishers.", []string{"stream"}, nil)
	descFramesDropped  = prometheus.NewDesc("kinedge_stream_frames_dropped_total", "Frames dropped because storage fell behind (bounded queue).", []string{"stream"}, nil)
	descFragments      = prometheus.NewDesc("kinedge_stream_fragments_stored_total", "Fragments sealed and stored.", []string{"stream"}, nil)
	descFragmentBytes  = prometheus.NewDesc("kinedge_stream_fragment_bytes_total", "Sealed fragment bytes stored.", []string{"stream"}, nil)
	descStoreErrors    = prometheus.NewDesc("kinedge_stream_store_errors_total", "Fragments that failed to encode, seal or store.", []string{"stream"}, nil)
	descFragDropped    = prometheus.NewDesc("kinedge_stream_fragmenter_frames_dropped_total", "Frames the fragmenter dropped, by reason: no_keyframe (before a run's first keyframe), over_max (after a fragment reached fragment.max, until the next keyframe), backwards (DTS not 1 ms past the track's previous frame).", []string{"stream", "reason"}, nil)
	descFragOverMax    = prometheus.NewDesc("kinedge_stream_fragments_over_max_total", "Fragments cut at fragment.max because no keyframe came (the camera's GOP is longer).", []string{"stream"}, nil)
	descIndexFragments = prometheus.NewDesc("kinedge_index_fragments_stored_total", "Fragments written to the index.", nil, nil)
	descIndexGCRuns    = prometheus.NewDesc("kinedge_index_gc_runs_total", "Retention and value-log GC cycles.", nil, nil)
	descIndexReclaimed = prometheus.NewDesc("kinedge_index_bytes_reclaimed_total", "Bytes reclaimed by value-log GC.", nil, nil)
	descEvents         = prometheus.NewDesc("kinedge_fragment_events_total", "Fragment events appended to the events data stream, by result.", []string{"result"}, nil)
)

type applianceCollector struct {
	idx     *index.Index
	sources *sources.Manager
	events  *events.Queue // nil when fragment events are off
}

func (c *applianceCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *applianceCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for name, stats := range c.sources.RecorderStats() {
		st := stats.Snapshot()
		counter(descFramesIn, st.FramesIn, name)
		counter(descFramesDropped, st.FramesDropped, name)
		counter(descFragments, st.FragmentsStored, name)
		counter(descFragmentBytes, st.BytesStored, name)
		counter(descStoreErrors, st.StoreErrors, name)
		counter(descFragDropped, st.FramesNoKeyframe, name, "no_keyframe")
		counter(descFragDropped, st.FramesOverMax, name, "over_max")
		counter(descFragDropped, st.FramesBackwards, name, "backwards")
		counter(descFragOverMax, st.FragmentsOverMax, name)
	}
	if c.events != nil {
		es := c.events.Stats()
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(es.Published), "published")
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(es.Failed), "failed")
	}
	s := c.idx.Stats()
	counter(descIndexFragments, s.FragmentsStored)
	counter(descIndexGCRuns, s.GCRuns)
	counter(descIndexReclaimed, s.BytesReclaimed)
}

var (
	descRTSPPackets   = prometheus.NewDesc("kinedge_rtsp_packets_received_total", "RTP packets received for a video stream's tracks, pushed and pulled.", []string{"stream"}, nil)
	descRTSPLost      = prometheus.NewDesc("kinedge_rtsp_packets_lost_total", "RTP packets lost (gaps in sequence numbers).", []string{"stream"}, nil)
	descRTSPDecodeErr = prometheus.NewDesc("kinedge_rtsp_decode_errors_total", "RTP/RTCP packets or payloads that could not be decoded.", []string{"stream"}, nil)
	descRTSPDropped   = prometheus.NewDesc("kinedge_rtsp_frames_dropped_total", "Access units ingest did not deliver (video before a keyframe, a DTS extraction error, no timeline yet).", []string{"stream"}, nil)
	descRTSPClockCorr = prometheus.NewDesc("kinedge_rtsp_producer_clock_corrections_total", "Frames whose producer time (RTCP sender reports) lay after their arrival: the producer's clock is ahead, and its times are moved back (docs/producer-time.md).", []string{"stream"}, nil)
	descRTSPClockJump = prometheus.NewDesc("kinedge_rtsp_producer_clock_jumps_total", "RTCP sender reports that disagreed with the previous one of their track by more than 500 ms: the producer's clock stepped.", []string{"stream"}, nil)
	descRTSPClockAhd  = prometheus.NewDesc("kinedge_rtsp_producer_clock_ahead_seconds", "How far the producer's clock is ahead of the appliance's: what is subtracted from its producer times (0 when it is not ahead).", []string{"stream"}, nil)
	descRTSPLatency   = prometheus.NewDesc("kinedge_rtsp_producer_latency_seconds", "Arrival minus producer time of the last frame with a producer time: encoder and network delay, plus how far the producer's clock is behind.", []string{"stream"}, nil)
	descRTSPSkipped   = prometheus.NewDesc("kinedge_rtsp_tracks_skipped_total", "Tracks of RTSP sessions that were not recorded: a codec the appliance does not store, or a second track of a kind.", []string{"stream"}, nil)
	descRTSPDiscont   = prometheus.NewDesc("kinedge_rtsp_discontinuities_total", "Timeline discontinuities signalled to the recorder (timestamps went back, jumped ahead or fell behind arrival).", []string{"stream"}, nil)
	descPullConnected = prometheus.NewDesc("kinedge_pull_connected", "1 while the connection to a pulled camera plays, 0 while retrying.", []string{"stream"}, nil)
	descPullAttempts  = prometheus.NewDesc("kinedge_pull_attempts_total", "Connection attempts to a pulled camera.", []string{"stream"}, nil)
	descPullConnects  = prometheus.NewDesc("kinedge_pull_connects_total", "Connections to a pulled camera that reached PLAY.", []string{"stream"}, nil)
)

// ingestCollector exports the RTSP sessions' stats per stream (pushed and
// pulled sessions summed) and the pullers' state.
type ingestCollector struct {
	srv     *rtsp.Server
	sources *sources.Manager
}

func (c *ingestCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *ingestCollector) Collect(ch chan<- prometheus.Metric) {
	sessions := c.srv.StreamStats()
	pulls := c.sources.PullStatus()
	for name, ps := range pulls {
		sessions[name] = sessions[name].Add(ps.Total)
		connected := 0.0
		if ps.Connected {
			connected = 1
		}
		ch <- prometheus.MustNewConstMetric(descPullConnected, prometheus.GaugeValue, connected, name)
		ch <- prometheus.MustNewConstMetric(descPullAttempts, prometheus.CounterValue, float64(ps.Attempts), name)
		ch <- prometheus.MustNewConstMetric(descPullConnects, prometheus.CounterValue, float64(ps.Connects), name)
	}
	counter := func(d *prometheus.Desc, v uint64, name string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), name)
	}
	for name, st := range sessions {
		counter(descRTSPPackets, st.Packets, name)
		counter(descRTSPLost, st.PacketsLost, name)
		counter(descRTSPDecodeErr, st.DecodeErrors, name)
		counter(descRTSPDropped, st.FramesDropped, name)
		counter(descRTSPDiscont, st.Discontinuities, name)
		counter(descRTSPSkipped, st.TracksSkipped, name)
		counter(descRTSPClockCorr, st.ClockCorrections, name)
		counter(descRTSPClockJump, st.ClockJumps, name)
		ch <- prometheus.MustNewConstMetric(descRTSPClockAhd, prometheus.GaugeValue, st.ClockCorrection.Seconds(), name)
		ch <- prometheus.MustNewConstMetric(descRTSPLatency, prometheus.GaugeValue, st.ProducerLatency.Seconds(), name)
	}
}

var (
	descStorageState     = prometheus.NewDesc("kinedge_storage_state", "Storage state: 1 for the current one of ok, low, full, denying.", []string{"state"}, nil)
	descStorageUsed      = prometheus.NewDesc("kinedge_storage_used_bytes", "Bytes the database takes on disk (allocated; the reserve counted at its full size).", nil, nil)
	descStorageLimit     = prometheus.NewDesc("kinedge_storage_limit_bytes", "The storage budget: the most the database may take.", nil, nil)
	descStorageEvictAt   = prometheus.NewDesc("kinedge_storage_evict_at_bytes", "Usage at which DELETE_OLDEST_MEDIA starts evicting.", nil, nil)
	descStorageFree      = prometheus.NewDesc("kinedge_storage_disk_free_bytes", "Free bytes on the filesystem of the data dir.", nil, nil)
	descStorageTotal     = prometheus.NewDesc("kinedge_storage_disk_size_bytes", "Size of the filesystem of the data dir.", nil, nil)
	descStorageReserve   = prometheus.NewDesc("kinedge_storage_reserve_bytes", "Bytes held by the reserve file (released when the disk fills).", nil, nil)
	descStorageVlog      = prometheus.NewDesc("kinedge_storage_vlog_bytes", "Bytes of Badger's value log on disk.", nil, nil)
	descStorageLSM       = prometheus.NewDesc("kinedge_storage_lsm_bytes", "Bytes of Badger's LSM tree (tables, memtable logs) on disk.", nil, nil)
	descStreamBytes      = prometheus.NewDesc("kinedge_storage_stream_bytes", "Sealed bytes of a video stream's fragments on disk.", []string{"stream"}, nil)
	descStreamOldest     = prometheus.NewDesc("kinedge_storage_oldest_fragment_timestamp_seconds", "Server time of a video stream's oldest fragment.", []string{"stream"}, nil)
	descEvictedBytes     = prometheus.NewDesc("kinedge_storage_evicted_bytes_total", "Sealed fragment bytes removed, by reason: retention or the storage budget.", []string{"reason"}, nil)
	descEvictedFragments = prometheus.NewDesc("kinedge_storage_evicted_fragments_total", "Fragments removed, by reason: retention or the storage budget.", []string{"reason"}, nil)
	descStorageRefused   = prometheus.NewDesc("kinedge_storage_refused_writes_total", "Writes of media and records refused because the storage is full or denying.", nil, nil)
	descReserveReleases  = prometheus.NewDesc("kinedge_storage_reserve_releases_total", "Releases of the reserve file because the disk filled up.", nil, nil)
	descPreallocFailures = prometheus.NewDesc("kinedge_storage_prealloc_failures_total", "Failures to preallocate the database's memory-mapped files.", nil, nil)
)

// storageCollector exports the storage budget and usage.
type storageCollector struct {
	db  *store.DB
	idx *index.Index
}

func (c *storageCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *storageCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.db.Status()
	for _, s := range []store.State{store.StateOK, store.StateLow, store.StateFull, store.StateDenying} {
		v := 0.0
		if st.State == s {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descStorageState, prometheus.GaugeValue, v, string(s))
	}
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	gauge(descStorageUsed, st.Used)
	if st.Limit < math.MaxInt64 {
		gauge(descStorageLimit, st.Limit)
		gauge(descStorageEvictAt, st.EvictAt)
	}
	gauge(descStorageFree, st.DiskFree)
	gauge(descStorageTotal, st.DiskTotal)
	gauge(descStorageReserve, st.Reserve)
	gauge(descStorageVlog, st.ValueLog)
	gauge(descStorageLSM, st.LSM)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if usage, err := c.idx.Usage(ctx); err == nil {
		for _, u := range usage {
			ch <- prometheus.MustNewConstMetric(descStreamBytes, prometheus.GaugeValue, float64(u.Bytes), u.Stream)
			if !u.Oldest.IsZero() {
				ch <- prometheus.MustNewConstMetric(descStreamOldest, prometheus.GaugeValue, float64(u.Oldest.UnixMilli())/1000, u.Stream)
			}
		}
	}
	is, ss := c.idx.Stats(), c.db.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descEvictedBytes, is.BytesExpired, "retention")
	counter(descEvictedBytes, is.BytesEvicted, "budget")
	counter(descEvictedFragments, is.FragmentsExpired, "retention")
	counter(descEvictedFragments, is.FragmentsEvicted, "budget")
	counter(descStorageRefused, ss.Refused)
	counter(descReserveReleases, ss.ReserveReleases)
	counter(descPreallocFailures, ss.PreallocFailures)
}

var (
	descLiveViewers = prometheus.NewDesc("kinedge_live_viewers", "Live viewers (WHEP sessions) of the stream now.", []string{"stream"}, nil)
	descLiveDropped = prometheus.NewDesc("kinedge_live_frames_dropped_total", "Frames not delivered to a live viewer because its queue was full (a slow viewer; the recording is not affected).", []string{"stream"}, nil)
	descWHEPStarted = prometheus.NewDesc("kinedge_whep_sessions_started_total", "WHEP sessions started.", nil, nil)
	descWHEPPLIs    = prometheus.NewDesc("kinedge_whep_plis_total", "Picture loss indications from WHEP players (not forwarded to cameras: players recover at the next keyframe).", nil, nil)
	descWHEPPackets = prometheus.NewDesc("kinedge_whep_packets_sent_total", "RTP packets sent to WHEP players.", nil, nil)

	descKVSSessions  = prometheus.NewDesc("kinedge_kvs_getmedia_sessions", "KVS GetMedia sessions open now.", nil, nil)
	descKVSStarted   = prometheus.NewDesc("kinedge_kvs_getmedia_started_total", "KVS GetMedia sessions started.", nil, nil)
	descKVSThrottled = prometheus.NewDesc("kinedge_kvs_getmedia_throttled_total", "KVS GetMedia calls refused by the per-stream call limit (kvs.get_media_calls_per_second).", nil, nil)
	descKVSBytes     = prometheus.NewDesc("kinedge_kvs_media_bytes_sent_total", "Bytes of media sent by KVS GetMedia, GetMediaForFragmentList and GetClip.", nil, nil)
)

// kvsCollector exports the KVS media operations' counters.
type kvsCollector struct{ h *kvs.Handler }

func (c kvsCollector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c kvsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.h.Stats()
	ch <- prometheus.MustNewConstMetric(descKVSSessions, prometheus.GaugeValue, float64(st.GetMediaSessions))
	ch <- prometheus.MustNewConstMetric(descKVSStarted, prometheus.CounterValue, float64(st.GetMediaStarted))
	ch <- prometheus.MustNewConstMetric(descKVSThrottled, prometheus.CounterValue, float64(st.GetMediaThrottled))
	ch <- prometheus.MustNewConstMetric(descKVSBytes, prometheus.CounterValue, float64(st.MediaBytes))
}

// liveCollector reports live view: the hub's viewers and drops per
// stream, the WHEP handler's counters.
type liveCollector struct {
	hub  *live.Hub
	whep *whep.Handler
}

func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	for name, st := range c.hub.Stats() {
		ch <- prometheus.MustNewConstMetric(descLiveViewers, prometheus.GaugeValue, float64(st.Viewers), name)
		ch <- prometheus.MustNewConstMetric(descLiveDropped, prometheus.CounterValue, float64(st.Dropped), name)
	}
	ws := c.whep.Stats()
	ch <- prometheus.MustNewConstMetric(descWHEPStarted, prometheus.CounterValue, float64(ws.Started))
	ch <- prometheus.MustNewConstMetric(descWHEPPLIs, prometheus.CounterValue, float64(ws.PLIs))
	ch <- prometheus.MustNewConstMetric(descWHEPPackets, prometheus.CounterValue, float64(ws.Packets))
}
