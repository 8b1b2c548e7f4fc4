package sources

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/rtsp"
)

// Manager owns the sources of the video streams (see the package comment).
// Set the exported fields, then Start; they must not change afterwards.
type Manager struct {
	// Index is the video stream registry and fragment store. Required.
	Index *index.Index
	// DB is the database under the index: its storage state refuses new
	// sessions and ends those whose fragments DENY_NEW_MEDIA refuses.
	// Required.
	DB *store.DB
	// Sealer seals the fragments (the keyring). Required.
	Sealer fragment.Sealer
	// AutoCreate creates a video stream on the first publish to an unknown
	// name; otherwise such a publish is refused (404).
	AutoCreate bool
	// RetentionHours of the video streams created on publish. It defaults
	// to index.DefaultRetentionHours.
	RetentionHours int
	// Takeover lets a new session replace the current one of a video
	// stream; otherwise the newcomer is refused (stream busy).
	Takeover bool
	// FragmentTarget and FragmentMax are the fragment durations (see
	// fragment.Fragmenter); zero takes the fragmenter's defaults.
	FragmentTarget, FragmentMax time.Duration
	// QueueBytes bounds the media queued per session between ingest and
	// storage (fragment.Recorder.QueueBytes).
	QueueBytes int
	// OnStored, if set, is called after each fragment is stored, on the
	// session's recorder goroutine; it must not block (events.Queue's
	// Enqueue).
	OnStored func(index.Fragment)
	// Pulls are the cameras of the configuration, pulled at Start.
	Pulls []Pull
	// Dir holds the sources file of the cameras added over the API.
	// Required.
	Dir string
	// Logger receives the log lines of the sessions and pullers. It
	// defaults to discarding.
	Logger *slog.Logger
	// Now is the clock of Session.Since; it defaults to time.Now.
	Now func() time.Time
	// Clock, if set, is the recorders' server clock
	// (fragment.Recorder.Clock: fragments recorded before the system
	// clock is set are marked for correction).
	Clock fragment.Clock
	// Live, if set, is the RTSP server whose live players see the pulled
	// cameras too (rtsp.Puller.Live).
	Live *rtsp.Server
	// LiveTap, if set, is given every source's tracks when it starts
	// recording and a copy of each of its frames before the recorder gets
	// them (the live view's fan-out, live.Hub.Attach). Pushed and pulled
	// cameras alike.
	LiveTap func(stream string, tracks []*media.Track) LiveFeed

	buffers fragment.BufferPool // plaintext buffers shared by the recorders

	mu      sync.Mutex
	started bool
	closed  bool
	current map[string]*source                 // video stream → its current source
	stats   map[string]*fragment.RecorderStats // per video stream, kept across sessions
	pullers map[string]*rtsp.Puller            // video stream → its puller
	api     map[string]string                  // pulls added over the API (persisted): name → URL
}

// source is the current source of one video stream: the session that
// feeds it and the recorder that stores it.
type source struct {
	rec     *fragment.Recorder
	kick    func(reason string)
	done    chan struct{} // closed once the recorder stored its last fragment
	session Session
}

// Session describes a video stream's current source.
type Session struct {
	// Since is when the session started recording.
	Since time.Time
	// Remote is the camera's address (host:port), Transport "tcp" or
	// "udp", User the authenticated publisher ("" when anonymous or
	// pulled).
	Remote, Transport, User string
	// Pulled is true for a camera the appliance pulls from.
	Pulled bool
	// Skipped lists the session's tracks that are not recorded, and why.
	Skipped []string
}

// Start checks the fields, then pulls the configured cameras and those
// saved from the API. It reports every field problem at once.
func (m *Manager) Start() error {
	var problems []string
	if m.Index == nil {
		problems = append(problems, "Index is required")
	}
	if m.DB == nil {
		problems = append(problems, "DB is required")
	}
	if m.Sealer == nil {
		problems = append(problems, "Sealer is required")
	}
	if m.Dir == "" {
		problems = append(problems, "Dir is required")
	}
	for i, p := range m.Pulls {
		if err := p.Validate(); err != nil {
			problems = append(problems, fmt.Sprintf("Pulls[%d]: %v", i, err))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(problems, "; "))
	}
	if m.RetentionHours == 0 {
		m.RetentionHours = index.DefaultRetentionHours
	}
	if m.Logger == nil {
		m.Logger = slog.New(slog.DiscardHandler)
	}
	m.mu.Lock()
	if m.started || m.closed {
		m.mu.Unlock()
		return fmt.Errorf("%w: Start after Start or Close", ErrInvalidConfig)
	}
	m.started = true
	m.current = map[string]*source{}
	m.stats = map[string]*fragment.RecorderStats{}
	m.pullers = map[string]*rtsp.Puller{}
	m.api = map[string]string{}
	m.mu.Unlock()
	return m.startPulls()
}

