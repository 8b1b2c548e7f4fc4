package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
)

// DefaultQueueSize bounds the events waiting to be appended: minutes of
// events for dozens of cameras.
const DefaultQueueSize = 4096

// Queue turns stored fragments into fragment events and appends them on its
// own goroutine, so a recorder never waits for the data stream: Enqueue
// only queues, and a full queue drops the event and counts it as failed
// (the fragment itself is stored; memory stays bounded). Events keep their
// order. A failed append is logged and counted, never retried, except
// once when the events stream is missing: Queue creates it and appends
// again (it could not be created at Start on a full disk, or a user
// deleted it).
type Queue struct {
	// Appender appends the events. Required.
	Appender *Appender
	// ApplianceID is written in every event (Event.ApplianceID).
	ApplianceID string
	// Size bounds the queued events. It defaults to DefaultQueueSize.
	Size int
	// AppendTimeout bounds one append. It defaults to 10 s.
	AppendTimeout time.Duration
	// Logger receives the failures. It defaults to discarding.
	Logger *slog.Logger

	published, failed atomic.Uint64
	queue             chan Event
	done              chan struct{}
	closeOnce         sync.Once
}

// QueueStats counts a Queue's events.
type QueueStats struct {
	// Published events were appended to the data stream.
	Published uint64
	// Failed events were dropped (queue full) or their append failed.
	Failed uint64
}

// Start creates the events stream unless it exists and starts the
// goroutine. A full or read-only disk does not stop it: the stream is then
// created with the first event that finds room.
func (q *Queue) Start() error {
	if q.Appender == nil {
		return ErrNoEngine
	}
	if q.Size <= 0 {
		q.Size = DefaultQueueSize
	}
	if q.AppendTimeout <= 0 {
		q.AppendTimeout = 10 * time.Second
	}
	if q.Logger == nil {
		q.Logger = slog.New(slog.DiscardHandler)
	}
	if err := q.Appender.Start(); err != nil {
		if !errors.Is(err, store.ErrFull) && !errors.Is(err, store.ErrReadOnly) {
			return err
		}
		q.Logger.Warn("fragment events stream not created yet: the disk is full", "stream", q.Appender.stream(), "err", err)
	}
	q.queue = make(chan Event, q.Size)
	q.done = make(chan struct{})
	go q.run()
	return nil
}

// Enqueue queues the event of fragment f. It never blocks; it must not be
// called after Close.
func (q *Queue) Enqueue(f index.Fragment) {
	select {
	case q.queue <- NewEvent(f, q.ApplianceID):
	default:
		q.failed.Add(1)
		q.Logger.Warn("fragment event dropped", "stream", f.Stream, "fragment", f.Number, "err", ErrQueueFull)
	}
}

// EnqueueCorrection queues the correction event of fragment f, whose
// server time was was before the clock correction moved it (or cleared
// its mark): index.Index.OnClockCorrected. Unlike Enqueue it waits for
// room (a correction moves every fragment recorded before the clock was
// set at once, more than the queue holds) until ctx ends, which drops
// the event and counts it as failed. It must not be called after Close.
func (q *Queue) EnqueueCorrection(ctx context.Context, f index.Fragment, was time.Time) {
	ev := NewEvent(f, q.ApplianceID)
	ev.Correction = true
	was = was.UTC()
	ev.PreviousServerTimestamp = &was
	select {
	case q.queue <- ev: // room: never dropped, even with ctx ended
		return
	default:
	}
	select {
	case q.queue <- ev:
	case <-ctx.Done():
		q.failed.Add(1)
		q.Logger.Warn("fragment correction event dropped", "stream", f.Stream, "fragment", f.Number, "err", ctx.Err())
	}
}

// Close appends what is queued and stops the goroutine. Idempotent.
func (q *Queue) Close() {
	q.closeOnce.Do(func() {
		if q.queue == nil {
			return
		}
		close(q.queue)
		<-q.done
	})
}

// Stats returns the counts so far.
func (q *Queue) Stats() QueueStats {
	return QueueStats{Published: q.published.Load(), Failed: q.failed.Load()}
}

func (q *Queue) run() {
	defer close(q.done)
	for ev := range q.queue {
		if err := q.append(ev); err != nil {
			q.failed.Add(1)
			q.Logger.Warn("fragment event not published", "stream", ev.Stream, "fragment", ev.FragmentNumber, "err", err)
			continue
		}
		q.published.Add(1)
	}
}

// append appends one event. Writes wait out the index's prefix drops in
// the store; a refusal (storage full) or any other error is final.
func (q *Queue) append(ev Event) error {
	ctx, cancel := context.WithTimeout(context.Background(), q.AppendTimeout)
	defer cancel()
	_, err := q.Appender.Append(ctx, ev)
	if errors.Is(err, engine.ErrNotFound) {
		if serr := q.Appender.Start(); serr != nil {
			return errors.Join(err, serr)
		}
		_, err = q.Appender.Append(ctx, ev)
	}
	if err != nil {
		return fmt.Errorf("events: append fragment %s: %w", ev.FragmentNumber, err)
	}
	return nil
}
