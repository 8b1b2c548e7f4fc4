package awsproto

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkes "github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

var messageTests = []struct {
	name string
	msg  Message
}{
	{"empty", Message{}},
	{"payload only", Message{Payload: []byte(`{"a":1}`)}},
	{"event", Message{Headers: []Header{
		{Name: HeaderEventType, Value: "SubscribeToShardEvent"},
		{Name: HeaderMessageType, Value: MessageTypeEvent},
		{Name: HeaderContentType, Value: ContentTypeJSON},
	}, Payload: []byte(`{"Records":[]}`)}},
	{"every header type", Message{Headers: []Header{
		{Name: "t", Value: true},
		{Name: "f", Value: false},
		{Name: "b", Value: int8(-3)},
		{Name: "s", Value: int16(-300)},
		{Name: "i", Value: int32(-70000)},
		{Name: "l", Value: int64(-1 << 40)},
		{Name: "bytes", Value: []byte{0, 1, 2}},
		{Name: "str", Value: "héllo"},
		{Name: "ts", Value: time.UnixMilli(1700000000123).UTC()},
		{Name: "uuid", Value: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
	}, Payload: []byte{0xff}}},
}

func TestMessageRoundTrip(t *testing.T) {
	for _, tt := range messageTests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := NewEventStreamWriter(&buf, nil).WriteMessage(tt.msg); err != nil {
				t.Fatal(err)
			}
			got, err := ReadMessage(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Payload) == 0 && len(tt.msg.Payload) == 0 {
				got.Payload = tt.msg.Payload
			}
			if !reflect.DeepEqual(got, tt.msg) {
				t.Fatalf("got %+v, want %+v", got, tt.msg)
			}
			if _, err := ReadMessage(&buf); err != io.EOF {
				t.Fatalf("after the last message: %v, want io.EOF", err)
			}
		})
	}
}

