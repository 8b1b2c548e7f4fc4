package awsproto

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Timestamp is a time as the AWS JSON protocols carry it.
//
//   - awsJson 1.0/1.1: epoch seconds as a JSON number with up to millisecond
//     fraction, e.g. 1700000000.123 (Smithy "epoch-seconds" format). Decoding
//     also accepts a string holding epoch seconds or RFC 3339.
//   - x-amz-cbor-1.1: CBOR tag 1 followed by an integer of epoch
//     MILLISECONDS (not the seconds of RFC 8949 section 3.4.2). That is what
//     the AWS Java SDKs send: v1 and v2 SdkCborGenerator.writeValue do
//     writeTag(1) then writeNumber(epoch millis), and v2's
//     AwsCborProtocolFactory sets UNIX_TIMESTAMP_MILLIS as the payload
//     timestamp format for reading too. Decoding accepts any number, with
//     or without tag 1, as epoch milliseconds, and tag 0 / text strings as
//     RFC 3339.
//
// Times are truncated to milliseconds on the wire. Use *Timestamp with
// omitempty for optional members.
type Timestamp struct {
	time.Time
}

// MarshalJSON implements json.Marshaler: epoch seconds with a millisecond
// fraction, trailing zeros dropped.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	var b []byte
	if ms < 0 {
		b = append(b, '-')
		ms = -ms
	}
	sec, frac := ms/1000, ms%1000
	b = strconv.AppendInt(b, sec, 10)
	if frac != 0 {
		f := fmt.Sprintf("%03d", frac)
		for f[len(f)-1] == '0' {
			f = f[:len(f)-1]
		}
		b = append(b, '.')
		b = append(b, f...)
	}
	return b, nil
}

// UnmarshalJSON implements json.Unmarshaler. null leaves t unchanged.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return Errorf(SerializationException, "Invalid timestamp value")
		}
		return t.parseString(s)
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return Errorf(SerializationException, "Invalid timestamp value")
	}
	return t.setSeconds(f)
}

func (t *Timestamp) parseString(s string) error {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return t.setSeconds(f)
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return Errorf(SerializationException, "Invalid timestamp value: %s", truncate(s, 64))
	}
	t.Time = tm
	return nil
}

// maxEpochSeconds bounds accepted timestamps to years -9999..9999 so that
// conversions cannot overflow.
const maxEpochSeconds = 253402300799

func (t *Timestamp) setSeconds(f float64) error {
	if math.IsNaN(f) || math.Abs(f) > maxEpochSeconds {
		return Errorf(SerializationException, "Timestamp value out of range")
	}
	ms := math.Round(f * 1000)
	t.Time = time.UnixMilli(int64(ms)).UTC()
	return nil
}

// cborTagEpoch is CBOR tag 1 (RFC 8949 section 3.4.2), which the AWS Java
// SDKs put before epoch milliseconds.
const cborTagEpoch = 1

// MarshalCBOR implements cbor.Marshaler: tag 1 + epoch milliseconds, as the
// AWS Java SDK does.
func (t Timestamp) MarshalCBOR() ([]byte, error) {
	b, err := cbor.Marshal(cbor.Tag{Number: cborTagEpoch, Content: t.UnixMilli()})
	if err != nil {
		return nil, fmt.Errorf("awsproto: encode timestamp: %w", err)
	}
	return b, nil
}

// UnmarshalCBOR implements cbor.Unmarshaler. Numbers (tagged or not) are
// epoch milliseconds; tag 0 and text strings are RFC 3339; null leaves t
// unchanged.
func (t *Timestamp) UnmarshalCBOR(b []byte) error {
	for i := 0; len(b) > 0 && b[0]>>5 == 6; i++ { // major type 6: tag
		if i == 4 {
			return Errorf(SerializationException, "Invalid timestamp value")
		}
		var rt cbor.RawTag
		if err := cbor.Unmarshal(b, &rt); err != nil {
			return Errorf(SerializationException, "Invalid timestamp value")
		}
		b = rt.Content
	}
	var v any
	if err := cbor.Unmarshal(b, &v); err != nil {
		return Errorf(SerializationException, "Invalid timestamp value")
	}
	var ms float64
	switch x := v.(type) {
	case nil:
		return nil
	case uint64:
		ms = float64(x)
	case int64:
		ms = float64(x)
	case float64:
		ms = x
	case big.Int:
		return Errorf(SerializationException, "Timestamp value out of range")
	case string:
		return t.parseString(x)
	default:
		return Errorf(SerializationException, "Invalid timestamp value")
	}
	if math.IsNaN(ms) || math.Abs(ms) > maxEpochSeconds*1000 {
		return Errorf(SerializationException, "Timestamp value out of range")
	}
	t.Time = time.UnixMilli(int64(math.Round(ms))).UTC()
	return nil
}
