package engine

import (
	"crypto/md5" //nolint:gosec // Kinesis defines partition-key hashing as MD5.
	"encoding/binary"
	"math/big"
)

// HashKey is a 128-bit Kinesis hash key. Kinesis maps a partition key to the
// big-endian 128-bit number MD5(partitionKey) and routes the record to the
// open shard whose [StartingHashKey, EndingHashKey] range contains it
// (Kinesis Data Streams API reference, PutRecord and HashKeyRange).
type HashKey struct {
	Hi, Lo uint64
}

// maxHashKey returns 2^128-1, the ending hash key of the last shard.
func maxHashKey() HashKey { return HashKey{Hi: ^uint64(0), Lo: ^uint64(0)} }

// PartitionKeyHash returns MD5(key) read as a big-endian 128-bit number.
func PartitionKeyHash(key string) HashKey {
	sum := md5.Sum([]byte(key)) //nolint:gosec // protocol-defined hash, not security
	return HashKey{Hi: binary.BigEndian.Uint64(sum[:8]), Lo: binary.BigEndian.Uint64(sum[8:])}
}

// ParseHashKey parses a decimal hash key in [0, 2^128-1]. Only ASCII digits
// are accepted (no sign, no spaces), as ExplicitHashKey's pattern "0|([1-9]\d{0,38})"
// requires.
func ParseHashKey(s string) (HashKey, bool) {
	if s == "" || len(s) > 39 || (len(s) > 1 && s[0] == '0') {
		return HashKey{}, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return HashKey{}, false
		}
	}
	var b big.Int
	if _, ok := b.SetString(s, 10); !ok || b.BitLen() > 128 {
		return HashKey{}, false
	}
	return hashKeyFromBig(&b), true
}

func hashKeyFromBig(b *big.Int) HashKey {
	var buf [16]byte
	b.FillBytes(buf[:])
	return HashKey{Hi: binary.BigEndian.Uint64(buf[:8]), Lo: binary.BigEndian.Uint64(buf[8:])}
}

func (h HashKey) big() *big.Int {
	var buf [16]byte
	binary.BigEndian.PutUint64(buf[:8], h.Hi)
	binary.BigEndian.PutUint64(buf[8:], h.Lo)
	return new(big.Int).SetBytes(buf[:])
}

// String returns h in decimal, the wire form of hash keys.
func (h HashKey) String() string { return h.big().String() }

// Cmp returns -1, 0 or 1 as h is less than, equal to or greater than o.
func (h HashKey) Cmp(o HashKey) int {
	switch {
	case h.Hi < o.Hi:
		return -1
	case h.Hi > o.Hi:
		return 1
	case h.Lo < o.Lo:
		return -1
	case h.Lo > o.Lo:
		return 1
	}
	return 0
}

// add1 returns h+1 (wrapping).
func (h HashKey) add1() HashKey {
	lo := h.Lo + 1
	hi := h.Hi
	if lo == 0 {
		hi++
	}
	return HashKey{Hi: hi, Lo: lo}
}

// sub1 returns h-1 (wrapping).
func (h HashKey) sub1() HashKey {
	lo := h.Lo - 1
	hi := h.Hi
	if h.Lo == 0 {
		hi--
	}
	return HashKey{Hi: hi, Lo: lo}
}

// uniformRanges splits the hash key space into n contiguous ranges the way
// Kinesis does for CreateStream: range i starts at floor(i*2^128/n).
func uniformRanges(n int) [][2]HashKey {
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	out := make([][2]HashKey, n)
	for i := range n {
		start := new(big.Int).Mul(space, big.NewInt(int64(i)))
		start.Div(start, big.NewInt(int64(n)))
		end := new(big.Int).Mul(space, big.NewInt(int64(i+1)))
		end.Div(end, big.NewInt(int64(n)))
		end.Sub(end, big.NewInt(1))
		out[i] = [2]HashKey{hashKeyFromBig(start), hashKeyFromBig(end)}
	}
	return out
}

// midpoint returns floor((a+b+1)/2), the starting hash key of the upper half
// when [a,b] is split evenly.
func midpoint(a, b HashKey) HashKey {
	s := new(big.Int).Add(a.big(), b.big())
	s.Add(s, big.NewInt(1))
	s.Rsh(s, 1)
	return hashKeyFromBig(s)
}

// width returns b-a as a big.Int.
func width(a, b HashKey) *big.Int { return new(big.Int).Sub(b.big(), a.big()) }
