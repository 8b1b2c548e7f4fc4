package mediatoken

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func newSigner(t testing.TB, now *time.Time) *Signer {
	t.Helper()
	s, err := New([]byte(strings.Repeat("k", KeySize)))
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return *now }
	return s
}

func TestVerify(t *testing.T) {
	now := t0
	s := newSigner(t, &now)
	rangeTok, exp, err := s.Mint("cam1", t0.Add(-time.Hour), t0)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(t0.Add(DefaultTTL)) {
		t.Fatalf("expiry %v, want %v", exp, t0.Add(DefaultTTL))
	}
	liveTok, _, err := s.Mint("cam1", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := New([]byte(strings.Repeat("x", KeySize)))
	if err != nil {
		t.Fatal(err)
	}
	other.Now = s.Now
	forged, _, _ := other.Mint("cam1", t0.Add(-time.Hour), t0)

	for _, tc := range []struct {
		name  string
		tok   string
		scope Scope
		after time.Duration
		want  error
	}{
		{"inside", rangeTok, Scope{Stream: "cam1", Start: t0.Add(-30 * time.Minute), End: t0}, 0, nil},
		{"whole range", rangeTok, Scope{Stream: "cam1", Start: t0.Add(-time.Hour), End: t0}, 0, nil},
		{"one picture", rangeTok, Scope{Stream: "cam1", Start: t0.Add(-time.Minute), End: t0.Add(-time.Minute)}, 0, nil},
		{"live with range token", rangeTok, Scope{Stream: "cam1", Live: true}, 0, nil},
		{"live", liveTok, Scope{Stream: "cam1", Live: true}, 0, nil},
		{"just before expiry", rangeTok, Scope{Stream: "cam1", Start: t0.Add(-time.Minute), End: t0}, DefaultTTL - time.Millisecond, nil},
		{"expired", rangeTok, Scope{Stream: "cam1", Start: t0.Add(-time.Minute), End: t0}, DefaultTTL, ErrExpired},
		{"other stream", rangeTok, Scope{Stream: "cam2", Start: t0.Add(-time.Minute), End: t0}, 0, ErrScope},
		{"starts before", rangeTok, Scope{Stream: "cam1", Start: t0.Add(-2 * time.Hour), End: t0}, 0, ErrScope},
		{"ends after", rangeTok, Scope{Stream: "cam1", Start: t0.Add(-time.Minute), End: t0.Add(time.Second)}, 0, ErrScope},
		{"no range asked", rangeTok, Scope{Stream: "cam1"}, 0, ErrScope},
		{"live token for recorded media", liveTok, Scope{Stream: "cam1", Start: t0.Add(-time.Minute), End: t0}, 0, ErrScope},
		{"other key", forged, Scope{Stream: "cam1", Start: t0.Add(-time.Minute), End: t0}, 0, ErrSignature},
		{"tampered", tamper(rangeTok), Scope{Stream: "cam1", Start: t0.Add(-time.Minute), End: t0}, 0, ErrSignature},
		{"no dot", "abc", Scope{Stream: "cam1", Live: true}, 0, ErrMalformed},
		{"empty", "", Scope{Stream: "cam1", Live: true}, 0, ErrMalformed},
		{"bad base64", "!!.!!", Scope{Stream: "cam1", Live: true}, 0, ErrMalformed},
		{"too long", strings.Repeat("a", MaxLen+1), Scope{Stream: "cam1", Live: true}, 0, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now = t0.Add(tc.after)
			_, err := s.Verify(tc.tok, tc.scope)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}

// tamper flips one character of the claims.
func tamper(tok string) string {
	b := []byte(tok)
	if b[2] == 'A' {
		b[2] = 'B'
	} else {
		b[2] = 'A'
	}
	return string(b)
}

func TestMintRoundsTheRangeOutwards(t *testing.T) {
	now := t0
	s := newSigner(t, &now)
	start, end := t0.Add(1500*time.Microsecond), t0.Add(2500*time.Microsecond)
	tok, _, err := s.Mint("cam1", start, end)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(tok, Scope{Stream: "cam1", Start: start, End: end}); err != nil {
		t.Fatalf("a token does not open the range it was minted for: %v", err)
	}
}

func TestMintRefuses(t *testing.T) {
	now := t0
	s := newSigner(t, &now)
	for name, args := range map[string][3]any{
		"no stream":   {"", t0, t0},
		"no end":      {"cam1", t0, time.Time{}},
		"reversed":    {"cam1", t0, t0.Add(-time.Second)},
		"long stream": {strings.Repeat("c", MaxLen), t0, t0},
	} {
		if _, _, err := s.Mint(args[0].(string), args[1].(time.Time), args[2].(time.Time)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if _, err := New([]byte("short")); !errors.Is(err, ErrKeySize) {
		t.Errorf("New(short key): %v", err)
	}
}

// TestPublishTokens: a publish token publishes to its stream only and
// opens no media; a media token never publishes.
func TestPublishTokens(t *testing.T) {
	now := t0
	s := newSigner(t, &now)
	pub, exp, err := s.MintPublish("cam1")
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(t0.Add(DefaultTTL)) {
		t.Fatalf("expiry %v, want %v", exp, t0.Add(DefaultTTL))
	}
	live, _, err := s.Mint("cam1", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Verify(pub, Scope{Stream: "cam1", Publish: true})
	if err != nil || !c.Publish || c.Stream != "cam1" {
		t.Fatalf("publish token for its stream: %+v, %v", c, err)
	}
	for name, tc := range map[string]struct {
		tok   string
		scope Scope
	}{
		"publish token, other stream": {pub, Scope{Stream: "cam2", Publish: true}},
		"publish token, live view":    {pub, Scope{Stream: "cam1", Live: true}},
		"publish token, media":        {pub, Scope{Stream: "cam1", Start: t0.Add(-time.Minute), End: t0}},
		"live token, publish":         {live, Scope{Stream: "cam1", Publish: true}},
	} {
		if _, err := s.Verify(tc.tok, tc.scope); !errors.Is(err, ErrScope) {
			t.Errorf("%s: %v, want ErrScope", name, err)
		}
	}
	now = exp
	if _, err := s.Verify(pub, Scope{Stream: "cam1", Publish: true}); !errors.Is(err, ErrExpired) {
		t.Errorf("expired publish token: %v, want ErrExpired", err)
	}
}

func TestRandomKeysDiffer(t *testing.T) {
	a, err := NewRandom()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewRandom()
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := a.Mint("cam1", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Parse(tok); !errors.Is(err, ErrSignature) {
		t.Fatalf("another process's token: %v, want ErrSignature", err)
	}
}

// FuzzParse feeds the parser arbitrary tokens, seeded with real ones and
// their mutilations: it must never panic, and whatever it accepts must be
// a token this signer minted (so it verifies back to the same claims).
func FuzzParse(f *testing.F) {
	now := t0
	s := newSigner(f, &now)
	for _, r := range [][2]time.Time{{}, {t0.Add(-time.Hour), t0}} {
		tok, _, err := s.Mint("cam1", r[0], r[1])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
		f.Add(tamper(tok))
		f.Add(tok[:len(tok)/2])
	}
	if tok, _, err := s.MintPublish("cam1"); err == nil {
		f.Add(tok)
	}
	f.Add("")
	f.Add(".")
	f.Add("e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := s.Parse(tok)
		if err != nil {
			return
		}
		if c.Stream == "" || c.Expires.IsZero() || (c.HasRange() && c.End.Before(c.Start)) || (c.Publish && c.HasRange()) {
			t.Fatalf("accepted incomplete claims %+v from %q", c, tok)
		}
	})
}

// FuzzVerify feeds Verify arbitrary tokens and scopes, seeded with real
// tokens, their mutilations and the scopes of every route: it never
// panics, every refusal is one of the package's errors, and whatever it
// admits is an unexpired token of the asked stream that covers the scope
// (never a publish token for media, never a media token for publishing).
func FuzzVerify(f *testing.F) {
	now := t0
	s := newSigner(f, &now)
	ranged, _, err := s.Mint("cam1", t0.Add(-time.Hour), t0)
	if err != nil {
		f.Fatal(err)
	}
	live, _, _ := s.Mint("cam1", time.Time{}, time.Time{})
	pub, _, _ := s.MintPublish("cam1")
	h := int64(time.Hour / time.Millisecond)
	for _, tok := range []string{ranged, live, pub, tamper(ranged), ranged[:len(ranged)/2], "", ".", "e30."} {
		for _, stream := range []string{"cam1", "cam2", ""} {
			f.Add(tok, stream, -h, int64(0), false, false, int64(0))
			f.Add(tok, stream, -2*h, int64(0), false, false, int64(0))
			f.Add(tok, stream, int64(0), int64(0), true, false, int64(0))
			f.Add(tok, stream, int64(0), int64(0), false, true, int64(0))
			f.Add(tok, stream, -h, int64(0), false, false, int64(DefaultTTL/time.Millisecond))
		}
	}
	f.Fuzz(func(t *testing.T, tok, stream string, startMS, endMS int64, liveScope, publish bool, laterMS int64) {
		now = t0.Add(time.Duration(laterMS) * time.Millisecond)
		scope := Scope{Stream: stream, Live: liveScope, Publish: publish}
		if startMS != 0 || endMS != 0 {
			scope.Start, scope.End = t0.Add(time.Duration(startMS)*time.Millisecond), t0.Add(time.Duration(endMS)*time.Millisecond)
		}
		c, err := s.Verify(tok, scope)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrSignature) && !errors.Is(err, ErrExpired) && !errors.Is(err, ErrScope) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		switch {
		case c.Stream != stream:
			t.Fatalf("token of %q admitted for %q", c.Stream, stream)
		case !now.Before(c.Expires):
			t.Fatalf("expired token admitted: %+v at %v", c, now)
		case publish != c.Publish:
			t.Fatalf("publish %v admitted with claims %+v", publish, c)
		case !publish && !liveScope && (!c.HasRange() || scope.Start.Before(c.Start) || scope.End.After(c.End)):
			t.Fatalf("scope %+v admitted by claims %+v", scope, c)
		}
	})
}
