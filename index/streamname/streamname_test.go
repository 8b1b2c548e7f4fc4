package streamname

import (
	"errors"
	"strings"
	"testing"
)

var cases = []struct {
	name string
	ok   bool
}{
	{"cam1", true},
	{"Barn_Door-2.east", true},
	{strings.Repeat("a", MaxLen), true},
	{"", false},
	{strings.Repeat("a", MaxLen+1), false},
	{"cam 1", false},
	{"a/b", false},
	{"cam%201", false},
	{"caméra", false},
	{"cam\n1", false},
	{"cam:1", false},
}

func TestCheck(t *testing.T) {
	for _, tt := range cases {
		err := Check(tt.name)
		if (err == nil) != tt.ok || Valid(tt.name) != tt.ok {
			t.Errorf("Check(%q) = %v, Valid = %v; want ok %v", tt.name, err, Valid(tt.name), tt.ok)
		}
		if err != nil && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), Rule)) {
			t.Errorf("Check(%q) = %v; want ErrInvalid with the rule in words", tt.name, err)
		}
	}
}

func FuzzCheck(f *testing.F) {
	for _, tt := range cases {
		f.Add(tt.name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if Valid(name) != (Check(name) == nil) {
			t.Fatalf("Valid and Check disagree on %q", name)
		}
		if Valid(name) && (len(name) > MaxLen || strings.ContainsAny(name, "/ %\x00")) {
			t.Fatalf("Valid(%q) accepts a name outside the rule", name)
		}
	})
}
