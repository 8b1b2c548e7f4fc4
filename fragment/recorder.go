package fragment

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/ingest/media"
)

// Sink is where a Recorder stores its fragments: *index.Index. The index
// owns the fragment record (index.Fragment, what it keeps in clear next to
// the sealed blob); the recorder fills one and hands it over as it is, so
// no layer in between copies it field by field.
type Sink interface {
	// NextFragmentNumber returns a fresh, increasing fragment number.
	NextFragmentNumber(ctx context.Context) (uint64, error)
	// PutFragment persists a fragment and its sealed blob durably.
	PutFragment(ctx context.Context, f index.Fragment, sealed []byte) error
}

// Sealer encrypts fragments; *seal.Keyring satisfies it.
type Sealer interface {
	Seal(ctx context.Context, alias, stream string, fragmentNumber uint64, plaintext []byte) (sealed []byte, keyID string, err error)
}

// RecorderStats counts a recorder's work; safe to read concurrently. One
// RecorderStats may be shared by the successive recorders of a stream (the
// router keeps one per stream across sessions), so the counts only grow.
type RecorderStats struct {
	FramesIn        atomic.Uint64
	FramesDropped   atomic.Uint64 // queue overflow, including the skip to the next keyframe
	FragmentsStored atomic.Uint64
	BytesStored     atomic.Uint64
	StoreErrors     atomic.Uint64
	// The fragmenter's drops (FragmenterStats), added as it makes them.
	FramesNoKeyframe atomic.Uint64 // before the first keyframe of a run
	FramesOverMax    atomic.Uint64 // after a fragment reached Max, until the next keyframe
	FramesBackwards  atomic.Uint64 // a track's DTS did not advance by MinAdvance
	// FragmentsOverMax counts the fragments cut at Max without a keyframe.
	FragmentsOverMax atomic.Uint64
}

// RecorderCounts is a snapshot of RecorderStats; the fields mean the same.
type RecorderCounts struct {
	FramesIn, FramesDropped, FragmentsStored, BytesStored, StoreErrors uint64
	FramesNoKeyframe, FramesOverMax, FramesBackwards, FragmentsOverMax uint64
}

// Snapshot returns the current counts.
func (s *RecorderStats) Snapshot() RecorderCounts {
	return RecorderCounts{
		FramesIn:         s.FramesIn.Load(),
		FramesDropped:    s.FramesDropped.Load(),
		FragmentsStored:  s.FragmentsStored.Load(),
		BytesStored:      s.BytesStored.Load(),
		StoreErrors:      s.StoreErrors.Load(),
		FramesNoKeyframe: s.FramesNoKeyframe.Load(),
		FramesOverMax:    s.FramesOverMax.Load(),
		FramesBackwards:  s.FramesBackwards.Load(),
		FragmentsOverMax: s.FragmentsOverMax.Load(),
	}
}

