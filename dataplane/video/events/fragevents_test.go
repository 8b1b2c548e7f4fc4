package events

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kinedge/kinedge/dataplane/kinesis/engine"
	"github.com/kinedge/kinedge/dataplane/kinesis/engine/enginetest"
	"github.com/kinedge/kinedge/index"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*defaultPolicy[...]).processItems"),
		goleak.IgnoreTopFunction("github.com/dgraph-io/ristretto/v2.(*Cache[...]).processItems"),
	)
}

// newEngine returns a data streams engine on an in-memory store.
func newEngine(t *testing.T) *engine.Engine { return enginetest.Open(t) }

func TestAppend(t *testing.T) {
	e := newEngine(t)
	p := &Appender{Engine: e}
	for range 2 { // idempotent across restarts
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 11, 25, 12, 0, 0, 123e6, time.UTC)
	floor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sum := sha256.Sum256([]byte("sealed"))
	tests := []struct {
		ev   Event
		json string
	}{
		{NewEvent(index.Fragment{Stream: "cam1", Number: 7, ServerTime: at, ProducerTime: at.Add(-22 * time.Millisecond), Duration: 2 * time.Second,
			Size: 531234, KeyID: "cam1/3", SHA256: sum}, ""),
			`{"stream":"cam1","fragmentNumber":"7","serverTimestamp":"2026-11-25T12:00:00.123Z","producerTimestamp":"2026-11-25T12:00:00.101Z","durationMs":2000,"size":531234,"keyId":"cam1/3","sha256":"` + hexOf(sum) + `"}`},
		{NewEvent(index.Fragment{Stream: "cam2", Number: 8, ServerTime: at, ProducerTime: at, Duration: time.Second, Size: 10, KeyID: "cam2/1", SHA256: sum,
			Frames: 75, Gap: true, Tracks: []index.TrackInfo{{Codec: "H264", Kind: "video"}, {Codec: "AAC", Kind: "audio"}}}, "barn-pi"),
			`{"stream":"cam2","fragmentNumber":"8","serverTimestamp":"2026-11-25T12:00:00.123Z","producerTimestamp":"2026-11-25T12:00:00.123Z","durationMs":1000,"size":10,"keyId":"cam2/1","sha256":"` + hexOf(sum) + `","applianceId":"barn-pi","frames":75,"codecs":["H264","AAC"],"gap":true}`},
		// Recorded before the clock was set, then its correction.
		{NewEvent(index.Fragment{Stream: "cam3", Number: 9, ServerTime: floor, ProducerTime: floor, Duration: time.Second, Size: 10, SHA256: sum, ClockUnsynced: true}, ""),
			`{"stream":"cam3","fragmentNumber":"9","serverTimestamp":"2026-01-01T00:00:00Z","producerTimestamp":"2026-01-01T00:00:00Z","durationMs":1000,"size":10,"sha256":"` + hexOf(sum) + `","clockUnsynced":true}`},
		{func() Event {
			ev := NewEvent(index.Fragment{Stream: "cam3", Number: 9, ServerTime: at, ProducerTime: at, Duration: time.Second, Size: 10, SHA256: sum}, "")
			ev.Correction, ev.PreviousServerTimestamp = true, &floor
			return ev
		}(),
			`{"stream":"cam3","fragmentNumber":"9","serverTimestamp":"2026-11-25T12:00:00.123Z","producerTimestamp":"2026-11-25T12:00:00.123Z","durationMs":1000,"size":10,"sha256":"` + hexOf(sum) + `","correction":true,"previousServerTimestamp":"2026-01-01T00:00:00Z"}`},
	}
	for _, tt := range tests {
		seq, err := p.Append(context.Background(), tt.ev)
		if err != nil {
			t.Fatal(err)
		}
		it, err := e.GetShardIterator(DefaultStream, "shardId-000000000000", engine.AtSequenceNumber, seq, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.GetRecords(it, 1)
		if err != nil || len(res.Records) != 1 {
			t.Fatalf("records %+v %v", res.Records, err)
		}
		r := res.Records[0]
		if r.PartitionKey != tt.ev.Stream || string(r.Data) != tt.json {
			t.Errorf("record %s %s, want %s", r.PartitionKey, r.Data, tt.json)
		}
		var back Event
		if err := json.Unmarshal(r.Data, &back); err != nil || !reflect.DeepEqual(back, tt.ev) {
			t.Errorf("round trip %+v %v", back, err)
		}
	}
	if _, err := p.Append(context.Background(), Event{}); !errors.Is(err, ErrBadEvent) {
		t.Errorf("empty event: %v", err)
	}
	if err := (&Appender{}).Start(); !errors.Is(err, ErrNoEngine) {
		t.Errorf("no engine: %v", err)
	}
}

func hexOf(b [32]byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 64)
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}
