package index

import (
	"encoding/binary"
	"math"
	"time"
)

// minFloor is the eviction floor before any eviction.
const minFloor = math.MinInt64

// Key layout under the "v/" prefix (see the package doc). Integers are
// big-endian so that byte order is numeric order; times are Unix
// nanoseconds with the sign bit flipped so that negative times sort first.
const (
	pfxVideo    = "v/"   // this package's space of the database
	pfxRegistry = "v/r/" // + stream name → streamRecord (JSON)
	pfxNumber   = "v/n/" // + number(8) → fragmentRecord (CBOR)
	pfxServer   = "v/s/" // + sid(8) + serverTime(8) + number(8) → fragmentRecord
	pfxProducer = "v/p/" // + sid(8) + producerTime(8) + number(8) → fragmentRecord
	pfxBlob     = "v/b/" // + sid(8) + bucketEnd(8, Unix s) + number(8) → sealed blob
	pfxDeleted  = "v/x/" // + sid(8) → name: a deleted stream whose keys are being purged
	pfxUsage    = "v/u/" // + sid(8) + bucketEnd(8) → bucketUsage: sealed bytes and fragments of a blob bucket
	pfxTags     = "v/t/" // + sid(8) → tags (JSON object)
	keyFloor    = "v/e"  // → eviction floor (8, Unix ns): fragments before it were evicted for the budget
	pfxClockRun = "v/c/" // + first number(8) → clockRunRecord (JSON): a run that started with its clock unsynchronised

	keySeqFragment = "v/q/fragment" // badger Sequence of fragment numbers
	keyNumberBase  = "v/q/base"     // → number(8): added to the sequence's numbers (SeedFragmentNumbers)
	keySeqStream   = "v/q/stream"   // badger Sequence of stream ids
	keySeqVersion  = "v/q/version"  // badger Sequence of stream versions

	pfxKeys = "k/" // + key id → seal.KeyRecord (CBOR)
	// pfxKeyTombstones + key id → why the key was destroyed (text): a
	// crypto-shredded data key. Key ids are hex, so none starts with "x/".
	pfxKeyTombstones = "k/x/"
)

// timeBits maps t to a uint64 that sorts like t.
func timeBits(t time.Time) uint64 {
	return uint64(t.UnixNano()) ^ (1 << 63)
}

// sidPrefix returns pfx + sid.
func sidPrefix(pfx string, sid uint64) []byte {
	k := make([]byte, 0, len(pfx)+24)
	k = append(k, pfx...)
	return binary.BigEndian.AppendUint64(k, sid)
}

// timeKey returns pfx + sid + t + number: a key of the server or producer
// time index.
func timeKey(pfx string, sid, tbits, number uint64) []byte {
	k := sidPrefix(pfx, sid)
	k = binary.BigEndian.AppendUint64(k, tbits)
	return binary.BigEndian.AppendUint64(k, number)
}

// timeKeyLen is the length of a time index key.
const timeKeyLen = 4 + 24

// parseTimeKey splits a time index key; ok is false for a key of another
// shape.
func parseTimeKey(k []byte) (sid, tbits, number uint64, ok bool) {
	if len(k) != timeKeyLen {
		return 0, 0, 0, false
	}
	return binary.BigEndian.Uint64(k[4:]), binary.BigEndian.Uint64(k[12:]), binary.BigEndian.Uint64(k[20:]), true
}

// numberKey returns the key of a fragment's metadata by number.
func numberKey(number uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(pfxNumber), number)
}

// parseNumberKey returns the number of a fragment metadata key.
func parseNumberKey(k []byte) (uint64, bool) {
	if len(k) != len(pfxNumber)+8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[len(pfxNumber):]), true
}

// blobKey returns the key of a fragment's sealed blob.
func blobKey(sid uint64, bucketEnd int64, number uint64) []byte {
	k := bucketPrefix(sid, bucketEnd)
	return binary.BigEndian.AppendUint64(k, number)
}

// bucketPrefix returns the prefix shared by all blobs of one bucket.
func bucketPrefix(sid uint64, bucketEnd int64) []byte {
	k := sidPrefix(pfxBlob, sid)
	return binary.BigEndian.AppendUint64(k, uint64(bucketEnd))
}

// registryKey returns the key of a stream's registry record.
func registryKey(name string) []byte {
	return append([]byte(pfxRegistry), name...)
}

// deletedKey returns the key marking a deleted stream id for purging.
func deletedKey(sid uint64) []byte {
	return sidPrefix(pfxDeleted, sid)
}

// bucketEnd returns the end (Unix seconds, exclusive) of the bucket of
// width w that holds t.
func bucketEnd(t time.Time, w time.Duration) int64 {
	ws := int64(w / time.Second)
	s := t.Unix()
	b := s / ws
	if s < 0 && s%ws != 0 {
		b--
	}
	return (b + 1) * ws
}

// usageKey returns the key of a blob bucket's usage record.
func usageKey(sid uint64, bucketEnd int64) []byte {
	k := sidPrefix(pfxUsage, sid)
	return binary.BigEndian.AppendUint64(k, uint64(bucketEnd))
}

// usageKeyLen is the length of a usage key.
const usageKeyLen = 4 + 16

// bucketUsage is what a blob bucket holds: sealed bytes and fragments.
type bucketUsage struct {
	bytes, fragments int64
}

func (u bucketUsage) encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(u.bytes))
	return binary.BigEndian.AppendUint64(b, uint64(u.fragments))
}

func decodeUsage(v []byte) (bucketUsage, bool) {
	if len(v) != 16 {
		return bucketUsage{}, false
	}
	return bucketUsage{int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:]))}, true
}

// tagsKey returns the key of a stream's tags.
func tagsKey(sid uint64) []byte { return sidPrefix(pfxTags, sid) }
