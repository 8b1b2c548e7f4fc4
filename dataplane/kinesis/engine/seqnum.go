package engine

import (
	"strconv"
	"time"
)

// Sequence numbers.
//
// Kinesis sequence numbers are decimal strings that increase per shard (AWS
// uses 56 digits). kinedge's are always exactly 56 digits, so comparing them
// as strings is comparing them as big integers:
//
//	"49" | shard index, 24 digits | counter, 30 digits
//
// The counter is a uint64 (at most 20 digits) made of the record's arrival
// time and a sub-millisecond index:
//
//	counter = arrivalUnixMilli << counterSubBits | n,   n < 2^counterSubBits
//
// Counters strictly increase per shard: the writer takes
// max(last+1, now<<counterSubBits) for every record, so a clock that steps
// back never reorders a shard. Embedding the arrival time makes
// AT_TIMESTAMP iterators and retention trimming single key seeks, and the
// shard index lets AT_SEQUENCE_NUMBER reject a number of another shard.
// Children of a reshard have larger indexes than their parents, so their
// sequence numbers are larger too.
const (
	seqDigits      = 56
	seqPrefix      = "49"
	seqShardDigits = 24
	seqCtrDigits   = 30
	counterSubBits = 20
)

// seqNum is a decoded sequence number.
type seqNum struct {
	shard   uint32
	counter uint64
}

// String formats s in the 56-digit wire form.
func (s seqNum) String() string {
	var b [seqDigits]byte
	copy(b[:], seqPrefix)
	putDigits(b[len(seqPrefix):len(seqPrefix)+seqShardDigits], uint64(s.shard))
	putDigits(b[len(seqPrefix)+seqShardDigits:], s.counter)
	return string(b[:])
}

// putDigits writes v in decimal into dst, right-aligned and zero-padded.
func putDigits(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
}

// parseSeq decodes a sequence number made by String.
func parseSeq(str string) (seqNum, bool) {
	if len(str) != seqDigits || str[:2] != seqPrefix {
		return seqNum{}, false
	}
	for i := 0; i < len(str); i++ {
		if str[i] < '0' || str[i] > '9' {
			return seqNum{}, false
		}
	}
	shard, err := strconv.ParseUint(str[2:2+seqShardDigits], 10, 32)
	if err != nil {
		return seqNum{}, false
	}
	ctr, err := strconv.ParseUint(str[2+seqShardDigits:], 10, 64)
	if err != nil {
		return seqNum{}, false
	}
	return seqNum{shard: uint32(shard), counter: ctr}, true
}

// counterAt returns the first counter of millisecond t.
func counterAt(t time.Time) uint64 {
	ms := t.UnixMilli()
	if ms < 0 {
		return 0
	}
	return uint64(ms) << counterSubBits
}

// counterTime returns the arrival time encoded in a counter.
func counterTime(c uint64) time.Time {
	return time.UnixMilli(int64(c >> counterSubBits)).UTC()
}
