package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Ack event types (KVS PutMedia AckEvent EventType).
const (
	EventBuffering = "BUFFERING"
	EventReceived  = "RECEIVED"
	EventPersisted = "PERSISTED"
	EventError     = "ERROR"
	EventIdle      = "IDLE"
)

// Ack is one KVS AckEvent, a JSON object a line of the PutMedia response.
type Ack struct {
	EventType        string
	FragmentTimecode *uint64 `json:",omitempty"`
	FragmentNumber   string  `json:",omitempty"`
	ErrorId          int     `json:",omitempty"` //nolint:revive // KVS's field name
	ErrorCode        string  `json:",omitempty"`
}

// ParseAck parses one line of a PutMedia response. The bytes come from
// the upstream, so every shape is checked: a known event type, a
// timecode on the events about a cluster, an ErrorId on ERROR.
func ParseAck(line []byte) (Ack, error) {
	var a Ack
	d := json.NewDecoder(bytes.NewReader(line))
	if err := d.Decode(&a); err != nil {
		return Ack{}, fmt.Errorf("%w: %v", ErrBadAck, err)
	}
	if d.More() {
		return Ack{}, fmt.Errorf("%w: trailing data", ErrBadAck)
	}
	switch a.EventType {
	case EventBuffering, EventReceived, EventPersisted:
		if a.FragmentTimecode == nil {
			return Ack{}, fmt.Errorf("%w: %s without FragmentTimecode", ErrBadAck, a.EventType)
		}
	case EventError:
		if a.ErrorId == 0 {
			return Ack{}, fmt.Errorf("%w: ERROR without ErrorId", ErrBadAck)
		}
	case EventIdle:
	default:
		return Ack{}, fmt.Errorf("%w: unknown EventType %q", ErrBadAck, a.EventType)
	}
	return a, nil
}
