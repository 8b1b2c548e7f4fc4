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
// fragmentNumber is a decimal string, as in the KVS archived-media APIs
// (ListFragments, GetMediaForFragmentList), so it can be passed back to
// them as it is.
package events

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
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
}

// NewEvent builds an Event from a fragment's metadata.
func NewEvent(stream string, number uint64, server, producer time.Time, duration time.Duration, size int64, keyID string, sha256 [32]byte) Event {
	return Event{
		Stream:            stream,
		FragmentNumber:    fmt.Sprint(number),
		ServerTimestamp:   server.UTC(),
		ProducerTimestamp: producer.UTC(),
		DurationMs:        duration.Milliseconds(),
		Size:              size,
		KeyID:             keyID,
		SHA256:            hex.EncodeToString(sha256[:]),
	}
}

// Publisher appends fragment events to a data stream of the engine.
type Publisher struct {
	// Engine is the data streams engine. Required.
	Engine *engine.Engine
	// Stream is the data stream name. It defaults to DefaultStream.
	Stream string
	// Shards is the shard count when the stream is created. It defaults
	// to 1.
	Shards int
}

func (p *Publisher) stream() string {
	if p.Stream == "" {
		return DefaultStream
	}
	return p.Stream
}

// Start creates the data stream unless it exists (at the appliance's
// first start).
func (p *Publisher) Start() error {
	if p.Engine == nil {
		return ErrNoEngine
	}
	n := p.Shards
	if n <= 0 {
		n = 1
	}
	if err := p.Engine.EnsureStream(p.stream(), n); err != nil {
		return fmt.Errorf("events: create %s: %w", p.stream(), err)
	}
	return nil
}

// Publish appends ev durably and returns its sequence number.
func (p *Publisher) Publish(ctx context.Context, ev Event) (string, error) {
	if p.Engine == nil {
		return "", ErrNoEngine
	}
	if ev.Stream == "" {
		return "", ErrBadEvent
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("events: encode: %w", err)
	}
	r, err := p.Engine.PutRecord(ctx, p.stream(), engine.PutEntry{PartitionKey: ev.Stream, Data: b}, "")
	if err != nil {
		return "", fmt.Errorf("events: put %s: %w", p.stream(), err)
	}
	return r.SequenceNumber, nil
}
