package awsproto

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
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

// BenchmarkChunkedReader measures decoding and verifying a 1 MiB
// aws-chunked body of 64 KiB chunks (one SHA-256 and one HMAC per chunk).
func BenchmarkChunkedReader(b *testing.B) {
	seed, err := hex.DecodeString(docSeed)
	if err != nil {
		b.Fatal(err)
	}
	signer := v4.NewStreamSigner(aws.Credentials{AccessKeyID: docKey, SecretAccessKey: docSecret}, "s3", "us-east-1", seed)
	chunk := bytes.Repeat([]byte("v"), 64<<10)
	var body bytes.Buffer
	for i := 0; i <= 16; i++ {
		data := chunk
		if i == 16 {
			data = nil
		}
		sig, err := signer.GetSignature(context.Background(), nil, data, docTime)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(&body, "%x;chunk-signature=%x\r\n%s\r\n", len(data), sig, data)
	}
	raw := body.Bytes()
	v := docVerifier()
	b.SetBytes(16 << 16)
	b.ReportAllocs()
	for b.Loop() {
		r := docRequest(b, raw)
		r.Header.Set("X-Amz-Decoded-Content-Length", "1048576")
		cr, err := v.ChunkedReader(r)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, cr)
		if err != nil || n != 1<<20 {
			b.Fatalf("copied %d: %v", n, err)
		}
	}
}