// TestMessageMatchesSDK checks the encoding against aws-sdk-go-v2's own
// event-stream codec in both directions.
func TestMessageMatchesSDK(t *testing.T) {
	for _, tt := range messageTests {
		t.Run(tt.name, func(t *testing.T) {
			ours, err := AppendMessage(nil, tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			sm, err := sdkes.NewDecoder().Decode(bytes.NewReader(ours), nil)
			if err != nil {
				t.Fatalf("SDK cannot decode our message: %v", err)
			}
			if !bytes.Equal(sm.Payload, tt.msg.Payload) || len(sm.Headers) != len(tt.msg.Headers) {
				t.Fatalf("SDK decoded %+v", sm)
			}
			var theirs bytes.Buffer
			if err := sdkes.NewEncoder().Encode(&theirs, sm); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(theirs.Bytes(), ours) {
				t.Fatalf("SDK re-encoding differs:\n% x\n% x", theirs.Bytes(), ours)
			}
		})
	}
}

func TestReadMessageErrors(t *testing.T) {
	good, err := AppendMessage(nil, messageTests[2].msg)
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	withCRCs := func(b []byte) []byte { // recompute both CRCs after an edit
		copy(b[8:12], be32(crc(b[0:8])))
		copy(b[len(b)-4:], be32(crc(b[:len(b)-4])))
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"cut in prelude", good[:5], io.ErrUnexpectedEOF},
		{"cut in body", good[:len(good)-1], io.ErrUnexpectedEOF},
		{"prelude crc", mutate(func(b []byte) []byte { b[8] ^= 1; return b }), ErrMessageCorrupt},
		{"message crc", mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrMessageCorrupt},
		{"payload flipped", mutate(func(b []byte) []byte { b[len(b)-6] ^= 1; return b }), ErrMessageCorrupt},
		{"total too small", withCRCs(mutate(func(b []byte) []byte { copy(b[0:4], be32(15)); return b })), ErrMessageCorrupt},
		{"headers longer than message", withCRCs(mutate(func(b []byte) []byte { copy(b[4:8], be32(uint32(len(b)))); return b })), ErrMessageCorrupt},
		{"huge total", withCRCs(mutate(func(b []byte) []byte { copy(b[0:4], be32(1<<31)); return b })), ErrMessageTooLarge},
		{"unknown header type", withCRCs(mutate(func(b []byte) []byte { b[12+1+len(HeaderEventType)] = 10; return b })), ErrMessageCorrupt},
		{"zero-length header name", withCRCs(mutate(func(b []byte) []byte { b[12] = 0; return b })), ErrMessageCorrupt},
		{"header name past headers", withCRCs(mutate(func(b []byte) []byte { b[12] = 255; return b })), ErrMessageCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadMessage(bytes.NewReader(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func be32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

func crc(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

func TestWriteMessageErrors(t *testing.T) {
	long := string(make([]byte, 256))
	tests := []struct {
		name string
		msg  Message
		want error
	}{
		{"empty header name", Message{Headers: []Header{{Name: "", Value: "x"}}}, ErrHeaderInvalid},
		{"long header name", Message{Headers: []Header{{Name: long, Value: "x"}}}, ErrHeaderInvalid},
		{"long header value", Message{Headers: []Header{{Name: "x", Value: string(make([]byte, 1<<15))}}}, ErrHeaderInvalid},
		{"unsupported value", Message{Headers: []Header{{Name: "x", Value: 1.5}}}, ErrHeaderInvalid},
		{"payload too large", Message{Payload: make([]byte, MaxPayloadSize+1)}, ErrMessageTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewEventStreamWriter(&buf, nil)
			if err := w.WriteMessage(tt.msg); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if buf.Len() != 0 {
				t.Fatal("a failed message wrote bytes")
			}
			if err := w.WriteEvent("ok", "", nil); err != nil {
				t.Fatalf("writer unusable after an encoding error: %v", err)
			}
		})
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(b []byte) (int, error) {
	if f.n == 0 {
		return 0, io.ErrClosedPipe
	}
	f.n--
	return len(b), nil
}

func TestEventStreamWriterStickyError(t *testing.T) {
	flushes := 0
	w := NewEventStreamWriter(&failWriter{n: 1}, func() { flushes++ })
	if err := w.WriteEvent("a", "", nil); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteEvent("b", "", nil); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("err = %v", err)
	}
	if err := w.WriteException("c", nil); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("err = %v", err)
	}
	if flushes != 1 {
		t.Fatalf("flushes = %d, want 1", flushes)
	}
}

func TestEventStreamWriterConcurrent(t *testing.T) {
	var buf bytes.Buffer
	w := NewEventStreamWriter(&buf, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				if err := w.WriteEvent("e", ContentTypeJSON, bytes.Repeat([]byte{byte(i)}, 100+i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for n := 0; ; n++ {
		m, err := ReadMessage(&buf)
		if err == io.EOF {
			if n != 400 {
				t.Fatalf("read %d messages, want 400", n)
			}
			return
		}
		if err != nil {
			t.Fatalf("message %d: %v", n, err)
		}
		if len(m.Payload) != 100+int(m.Payload[0]) {
			t.Fatalf("message %d interleaved", n)
		}
	}
}

// TestSubscribeToShardWithSDK has the real Kinesis client read an event
// stream written by EventStreamWriter.
func TestSubscribeToShardWithSDK(t *testing.T) {
	at := time.UnixMilli(1700000000123)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "Kinesis_20131202.SubscribeToShard" {
			WriteError(w, JSON, "r", Errorf(UnknownOperationException, ""))
			return
		}
		w.Header().Set("Content-Type", ContentTypeEventStream)
		w.Header().Set("x-amzn-RequestId", NewRequestID())
		w.WriteHeader(http.StatusOK)
		es := NewEventStreamWriter(w, w.(http.Flusher).Flush)
		type record struct {
			SequenceNumber              string    `json:"SequenceNumber"`
			ApproximateArrivalTimestamp Timestamp `json:"ApproximateArrivalTimestamp"`
			Data                        []byte    `json:"Data"`
			PartitionKey                string    `json:"PartitionKey"`
		}
		type event struct {
			Records                    []record `json:"Records"`
			ContinuationSequenceNumber string   `json:"ContinuationSequenceNumber"`
			MillisBehindLatest         int64    `json:"MillisBehindLatest"`
		}
		ev, err := Encode(JSON, event{
			Records:                    []record{{SequenceNumber: "1", ApproximateArrivalTimestamp: Timestamp{at}, Data: []byte("hello"), PartitionKey: "pk"}},
			ContinuationSequenceNumber: "1", MillisBehindLatest: 0,
		})
		if err != nil {
			t.Error(err)
			return
		}
		exc, err := Encode(JSON, map[string]string{"message": "Shard gone."})
		if err != nil {
			t.Error(err)
			return
		}
		for _, err := range []error{
			es.WriteEvent("initial-response", ContentTypeJSON, []byte("{}")),
			es.WriteEvent("SubscribeToShardEvent", ContentTypeJSON, ev),
			es.WriteException(ResourceNotFoundException, exc),
		} {
			if err != nil {
				t.Error(err)
			}
		}
	}))
	defer srv.Close()

	out, err := newKinesisClient(srv.URL, "AKID", "SECRET").SubscribeToShard(context.Background(), &kinesis.SubscribeToShardInput{
		ConsumerARN:      aws.String("arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:1"),
		ShardId:          aws.String("shardId-000000000000"),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon},
	})
	if err != nil {
		t.Fatal(err)
	}
	stream := out.GetStream()
	defer stream.Close()
	var got []types.Record
	for ev := range stream.Events() {
		e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if !ok {
			t.Fatalf("event %T", ev)
		}
		got = append(got, e.Value.Records...)
	}
	if len(got) != 1 || string(got[0].Data) != "hello" || aws.ToString(got[0].PartitionKey) != "pk" || got[0].ApproximateArrivalTimestamp.UnixMilli() != at.UnixMilli() {
		t.Fatalf("records = %+v", got)
	}
	var rnf *types.ResourceNotFoundException
	if err := stream.Err(); !errors.As(err, &rnf) || rnf.ErrorMessage() != "Shard gone." {
		t.Fatalf("stream error = %T %v, want ResourceNotFoundException", err, err)
	}
}

func FuzzReadMessage(f *testing.F) {
	for _, tt := range messageTests {
		b, err := AppendMessage(nil, tt.msg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0, 0, 0, 16, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ReadMessage(bytes.NewReader(in))
		if err != nil {
			return
		}
		// A message that decodes re-encodes to the same bytes.
		out, err := AppendMessage(nil, m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(out, in[:len(out)]) {
			t.Fatalf("re-encoding differs:\n% x\n% x", out, in[:len(out)])
		}
	})
}
