package awsproto

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// StreamingSignedPayload is the X-Amz-Content-Sha256 of an aws-chunked body
// whose chunks are each signed, chained from the request's seed signature.
// See "Signature Calculations for the Authorization Header: Transferring
// Payload in Multiple Chunks (Chunked Upload) (AWS Signature Version 4)" in
// the Amazon S3 API reference.
const StreamingSignedPayload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"

// MaxChunkSize bounds one chunk of an aws-chunked body: each chunk is held
// in memory until its signature has been checked.
const MaxChunkSize = 16 << 20

// maxChunkHeader bounds a chunk header line:
// "<hex size>;chunk-signature=<64 hex>\r\n".
const maxChunkHeader = 256

// ChunkedReader returns a reader of the payload of r's aws-chunked body
// (X-Amz-Content-Sha256 STREAMING-AWS4-HMAC-SHA256-PAYLOAD). Each chunk is
// released only after its signature, chained from the request signature,
// has been checked with aws-sdk-go-v2's v4.StreamSigner; a bad signature
// ends the reader with an InvalidSignatureException *Error and malformed
// framing with a SerializationException *Error. A payload shorter or
// longer than X-Amz-Decoded-Content-Length, when present, is an error too.
//
// Verify r first (VerifyStreaming): ChunkedReader trusts the seed
// signature. Closing the reader closes r.Body.
func (v *Verifier) ChunkedReader(r *http.Request) (io.ReadCloser, error) {
	p, err := parseSignature(r)
	if err != nil {
		return nil, err
	}
	if p.presigned {
		return nil, Errorf(InvalidSignatureException, "Chunked uploads require the Authorization header.")
	}
	seed, err := hex.DecodeString(p.signature)
	if err != nil {
		return nil, Errorf(InvalidSignatureException, msgSignatureInvalid)
	}
	signTime, err := time.Parse(amzDateFormat, p.amzDate)
	if err != nil {
		return nil, Errorf(IncompleteSignatureException, "Date must be in ISO-8601 'basic format'. Got '%s'.", truncate(p.amzDate, 64))
	}
	var secret string
	ok := false
	if v.Secret != nil {
		secret, ok = v.Secret(p.accessKey)
	}
	if !ok {
		return nil, Errorf(UnrecognizedClientException, msgInvalidToken)
	}
	decoded := int64(-1)
	if s := r.Header.Get("X-Amz-Decoded-Content-Length"); s != "" {
		if decoded, err = strconv.ParseInt(s, 10, 64); err != nil || decoded < 0 {
			return nil, Errorf(SerializationException, "Invalid X-Amz-Decoded-Content-Length: %s", truncate(s, 32))
		}
	}
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	creds := aws.Credentials{AccessKeyID: p.accessKey, SecretAccessKey: secret}
	return &chunkedReader{
		rc:       body,
		br:       bufio.NewReaderSize(body, 64<<10),
		signer:   v4.NewStreamSigner(creds, p.service, p.region, seed),
		signTime: signTime,
		decoded:  decoded,
	}, nil
}

type chunkedReader struct {
	rc       io.ReadCloser
	br       *bufio.Reader
	signer   *v4.StreamSigner
	signTime time.Time
	decoded  int64 // declared payload length, -1 if unknown
	total    int64
	chunk    []byte // verified data not yet returned
	buf      []byte
	err      error
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	for len(c.chunk) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		c.err = c.next()
	}
	n := copy(p, c.chunk)
	c.chunk = c.chunk[n:]
	return n, nil
}

func (c *chunkedReader) Close() error { return c.rc.Close() }

func malformedChunk(what string) error {
	return Errorf(SerializationException, "Malformed aws-chunked body: %s", what)
}

// next reads, verifies and holds one chunk. It returns io.EOF after the
// final, empty chunk.
func (c *chunkedReader) next() error {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) || len(line) > maxChunkHeader {
			return malformedChunk("chunk header too long")
		}
		return malformedChunk("body ends before the final chunk")
	}
	if len(line) > maxChunkHeader || !bytes.HasSuffix(line, []byte("\r\n")) {
		return malformedChunk("bad chunk header")
	}
	sizeHex, ext, ok := bytes.Cut(line[:len(line)-2], []byte(";"))
	sigHex, ok2 := bytes.CutPrefix(ext, []byte("chunk-signature="))
	if !ok || !ok2 || len(sizeHex) == 0 || len(sizeHex) > 8 {
		return malformedChunk("bad chunk header")
	}
	size, err := strconv.ParseInt(string(sizeHex), 16, 64)
	if err != nil || size < 0 {
		return malformedChunk("bad chunk size")
	}
	if size > MaxChunkSize {
		return malformedChunk("chunk larger than " + strconv.Itoa(MaxChunkSize) + " bytes")
	}
	sig := make([]byte, hex.DecodedLen(len(sigHex)))
	if _, err := hex.Decode(sig, sigHex); err != nil || len(sig) != 32 {
		return malformedChunk("bad chunk signature")
	}
	if int64(cap(c.buf)) < size {
		c.buf = make([]byte, size)
	}
	data := c.buf[:size]
	if _, err := io.ReadFull(c.br, data); err != nil {
		return malformedChunk("chunk data truncated")
	}
	var crlf [2]byte
	if _, err := io.ReadFull(c.br, crlf[:]); err != nil || crlf != [2]byte{'\r', '\n'} {
		if !(size == 0 && errors.Is(err, io.EOF)) { // tolerate a missing CRLF after the final chunk
			return malformedChunk("chunk not followed by CRLF")
		}
	}
	want, err := c.signer.GetSignature(context.Background(), nil, data, c.signTime)
	if err != nil || !hmac.Equal(want, sig) {
		return Errorf(InvalidSignatureException, msgSignatureInvalid)
	}
	c.total += size
	if c.decoded >= 0 && c.total > c.decoded {
		return malformedChunk("payload longer than X-Amz-Decoded-Content-Length")
	}
	if size == 0 {
		if c.decoded >= 0 && c.total != c.decoded {
			return malformedChunk("payload shorter than X-Amz-Decoded-Content-Length")
		}
		return io.EOF
	}
	c.chunk = data
	return nil
}
