package putmedia

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/ingest/media"
)

// session is one PutMedia request. Two goroutines: the handler's, which
// owns the response (acks) and the pending clusters, and the reader,
// which owns the body, the MKV reader and the media.Writer and tells the
// handler what it saw through events. The reader ends when the body ends
// or fails (a kick makes it fail by moving the read deadline); the
// handler waits for its last event before returning.
type session struct {
	srv    *Server
	p      params
	remote string
	mr     *mkv.Reader
	tracks map[uint64]*trackIn
	order  []*trackIn
	start  time.Time // wall clock of timecode 0 for RELATIVE timecodes
	began  time.Time // server clock at the request (MaxConnectionDuration)
	base   int64     // timecode (ms) of PTS 0
	based  bool

	events   chan event
	kicked   chan string // the reason of a Kick, buffered (1)
	signal   chan struct{}
	room     chan struct{}
	inflight atomic.Int64

	mu     sync.Mutex
	stores []storedFrag
}

type storedFrag struct {
	number uint64
	end    time.Time
}

// event is what the reader tells the handler.
type event struct {
	kind    string // an Event constant, or "" for the end of the body
	tc      uint64
	hasTC   bool
	maxWall time.Time
	bytes   int64
	id      ErrorID
}

// pendingCluster is a RECEIVED cluster not yet PERSISTED.
type pendingCluster struct {
	tc      uint64
	maxWall time.Time
	bytes   int64
}