// Recorder is the media.Writer of one publishing session: it queues frames
// (bounded by bytes; the publisher never waits), cuts them into fragments,
// encodes, seals and stores them on its own goroutine.
//
// WriteFrame, Discontinuity and Close must be called from one goroutine
// (the ingest session's).
type Recorder struct {
	// Stream is the video stream name.
	Stream string
	// KeyAlias names the data-key line (KmsKeyId-like). It defaults to the
	// stream name.
	KeyAlias string
	// Tracks of the session.
	Tracks []*media.Track
	// Target and Max fragment durations (see Fragmenter).
	Target, Max time.Duration
	// QueueBytes bounds the queued media. It defaults to 8 MiB.
	QueueBytes int
	// DriftTolerance resets the media-to-wall anchor when the two clocks
	// drift further apart. It defaults to 1 s.
	DriftTolerance time.Duration
	// ProducerTimesAsSent stores the frames' Wall times as the producer
	// sent them (KVS PutMedia: the producer's own timestamps, kept by KVS
	// even when they lie after the server time). Otherwise a Wall is a
	// sender-report mapping the ingest holds at or before arrival, and
	// the stored producer time is held at or before the server time.
	ProducerTimesAsSent bool
	// Sink stores the fragments. Required.
	Sink Sink
	// StoreTimeout bounds the storing of one fragment (its number and its
	// write). It defaults to 30 s.
	StoreTimeout time.Duration
	// Sealer seals the fragments. Required.
	Sealer Sealer
	// Resumed marks the session's first fragment as the first after a gap:
	// the stream was recorded before (a camera reconnecting).
	Resumed bool
	// NotBefore is where the stream's previous recording ended: no frame
	// of this session is placed before it (a camera that reconnects at
	// once may hand over audio from before its first keyframe).
	NotBefore time.Time
	// Buffers, if set, recycles plaintext buffers (share one between the
	// recorders of an appliance).
	Buffers *BufferPool
	// OnStored, if set, is called on the recorder's goroutine after each
	// fragment is stored (e.g. to queue a fragment event); it must not
	// block.
	OnStored func(index.Fragment)
	// Now is the server clock. It defaults to time.Now, or Clock.Now.
	Now func() time.Time
	// Clock, if set, is the server clock of a board that may not know the
	// time (firmware/clock.Timeline): frames are timed by it (and Now defaults to it), and the fragments
	// stored while it is not synchronised are marked
	// (index.Fragment.ClockUnsynced) with its offset, for the index to
	// correct when it is set (docs/clock.md).
	Clock  Clock
	Logger *slog.Logger
	// Stats is updated as the recorder works.
	Stats *RecorderStats

	queue     chan item
	queued    atomic.Int64
	skipping  bool
	closeOnce sync.Once
	done      chan struct{}
	frag      *Fragmenter
	videoIdx  int

	// anchor maps the media timeline of the current run to the server clock.
	anchored   bool
	anchorPTS  time.Duration
	anchorWall time.Time
	// minLate is the smallest lateness (arrival minus mapped time) of the
	// frames since the last stored fragment: the network's delay floor.
	// Transient stalls raise lateness for a while, but not its minimum.
	minLate     time.Duration
	haveLate    bool
	lateWindow  []time.Duration // minLate of the last fragments, oldest first
	prevEnd     time.Time       // server time where the last stored fragment ended
	lastByTrack []time.Time     // server time where each track's stored frames end
	newRun      bool            // the next fragment starts a run (session start, discontinuity)
	lastDropLog time.Time
	// fragSeen is the fragmenter's counts already added to Stats.
	fragSeen       FragmenterStats
	lastOverMaxLog time.Time
	// clock is the Clock's state of the last frame taken from the queue:
	// the anchor is on its timeline.
	clock ClockState
}

// Clock is a server clock that may not be synchronised yet: its times run
// on the boot's monotonic timeline moved by an offset that changes when
// the clock is set or jumps.
type Clock interface {
	// Read returns the time and the state it was read in.
	Read() (time.Time, ClockState)
}

// ClockState is a Clock's state.
type ClockState struct {
	// Synced: the clock's times are known to be right.
	Synced bool
	// Offset is the correction added to the boot's timeline so far.
	Offset time.Duration
}

type item struct {
	frame *media.Frame
	at    time.Time  // arrival on the server clock
	clock ClockState // the Clock's state at arrival
	brk   string     // discontinuity reason when frame is nil
	close bool
}

