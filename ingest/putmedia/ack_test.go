package putmedia

import (
	"errors"
	"testing"
)

var ackSeeds = []struct {
	line string
	ok   bool
}{
	{`{"EventType":"BUFFERING","FragmentTimecode":12345}`, true},
	{`{"EventType":"PERSISTED","FragmentTimecode":12345,"FragmentNumber":"91343852333181432392682062607743920146264337445"}`, true},
	{`{"EventType":"ERROR","FragmentTimecode":5,"ErrorId":4006,"ErrorCode":"INVALID_MKV_DATA"}`, true},
	{`{"EventType":"ERROR","FragmentTimecode":5,"ErrorId":4011,"ErrorCode":"FRAMES_MISSING_FOR_TRACK"}`, true},
	{`{"EventType":"IDLE"}`, true},
	{`{"EventType":"PERSISTED"}`, false},
	{`{"EventType":"ERROR"}`, false},
	{`{"EventType":"NOPE","FragmentTimecode":1}`, false},
	{`{"EventType":"IDLE"} {}`, false},
	{`{"EventType":"RECEIVED","FragmentTimecode":-1}`, false},
	{`not json`, false},
	{``, false},
}

func TestParseAck(t *testing.T) {
	for _, s := range ackSeeds {
		_, err := ParseAck([]byte(s.line))
		if (err == nil) != s.ok {
			t.Errorf("ParseAck(%q) = %v, want ok %v", s.line, err, s.ok)
		}
		if err != nil && !errors.Is(err, ErrBadAck) {
			t.Errorf("ParseAck(%q): %v is not ErrBadAck", s.line, err)
		}
	}
	// What the server writes, the client reads back.
	tc := uint64(42)
	for _, id := range []ErrorID{0, MaxConnectionDurationReached, FramesMissingForTrack} {
		typ := EventPersisted
		if id != 0 {
			typ = EventError
		}
		line := appendAck(nil, typ, &tc, 7, id)
		a, err := ParseAck(line)
		if err != nil || a.EventType != typ || *a.FragmentTimecode != tc || a.ErrorId != id || a.ErrorCode != map[bool]string{true: id.String(), false: ""}[id != 0] {
			t.Errorf("ParseAck(%q) = %+v, %v", line, a, err)
		}
	}
}

// FuzzParseAck: any line from a server is parsed or refused with
// ErrBadAck, and what is accepted has the fields its type needs.
func FuzzParseAck(f *testing.F) {
	for _, s := range ackSeeds {
		f.Add([]byte(s.line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		a, err := ParseAck(line)
		if err != nil {
			if !errors.Is(err, ErrBadAck) {
				t.Fatalf("%v is not ErrBadAck", err)
			}
			return
		}
		switch a.EventType {
		case EventBuffering, EventReceived, EventPersisted:
			if a.FragmentTimecode == nil {
				t.Fatalf("%s without timecode accepted", a.EventType)
			}
		case EventError:
			if a.ErrorId == 0 {
				t.Fatal("ERROR without ErrorId accepted")
			}
		case EventIdle:
		default:
			t.Fatalf("event %q accepted", a.EventType)
		}
	})
}
