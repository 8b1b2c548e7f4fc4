package mkv

import (
	"encoding/binary"
	"math"
)

// EBML primitives (RFC 8794): variable-size integers, element headers and
// the integer, float, string and binary element bodies.

// unknownSize8 is the 8-byte vint whose value bits are all ones: the
// reserved "unknown size" (RFC 8794 section 6.2).
const unknownSize8 = 0x01FFFFFFFFFFFFFF

// maxVintValue is the largest size an 8-byte vint can carry (all ones is
// reserved for unknown size).
const maxVintValue = 1<<56 - 2

// idLen returns the encoded length of an element ID (which includes its
// marker bits).
func idLen(id uint32) int {
	switch {
	case id <= 0xFF:
		return 1
	case id <= 0xFFFF:
		return 2
	case id <= 0xFFFFFF:
		return 3
	}
	return 4
}

func appendID(b []byte, id uint32) []byte {
	switch idLen(id) {
	case 1:
		return append(b, byte(id))
	case 2:
		return append(b, byte(id>>8), byte(id))
	case 3:
		return append(b, byte(id>>16), byte(id>>8), byte(id))
	}
	return append(b, byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
}

// vintLen returns the shortest vint length able to carry v without using
// the all-ones pattern.
func vintLen(v uint64) int {
	for n := 1; n < 8; n++ {
		if v < 1<<(7*n)-1 {
			return n
		}
	}
	return 8
}

// appendVintN appends v as an n-byte vint. v must fit.
func appendVintN(b []byte, v uint64, n int) []byte {
	v |= 1 << (7 * n) // length marker
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

func appendVint(b []byte, v uint64) []byte {
	return appendVintN(b, v, vintLen(v))
}

// putVint8 writes v as an 8-byte vint into b[:8].
func putVint8(b []byte, v uint64) {
	binary.BigEndian.PutUint64(b, v|1<<56)
}

func uintLen(v uint64) int {
	n := 1
	for v > 0xFF {
		v >>= 8
		n++
	}
	return n
}

func appendUintEl(b []byte, id uint32, v uint64) []byte {
	n := uintLen(v)
	b = appendID(b, id)
	b = append(b, 0x80|byte(n))
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// appendUint8El writes v with a fixed 8-byte body, so it can be patched.
func appendUint8El(b []byte, id uint32, v uint64) []byte {
	b = appendID(b, id)
	b = append(b, 0x88)
	return binary.BigEndian.AppendUint64(b, v)
}

func appendIntEl(b []byte, id uint32, v int64) []byte {
	b = appendID(b, id)
	b = append(b, 0x88)
	return binary.BigEndian.AppendUint64(b, uint64(v))
}

func appendFloatEl(b []byte, id uint32, f float64) []byte {
	b = appendID(b, id)
	b = append(b, 0x88)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f))
}

func appendStringEl(b []byte, id uint32, s string) []byte {
	b = appendID(b, id)
	b = appendVint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytesEl(b []byte, id uint32, p []byte) []byte {
	b = appendID(b, id)
	b = appendVint(b, uint64(len(p)))
	return append(b, p...)
}

// beginMaster appends a master element header with an 8-byte size
// placeholder and returns the offset of the placeholder for endMaster.
func beginMaster(b []byte, id uint32) ([]byte, int) {
	b = appendID(b, id)
	off := len(b)
	return append(b, 0, 0, 0, 0, 0, 0, 0, 0), off
}

// endMaster patches the size placeholder written by beginMaster.
func endMaster(b []byte, sizeOff int) {
	putVint8(b[sizeOff:], uint64(len(b)-sizeOff-8))
}

// vintWidth returns the length of a vint from its first byte, or 0 when the
// byte is 0 (a length above 8, invalid in Matroska).
func vintWidth(first byte) int {
	for n := 1; n <= 8; n++ {
		if first&(0x80>>(n-1)) != 0 {
			return n
		}
	}
	return 0
}

// parseVint decodes a size-style vint (marker removed) from b. It returns
// the value, the length, and whether the value is the reserved all-ones
// pattern. n is 0 when b is too short or the vint is invalid.
func parseVint(b []byte) (v uint64, n int, allOnes bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	n = vintWidth(b[0])
	if n == 0 || len(b) < n {
		return 0, 0, false
	}
	v = uint64(b[0]) & (0xFF >> n)
	for i := 1; i < n; i++ {
		v = v<<8 | uint64(b[i])
	}
	return v, n, v == 1<<(7*n)-1
}

// parseID decodes an element ID (marker kept) from b. n is 0 when b is too
// short or the ID is invalid or longer than 4 bytes.
func parseID(b []byte) (id uint32, n int) {
	if len(b) == 0 {
		return 0, 0
	}
	n = vintWidth(b[0])
	if n == 0 || n > 4 || len(b) < n {
		return 0, 0
	}
	for i := 0; i < n; i++ {
		id = id<<8 | uint32(b[i])
	}
	return id, n
}

// readUint decodes an unsigned integer element body (0 to 8 bytes).
func readUint(p []byte) (uint64, bool) {
	if len(p) > 8 {
		return 0, false
	}
	var v uint64
	for _, c := range p {
		v = v<<8 | uint64(c)
	}
	return v, true
}

// readInt decodes a signed integer element body (0 to 8 bytes).
func readInt(p []byte) (int64, bool) {
	if len(p) > 8 {
		return 0, false
	}
	if len(p) == 0 {
		return 0, true
	}
	v := int64(int8(p[0]))
	for _, c := range p[1:] {
		v = v<<8 | int64(c)
	}
	return v, true
}

// readFloat decodes a float element body (0, 4 or 8 bytes).
func readFloat(p []byte) (float64, bool) {
	switch len(p) {
	case 0:
		return 0, true
	case 4:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(p))), true
	case 8:
		return math.Float64frombits(binary.BigEndian.Uint64(p)), true
	}
	return 0, false
}

// readString decodes a string element body, dropping trailing NUL padding
// (RFC 8794 section 7.4).
func readString(p []byte) string {
	for len(p) > 0 && p[len(p)-1] == 0 {
		p = p[:len(p)-1]
	}
	return string(p)
}
