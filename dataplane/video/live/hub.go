package live

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/kinedge/kinedge/ingest/media"
)

// Defaults of the Hub's fields.
const (
	DefaultMaxViewers  = 8
	DefaultQueueFrames = 256
	DefaultQueueBytes  = 8 << 20
)

// Hub is the live fan-out of every video stream. The zero value is ready
// to use with the defaults; set the fields before the first call and do
// not change them afterwards. Safe for concurrent use.
type Hub struct {
	// MaxViewers bounds the viewers of one stream. It defaults to
	// DefaultMaxViewers.
	MaxViewers int
	// QueueFrames and QueueBytes bound each viewer's queue. They default
	// to DefaultQueueFrames (about 3 s of 30 fps video with 50 audio
	// packets a second) and DefaultQueueBytes.
	QueueFrames, QueueBytes int

	mu      sync.Mutex
	closed  bool
	streams map[string]*stream
}

// stream is one video stream's live state: its current feed and viewers.
// Guarded by Hub.mu.
type stream struct {
	feed    *Feed // nil between sources
	gen     uint64
	viewers map[*Viewer]struct{}
	dropped atomic.Uint64
	// joined and left count the viewers over the hub's life.
	joined uint64
}

// Stats is a snapshot of one stream's live view.
type Stats struct {
	// Live is true while a source feeds the stream.
	Live bool
	// Viewers now.
	Viewers int
	// Dropped counts the frames not delivered to a viewer because its
	// queue was full (the frame and everything queued before it), over the
	// hub's life.
	Dropped uint64
	// Joined counts the viewers that subscribed, over the hub's life.
	Joined uint64
}

func (h *Hub) maxViewers() int {
	if h.MaxViewers > 0 {
		return h.MaxViewers
	}
	return DefaultMaxViewers
}

func (h *Hub) queueFrames() int {
	if h.QueueFrames > 0 {
		return h.QueueFrames
	}
	return DefaultQueueFrames
}

func (h *Hub) queueBytes() int {
	if h.QueueBytes > 0 {
		return h.QueueBytes
	}
	return DefaultQueueBytes
}

// streamLocked returns the state of a stream, created on first use.
func (h *Hub) streamLocked(name string) *stream {
	if h.streams == nil {
		h.streams = map[string]*stream{}
	}
	st := h.streams[name]
	if st == nil {
		st = &stream{viewers: map[*Viewer]struct{}{}}
		h.streams[name] = st
	}
	return st
}

// Attach starts feeding a stream from a new source with the given tracks
// (the Hub keeps clones). A previous feed of the stream stops counting:
// its frames are ignored from now on. The caller writes the source's
// frames to the Feed and closes it when the source ends.
func (h *Hub) Attach(name string, tracks []*media.Track) *Feed {
	f := &Feed{hub: h, name: name, tracks: make([]*media.Track, len(tracks)), video: -1}
	for i, t := range tracks {
		f.tracks[i] = t.Clone()
		if t.Kind() == media.KindVideo && f.video < 0 {
			f.video = i
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.streamLocked(name)
	st.gen++
	f.gen = st.gen
	st.feed = f
	for v := range st.viewers {
		v.newSource(f)
	}
	return f
}

// Subscribe adds a viewer to a stream that has a live source now. The
// viewer's first frame is the stream's next video keyframe. The caller
// must Close the viewer.
func (h *Hub) Subscribe(name string) (*Viewer, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrHubClosed
	}
	st := h.streamLocked(name)
	if st.feed == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoSource, name)
	}
	if len(st.viewers) >= h.maxViewers() {
		return nil, fmt.Errorf("%w: %s has %d (the limit)", ErrTooManyViewers, name, len(st.viewers))
	}
	v := &Viewer{hub: h, name: name, st: st, notify: make(chan struct{}, 1), done: make(chan struct{}),
		maxFrames: h.queueFrames(), maxBytes: h.queueBytes()}
	v.tracks = st.feed.tracks
	v.newSource(st.feed)
	st.viewers[v] = struct{}{}
	st.joined++
	return v, nil
}

// Stats returns a snapshot of every stream that had a source or a viewer,
// by name.
func (h *Hub) Stats() map[string]Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]Stats, len(h.streams))
	for name, st := range h.streams {
		out[name] = Stats{Live: st.feed != nil, Viewers: len(st.viewers), Dropped: st.dropped.Load(), Joined: st.joined}
	}
	return out
}

// Close refuses new viewers and ends the current ones (their Next returns
// ErrViewerClosed). Feeds keep working and deliver nothing. Idempotent.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	var all []*Viewer
	for _, st := range h.streams {
		for v := range st.viewers {
			all = append(all, v)
		}
	}
	h.mu.Unlock()
	for _, v := range all {
		v.Close()
	}
}

// Feed is the writing end of one source of a stream. WriteFrame and Close
// are called from one goroutine (the ingest session's, serialised).
type Feed struct {
	hub    *Hub
	name   string
	gen    uint64
	tracks []*media.Track
	video  int // index of the video track, -1 when none
}