// Start fills the zero fields with their defaults, refuses a recorder
// that lacks what it needs (ErrInvalidRecorder), and begins recording.
func (r *Recorder) Start() error {
	switch {
	case r.Stream == "":
		return fmt.Errorf("%w: no stream name", ErrInvalidRecorder)
	case len(r.Tracks) == 0:
		return fmt.Errorf("%w: stream %s: no tracks", ErrInvalidRecorder, r.Stream)
	case r.Sink == nil:
		return fmt.Errorf("%w: stream %s: no sink", ErrInvalidRecorder, r.Stream)
	case r.Sealer == nil:
		return fmt.Errorf("%w: stream %s: no sealer", ErrInvalidRecorder, r.Stream)
	}
	for i, t := range r.Tracks {
		if t == nil {
			return fmt.Errorf("%w: stream %s: track %d is nil", ErrInvalidRecorder, r.Stream, i)
		}
	}
	if r.KeyAlias == "" {
		r.KeyAlias = r.Stream
	}
	if r.QueueBytes <= 0 {
		r.QueueBytes = 8 << 20
	}
	if r.DriftTolerance <= 0 {
		r.DriftTolerance = time.Second
	}
	if r.StoreTimeout <= 0 {
		r.StoreTimeout = 30 * time.Second
	}
	if r.Now == nil {
		r.Now = time.Now
		if c := r.Clock; c != nil {
			r.Now = func() time.Time { t, _ := c.Read(); return t }
		}
	}
	if r.Clock != nil {
		_, r.clock = r.Clock.Read()
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.Stats == nil {
		r.Stats = &RecorderStats{}
	}
	r.videoIdx = -1
	for i, t := range r.Tracks {
		if t.Kind() == media.KindVideo {
			r.videoIdx = i
			break
		}
	}
	r.frag = NewFragmenter(r.Tracks, r.Target, r.Max)
	r.frag.gapNext = r.Resumed
	r.prevEnd = r.NotBefore
	r.newRun = true
	r.lastByTrack = make([]time.Time, len(r.Tracks))
	for i := range r.lastByTrack {
		r.lastByTrack[i] = r.NotBefore
	}
	// The channel is sized by count so that byte accounting, not the
	// channel, is the binding limit for video frames (1024 frames is 20 s
	// of 25 fps video with 50 audio frames a second).
	r.queue = make(chan item, 1024)
	r.done = make(chan struct{})
	go r.run()
	return nil
}

// WriteFrame implements media.Writer. It never blocks: when the queue is
// full the frame is dropped, and so is everything after it until the next
// video keyframe, which then starts a new fragment.
func (r *Recorder) WriteFrame(f *media.Frame) {
	r.Stats.FramesIn.Add(1)
	size := int64(len(f.Data))
	var cs ClockState
	var at time.Time
	if r.Clock != nil {
		at, cs = r.Clock.Read()
	} else {
		at = r.Now()
	}
	if r.skipping {
		isKey := f.Key && (r.videoIdx < 0 || f.Track == r.videoIdx)
		if !isKey || r.queued.Load()+size > int64(r.QueueBytes) {
			r.drop()
			return
		}
		if !r.enqueue(item{brk: "queue overflow"}, 0) {
			r.drop()
			return
		}
		r.skipping = false
	}
	if r.queued.Load()+size > int64(r.QueueBytes) || !r.enqueue(item{frame: f, at: at, clock: cs}, size) {
		r.skipping = true
		r.drop()
	}
}

func (r *Recorder) enqueue(it item, size int64) bool {
	select {
	case r.queue <- it:
		r.queued.Add(size)
		return true
	default:
		return false
	}
}

func (r *Recorder) drop() {
	n := r.Stats.FramesDropped.Add(1)
	if now := r.Now(); now.Sub(r.lastDropLog) > 10*time.Second {
		r.lastDropLog = now
		r.Logger.Warn("recorder queue full: dropping frames until the next keyframe",
			"stream", r.Stream, "dropped_total", n, "queue_bytes", r.QueueBytes)
	}
}

// Discontinuity implements media.Writer.
func (r *Recorder) Discontinuity(reason string) {
	if !r.enqueue(item{brk: reason}, 0) {
		r.skipping = true // the next keyframe will carry the break
	}
}

// Close implements media.Writer: it finishes the open fragment and waits
// until everything queued is stored. Idempotent.
func (r *Recorder) Close() {
	r.closeOnce.Do(func() {
		r.queue <- item{close: true} // blocking is fine: the session is over
		<-r.done
	})
}

func (r *Recorder) run() {
	defer close(r.done)
	ctx := context.Background()
	for it := range r.queue {
		switch {
		case it.close:
			r.store(ctx, r.frag.Flush())
			r.countFragmenter()
			return
		case it.frame == nil:
			r.Logger.Info("timeline discontinuity", "stream", r.Stream, "reason", it.brk)
			r.store(ctx, r.frag.Break())
			r.newRun = true
			r.anchored = false
			r.haveLate = false
			r.lateWindow = r.lateWindow[:0]
		default:
			r.queued.Add(-int64(len(it.frame.Data)))
			r.followClock(it.clock)
			if !r.anchored && (r.videoIdx < 0 || it.frame.Track == r.videoIdx) {
				r.anchored = true
				r.anchorPTS, r.anchorWall = it.frame.PTS, it.at
			}
			if r.videoIdx < 0 || it.frame.Track == r.videoIdx {
				late := it.at.Sub(r.anchorWall.Add(it.frame.PTS - r.anchorPTS))
				if !r.haveLate || late < r.minLate {
					r.minLate, r.haveLate = late, true
				}
			}
			r.store(ctx, r.frag.Push(it.frame))
		}
		r.countFragmenter()
	}
}

// overMaxLogInterval is the least time between two log lines about
// fragments cut at Max, per recorder.
const overMaxLogInterval = 10 * time.Second

// countFragmenter adds what the fragmenter counted since the last call to
// Stats, and logs fragments cut at Max (at most one line per
// overMaxLogInterval; the metrics have every one).
func (r *Recorder) countFragmenter() {
	st := r.frag.Stats()
	seen := r.fragSeen
	if st == seen {
		return
	}
	r.fragSeen = st
	r.Stats.FramesNoKeyframe.Add(st.DroppedNoKey - seen.DroppedNoKey)
	r.Stats.FramesOverMax.Add(st.DroppedOverCap - seen.DroppedOverCap)
	r.Stats.FramesBackwards.Add(st.DroppedBackwards - seen.DroppedBackwards)
	if n := st.OverCapEvents - seen.OverCapEvents; n > 0 {
		total := r.Stats.FragmentsOverMax.Add(n)
		if now := r.Now(); now.Sub(r.lastOverMaxLog) >= overMaxLogInterval {
			r.lastOverMaxLog = now
			r.Logger.Warn("no keyframe within fragment.max: fragment cut there, frames dropped until the next keyframe; lower the camera's keyframe interval (GOP) or raise fragment.max",
				"stream", r.Stream, "max", r.frag.Max, "fragments_over_max_total", total)
		}
	}
}

// placeAfterPrevious moves a fragment's server time t later, if needed,
// so that each track's first frame lands after that track's last frame
// of the previous fragment (or after NotBefore, for a session's first
// fragment): audio kept from before a keyframe sits before the fragment's
// start, and must not overlap what was stored before. The anchor moves
// along, so the fragments that follow stay contiguous.
func (r *Recorder) placeAfterPrevious(f *Fragment, t time.Time) time.Time {
	n := len(r.lastByTrack)
	first, last, count := make([]time.Duration, n), make([]time.Duration, n), make([]int, n)
	for _, fr := range f.Frames {
		if fr.Track < 0 || fr.Track >= n {
			continue
		}
		rel := fr.PTS - f.Start
		if count[fr.Track] == 0 {
			first[fr.Track], last[fr.Track] = rel, rel
		}
		first[fr.Track] = min(first[fr.Track], rel)
		last[fr.Track] = max(last[fr.Track], rel)
		count[fr.Track]++
	}
	seen := make([]bool, n)
	for tr, c := range count {
		seen[tr] = c > 0
		// A track ends one frame after its last frame starts: the next
		// fragment's first frame must not start inside it. The frame's
		// length is the fragment's average, or for a lone frame the last
		// one the fragmenter measured (a fragment with a single audio
		// frame must not let the next one start on top of it).
		switch {
		case c > 1:
			last[tr] += (last[tr] - first[tr]) / time.Duration(c-1)
		case c == 1 && r.frag != nil:
			last[tr] += r.frag.frameDurs[tr]
		}
	}
	// Within a run, tracks continue exactly where they ended. Across runs
	// (a new session, a discontinuity) keep 2 ms apart: replay rounds
	// times to Matroska's milliseconds.
	var margin time.Duration
	if r.newRun {
		margin = 2 * time.Millisecond
	}
	r.newRun = false
	var shift time.Duration
	for tr, ok := range seen {
		if prev := r.lastByTrack[tr]; ok && !prev.IsZero() {
			if gap := t.Add(first[tr]).Sub(prev); gap < margin {
				shift = max(shift, margin-gap)
			}
		}
	}
	if shift > 0 {
		r.Logger.Debug("fragment placed after the previous one", "stream", r.Stream, "shift", shift)
		t = t.Add(shift)
		r.anchorWall = r.anchorWall.Add(shift)
	}
	for tr, ok := range seen {
		if ok {
			r.lastByTrack[tr] = t.Add(last[tr])
		}
	}
	return t
}

// lateWindowLen is how many consecutive fragments must all arrive late
// before the anchor follows: about 10 s, far longer than a network stall,
// far shorter than clock drift needs to matter.
const lateWindowLen = 5

// serverTime maps a media time to the server clock. The anchor follows
// the server clock when the camera's clock drifted or ours stepped:
// backwards at once when frames arrive earlier than their mapped time by
// more than DriftTolerance (network delay cannot explain that), forwards
// when even the earliest frame of each of the last lateWindowLen fragments
// arrived later than that (a transient stall does not move it). Fragment
// times never go back before the end of the previous fragment.
func (r *Recorder) serverTime(pts time.Duration) time.Time {
	if r.haveLate {
		switch {
		case r.minLate < -r.DriftTolerance:
			r.shiftAnchor(r.minLate)
		default:
			r.lateWindow = append(r.lateWindow, r.minLate)
			if len(r.lateWindow) > lateWindowLen {
				r.lateWindow = r.lateWindow[1:]
			}
			if len(r.lateWindow) == lateWindowLen && slices.Min(r.lateWindow) > r.DriftTolerance {
				r.shiftAnchor(slices.Min(r.lateWindow))
			}
		}
	}
	r.haveLate = false
	t := r.anchorWall.Add(pts - r.anchorPTS)
	if t.Before(r.prevEnd) {
		t = r.prevEnd
	}
	return t
}

// followClock moves the anchor and the ends of what was stored onto the
// timeline of cs when the Clock's offset changed (the clock was set or
// jumped): the fragments that follow are on the clock's new times, and
// stay contiguous with those stored before once the index corrected them.
func (r *Recorder) followClock(cs ClockState) {
	if r.Clock == nil || cs == r.clock {
		return
	}
	d := cs.Offset - r.clock.Offset
	if d != 0 {
		r.Logger.Info("server clock corrected: recording continues on the corrected time", "stream", r.Stream, "step", d, "synchronized", cs.Synced)
		r.anchorWall = r.anchorWall.Add(d)
		if !r.prevEnd.IsZero() {
			r.prevEnd = r.prevEnd.Add(d)
		}
		for i, t := range r.lastByTrack {
			if !t.IsZero() {
				r.lastByTrack[i] = t.Add(d)
			}
		}
	}
	r.clock = cs
}

func (r *Recorder) shiftAnchor(d time.Duration) {
	r.Logger.Debug("re-anchoring media clock", "stream", r.Stream, "drift", d)
	r.anchorWall = r.anchorWall.Add(d)
	r.lateWindow = r.lateWindow[:0]
}

func (r *Recorder) store(ctx context.Context, f *Fragment) {
	if f == nil || len(f.Frames) == 0 {
		return
	}
	if err := r.storeErr(ctx, f); err != nil {
		r.Stats.StoreErrors.Add(1)
		r.Logger.Error("storing fragment failed", "stream", r.Stream, "err", err)
	}
}

func (r *Recorder) storeErr(ctx context.Context, f *Fragment) error {
	var buf []byte
	if r.Buffers != nil {
		buf = r.Buffers.Get()
	}
	plain, err := AppendBlob(buf, f)
	if r.Buffers != nil {
		defer r.Buffers.Put(plain)
	} else {
		defer clear(plain)
	}
	if err != nil {
		return fmt.Errorf("fragment: encode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.StoreTimeout)
	defer cancel()
	num, err := r.Sink.NextFragmentNumber(ctx)
	if err != nil {
		return fmt.Errorf("fragment: number: %w", err)
	}
	sealed, keyID, err := r.Sealer.Seal(ctx, r.KeyAlias, r.Stream, num, plain)
	if err != nil {
		return fmt.Errorf("fragment: seal %d: %w", num, err)
	}
	rec := index.Fragment{
		Number:     num,
		Stream:     r.Stream,
		ServerTime: r.placeAfterPrevious(f, r.serverTime(f.Start)),
		Duration:   f.Duration,
		Size:       int64(len(sealed)),
		KeyID:      keyID,
		Frames:     len(f.Frames),
		Gap:        f.Gap,
		SHA256:     sha256.Sum256(sealed),
	}
	r.prevEnd = rec.ServerTime.Add(f.Duration)
	// A frame is not captured after it arrived: the ingest already keeps
	// a producer time at or before the frame's arrival, but the server
	// time is the smoothed arrival of the first frame plus the media
	// time, which lies up to a network jitter before the real arrival of
	// a later keyframe. Hold the producer time to the server time (both
	// read on this clock, before a clock correction moves the server
	// time) so no fragment claims a capture after it was received.
	producer := f.Wall
	if !r.ProducerTimesAsSent && producer.After(rec.ServerTime) {
		producer = rec.ServerTime
	}
	if r.Clock != nil {
		// The anchor is on the timeline of the last frame taken from the
		// queue; when the clock moved since (its frames are still
		// queued), the fragment is stored on the clock's present one.
		cs := r.clock
		if _, cur := r.Clock.Read(); cur != cs {
			rec.ServerTime = rec.ServerTime.Add(cur.Offset - cs.Offset)
			cs = cur
		}
		if !cs.Synced {
			rec.ClockUnsynced, rec.ClockOffset = true, cs.Offset
		}
	}
	rec.ProducerTime = rec.ServerTime
	if !producer.IsZero() {
		rec.ProducerTime = producer
	}
	for _, t := range f.Tracks {
		// The size the fragment's SPS says (a camera restarted at another
		// resolution is seen here): replay compares them across a range.
		w, h := t.Width, t.Height
		switch t.Codec {
		case media.CodecH264:
			w, h = videoSize(t, mkv.CodecH264)
		case media.CodecH265:
			w, h = videoSize(t, mkv.CodecH265)
		}
		rec.Tracks = append(rec.Tracks, index.TrackInfo{Codec: string(t.Codec), Kind: t.Kind().String(), Width: w, Height: h})
	}
	for _, fr := range f.Frames {
		if fr.Track >= 0 && fr.Track < len(rec.Tracks) {
			rec.Tracks[fr.Track].Frames++
		}
	}
	if err := r.Sink.PutFragment(ctx, rec, sealed); err != nil {
		return fmt.Errorf("fragment: store %d: %w", num, err)
	}
	r.Stats.FragmentsStored.Add(1)
	r.Stats.BytesStored.Add(uint64(len(sealed)))
	if r.OnStored != nil {
		r.OnStored(rec)
	}
	return nil
}
