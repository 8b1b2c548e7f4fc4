package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
	"github.com/kinedge/kinedge/dataplane/kinesis/engine/enginetest"
	"github.com/kinedge/kinedge/dataplane/video/events"
	"github.com/kinedge/kinedge/firmware/clock"
	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/ingest/media"
)

// SPS and PPS of a 320x240 libx264 stream.
var (
	clockTestSPS = []byte{0x67, 0xf4, 0x00, 0x0d, 0x91, 0x9b, 0x28, 0x28, 0x3f, 0x60, 0x22, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x00, 0x03, 0x00, 0x64, 0x1e, 0x28, 0x53, 0x2c}
	clockTestPPS = []byte{0x68, 0xeb, 0xe3, 0xc4, 0x48, 0x44}
)

func avccNALU(n []byte) []byte {
	return append([]byte{byte(len(n) >> 24), byte(len(n) >> 16), byte(len(n) >> 8), byte(len(n))}, n...)
}

// boardClock is a board's wall clock, monotonic clock and kernel sync
// state, moved by the test.
type boardClock struct {
	mu   sync.Mutex
	wall time.Time
	mono time.Duration
	sync clock.Sync
}

func (b *boardClock) Wall() time.Time     { b.mu.Lock(); defer b.mu.Unlock(); return b.wall }
func (b *boardClock) Mono() time.Duration { b.mu.Lock(); defer b.mu.Unlock(); return b.mono }
func (b *boardClock) advance(d time.Duration) {
	b.mu.Lock()
	b.wall, b.mono = b.wall.Add(d), b.mono+d
	b.mu.Unlock()
}
func (b *boardClock) Sync() (clock.Sync, time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sync, 0, nil
}

