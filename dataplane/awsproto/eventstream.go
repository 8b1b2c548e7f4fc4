package awsproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"time"
)

// The AWS event-stream encoding (application/vnd.amazon.eventstream), used
// by Kinesis SubscribeToShard, Transcribe, S3 SelectObjectContent...:
//
//	prelude:  total length uint32 | headers length uint32 | prelude CRC32 uint32
//	headers:  name length uint8 | name | value type uint8 | value ...
//	payload
//	message CRC32 uint32 (over everything before it)
//
// Integers are big-endian, CRCs are CRC-32 (IEEE). See "Event stream
// encoding" in the Amazon S3 API reference (SelectObjectContent appendix)
// and Smithy's event-stream specification.

// ContentTypeEventStream is the Content-Type of an event-stream response.
const ContentTypeEventStream = "application/vnd.amazon.eventstream"

// Limits of the event-stream encoding.
const (
	// MaxPayloadSize is the largest payload encoded or decoded (16 MiB).
	MaxPayloadSize = 16 << 20
	// MaxHeadersSize is the largest encoded header block (128 KiB).
	MaxHeadersSize = 128 << 10
	// MaxMessageSize is the largest message ReadMessage accepts.
	MaxMessageSize = MaxPayloadSize + MaxHeadersSize + minMessageSize

	preludeSize        = 12
	minMessageSize     = preludeSize + 4
	maxHeaderNameLen   = 255
	maxHeaderValueLen  = 1<<15 - 1
	maxHeaderValueType = 9
)

// Event-stream header names and values (Smithy event streams).
const (
	HeaderMessageType   = ":message-type"
	HeaderEventType     = ":event-type"
	HeaderContentType   = ":content-type"
	HeaderExceptionType = ":exception-type"
	HeaderErrorCode     = ":error-code"
	HeaderErrorMessage  = ":error-message"

	MessageTypeEvent     = "event"
	MessageTypeException = "exception"
	MessageTypeError     = "error"
)

// Header value types on the wire.
const (
	headerTrue byte = iota
	headerFalse
	headerByte
	headerShort
	headerInt
	headerLong
	headerBytes
	headerString
	headerTimestamp
	headerUUID
)

// Header is one event-stream header. Value is one of bool, int8, int16,
// int32, int64, []byte, string, time.Time (millisecond precision) or
// [16]byte (UUID).
type Header struct {
	Name  string
	Value any
}

// Message is one event-stream message.
type Message struct {
	Headers []Header
	Payload []byte
}

// Header returns the value of the first header named name.
func (m Message) Header(name string) (any, bool) {
	for _, h := range m.Headers {
		if h.Name == name {
			return h.Value, true
		}
	}
	return nil, false
}

// HeaderString returns the value of the header named name if it is a
// string, and "" otherwise.
func (m Message) HeaderString(name string) string {
	v, _ := m.Header(name)
	s, _ := v.(string)
	return s
}

// AppendMessage appends the encoding of m to dst.
func AppendMessage(dst []byte, m Message) ([]byte, error) {
	if len(m.Payload) > MaxPayloadSize {
		return dst, fmt.Errorf("%w: payload of %d bytes", ErrMessageTooLarge, len(m.Payload))
	}
	start := len(dst)
	dst = append(dst, make([]byte, preludeSize)...)
	for _, h := range m.Headers {
		var err error
		if dst, err = appendHeader(dst, h); err != nil {
			return dst[:start], err
		}
	}
	headersLen := len(dst) - start - preludeSize
	if headersLen > MaxHeadersSize {
		return dst[:start], fmt.Errorf("%w: headers of %d bytes", ErrMessageTooLarge, headersLen)
	}
	dst = append(dst, m.Payload...)
	total := len(dst) - start + 4
	p := dst[start:]
	binary.BigEndian.PutUint32(p[0:4], uint32(total))
	binary.BigEndian.PutUint32(p[4:8], uint32(headersLen))
	binary.BigEndian.PutUint32(p[8:12], crc32.ChecksumIEEE(p[0:8]))
	return binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(dst[start:])), nil
}

