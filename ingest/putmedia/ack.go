package putmedia

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Ack event types (KVS PutMedia AckEvent EventType).
const (
	EventBuffering = "BUFFERING"
	EventReceived  = "RECEIVED"
	EventPersisted = "PERSISTED"
	EventError     = "ERROR"
	EventIdle      = "IDLE"
)

// Ack is one acknowledgement of the PutMedia response stream, written as
// one JSON object a line: the server writes it, a client (the upstream
// forwarder, dataplane/video/upstream) reads it with ParseAck.
type Ack struct {
	// EventType is one of the Event constants.
	EventType string
	// FragmentTimecode is the timecode (ms) of the cluster the ack is
	// about, as the producer wrote it. Absent on IDLE.
	FragmentTimecode *uint64 `json:",omitempty"`
	// FragmentNumber is the number of the stored fragment that holds the
	// cluster (PERSISTED only).
	FragmentNumber string `json:",omitempty"`
	// ErrorId and ErrorCode say what went wrong (ERROR only).
	ErrorId   ErrorID `json:",omitempty"` //nolint:revive // KVS's field name
	ErrorCode string  `json:",omitempty"`
}

// appendAck appends the JSON line of an ack.
func appendAck(dst []byte, typ string, tc *uint64, number uint64, id ErrorID) []byte {
	a := Ack{EventType: typ, FragmentTimecode: tc}
	if number != 0 {
		a.FragmentNumber = strconv.FormatUint(number, 10)
	}
	if id != 0 {
		a.ErrorId, a.ErrorCode = id, id.String()
	}
	b, _ := json.Marshal(a) // cannot fail: plain fields
	return append(append(dst, b...), '\n')
}

// ParseAck parses one line of a PutMedia response (a client's side). The
// bytes come from a server, so every shape is checked: a known event
// type, a timecode on the events about a cluster, an ErrorId on ERROR.
// Errors wrap ErrBadAck.
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
