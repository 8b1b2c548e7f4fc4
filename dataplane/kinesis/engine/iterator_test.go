package engine

import (
	"encoding/base64"
	"testing"
	"time"
)

func TestIteratorToken(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	tok := iterToken{streamID: 7, shard: 3, pos: 1 << 50, issued: time.UnixMilli(1700000000123)}
	s := encodeIterator(secret, tok)
	got, ok := decodeIterator(secret, s)
	if !ok || got.streamID != tok.streamID || got.shard != tok.shard || got.pos != tok.pos || !got.issued.Equal(tok.issued) {
		t.Fatalf("round trip: %+v %v", got, ok)
	}
	raw, _ := base64.StdEncoding.DecodeString(s)
	forged := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return base64.StdEncoding.EncodeToString(b)
	}
	tests := []struct {
		name string
		in   string
		key  []byte
	}{
		{"other secret", s, []byte("another secret")},
		{"changed stream", forged(1), secret},
		{"changed position", forged(15), secret},
		{"changed time", forged(25), secret},
		{"changed mac", forged(iterLen - 1), secret},
		{"truncated", s[:len(s)-4], secret},
		{"empty", "", secret},
		{"not base64", "!!!!", secret},
		{"huge", string(make([]byte, 4096)), secret},
	}
	for _, tt := range tests {
		if _, ok := decodeIterator(tt.key, tt.in); ok {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

func FuzzIteratorToken(f *testing.F) {
	secret := []byte("fuzz secret")
	f.Add(encodeIterator(secret, iterToken{streamID: 1, shard: 2, pos: 3, issued: time.UnixMilli(4)}))
	f.Add("")
	f.Add("AQ==")
	f.Fuzz(func(t *testing.T, s string) {
		tok, ok := decodeIterator(secret, s)
		if ok && encodeIterator(secret, tok) != s {
			t.Fatalf("accepted a token it would not produce: %q", s)
		}
	})
}
