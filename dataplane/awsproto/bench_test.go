package awsproto

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// BenchmarkVerify measures one SigV4 verification of a signed 1 KiB
// request (header form): key derivation, canonical request and HMACs.
func BenchmarkVerify(b *testing.B) {
	body := string(bytes.Repeat([]byte("x"), 1024))
	r, raw := sign(b, body, signOpts{}).onServer(b)
	v := testVerifier(testSignTime)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r, raw); err != nil {
			b.Fatal(err)
		}
	}
}

type benchRecord struct {
	Data            []byte  `json:"Data"`
	PartitionKey    string  `json:"PartitionKey"`
	ExplicitHashKey *string `json:"ExplicitHashKey,omitempty"`
}

type benchPutRecords struct {
	Records    []benchRecord `json:"Records"`
	StreamName string        `json:"StreamName"`
}

func benchPutRecordsBody(b *testing.B, c Codec) []byte {
	in := benchPutRecords{StreamName: "cam1"}
	for i := range 500 {
		in.Records = append(in.Records, benchRecord{Data: bytes.Repeat([]byte{byte(i)}, 1024), PartitionKey: "pk"})
	}
	body, err := Encode(c, in)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkDecodePutRecords measures decoding a PutRecords body of 500
// records of 1 KiB each.
func BenchmarkDecodePutRecords(b *testing.B) {
	for name, c := range map[string]Codec{"json": JSON, "cbor": CBOR} {
		b.Run(name, func(b *testing.B) {
			body := benchPutRecordsBody(b, c)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				var out benchPutRecords
				if err := Decode(c, body, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWriteEvent measures framing one 64 KiB SubscribeToShard event.
func BenchmarkWriteEvent(b *testing.B) {
	payload := bytes.Repeat([]byte("r"), 64<<10)
	w := NewEventStreamWriter(io.Discard, nil)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteEvent("SubscribeToShardEvent", ContentTypeJSON, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTimestampJSON measures one timestamp encode + decode.
func BenchmarkTimestampJSON(b *testing.B) {
	ts := Timestamp{time.UnixMilli(1700000000123)}
	b.ReportAllocs()
	for b.Loop() {
		out, err := ts.MarshalJSON()
		if err != nil {
			b.Fatal(err)
		}
		var back Timestamp
		if err := back.UnmarshalJSON(out); err != nil {
			b.Fatal(err)
		}
	}
}
