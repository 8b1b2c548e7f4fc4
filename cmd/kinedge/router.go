package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/rtsp"
)

// router connects publishing sessions to recorders: it creates video
// streams on first publish (when allowed), enforces one publisher per
// stream (or hands the stream to the newcomer with takeover), and owns the
// recorders' lifecycle.
type router struct {
	idx        *index.Index
	db         *store.DB
	sealer     fragment.Sealer
	cfg        *Config
	log        *slog.Logger
	onStored   func(index.Fragment)
	buffers    fragment.BufferPool
	mu         sync.Mutex
	publishers map[string]*publisher
	stats      map[string]*fragment.RecorderStats // per stream, kept across sessions
	closed     bool
}

type publisher struct {
	rec  *fragment.Recorder
	kick func(reason string)
	done chan struct{}
}

func newRouter(idx *index.Index, db *store.DB, sealer fragment.Sealer, cfg *Config, log *slog.Logger) *router {
	return &router{idx: idx, db: db, sealer: sealer, cfg: cfg, log: log,
		publishers: map[string]*publisher{}, stats: map[string]*fragment.RecorderStats{}}
}

// Publish implements rtsp.Router.
func (rt *router) Publish(req *rtsp.PublishRequest) (media.Writer, error) {
	ctx := context.Background()
	if st := rt.db.Status(); !st.State.Recording() {
		return nil, &rtsp.UnavailableError{Reason: st.Reason}
	}
	st, err := rt.idx.Stream(ctx, req.Stream)
	if errors.Is(err, index.ErrStreamNotFound) {
		if !rt.cfg.Video.AutoCreate {
			return nil, rtsp.ErrStreamNotFound
		}
		st, err = rt.idx.CreateStream(ctx, index.Stream{Name: req.Stream, RetentionHours: rt.cfg.Video.RetentionHours})
		if errors.Is(err, index.ErrStreamExists) {
			st, err = rt.idx.Stream(ctx, req.Stream)
		} else if err == nil {
			rt.log.Info("video stream created on first publish", "stream", st.Name, "retention_hours", st.RetentionHours)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", req.Stream, err)
	}

	resumed, notBefore := rt.resumePoint(ctx, st.Name)

	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return nil, errors.New("appliance is shutting down")
	}
	if old := rt.publishers[st.Name]; old != nil {
		if !rt.cfg.Video.Takeover {
			rt.mu.Unlock()
			return nil, rtsp.ErrStreamBusy
		}
		rt.mu.Unlock()
		rt.log.Info("publisher takeover", "stream", st.Name, "remote", req.RemoteAddr)
		old.kick("another publisher took over the stream")
		<-old.done
		resumed, notBefore = rt.resumePoint(ctx, st.Name) // the old session's last fragment is stored now
		rt.mu.Lock()
		if rt.publishers[st.Name] != nil { // a third publisher won the race
			rt.mu.Unlock()
			return nil, rtsp.ErrStreamBusy
		}
	}
	stats := rt.stats[st.Name]
	if stats == nil {
		stats = &fragment.RecorderStats{}
		rt.stats[st.Name] = stats
	}
	p := &publisher{kick: req.Kick, done: make(chan struct{})}
	p.rec = &fragment.Recorder{
		Stream:     st.Name,
		KeyAlias:   st.KeyAlias,
		Tracks:     req.Tracks,
		Target:     rt.cfg.Fragment.Target,
		Max:        rt.cfg.Fragment.Max,
		QueueBytes: rt.cfg.Video.QueueBytes,
		Resumed:    resumed,
		NotBefore:  notBefore,
		Sink:       &publisherSink{Index: rt.idx, db: rt.db, kick: req.Kick, log: rt.log, stream: st.Name},
		Sealer:     rt.sealer,
		Buffers:    &rt.buffers,
		OnStored:   rt.onStored,
		Logger:     rt.log,
		Stats:      stats,
	}
	p.rec.Start()
	rt.publishers[st.Name] = p
	rt.mu.Unlock()
	rt.log.Info("publishing", "stream", st.Name, "remote", req.RemoteAddr, "transport", req.Transport, "tracks", describeTracks(req.Tracks))
	return &routedWriter{Recorder: p.rec, release: func() { rt.release(st.Name, p) }}, nil
}

// resumePoint tells whether a stream holds fragments already (a new
// session resumes after a gap) and where the last one ends: nothing of the
// new session may be placed before it.
func (rt *router) resumePoint(ctx context.Context, name string) (bool, time.Time) {
	latest, err := rt.idx.Latest(ctx, name)
	if err != nil {
		return false, time.Time{}
	}
	return true, latest.ServerTime.Add(latest.Duration)
}

func describeTracks(tracks []*media.Track) []string {
	out := make([]string, len(tracks))
	for i, t := range tracks {
		out[i] = string(t.Codec)
	}
	return out
}

func (rt *router) release(name string, p *publisher) {
	rt.mu.Lock()
	if rt.publishers[name] == p {
		delete(rt.publishers, name)
	}
	rt.mu.Unlock()
	close(p.done)
}

// routedWriter finishes the recorder, then frees the stream for the next
// publisher.
type routedWriter struct {
	*fragment.Recorder
	once    sync.Once
	release func()
}

func (w *routedWriter) Close() {
	w.once.Do(func() {
		w.Recorder.Close()
		w.release()
	})
}

// close refuses new publishers and kicks the current ones; their sessions'
// Close finishes each open fragment.
func (rt *router) close() {
	rt.mu.Lock()
	rt.closed = true
	pubs := make([]*publisher, 0, len(rt.publishers))
	for _, p := range rt.publishers {
		pubs = append(pubs, p)
	}
	rt.mu.Unlock()
	for _, p := range pubs {
		p.kick("appliance shutting down")
		<-p.done
	}
}

// snapshot returns the per-stream recorder stats.
func (rt *router) snapshot() map[string]*fragment.RecorderStats {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := make(map[string]*fragment.RecorderStats, len(rt.stats))
	for k, v := range rt.stats {
		out[k] = v
	}
	return out
}

// publisherSink is the sink of one publishing session: when the storage
// budget refuses its fragments under DENY_NEW_MEDIA it ends the session,
// so the camera learns it at once (its next publish gets 503) instead of
// streaming into a void. Under DELETE_OLDEST_MEDIA a refusal is transient
// (eviction makes room) and the session goes on.
type publisherSink struct {
	*index.Index
	db     *store.DB
	kick   func(reason string)
	log    *slog.Logger
	stream string
	kicked atomic.Bool
}

func (s *publisherSink) PutFragment(ctx context.Context, f index.Fragment, sealed []byte) error {
	err := s.Index.PutFragment(ctx, f, sealed)
	if errors.Is(err, store.ErrFull) && s.db.Status().State == store.StateDenying && !s.kicked.Swap(true) {
		s.log.Warn("ending the publish: the storage budget is reached and the policy denies new media", "stream", s.stream, "reason", store.Reason(err))
		s.kick(store.Reason(err))
	}
	return err
}
