package engine

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// Shard iterators are stateless tokens: everything GetRecords needs is in
// the token, authenticated with HMAC-SHA256 (RFC 2104) under the engine's
// IteratorSecret so that a client cannot forge or alter one. Kinesis
// iterators expire 5 minutes after they are returned (GetShardIterator API
// reference); the issue time is in the token.
//
// Layout before base64 (standard alphabet, padded):
//
//	version 1B | stream id 8B | shard index 4B | position 8B | issued ms 8B | mac 16B
//
// position is the first counter the next GetRecords may return.
const (
	iterVersion = 1
	iterBodyLen = 1 + 8 + 4 + 8 + 8
	iterMACLen  = 16
	iterLen     = iterBodyLen + iterMACLen
)

// iterToken is a decoded shard iterator.
type iterToken struct {
	streamID uint64
	shard    uint32
	pos      uint64
	issued   time.Time
}

func encodeIterator(secret []byte, t iterToken) string {
	var b [iterLen]byte
	b[0] = iterVersion
	binary.BigEndian.PutUint64(b[1:], t.streamID)
	binary.BigEndian.PutUint32(b[9:], t.shard)
	binary.BigEndian.PutUint64(b[13:], t.pos)
	binary.BigEndian.PutUint64(b[21:], uint64(t.issued.UnixMilli()))
	m := hmac.New(sha256.New, secret)
	m.Write(b[:iterBodyLen])
	copy(b[iterBodyLen:], m.Sum(nil))
	return base64.StdEncoding.EncodeToString(b[:])
}

// decodeIterator verifies and decodes s. It returns false for anything that
// is not a token made by encodeIterator with the same secret.
func decodeIterator(secret []byte, s string) (iterToken, bool) {
	if len(s) != base64.StdEncoding.EncodedLen(iterLen) {
		return iterToken{}, false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != iterLen || b[0] != iterVersion {
		return iterToken{}, false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(b[:iterBodyLen])
	if !hmac.Equal(m.Sum(nil)[:iterMACLen], b[iterBodyLen:]) {
		return iterToken{}, false
	}
	return iterToken{
		streamID: binary.BigEndian.Uint64(b[1:]),
		shard:    binary.BigEndian.Uint32(b[9:]),
		pos:      binary.BigEndian.Uint64(b[13:]),
		issued:   time.UnixMilli(int64(binary.BigEndian.Uint64(b[21:]))),
	}, true
}