// WriteFrame hands a copy of f to every viewer of the stream. It never
// blocks for long and does not keep f: the caller still owns it. Without
// viewers it copies nothing.
func (f *Feed) WriteFrame(fr *media.Frame) {
	if fr.Track < 0 || fr.Track >= len(f.tracks) {
		return
	}
	h := f.hub
	h.mu.Lock()
	st := h.streams[f.name]
	watched := st != nil && st.feed == f && len(st.viewers) > 0
	h.mu.Unlock()
	if !watched {
		return
	}
	// One copy, outside the lock, shared read-only by every viewer.
	c := *fr
	c.Data = append([]byte(nil), fr.Data...)
	it := Item{Frame: &c, Track: f.tracks[fr.Track], Gen: f.gen}
	key := fr.Key && (f.video < 0 || fr.Track == f.video)
	h.mu.Lock()
	defer h.mu.Unlock()
	if st.feed != f {
		return
	}
	for v := range st.viewers {
		if n := v.push(it, key); n > 0 {
			st.dropped.Add(uint64(n))
		}
	}
}

// Close ends the source: the stream has no live source until the next
// Attach. Viewers stay subscribed. Idempotent.
func (f *Feed) Close() {
	h := f.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if st := h.streams[f.name]; st != nil && st.feed == f {
		st.feed = nil
	}
}

// Item is one frame delivered to a viewer.
type Item struct {
	// Frame is shared among the viewers: read-only.
	Frame *media.Frame
	// Track describes the frame's track (read-only).
	Track *media.Track
	// Gen numbers the source within the stream: it changes when a new
	// source attaches (new timeline, maybe new parameter sets).
	Gen uint64
}

// Viewer is one subscriber of a stream: a bounded queue of Items. One
// goroutine calls Next; Close may be called from any.
type Viewer struct {
	hub       *Hub
	name      string
	st        *stream
	tracks    []*media.Track // of the source at Subscribe
	notify    chan struct{}  // capacity 1: something was queued
	done      chan struct{}  // closed by Close
	closeOnce sync.Once
	maxFrames int
	maxBytes  int

	mu      sync.Mutex
	queue   []Item // FIFO; queue[head:] is pending
	head    int
	bytes   int
	waitKey bool // skip until the next video keyframe
	dropped uint64
}

// Tracks returns the tracks of the stream's source when the viewer
// subscribed (read-only). Later sources may differ: see Item.Track.
func (v *Viewer) Tracks() []*media.Track { return v.tracks }

// Stream returns the name of the stream the viewer watches.
func (v *Viewer) Stream() string { return v.name }

// Dropped returns the frames this viewer lost to a full queue.
func (v *Viewer) Dropped() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.dropped
}

// newSource makes the viewer wait for the new source's first keyframe.
// Called with Hub.mu held.
func (v *Viewer) newSource(f *Feed) {
	v.mu.Lock()
	v.waitKey = f.video >= 0
	v.mu.Unlock()
}

// push queues an item, or drops it; it returns how many frames it dropped.
// Called with Hub.mu held.
func (v *Viewer) push(it Item, key bool) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.waitKey {
		if !key {
			return 0 // not yet started (or skipping after an overflow, counted then)
		}
		v.waitKey = false
	}
	size := len(it.Frame.Data)
	pending := len(v.queue) - v.head
	if pending >= v.maxFrames || (pending > 0 && v.bytes+size > v.maxBytes) {
		// Drop until keyframe: the queue's frames and this one go, and so
		// will the frames up to the next keyframe (not counted: they were
		// never owed to a viewer that could not decode them).
		n := pending + 1
		if key {
			// This keyframe starts the queue afresh.
			n = pending
			v.clearLocked()
			v.appendLocked(it, size)
		} else {
			v.clearLocked()
			v.waitKey = true
		}
		v.dropped += uint64(n)
		return n
	}
	v.appendLocked(it, size)
	return 0
}

func (v *Viewer) clearLocked() {
	clear(v.queue)
	v.queue = v.queue[:0]
	v.head = 0
	v.bytes = 0
}

func (v *Viewer) appendLocked(it Item, size int) {
	if v.head > 0 && v.head == len(v.queue) {
		v.queue = v.queue[:0]
		v.head = 0
	} else if v.head > len(v.queue)/2 && len(v.queue) == cap(v.queue) {
		n := copy(v.queue, v.queue[v.head:])
		clear(v.queue[n:])
		v.queue = v.queue[:n]
		v.head = 0
	}
	v.queue = append(v.queue, it)
	v.bytes += size
	select {
	case v.notify <- struct{}{}:
	default:
	}
}

// Next returns the viewer's next item, waiting for one until ctx ends or
// the viewer is closed.
func (v *Viewer) Next(ctx context.Context) (Item, error) {
	for {
		v.mu.Lock()
		if v.head < len(v.queue) {
			it := v.queue[v.head]
			v.queue[v.head] = Item{}
			v.head++
			v.bytes -= len(it.Frame.Data)
			v.mu.Unlock()
			return it, nil
		}
		v.mu.Unlock()
		select {
		case <-v.notify:
		case <-v.done:
			return Item{}, ErrViewerClosed
		case <-ctx.Done():
			return Item{}, ctx.Err()
		}
	}
}

// Close unsubscribes the viewer and frees its queue. Idempotent.
func (v *Viewer) Close() {
	v.closeOnce.Do(func() {
		h := v.hub
		h.mu.Lock()
		delete(v.st.viewers, v)
		h.mu.Unlock()
		close(v.done)
		v.mu.Lock()
		v.clearLocked()
		v.mu.Unlock()
	})
}
