package index

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// tokenCases are valid positions and invalid token strings; they also
// seed FuzzDecodeToken.
var tokenCases = []struct {
	name  string
	token string    // used when pos is nil
	pos   *position // a valid token for this position
	err   error
}{
	{name: "server", pos: &position{by: ServerTime, sid: 1, tbits: timeBits(t0), number: 42}},
	{name: "producer extremes", pos: &position{by: ProducerTime, sid: math.MaxUint64, tbits: math.MaxUint64, number: math.MaxUint64}},
	{name: "zeros", pos: &position{}},
	{name: "empty", token: "", err: ErrInvalidToken},
	{name: "short", token: "AQAB", err: ErrInvalidToken},
	{name: "not base64", token: strings.Repeat("!", 40), err: ErrInvalidToken},
	{name: "padding", token: strings.Repeat("A", 38) + "==", err: ErrInvalidToken},
	{name: "bad checksum", token: "AQAAAAAAAAAAAQAAAAAAAAAAAAAAAAAAACoAAAAA", err: ErrInvalidToken},
	{name: "too long", token: strings.Repeat("A", 41), err: ErrInvalidToken},
}

// tamper flips one bit of a token's bytes and re-encodes it.
func tamper(tok string, i int) string {
	b := []byte(tok)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestDecodeToken(t *testing.T) {
	for _, tc := range tokenCases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.pos != nil {
				tok := encodeToken(*tc.pos)
				got, err := decodeToken(tok)
				checkErr(t, "decode", err, nil)
				if got != *tc.pos {
					t.Fatalf("decoded %+v, want %+v", got, *tc.pos)
				}
				for i := range len(tok) {
					if _, err := decodeToken(tamper(tok, i)); !errors.Is(err, ErrInvalidToken) {
						t.Fatalf("token altered at %d: %v, want ErrInvalidToken", i, err)
					}
				}
				return
			}
			_, err := decodeToken(tc.token)
			checkErr(t, "decode", err, tc.err)
		})
	}
	// A well-formed token of an unknown type or version is refused too.
	b := encodeToken(position{by: TimestampType(5)})
	if _, err := decodeToken(b); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("type 5: %v", err)
	}
}

func FuzzDecodeToken(f *testing.F) {
	for _, tc := range tokenCases {
		if tc.pos != nil {
			f.Add(encodeToken(*tc.pos))
		} else {
			f.Add(tc.token)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := decodeToken(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v does not wrap ErrInvalidToken", err)
			}
			return
		}
		// Whatever decodes is canonical: it encodes back to the same text.
		if again := encodeToken(p); again != s {
			t.Fatalf("decoded %q to %+v, which encodes to %q", s, p, again)
		}
	})
}
