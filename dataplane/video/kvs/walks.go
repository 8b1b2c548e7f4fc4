package kvs

import (
	"container/list"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/kinedge/kinedge/dataplane/video/hls"
	"github.com/kinedge/kinedge/index"
)

// Where the walks of sessions ended. A session's playlist numbers its
// fragments from the session's first (EXT-X-MEDIA-SEQUENCE, a DASH
// $Number$), so working out the newest window means counting every
// fragment since the session began. Walked from the start at every
// request, a LIVE session of 12 hours (21,600 fragments of 2 s) read
// 21,600 index entries at each reload of each player, and a DASH segment
// request as many again. A sessionWalk keeps where the last walk ended:
// the counters and the window, so the next request walks only what was
// stored since.
//
// The numbering stays as the first walk made it: a fragment stored later
// with a timestamp before the walk's end (a producer's late fragment, in
// a session by producer time) is not inserted, and the fragments
// retention drops at the session's start do not renumber the others.
// Players need exactly that: a sliding playlist whose numbers never move.

// maxWalkSegments bounds the segments the walks keep in all (each is a
// fragment's index record, a few hundred bytes: some MiB), unless
// walks.limit says otherwise: the least recently used walks are
// forgotten past it, and their sessions walk from the start again at
// their next request.
const maxWalkSegments = 20000

// maxWalks bounds the walks kept (a web page's live view opens a session
// at each visit): past it the least recently used are forgotten too.
const maxWalks = 1024

// walk is a session's walk so far.
type walk struct {
	mu         sync.Mutex     // one walk of a session at a time: a player's parallel requests wait for it
	n, disc    uint64         // fragments counted, discontinuities counted
	discBefore uint64         // discontinuities before the window's first segment
	prev       index.Fragment // the last fragment walked, if walked
	walked     bool
	playback   time.Duration // the playback time of the fragments walked
	runStart   time.Time
	segs       []sessionSegment // the window: the last s.MaxResults segments
	full       bool             // ON_DEMAND: the window is complete, nothing more is walked
}

// step adds fragment f to the walk of s (the body of the walk: see
// segments); it returns errStop when the walk ends before f.
func (w *walk) step(s hls.Session, f index.Fragment, elapsed time.Duration) error {
	if s.Mode == hls.LiveReplay && w.playback > elapsed+replayLead {
		return errStop
	}
	seg := sessionSegment{f: f, seq: w.n}
	if !w.walked {
		w.runStart = f.ServerTime
	} else {
		prev := &w.prev
		changed := !sameTracks(*prev, f)
		if changed {
			w.runStart = f.ServerTime
		}
		gap := f.Gap || f.ServerTime.Sub(prev.ServerTime.Add(prev.Duration)) > 50*time.Millisecond || f.ServerTime.Before(prev.ServerTime)
		seg.newMap = changed
		switch s.Discontinuity {
		case discontinuityAlways:
			seg.discontinuity = true
		case discontinuityOn:
			seg.discontinuity = gap || changed
		default:
			seg.discontinuity = changed
		}
	}
	seg.runStart = w.runStart
	if seg.discontinuity {
		w.disc++
	}
	w.n++
	w.playback += f.Duration
	w.prev, w.walked = f, true
	w.segs = append(w.segs, seg)
	if s.Mode == hls.OnDemand && len(w.segs) == s.MaxResults {
		w.full = true
		return errStop
	}
	if len(w.segs) > s.MaxResults {
		// The first segment slides out: the discontinuity between it
		// and the next now lies before the playlist.
		if w.segs[1].discontinuity {
			w.discBefore++
		}
		w.segs = append(w.segs[:0], w.segs[1:]...)
		w.segs[0].discontinuity = false
	}
	return nil
}

// after reports whether f comes after the last fragment walked in the
// index's order for s (by the selected time, then the number).
func (w *walk) after(s hls.Session, f index.Fragment) bool {
	if !w.walked {
		return true
	}
	a, b := selected(s, f), selected(s, w.prev)
	return a.After(b) || a.Equal(b) && f.Number > w.prev.Number
}

// walks is the Handler's table of session walks, least recently used
// first out.
type walks struct {
	limit int // segments kept in all; 0: maxWalkSegments

	mu    sync.Mutex
	byKey map[string]*list.Element // of *walkEntry
	lru   list.List                // front: most recently used
	segs  int                      // segments held by the entries, as of their last return
}

type walkEntry struct {
	key  string
	w    *walk
	segs int
}

// get returns the walk of s, new when none is kept, and its key (for
// held).
func (ws *walks) get(s hls.Session) (*walk, string) {
	key := walkKey(s)
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.byKey == nil {
		ws.byKey = make(map[string]*list.Element)
	}
	if e, ok := ws.byKey[key]; ok {
		ws.lru.MoveToFront(e)
		return e.Value.(*walkEntry).w, key
	}
	w := &walk{}
	ws.byKey[key] = ws.lru.PushFront(&walkEntry{key: key, w: w})
	return w, key
}

// held records that the walk of key (get's) now holds n segments, and
// forgets the least recently used walks past maxWalkSegments (never that
// walk).
func (ws *walks) held(key string, n int) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	e, ok := ws.byKey[key]
	if !ok {
		return
	}
	ent := e.Value.(*walkEntry)
	ws.segs += n - ent.segs
	ent.segs = n
	limit := ws.limit
	if limit <= 0 {
		limit = maxWalkSegments
	}
	for ws.segs > limit || ws.lru.Len() > maxWalks {
		last := ws.lru.Back()
		if last == e {
			return
		}
		old := ws.lru.Remove(last).(*walkEntry)
		delete(ws.byKey, old.key)
		ws.segs -= old.segs
	}
}

// walkKey names a session: everything its token says (two sessions that
// say the same are the same playlist).
func walkKey(s hls.Session) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // plain fields: cannot fail
	}
	return string(b)
}

// window returns a copy of the walk's window.
func (w *walk) window() []sessionSegment { return slices.Clone(w.segs) }
