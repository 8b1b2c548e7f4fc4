package putmedia

import (
	"encoding/json"
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
// one JSON object a line.
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
