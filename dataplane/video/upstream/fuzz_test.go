package upstream

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
}

// FuzzParseAck: any line from an upstream is parsed or refused with
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