// Publish implements rtsp.Router.
func (m *Manager) Publish(req *rtsp.PublishRequest) (media.Writer, error) {
	ctx := context.Background()
	m.mu.Lock()
	started := m.started
	m.mu.Unlock()
	if !started {
		return nil, fmt.Errorf("%w: Publish before Start", ErrInvalidConfig)
	}
	if st := m.DB.Status(); !st.State.Recording() {
		return nil, &rtsp.UnavailableError{Reason: st.Reason}
	}
	st, err := m.videoStream(ctx, req.Stream)
	if err != nil {
		return nil, err
	}
	resumed, notBefore := m.resumePoint(ctx, st.Name)

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	if old := m.current[st.Name]; old != nil {
		if !m.Takeover {
			m.mu.Unlock()
			return nil, rtsp.ErrStreamBusy
		}
		m.mu.Unlock()
		m.Logger.Info("source takeover", "stream", st.Name, "remote", req.RemoteAddr)
		old.kick("another camera took over the video stream")
		<-old.done
		resumed, notBefore = m.resumePoint(ctx, st.Name) // the old session's last fragment is stored now
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		if m.current[st.Name] != nil { // a third session won the race
			m.mu.Unlock()
			return nil, rtsp.ErrStreamBusy
		}
	}
	stats := m.stats[st.Name]
	if stats == nil {
		stats = &fragment.RecorderStats{}
		m.stats[st.Name] = stats
	}
	_, pulled := m.pullers[st.Name]
	src := &source{kick: req.Kick, done: make(chan struct{}), session: Session{
		Since: m.now(), Remote: req.RemoteAddr, Transport: req.Transport, User: req.User, Pulled: pulled, Skipped: req.Skipped,
	}}
	src.rec = &fragment.Recorder{
		Stream:              st.Name,
		KeyAlias:            index.SealAlias(st.KeyAlias, st.Name),
		Tracks:              req.Tracks,
		Target:              m.FragmentTarget,
		Max:                 m.FragmentMax,
		QueueBytes:          m.QueueBytes,
		Resumed:             resumed,
		NotBefore:           notBefore,
		ProducerTimesAsSent: req.ProducerTimes,
		Sink:                &budgetSink{Index: m.Index, db: m.DB, kick: req.Kick, log: m.Logger, stream: st.Name},
		Sealer:              m.Sealer,
		Buffers:             &m.buffers,
		OnStored:            m.OnStored,
		Logger:              m.Logger,
		Stats:               stats,
		Clock:               m.Clock,
	}
	if err := src.rec.Start(); err != nil {
		m.mu.Unlock()
		return nil, fmt.Errorf("sources: publish %s: %w", st.Name, err)
	}
	m.current[st.Name] = src
	m.mu.Unlock()
	m.Logger.Info("recording", "stream", st.Name, "remote", req.RemoteAddr, "transport", req.Transport, "tracks", codecs(req.Tracks))
	w := &sourceWriter{Recorder: src.rec, release: func() { m.release(st.Name, src) }}
	if m.LiveTap != nil {
		w.live = m.LiveTap(st.Name, req.Tracks)
	}
	return w, nil
}

// videoStream returns the video stream a session publishes, created if
// AutoCreate allows.
func (m *Manager) videoStream(ctx context.Context, name string) (index.Stream, error) {
	st, err := m.Index.Stream(ctx, name)
	if errors.Is(err, index.ErrStreamNotFound) {
		if !m.AutoCreate {
			return st, rtsp.ErrStreamNotFound
		}
		st, err = m.Index.CreateStream(ctx, index.Stream{Name: name, RetentionHours: m.RetentionHours})
		if errors.Is(err, index.ErrStreamExists) { // created meanwhile
			st, err = m.Index.Stream(ctx, name)
		} else if err == nil {
			m.Logger.Info("video stream created on first publish", "stream", st.Name, "retention_hours", st.RetentionHours)
		}
	}
	if err != nil {
		return st, fmt.Errorf("sources: video stream %s: %w", name, err)
	}
	return st, nil
}

