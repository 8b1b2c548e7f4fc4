package engine

import (
	"crypto/md5"
	"math/big"
	"testing"
)

func TestParseHashKey(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want string
	}{
		{"0", true, "0"},
		{"1", true, "1"},
		{"340282366920938463463374607431768211455", true, "340282366920938463463374607431768211455"},
		{"340282366920938463463374607431768211456", false, ""},
		{"", false, ""},
		{"01", false, ""},
		{"-1", false, ""},
		{"+1", false, ""},
		{" 1", false, ""},
		{"12a", false, ""},
		{"1234567890123456789012345678901234567890", false, ""},
	}
	for _, tt := range tests {
		h, ok := ParseHashKey(tt.in)
		if ok != tt.ok {
			t.Errorf("ParseHashKey(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		if ok && h.String() != tt.want {
			t.Errorf("ParseHashKey(%q) = %s, want %s", tt.in, h, tt.want)
		}
	}
}

func FuzzParseHashKey(f *testing.F) {
	for _, s := range []string{"0", "1", "340282366920938463463374607431768211455", "340282366920938463463374607431768211456", "01", "-1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, ok := ParseHashKey(s)
		if ok && h.String() != s {
			t.Fatalf("round trip %q -> %s", s, h)
		}
	})
}

func TestPartitionKeyHash(t *testing.T) {
	for _, pk := range []string{"a", "partition-1", "ü", "cam1"} {
		sum := md5.Sum([]byte(pk))
		want := new(big.Int).SetBytes(sum[:]).String()
		if got := PartitionKeyHash(pk).String(); got != want {
			t.Errorf("PartitionKeyHash(%q) = %s, want %s", pk, got, want)
		}
	}
}

func TestUniformRanges(t *testing.T) {
	tests := []struct {
		n          int
		firstEnd   string
		lastStart  string
		totalCount int
	}{
		{1, "340282366920938463463374607431768211455", "0", 1},
		{2, "170141183460469231731687303715884105727", "170141183460469231731687303715884105728", 2},
		// AWS's 4-shard stream: 85070591730234615865843651857942052863 is
		// the ending hash key of shardId-000000000000.
		{4, "85070591730234615865843651857942052863", "255211775190703847597530955573826158592", 4},
		{3, "113427455640312821154458202477256070484", "226854911280625642308916404954512140970", 3},
	}
	for _, tt := range tests {
		r := uniformRanges(tt.n)
		if len(r) != tt.totalCount {
			t.Fatalf("n=%d: %d ranges", tt.n, len(r))
		}
		if r[0][0].String() != "0" || r[0][1].String() != tt.firstEnd {
			t.Errorf("n=%d first = [%s,%s]", tt.n, r[0][0], r[0][1])
		}
		if r[tt.n-1][0].String() != tt.lastStart || r[tt.n-1][1] != maxHashKey() {
			t.Errorf("n=%d last = [%s,%s]", tt.n, r[tt.n-1][0], r[tt.n-1][1])
		}
		for i := 1; i < tt.n; i++ {
			if r[i-1][1].add1() != r[i][0] {
				t.Errorf("n=%d: gap between %d and %d", tt.n, i-1, i)
			}
		}
	}
}

func TestSeqNum(t *testing.T) {
	tests := []seqNum{{0, 0}, {0, 1}, {3, 1 << 40}, {1<<32 - 1, ^uint64(0)}}
	prev := ""
	for _, s := range tests {
		str := s.String()
		if len(str) != seqDigits {
			t.Errorf("%v: %d digits", s, len(str))
		}
		got, ok := parseSeq(str)
		if !ok || got != s {
			t.Errorf("parseSeq(%s) = %v %v, want %v", str, got, ok, s)
		}
		if prev != "" && str <= prev {
			t.Errorf("%s does not sort after %s", str, prev)
		}
		a, _ := new(big.Int).SetString(str, 10)
		if b, _ := new(big.Int).SetString(prev+"0", 10); prev != "" && a.Cmp(new(big.Int).Div(b, big.NewInt(10))) <= 0 {
			t.Errorf("%s not larger as a number than %s", str, prev)
		}
		prev = str
	}
	for _, bad := range []string{"", "1", "49", "48000000000000000000000000000000000000000000000000000000", "4900000000000000000000000000000000000000000000000000000x", "49000000000000000000000000000000000000000000000000000000000"} {
		if _, ok := parseSeq(bad); ok {
			t.Errorf("parseSeq(%q) accepted", bad)
		}
	}
}

func FuzzParseSeq(f *testing.F) {
	f.Add(seqNum{3, 12345}.String())
	f.Add("49")
	f.Add("49999999999999999999999999999999999999999999999999999999")
	f.Fuzz(func(t *testing.T, s string) {
		if v, ok := parseSeq(s); ok && v.String() != s {
			t.Fatalf("round trip %q -> %s", s, v)
		}
	})
}