func (s *session) stored(number uint64, end time.Time) {
	s.mu.Lock()
	s.stores = append(s.stores, storedFrag{number, end})
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// deadlineReader moves the connection's read deadline ahead of each read
// of the body, so a stalled producer is cut after ReadTimeout while a
// steady one may stream for hours.
type deadlineReader struct {
	r       io.Reader
	rc      *http.ResponseController
	timeout time.Duration
	stopped atomic.Bool
}

// errStopped ends the body of a session that is being ended.
var errStopped = errors.New("putmedia: session ended by the server")

func (d *deadlineReader) Read(p []byte) (int, error) {
	if d.stopped.Load() {
		return 0, errStopped
	}
	_ = d.rc.SetReadDeadline(time.Now().Add(d.timeout))
	if d.stopped.Load() { // stop raced with the deadline just set
		_ = d.rc.SetReadDeadline(time.Now())
	}
	return d.r.Read(p)
}

// stop ends the reads of the body: the one blocked now (its deadline
// moves to now) and every later one.
func (d *deadlineReader) stop() {
	d.stopped.Store(true)
	_ = d.rc.SetReadDeadline(time.Now())
}

// ServeHTTP implements KVS PutMedia.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.defaults()
	id := awsproto.RequestID(r.Context())
	p, err := parseParams(r.Header)
	if err != nil {
		awsproto.WriteError(w, awsproto.JSON, id, err)
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.EnableFullDuplex() // acks go out while the body streams in
	body := &deadlineReader{r: r.Body, rc: rc, timeout: s.ReadTimeout}
	sess := &session{
		srv: s, p: p, remote: r.RemoteAddr,
		mr:     mkv.NewReader(body, mkv.ReaderOptions{MaxElementSize: maxElementSize}),
		tracks: map[uint64]*trackIn{},
		events: make(chan event, 64),
		kicked: make(chan string, 1),
		signal: make(chan struct{}, 1),
		room:   make(chan struct{}, 1),
		start:  p.producerStart,
		began:  s.Now(),
	}
	if sess.start.IsZero() {
		sess.start = sess.began
	}
	tracks, ackErr, err := sess.readHead()
	if err != nil {
		awsproto.WriteError(w, awsproto.JSON, id, httpError(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-RequestId", id)
	if ackErr != 0 {
		w.WriteHeader(http.StatusOK)
		s.stats.countError(ackErr)
		_, _ = w.Write(appendAck(nil, EventError, nil, 0, ackErr))
		return
	}
	mw, err := s.Publisher.Publish(&PublishRequest{Stream: p.stream, Tracks: tracks, RemoteAddr: r.RemoteAddr,
		Kick: func(reason string) {
			select {
			case sess.kicked <- reason:
			default:
			}
		}})
	if err != nil {
		awsproto.WriteError(w, awsproto.JSON, id, httpError(err))
		return
	}
	s.mu.Lock()
	s.sessions[p.stream] = sess
	s.mu.Unlock()
	s.stats.Sessions.Add(1)
	defer func() {
		s.stats.Sessions.Add(-1)
		s.mu.Lock()
		if s.sessions[p.stream] == sess {
			delete(s.sessions, p.stream)
		}
		s.mu.Unlock()
	}()
	s.Logger.Info("putmedia session", "stream", p.stream, "remote", r.RemoteAddr, "tracks", len(tracks))
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	go sess.read(mw)
	sess.serve(w, rc, r, body)
}

// readHead reads the EBML header, Info and Tracks. It returns the tracks,
// or an ack error for bad MKV, or an HTTP error for tracks kinedge cannot
// record.
func (s *session) readHead() ([]*media.Track, ErrorID, error) {
	for {
		ev, err := s.mr.Next()
		if err != nil {
			return nil, readErrorID(err), nil
		}
		switch ev := ev.(type) {
		case mkv.Tracks:
			if len(ev.Tracks) == 0 {
				return nil, InvalidMKVData, nil
			}
			if len(ev.Tracks) > s.srv.MaxTracks {
				return nil, MoreThanAllowedTracksFound, nil
			}
			out := make([]*media.Track, 0, len(ev.Tracks))
			for i, t := range ev.Tracks {
				if _, dup := s.tracks[t.Number]; dup {
					return nil, InvalidMKVData, nil
				}
				in, err := newTrack(t, i)
				if err != nil {
					return nil, 0, err
				}
				s.tracks[t.Number] = in
				s.order = append(s.order, in)
				out = append(out, in.track)
			}
			return out, 0, nil
		case mkv.ClusterStart, mkv.Block:
			return nil, InvalidMKVData, nil // clusters before Tracks
		}
	}
}

// readErrorID classifies a Reader error: malformed Matroska is
// INVALID_MKV_DATA, a failed or cut transfer STREAM_READ_ERROR.
func readErrorID(err error) ErrorID {
	for _, e := range []error{mkv.ErrNotMatroska, mkv.ErrInvalidVint, mkv.ErrElementTooLarge, mkv.ErrTooDeep, mkv.ErrOverflow,
		mkv.ErrUnknownSize, mkv.ErrInvalidElement, mkv.ErrInvalidBlock, mkv.ErrInvalidLacing, mkv.ErrUnsupported} {
		if errors.Is(err, e) {
			return InvalidMKVData
		}
	}
	if errors.Is(err, io.EOF) { // no Tracks at all
		return InvalidMKVData
	}
	return StreamReadError
}

// read is the reader goroutine: body → frames → events. It closes mw
// (which stores the last fragment) before its last event.
func (s *session) read(mw media.Writer) {
	var (
		cur     pendingCluster
		open    bool // a cluster is open
		bad     bool // the open cluster got an ERROR ack: skip the rest
		lastTC  uint64
		haveTC  bool
		final   ErrorID
		acked   bool // final's ERROR ack is sent
		ticks   <-chan time.Time
		stopTck = func() {}
		seen    = make([]bool, len(s.order)) // tracks with a block in the open cluster
	)
	send := func(ev event) { s.events <- ev }
	fail := func(id ErrorID) {
		bad = true
		s.inflight.Add(-cur.bytes)
		send(event{kind: EventError, tc: cur.tc, hasTC: true, id: id})
		// The frames after a skipped cluster may refer to frames it
		// held: the recorder starts a new run at the next keyframe.
		mw.Discontinuity("putmedia: cluster skipped: " + id.String())
	}
	endCluster := func() {
		if open && !bad && s.srv.RequireAllTracks && slices.Contains(seen, false) {
			fail(FramesMissingForTrack)
		}
		if open && !bad {
			send(event{kind: EventReceived, tc: cur.tc, hasTC: true, maxWall: cur.maxWall, bytes: cur.bytes})
		}
		open, bad = false, false
		clear(seen)
	}
	for final == 0 {
		ev, err := s.mr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			if readErrorID(err) == InvalidMKVData {
				// Malformed data: the cluster it is in gets its ERROR
				// ack and reading goes on at the next cluster.
				if open && !bad {
					fail(InvalidMKVData)
				} else if !open {
					send(event{kind: EventError, id: InvalidMKVData})
				}
				open, bad = false, false
				skipped, rerr := s.mr.Resync()
				if rerr == nil {
					s.srv.Logger.Info("putmedia: skipped malformed data", "stream", s.p.stream, "bytes", skipped, "err", err)
					continue
				}
				if errors.Is(rerr, io.EOF) {
					break
				}
				acked = true // the ERROR ack is sent; the session ends
			}
			final = readErrorID(err)
			s.srv.Logger.Info("putmedia body ended", "stream", s.p.stream, "err", err)
			break
		}
		switch ev := ev.(type) {
		case mkv.ClusterStart:
			endCluster()
			// Back-pressure: wait (at most a tick, see the package
			// comment) while too much is received and not persisted.
			if s.inflight.Load() > s.srv.InFlightBytes {
				if ticks == nil {
					ticks, stopTck = s.srv.NewTicker(s.srv.IdleInterval)
				}
				select {
				case <-s.room:
				case <-ticks:
				}
			}
			open, cur = true, pendingCluster{tc: ev.Timecode}
			if d := s.srv.MaxConnectionDuration; d > 0 && s.srv.Now().Sub(s.began) > d {
				final = MaxConnectionDurationReached // fail(final) below acks this cluster
				continue
			}
			if haveTC && ev.Timecode < lastTC {
				fail(FragmentTimecodeLesserThanPrev)
				continue
			}
			lastTC, haveTC = ev.Timecode, true
			if !s.based {
				s.base, s.based = int64(ev.Timecode), true
			}
			send(event{kind: EventBuffering, tc: cur.tc, hasTC: true})
		case mkv.Block:
			if !open || bad {
				continue
			}
			in := s.tracks[ev.Track]
			if in == nil {
				fail(TrackNumberMismatch)
				continue
			}
			if time.Duration(ev.Timecode-int64(cur.tc))*time.Millisecond > s.srv.MaxFragmentDuration {
				fail(MaxFragmentDurationReached)
				continue
			}
			if cur.bytes+int64(len(ev.Data)) > s.srv.MaxFragmentSize {
				fail(MaxFragmentSizeReached)
				continue
			}
			wall := s.wall(ev.Timecode)
			f, err := in.frame(&ev, time.Duration(ev.Timecode-s.base)*time.Millisecond, wall)
			if err != nil {
				fail(InvalidMKVData)
				continue
			}
			seen[in.index] = true
			cur.bytes += int64(len(ev.Data))
			s.inflight.Add(int64(len(ev.Data)))
			if wall.After(cur.maxWall) {
				cur.maxWall = wall
			}
			mw.WriteFrame(f)
		case mkv.ClusterEnd:
			endCluster()
		case mkv.Tracks:
			// A new segment (a producer restarting its muxer) must keep
			// the session's tracks.
			if !s.sameTracks(ev.Tracks) {
				final = TrackNumberMismatch
			}
		}
	}
	if final != 0 && open && !bad {
		fail(final)
	} else {
		endCluster()
		if final != 0 && !acked {
			send(event{kind: EventError, id: final})
		}
	}
	stopTck()
	mw.Close()
	send(event{})
}

// wall is the producer time of a timecode (ms).
func (s *session) wall(tc int64) time.Time {
	if s.p.absolute {
		return time.UnixMilli(tc).UTC()
	}
	return s.start.Add(time.Duration(tc) * time.Millisecond)
}

func (s *session) sameTracks(ts []mkv.Track) bool {
	if len(ts) != len(s.order) {
		return false
	}
	for _, t := range ts {
		in := s.tracks[t.Number]
		if in == nil {
			return false
		}
		if n, err := newTrack(t, in.index); err != nil || n.track.Codec != in.track.Codec {
			return false
		}
	}
	return true
}

// serve is the handler goroutine's loop: it writes the acks until the
// reader's last event.
func (s *session) serve(w http.ResponseWriter, rc *http.ResponseController, r *http.Request, body *deadlineReader) {
	ticks, stop := s.srv.NewTicker(s.srv.IdleInterval)
	defer stop()
	var (
		pending []pendingCluster
		buf     []byte
		broken  bool // the client is gone: stop writing
		wrote   bool // something was written since the last tick
		done    = r.Context().Done()
	)
	write := func(typ string, tc *uint64, number uint64, id ErrorID) {
		if id != 0 {
			s.srv.stats.countError(id)
		}
		if !s.p.ackRequired && typ != EventError {
			return
		}
		if broken {
			return
		}
		buf = appendAck(buf[:0], typ, tc, number, id)
		if _, err := w.Write(buf); err != nil {
			s.srv.Logger.Debug("putmedia: ack not written", "stream", s.p.stream, "err", err)
			broken = true
			body.stop() // end the reader too
			return
		}
		_ = rc.Flush()
		wrote = true
	}
	// persist acknowledges the pending clusters, in order, that a stored
	// fragment covers (it ends after their latest frame). A stored
	// fragment is kept until a cluster proves it older than everything
	// still to come: it may be told before the cluster's RECEIVED.
	persist := func(all bool) {
		freed := false
		s.mu.Lock()
		for len(pending) > 0 {
			pc := pending[0]
			for len(s.stores) > 0 && !pc.maxWall.Before(s.stores[0].end) {
				s.stores = s.stores[1:]
			}
			if len(s.stores) == 0 {
				break
			}
			tc := pc.tc
			write(EventPersisted, &tc, s.stores[0].number, 0)
			s.srv.stats.Fragments.Add(1)
			s.inflight.Add(-pc.bytes)
			pending = pending[1:]
			freed = true
		}
		s.mu.Unlock()
		if all {
			for _, pc := range pending {
				tc := pc.tc
				write(EventError, &tc, 0, ArchivalError)
			}
			pending = nil
		}
		if freed {
			select {
			case s.room <- struct{}{}:
			default:
			}
		}
	}
	for {
		select {
		case ev := <-s.events:
			switch ev.kind {
			case "":
				persist(true)
				return
			case EventBuffering:
				tc := ev.tc
				write(EventBuffering, &tc, 0, 0)
			case EventReceived:
				tc := ev.tc
				write(EventReceived, &tc, 0, 0)
				pending = append(pending, pendingCluster{tc: ev.tc, maxWall: ev.maxWall, bytes: ev.bytes})
				persist(false) // a fragment stored before this ack covers it
			case EventError:
				var tc *uint64
				if ev.hasTC {
					v := ev.tc
					tc = &v
				}
				write(EventError, tc, 0, ev.id)
			}
		case <-s.signal:
			persist(false)
		case reason := <-s.kicked:
			s.srv.Logger.Info("putmedia session kicked", "stream", s.p.stream, "reason", reason)
			body.stop()
		case <-done:
			// The client is gone, or the body failed (net/http cancels the
			// context then too): end the reader; acks are still tried,
			// and a failed write stops them.
			done = nil
			body.stop()
		case <-ticks:
			if !wrote {
				write(EventIdle, nil, 0, 0)
			}
			wrote = false
		}
	}
}
