// Package events defines the fragment events of kinedge: every video
// fragment the appliance stores appends one record to the data stream
// "kinedge-fragments" (the name is configurable), so that users can trigger
// their own processing from it with any Kinesis consumer (GetRecords,
// SubscribeToShard, the KCL).
//
// A record's partition key is the video stream name, so the events of one
// camera stay in order. Its data is one JSON object:
//
//	{
//	  "stream": "cam1",                              // video stream name
//	  "fragmentNumber": "91343852333181432392682062607743920146264342214",
//	  "serverTimestamp": "2026-11-25T12:00:00.123Z",  // RFC 3339, appliance clock
//	  "producerTimestamp": "2026-11-25T12:00:00.101Z",// RFC 3339, camera clock
//	  "durationMs": 2000,                            // media duration
//	  "size": 531234,                                // bytes of the sealed fragment
//	  "keyId": "cam1/3",                             // data key that sealed it
//	  "sha256": "9f86d0…",                           // hex digest of the sealed fragment
//	  "applianceId": "barn-pi",                      // the appliance that stored it
//	  "frames": 150,                                 // access units in the fragment
//	  "codecs": ["H264", "AAC"],                     // its tracks, in order
//	  "gap": true                                    // first after a discontinuity (omitted when false)
//	}
//
// A fragment recorded before the appliance's clock was set carries
// "clockUnsynced": true; when the clock is set and the correction moves
// it, a second event of the same fragmentNumber carries its real times,
// "correction": true and "previousServerTimestamp" (docs/clock.md).
//
// fragmentNumber is a decimal string, as in the KVS archived-media APIs
// (ListFragments, GetMediaForFragmentList), so it can be passed back to
// them as it is.
//
// Appender appends one event, durably, to the data stream. Queue is what
// the recorders use: a bounded queue in front of an Appender with its own
// goroutine, so storing video never waits for the data stream; a full queue
// drops the event and counts it (QueueStats.Failed, shown in /metrics).
package events

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
	"github.com/kinedge/kinedge/index"
)

// DefaultStream is the data stream the events go to by default.
const DefaultStream = "kinedge-fragments"

// Event is one stored fragment, in the JSON form of the package comment.
type Event struct {
	Stream            string    `json:"stream"`
	FragmentNumber    string    `json:"fragmentNumber"`
	ServerTimestamp   time.Time `json:"serverTimestamp"`
	ProducerTimestamp time.Time `json:"producerTimestamp"`
	DurationMs        int64     `json:"durationMs"`
	Size              int64     `json:"size"`
	KeyID             string    `json:"keyId,omitempty"`
	SHA256            string    `json:"sha256"`
	ApplianceID       string    `json:"applianceId,omitempty"`
	Frames            int       `json:"frames,omitempty"`
	Codecs            []string  `json:"codecs,omitempty"`
	Gap               bool      `json:"gap,omitempty"`
	// ClockUnsynced: the fragment was recorded before the appliance's
	// clock was set (a board without a real-time clock waiting for NTP);
	// its timestamps may move, and a correction event then follows
	// (docs/clock.md).
	ClockUnsynced bool `json:"clockUnsynced,omitempty"`
	// Correction marks the event of a fragment whose times the clock
	// correction moved, or whose ClockUnsynced mark it cleared: it
	// supersedes the earlier events of the same fragmentNumber.
	// PreviousServerTimestamp is the server timestamp before it.
	Correction              bool       `json:"correction,omitempty"`
	PreviousServerTimestamp *time.Time `json:"previousServerTimestamp,omitempty"`
}

// NewEvent builds the Event of a stored fragment, stored by appliance
// applianceID ("" to omit it).
func NewEvent(f index.Fragment, applianceID string) Event {
	ev := Event{
		Stream:            f.Stream,
		FragmentNumber:    f.NumberString(),
		ServerTimestamp:   f.ServerTime.UTC(),
		ProducerTimestamp: f.ProducerTime.UTC(),
		DurationMs:        f.Duration.Milliseconds(),
		Size:              f.Size,
		KeyID:             f.KeyID,
		SHA256:            hex.EncodeToString(f.SHA256[:]),
		ApplianceID:       applianceID,
		Frames:            f.Frames,
		Gap:               f.Gap,
		ClockUnsynced:     f.ClockUnsynced,
	}
	for _, t := range f.Tracks {
		ev.Codecs = append(ev.Codecs, t.Codec)
	}
	return ev
}

// Appender appends fragment events to a data stream of the engine, one
// durable write per call. Queue puts it behind a bounded queue for the
// recorders, which must never wait for it.
type Appender struct {
	// Engine is the data streams engine. Required.
	Engine *engine.Engine
	// Stream is the data stream name. It defaults to DefaultStream.
	Stream string
	// Shards is the shard count when the stream is created. It defaults
	// to 1.
	Shards int
}

func (a *Appender) stream() string {
	if a.Stream == "" {
		return DefaultStream
	}
	return a.Stream
}

// Start creates the data stream unless it exists (at the appliance's
// first start).
func (a *Appender) Start() error {
	if a.Engine == nil {
		return ErrNoEngine
	}
	n := a.Shards
	if n <= 0 {
		n = 1
	}
	if err := a.Engine.EnsureStream(a.stream(), n); err != nil {
		return fmt.Errorf("events: create %s: %w", a.stream(), err)
	}
	return nil
}

// Append appends ev durably and returns its sequence number.
func (a *Appender) Append(ctx context.Context, ev Event) (string, error) {
	if a.Engine == nil {
		return "", ErrNoEngine
	}
	if ev.Stream == "" {
		return "", ErrBadEvent
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("events: encode: %w", err)
	}
	r, err := a.Engine.PutRecord(ctx, a.stream(), engine.PutEntry{PartitionKey: ev.Stream, Data: b}, "")
	if err != nil {
		return "", fmt.Errorf("events: put %s: %w", a.stream(), err)
	}
	return r.SequenceNumber, nil
}