// resumePoint tells whether a video stream holds fragments already (a new
// session resumes after a gap) and where the last one ends: nothing of the
// new session may be placed before it.
func (m *Manager) resumePoint(ctx context.Context, name string) (bool, time.Time) {
	latest, err := m.Index.Latest(ctx, name)
	if err != nil {
		return false, time.Time{}
	}
	return true, latest.ServerTime.Add(latest.Duration)
}

func codecs(tracks []*media.Track) []string {
	out := make([]string, len(tracks))
	for i, t := range tracks {
		out[i] = string(t.Codec)
	}
	return out
}

// release frees a video stream for its next source.
func (m *Manager) release(name string, src *source) {
	m.mu.Lock()
	if m.current[name] == src {
		delete(m.current, name)
	}
	m.mu.Unlock()
	close(src.done)
}

// LiveFeed receives a copy of a source's frames for live viewers
// (live.Feed). WriteFrame must not keep the frame nor block for long: the
// recorder owns the frame and the camera must not wait.
type LiveFeed interface {
	WriteFrame(f *media.Frame)
	Close()
}

// sourceWriter is the Writer a session gets: the recorder, whose Close
// finishes the last fragment, then frees the video stream; and the live
// feed, if any.
type sourceWriter struct {
	*fragment.Recorder
	live    LiveFeed // nil without Manager.LiveTap
	once    sync.Once
	release func()
}

// WriteFrame implements media.Writer: the live feed copies what it needs
// first, then the recorder takes the frame.
func (w *sourceWriter) WriteFrame(f *media.Frame) {
	if w.live != nil {
		w.live.WriteFrame(f)
	}
	w.Recorder.WriteFrame(f)
}

// Close implements media.Writer.
func (w *sourceWriter) Close() {
	w.once.Do(func() {
		if w.live != nil {
			w.live.Close()
		}
		w.Recorder.Close()
		w.release()
	})
}

// RecorderStats returns the recorder counters of each video stream that
// had a source since Start (kept across sessions); safe to read
// concurrently.
func (m *Manager) RecorderStats() map[string]*fragment.RecorderStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]*fragment.RecorderStats, len(m.stats))
	for k, v := range m.stats {
		out[k] = v
	}
	return out
}

// Sessions returns the current source of each video stream that has
// one; safe to call concurrently.
func (m *Manager) Sessions() map[string]Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Session, len(m.current))
	for name, src := range m.current {
		out[name] = src.session
	}
	return out
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Close stops the pullers, refuses new sessions and kicks the current
// ones; it returns when each has stored its last fragment. Idempotent.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	pullers := m.pullers
	m.pullers = map[string]*rtsp.Puller{}
	m.mu.Unlock()
	for _, p := range pullers {
		p.Close()
	}
	m.mu.Lock()
	current := make([]*source, 0, len(m.current))
	for _, src := range m.current {
		current = append(current, src)
	}
	m.mu.Unlock()
	for _, src := range current {
		src.kick("appliance shutting down")
		<-src.done
	}
}

// budgetSink is the fragment.Sink of one session: the index, plus the
// DENY_NEW_MEDIA rule. When the storage budget refuses a fragment and the
// policy denies new media, it ends the session once.
type budgetSink struct {
	*index.Index
	db     *store.DB
	kick   func(reason string)
	log    *slog.Logger
	stream string
	kicked atomic.Bool
}

// NextFragmentNumber implements fragment.Sink. A number is a write of its
// own (the sequence's lease): on a disk too full for it the refusal comes
// here, before the fragment.
func (s *budgetSink) NextFragmentNumber(ctx context.Context) (uint64, error) {
	n, err := s.Index.NextFragmentNumber(ctx)
	s.refused(err)
	return n, err
}

// PutFragment implements fragment.Sink.
func (s *budgetSink) PutFragment(ctx context.Context, f index.Fragment, sealed []byte) error {
	err := s.Index.PutFragment(ctx, f, sealed)
	s.refused(err)
	return err
}

// refused ends the session once when the store refused a write and the
// policy denies new media.
func (s *budgetSink) refused(err error) {
	if !errors.Is(err, store.ErrFull) {
		return
	}
	if st := s.db.Status(); st.State == store.StateDenying && !s.kicked.Swap(true) {
		s.log.Warn("ending the session: the storage budget is reached and the policy denies new media", "stream", s.stream, "reason", st.Reason, "err", err)
		s.kick(st.Reason)
	}
}