func appendHeader(dst []byte, h Header) ([]byte, error) {
	if len(h.Name) == 0 || len(h.Name) > maxHeaderNameLen {
		return dst, fmt.Errorf("%w: name of %d bytes", ErrHeaderInvalid, len(h.Name))
	}
	dst = append(dst, byte(len(h.Name)))
	dst = append(dst, h.Name...)
	switch v := h.Value.(type) {
	case bool:
		if v {
			return append(dst, headerTrue), nil
		}
		return append(dst, headerFalse), nil
	case int8:
		return append(dst, headerByte, byte(v)), nil
	case int16:
		return binary.BigEndian.AppendUint16(append(dst, headerShort), uint16(v)), nil
	case int32:
		return binary.BigEndian.AppendUint32(append(dst, headerInt), uint32(v)), nil
	case int64:
		return binary.BigEndian.AppendUint64(append(dst, headerLong), uint64(v)), nil
	case []byte:
		return appendHeaderBytes(append(dst, headerBytes), h.Name, v)
	case string:
		return appendHeaderBytes(append(dst, headerString), h.Name, []byte(v))
	case time.Time:
		return binary.BigEndian.AppendUint64(append(dst, headerTimestamp), uint64(v.UnixMilli())), nil
	case [16]byte:
		return append(append(dst, headerUUID), v[:]...), nil
	default:
		return dst, fmt.Errorf("%w: %s has a value of type %T", ErrHeaderInvalid, h.Name, h.Value)
	}
}

func appendHeaderBytes(dst []byte, name string, v []byte) ([]byte, error) {
	if len(v) > maxHeaderValueLen {
		return dst, fmt.Errorf("%w: %s value of %d bytes", ErrHeaderInvalid, name, len(v))
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(v)))
	return append(dst, v...), nil
}

// ReadMessage reads one event-stream message from r. It returns io.EOF,
// unwrapped, when r ends cleanly before a message (the normal end of a
// stream); a stream cut inside a message is io.ErrUnexpectedEOF. Lengths
// beyond MaxMessageSize are ErrMessageTooLarge and bad CRCs or headers
// ErrMessageCorrupt, both without reading the rest of the message: the
// stream cannot be resynchronised after them.
func ReadMessage(r io.Reader) (Message, error) {
	var prelude [preludeSize]byte
	if _, err := io.ReadFull(r, prelude[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return Message{}, io.EOF
		}
		return Message{}, fmt.Errorf("awsproto: read event-stream prelude: %w", err)
	}
	total := binary.BigEndian.Uint32(prelude[0:4])
	headersLen := binary.BigEndian.Uint32(prelude[4:8])
	if crc32.ChecksumIEEE(prelude[0:8]) != binary.BigEndian.Uint32(prelude[8:12]) {
		return Message{}, fmt.Errorf("%w: prelude checksum mismatch", ErrMessageCorrupt)
	}
	if total < minMessageSize || headersLen > total-minMessageSize {
		return Message{}, fmt.Errorf("%w: total length %d, headers length %d", ErrMessageCorrupt, total, headersLen)
	}
	if total > MaxMessageSize || headersLen > MaxHeadersSize || total-minMessageSize-headersLen > MaxPayloadSize {
		return Message{}, fmt.Errorf("%w: total length %d, headers length %d", ErrMessageTooLarge, total, headersLen)
	}
	rest := make([]byte, total-preludeSize)
	if _, err := io.ReadFull(r, rest); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Message{}, fmt.Errorf("awsproto: read event-stream message: %w", err)
	}
	body, sum := rest[:len(rest)-4], binary.BigEndian.Uint32(rest[len(rest)-4:])
	crc := crc32.Update(crc32.ChecksumIEEE(prelude[:]), crc32.IEEETable, body)
	if crc != sum {
		return Message{}, fmt.Errorf("%w: message checksum mismatch", ErrMessageCorrupt)
	}
	headers, err := parseHeaders(body[:headersLen])
	if err != nil {
		return Message{}, err
	}
	return Message{Headers: headers, Payload: body[headersLen:]}, nil
}

