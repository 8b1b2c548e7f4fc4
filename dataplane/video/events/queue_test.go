package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
	"github.com/kinedge/kinedge/index"
)

// readAll returns the fragment numbers of the events in the stream, in
// order.
func readAll(t *testing.T, e *engine.Engine) []string {
	t.Helper()
	it, err := e.GetShardIterator(DefaultStream, "shardId-000000000000", engine.TrimHorizon, "", timeZero)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.GetRecords(it, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range res.Records {
		var ev Event
		if err := json.Unmarshal(r.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.ApplianceID != "pi" {
			t.Fatalf("event %+v: appliance id", ev)
		}
		out = append(out, ev.FragmentNumber)
	}
	return out
}

func TestQueueAppendsInOrder(t *testing.T) {
	e := newEngine(t)
	q := &Queue{Appender: &Appender{Engine: e}, ApplianceID: "pi"}
	if err := q.Start(); err != nil {
		t.Fatal(err)
	}
	for n := uint64(1); n <= 5; n++ {
		q.Enqueue(index.Fragment{Stream: "cam1", Number: n})
	}
	q.Close() // appends what is queued
	q.Close() // idempotent
	if got := fmt.Sprint(readAll(t, e)); got != "[1 2 3 4 5]" {
		t.Fatalf("events %s", got)
	}
	if st := q.Stats(); st != (QueueStats{Published: 5}) {
		t.Fatalf("stats %+v", st)
	}
}

// TestQueueRecreatesStream: a deleted events stream is created again by
// the next event, which is not lost.
func TestQueueRecreatesStream(t *testing.T) {
	e := newEngine(t)
	q := &Queue{Appender: &Appender{Engine: e}, ApplianceID: "pi"}
	if err := q.Start(); err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := e.DeleteStream(DefaultStream, true); err != nil {
		t.Fatal(err)
	}
	q.Enqueue(index.Fragment{Stream: "cam1", Number: 9})
	q.Close()
	if got := fmt.Sprint(readAll(t, e)); got != "[9]" {
		t.Fatalf("events %s", got)
	}
}

// TestQueueFullDrops: Enqueue never blocks; an event that finds the queue
// full is counted as failed. The goroutine is not started, so the queue
// stays full.
func TestQueueFullDrops(t *testing.T) {
	q := &Queue{Appender: &Appender{}, queue: make(chan Event, 1)}
	q.Logger = discard()
	q.Enqueue(index.Fragment{Stream: "cam1", Number: 1})
	q.Enqueue(index.Fragment{Stream: "cam1", Number: 2})
	if st := q.Stats(); st.Failed != 1 || len(q.queue) != 1 {
		t.Fatalf("stats %+v, queued %d", st, len(q.queue))
	}
}

func TestQueueStartNeedsAppender(t *testing.T) {
	if err := (&Queue{}).Start(); err == nil {
		t.Fatal("Start without Appender succeeded")
	}
	(&Queue{}).Close() // Close without Start is fine
}

var timeZero time.Time

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestQueueCorrectionWaitsForRoom: a correction event waits for room in a
// full queue rather than being dropped, until its context ends.
func TestQueueCorrectionWaitsForRoom(t *testing.T) {
	q := &Queue{Appender: &Appender{Engine: newEngine(t)}, Size: 1}
	if err := q.Start(); err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for i := range 50 {
		f := index.Fragment{Stream: "cam", Number: uint64(i), ServerTime: at, ProducerTime: at}
		q.EnqueueCorrection(context.Background(), f, at.Add(-time.Hour))
	}
	q.Close()
	if st := q.Stats(); st.Published != 50 || st.Failed != 0 {
		t.Fatalf("stats %+v, want 50 published", st)
	}
	// A full queue and an ended context: dropped and counted.
	q2 := &Queue{Appender: &Appender{Engine: newEngine(t)}, Size: 1}
	q2.queue = make(chan Event, 1) // not started: nothing drains it
	q2.Logger = slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	q2.EnqueueCorrection(ctx, index.Fragment{Stream: "cam"}, at)
	q2.EnqueueCorrection(ctx, index.Fragment{Stream: "cam"}, at)
	if st := q2.Stats(); st.Failed != 1 {
		t.Fatalf("stats %+v, want the second dropped", st)
	}
}