// TestClockCorrectionOfRecording: a board boots at 1970 without a time
// source and records a camera; nothing is stored at 1970, the fragments
// are marked and ordered on the boot's monotonic timeline; NTP then sets
// the clock, and the fragments recorded before it are found by timestamp
// at their real times, contiguous with those recorded after.
func TestClockCorrectionOfRecording(t *testing.T) {
	ctx := context.Background()
	board := &boardClock{wall: time.Unix(3, 0).UTC(), mono: 3 * time.Second, sync: clock.Unsynced}
	log := slog.New(slog.DiscardHandler)
	a := &appliance{log: log}
	a.clock = &clockWatch{interval: time.Hour, log: log, // the test takes the looks
		w: clock.Watcher{Wall: board.Wall, Mono: board.Mono, Sync: board.Sync}}
	a.clock.start()
	defer a.clock.stop()
	idx, err := index.Open(index.Options{InMemory: true, Now: a.clock.tl.Now, TimeFloor: a.clock.w.Floor, FutureTolerance: time.Minute, GCInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	a.idx = idx
	if err := a.startClockCorrection(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := idx.CreateStream(ctx, index.Stream{Name: "cam", RetentionHours: 24, MediaType: "video/h264"}); err != nil {
		t.Fatal(err)
	}
	keyring := &seal.Keyring{Store: idx.Keys(), Master: seal.MasterKey{1}, Logger: log}
	if err := keyring.Initialize(ctx); err != nil {
		t.Fatal(err)
	}
	// The fragment events, as serve wires them.
	evs := newEventsQueue(t)
	idx.OnClockCorrected(evs.EnqueueCorrection)
	rec := &fragment.Recorder{Stream: "cam", Tracks: []*media.Track{{Codec: media.CodecH264, ClockRate: 90000}},
		Target: 2 * time.Second, Sink: idx, Sealer: keyring, Clock: a.clock.recordClock(), Logger: log, OnStored: evs.Enqueue}
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	// 20 s of 25 fps video, a keyframe every second; NTP sets the clock
	// at 10 s.
	real := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	var syncMono time.Duration
	for i := range 500 {
		if i == 250 {
			// The 4 fragments closed so far are stored (marked) before the
			// clock is set: the correction moves them.
			waitIndexed(t, idx, "cam", 4)
			// A board that started at 1970 holds its recording back from
			// the archive until the clock is set.
			if !a.clock.archiveHold() {
				t.Fatal("no archive hold before the clock is set")
			}
			board.mu.Lock()
			board.wall, board.sync, syncMono = real, clock.Synced, board.mono
			board.mu.Unlock()
			a.clock.check(false)
			// The hold lasts until the correction and its repeats are
			// done.
			if !a.clock.archiveHold() {
				t.Fatal("archive hold released before the correction's repeats")
			}
		}
		key := i%25 == 0
		data := []byte{0, 0, 0, 2, 0x41, byte(i)}
		if key {
			data = append(append(avccNALU(clockTestSPS), avccNALU(clockTestPPS)...), 0, 0, 0, 2, 0x65, byte(i))
		}
		pts := time.Duration(i) * 40 * time.Millisecond
		rec.WriteFrame(&media.Frame{PTS: pts, DTS: pts, Key: key, Data: data})
		board.advance(40 * time.Millisecond)
	}
	rec.Close()
	if n := rec.Stats.StoreErrors.Load(); n != 0 {
		t.Fatalf("%d fragments not stored", n)
	}
	// The repeats catch a fragment stored during the correction; after
	// the last, the archive may upload.
	for range correctRepeats {
		if !a.clock.archiveHold() {
			t.Fatal("archive hold released before the correction's last repeat")
		}
		a.clock.check(false)
	}
	if a.clock.archiveHold() {
		t.Fatal("archive hold after the clock was set and the fragments corrected")
	}
	frags, _, err := idx.List(ctx, "cam", index.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(frags) < 9 {
		t.Fatalf("%d fragments stored, want 10", len(frags))
	}
	// The first frame arrived 10 s (of monotonic time) before the sync.
	start := real.Add(3*time.Second - syncMono)
	for i, f := range frags {
		want := start.Add(time.Duration(i) * 2 * time.Second)
		if !f.ServerTime.Equal(want) || f.ClockUnsynced {
			t.Errorf("fragment %d at %v (unsynced %v, offset %v), want %v", i, f.ServerTime, f.ClockUnsynced, f.ClockOffset, want)
		}
	}
	// Replay by timestamp: the first 10 s are found at their real times.
	before, _, err := idx.List(ctx, "cam", index.Query{Start: start, End: real.Add(-time.Millisecond)})
	if err != nil || len(before) != 5 {
		t.Fatalf("fragments recorded before the sync, by their real times: %d, %v", len(before), err)
	}
	if old, _, _ := idx.List(ctx, "cam", index.Query{End: real.Add(-time.Hour)}); len(old) != 0 {
		t.Fatalf("%d fragments left before the real time (first at %v)", len(old), old[0].ServerTime)
	}
	// A consumer of the fragment events learns the corrected times: each
	// event marked clockUnsynced is followed by a correction of the same
	// fragment from its time, and the last event of each fragment says
	// what the index holds.
	evs.Close()
	last := map[string]events.Event{}
	corrections := 0
	for _, ev := range evs.read(t) {
		prev, seen := last[ev.FragmentNumber]
		switch {
		case ev.Correction:
			corrections++
			if !seen || !prev.ClockUnsynced || ev.PreviousServerTimestamp == nil || !ev.PreviousServerTimestamp.Equal(prev.ServerTimestamp) {
				t.Errorf("correction of fragment %s from %v: the event before was %+v", ev.FragmentNumber, ev.PreviousServerTimestamp, prev)
			}
		case seen:
			t.Errorf("fragment %s published twice without a correction", ev.FragmentNumber)
		}
		last[ev.FragmentNumber] = ev
	}
	if len(last) != len(frags) || corrections < 4 {
		t.Fatalf("events of %d fragments with %d corrections, want %d fragments and the 4 recorded before the sync corrected", len(last), corrections, len(frags))
	}
	for _, f := range frags {
		ev := last[f.NumberString()]
		if !ev.ServerTimestamp.Equal(f.ServerTime) || ev.ClockUnsynced {
			t.Errorf("last event of fragment %d at %v (unsynced %v), stored at %v", f.Number, ev.ServerTimestamp, ev.ClockUnsynced, f.ServerTime)
		}
	}
}

// waitIndexed waits until stream holds n fragments (or the test's minute
// is up), woken by the index as each is stored.
func waitIndexed(t *testing.T, idx *index.Index, stream string, n int) {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		stored := idx.Stored(stream)
		fs, _, err := idx.List(context.Background(), stream, index.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) >= n {
			return
		}
		select {
		case <-stored:
		case <-deadline:
			t.Fatalf("%d fragments of %s stored, want %d", len(fs), stream, n)
		}
	}
}

// eventsQueue is a fragment events queue on an in-memory data streams
// engine.
type eventsQueue struct {
	*events.Queue
	eng *engine.Engine
}

func newEventsQueue(t *testing.T) eventsQueue {
	t.Helper()
	eng := enginetest.Open(t)
	q := &events.Queue{Appender: &events.Appender{Engine: eng}}
	if err := q.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	return eventsQueue{Queue: q, eng: eng}
}

// read returns every event appended, in order.
func (e eventsQueue) read(t *testing.T) []events.Event {
	t.Helper()
	it, err := e.eng.GetShardIterator(events.DefaultStream, "shardId-000000000000", engine.TrimHorizon, "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var out []events.Event
	for {
		res, err := e.eng.GetRecords(it, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.Records {
			var ev events.Event
			if err := json.Unmarshal(r.Data, &ev); err != nil {
				t.Fatal(err)
			}
			out = append(out, ev)
		}
		if len(res.Records) == 0 {
			return out
		}
		it = res.NextShardIterator
	}
}

// TestClockCorrectionAcrossRestart: a board boots at 1970 without a time
// source; run A of the appliance records a camera for 10 s and the
// process restarts (a crash, an update) 5 s later. Either run B of the
// same boot starts still unsynchronised, records for 20 s and NTP sets
// the clock 10 s in, or NTP set it during the restart and run B starts
// synchronised and records 10 s. Every fragment of both runs is then
// listed by timestamp at its real time: B's by its own timeline, A's
// placed by the kernel's boot clock, which kept counting across the
// restart.
func TestClockCorrectionAcrossRestart(t *testing.T) {
	t.Run("sync in run B", func(t *testing.T) { testClockCorrectionAcrossRestart(t, false) })
	t.Run("synced at run B's start", func(t *testing.T) { testClockCorrectionAcrossRestart(t, true) })
}

func testClockCorrectionAcrossRestart(t *testing.T, syncedAtStart bool) {
	ctx := context.Background()
	// board.mono is the kernel's boot clock; each run's monotonic clock
	// starts at its process's start.
	board := &boardClock{wall: time.Unix(3, 0).UTC(), mono: 3 * time.Second, sync: clock.Unsynced}
	bootID := "4dfb04db-b803-443f-a596-cd20d218407b"
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	real := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	var syncBoot time.Duration // the boot clock when NTP set the clock

	// run records frames of 25 fps video (a keyframe a second) as one
	// process, NTP setting the clock before frame syncAt (-1: never),
	// and returns the boot clock at its first frame.
	run := func(name string, frames, syncAt int) time.Duration {
		origin := board.Mono()
		a := &appliance{log: log}
		a.clock = &clockWatch{interval: time.Hour, log: log, // the test takes the looks
			w:    clock.Watcher{Wall: board.Wall, Mono: func() time.Duration { return board.Mono() - origin }, Sync: board.Sync},
			boot: func() (clock.Boot, error) { return clock.Boot{ID: bootID, Since: board.Mono()}, nil }}
		a.clock.start()
		defer a.clock.stop()
		idx, err := index.Open(index.Options{Dir: dir, NoSync: true, Now: a.clock.tl.Now, BootClock: a.clock.bootClock,
			TimeFloor: a.clock.w.Floor, FutureTolerance: time.Minute, GCInterval: time.Hour})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer func() {
			if err := idx.Close(); err != nil {
				t.Errorf("%s: close: %v", name, err)
			}
		}()
		a.idx = idx
		// A retention cycle before the correction (the purge of a deleted
		// stream resumed at open runs one): on run B's synchronised
		// clock, run A's fragments at the floor look months old, but
		// their age on the boot's clock is seconds; they must stay.
		if _, err := idx.RunGC(ctx); err != nil {
			t.Fatalf("%s: gc: %v", name, err)
		}
		if err := a.startClockCorrection(ctx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := idx.CreateStream(ctx, index.Stream{Name: "cam", RetentionHours: 24, MediaType: "video/h264"}); err != nil && !errors.Is(err, index.ErrStreamExists) {
			t.Fatalf("%s: %v", name, err)
		}
		keyring := &seal.Keyring{Store: idx.Keys(), Master: seal.MasterKey{1}, Logger: log}
		if err := keyring.Initialize(ctx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rec := &fragment.Recorder{Stream: "cam", Tracks: []*media.Track{{Codec: media.CodecH264, ClockRate: 90000}},
			Target: 2 * time.Second, Sink: idx, Sealer: keyring, Clock: a.clock.recordClock(), Logger: log}
		if err := rec.Start(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		first := board.Mono()
		for i := range frames {
			if i == syncAt {
				board.mu.Lock()
				board.wall, board.sync, syncBoot = real, clock.Synced, board.mono
				board.mu.Unlock()
				a.clock.check(false)
			}
			key := i%25 == 0
			data := []byte{0, 0, 0, 2, 0x41, byte(i)}
			if key {
				data = append(append(avccNALU(clockTestSPS), avccNALU(clockTestPPS)...), 0, 0, 0, 2, 0x65, byte(i))
			}
			pts := time.Duration(i) * 40 * time.Millisecond
			rec.WriteFrame(&media.Frame{PTS: pts, DTS: pts, Key: key, Data: data})
			board.advance(40 * time.Millisecond)
		}
		rec.Close()
		if n := rec.Stats.StoreErrors.Load(); n != 0 {
			t.Fatalf("%s: %d fragments not stored", name, n)
		}
		a.clock.check(false) // the repeat catches a fragment stored during the correction
		return first
	}

	firstA := run("run A", 250, -1)
	board.advance(5 * time.Second) // the restart
	var firstB time.Duration
	framesB := 500
	if syncedAtStart {
		board.mu.Lock()
		board.wall, board.sync, syncBoot = real, clock.Synced, board.mono
		board.mu.Unlock()
		framesB = 250
		firstB = run("run B", framesB, -1)
	} else {
		firstB = run("run B", framesB, 250)
	}

	// Read back as a third run of the boot would (synchronised at start:
	// nothing left to correct).
	idx, err := index.Open(index.Options{Dir: dir, NoSync: true, Now: board.Wall, GCInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	frags, _, err := idx.List(ctx, "cam", index.Query{})
	if err != nil {
		t.Fatal(err)
	}
	// The real time of the instant the boot clock read b.
	realAt := func(b time.Duration) time.Time { return real.Add(b - syncBoot) }
	var want []time.Time
	for i := range 5 {
		want = append(want, realAt(firstA+time.Duration(i)*2*time.Second))
	}
	for i := range framesB / 50 {
		want = append(want, realAt(firstB+time.Duration(i)*2*time.Second))
	}
	if len(frags) != len(want) {
		for _, f := range frags {
			t.Logf("fragment %d at %v (unsynced %v)", f.Number, f.ServerTime, f.ClockUnsynced)
		}
		t.Fatalf("%d fragments, want %d", len(frags), len(want))
	}
	for i, f := range frags {
		if !f.ServerTime.Equal(want[i]) || f.ClockUnsynced {
			t.Errorf("fragment %d (%d) at %v (unsynced %v, offset %v), want %v", i, f.Number, f.ServerTime, f.ClockUnsynced, f.ClockOffset, want[i])
		}
	}
	// Replay by timestamp: run A's 10 s are found at their real times,
	// 5 s (the restart) before run B's.
	if a, _, err := idx.List(ctx, "cam", index.Query{Start: realAt(firstA), End: realAt(firstA + 10*time.Second - time.Millisecond)}); err != nil || len(a) != 5 {
		t.Fatalf("run A's fragments by their real times: %d, %v", len(a), err)
	}
	if old, _, _ := idx.List(ctx, "cam", index.Query{End: real.Add(-time.Hour)}); len(old) != 0 {
		t.Fatalf("%d fragments left before the real time (first at %v)", len(old), old[0].ServerTime)
	}
	// Run A's record is settled; an unsynchronised run B's stays for a
	// later run of the boot.
	wantRuns := 1
	if syncedAtStart {
		wantRuns = 0
	}
	if runs, err := idx.ClockRuns(ctx); err != nil || len(runs) != wantRuns {
		t.Fatalf("runs recorded %+v, %v: want %d", runs, err, wantRuns)
	}
}