func parseHeaders(b []byte) ([]Header, error) {
	var hs []Header
	corrupt := func(what string) error {
		return fmt.Errorf("%w: header %d: %s", ErrMessageCorrupt, len(hs), what)
	}
	for len(b) > 0 {
		n := int(b[0])
		if n == 0 || len(b) < 1+n+1 {
			return nil, corrupt("bad name")
		}
		h := Header{Name: string(b[1 : 1+n])}
		typ := b[1+n]
		b = b[2+n:]
		if typ > maxHeaderValueType {
			return nil, corrupt(fmt.Sprintf("unknown value type %d", typ))
		}
		size := fixedValueSize(typ)
		if len(b) < size {
			return nil, corrupt("value truncated")
		}
		switch typ {
		case headerTrue:
			h.Value = true
		case headerFalse:
			h.Value = false
		case headerByte:
			h.Value = int8(b[0])
		case headerShort:
			h.Value = int16(binary.BigEndian.Uint16(b))
		case headerInt:
			h.Value = int32(binary.BigEndian.Uint32(b))
		case headerLong:
			h.Value = int64(binary.BigEndian.Uint64(b))
		case headerTimestamp:
			h.Value = time.UnixMilli(int64(binary.BigEndian.Uint64(b))).UTC()
		case headerUUID:
			h.Value = [16]byte(b[:16])
		case headerBytes, headerString:
			if len(b) < 2 {
				return nil, corrupt("value length truncated")
			}
			size = int(binary.BigEndian.Uint16(b))
			if len(b) < 2+size {
				return nil, corrupt("value truncated")
			}
			v := b[2 : 2+size]
			if typ == headerString {
				h.Value = string(v)
			} else {
				h.Value = v
			}
			size += 2
		}
		b = b[size:]
		hs = append(hs, h)
	}
	return hs, nil
}

// fixedValueSize is the size of a fixed-size header value type, 0 for the
// booleans and the variable-size types.
func fixedValueSize(typ byte) int {
	switch typ {
	case headerByte:
		return 1
	case headerShort:
		return 2
	case headerInt:
		return 4
	case headerLong, headerTimestamp:
		return 8
	case headerUUID:
		return 16
	default:
		return 0
	}
}

// EventStreamWriter writes event-stream messages to an HTTP response (or
// any writer), one Write and one flush per message. It is safe for
// concurrent use; after a failed write every later write returns the same
// error.
type EventStreamWriter struct {
	mu    sync.Mutex
	w     io.Writer
	flush func()
	buf   []byte
	err   error
}

// NewEventStreamWriter returns a writer of messages to w. flush, if not
// nil, is called after each message (pass an http.Flusher's Flush).
func NewEventStreamWriter(w io.Writer, flush func()) *EventStreamWriter {
	return &EventStreamWriter{w: w, flush: flush}
}

// WriteEvent writes an event message: :message-type "event", :event-type
// eventType and, if not empty, :content-type contentType. Kinesis
// SubscribeToShard starts with the event "initial-response" and goes on with
// "SubscribeToShardEvent" events, both application/x-amz-json-1.1.
func (w *EventStreamWriter) WriteEvent(eventType, contentType string, payload []byte) error {
	hs := []Header{
		{Name: HeaderEventType, Value: eventType},
		{Name: HeaderMessageType, Value: MessageTypeEvent},
	}
	if contentType != "" {
		hs = append(hs, Header{Name: HeaderContentType, Value: contentType})
	}
	return w.WriteMessage(Message{Headers: hs, Payload: payload})
}

// WriteException writes a modeled exception message: :message-type
// "exception", :exception-type excType (e.g. "ResourceNotFoundException")
// and :content-type application/json; payload is the exception's JSON, e.g.
// {"message":"..."}. The SDKs turn it into the typed error.
func (w *EventStreamWriter) WriteException(excType string, payload []byte) error {
	return w.WriteMessage(Message{Headers: []Header{
		{Name: HeaderExceptionType, Value: excType},
		{Name: HeaderContentType, Value: "application/json"},
		{Name: HeaderMessageType, Value: MessageTypeException},
	}, Payload: payload})
}

// WriteMessage writes m as it is.
func (w *EventStreamWriter) WriteMessage(m Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	b, err := AppendMessage(w.buf[:0], m)
	if err != nil {
		return err // nothing written: the stream is still usable
	}
	w.buf = b
	if _, err := w.w.Write(b); err != nil {
		w.err = fmt.Errorf("awsproto: write event-stream message: %w", err)
		return w.err
	}
	if w.flush != nil {
		w.flush()
	}
	if cap(w.buf) > 1<<20 {
		w.buf = nil // do not pin a large buffer between messages
	}
	return nil
}
