package rtc

import (
	"errors"
	"testing"
)

var fragCases = []struct {
	name string
	in   string
	want SDPFrag
	err  bool
}{
	{name: "rfc 8840 example", in: "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\nm=audio 9 RTP/AVP 0\r\na=mid:1\r\n" +
		"a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1\r\n" +
		"a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2\r\n" +
		"a=end-of-candidates\r\n",
		want: SDPFrag{Ufrag: "EsAw", Pwd: "P2uYro0UCOQ4zxjKXaWCBui1", EndOfCandidates: true, Candidates: []FragCandidate{
			{Mid: "1", MLineIndex: 0, Candidate: "candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1"},
			{Mid: "1", MLineIndex: 0, Candidate: "candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2"},
		}}},
	{name: "lf only, no m line", in: "a=candidate:1 1 UDP 1 10.0.0.1 5000 typ host\n",
		want: SDPFrag{Candidates: []FragCandidate{{MLineIndex: -1, Candidate: "candidate:1 1 UDP 1 10.0.0.1 5000 typ host"}}}},
	{name: "empty", in: "", want: SDPFrag{}},
	{name: "unknown attributes ignored", in: "a=group:BUNDLE 0\na=foo\n", want: SDPFrag{}},
	{name: "not type=value", in: "hello\n", err: true},
	{name: "short candidate", in: "a=candidate:1 1 udp\n", err: true},
	{name: "bad port", in: "a=candidate:1 1 udp 1 10.0.0.1 99999 typ host\n", err: true},
	{name: "no typ", in: "a=candidate:1 1 udp 1 10.0.0.1 5000 type host\n", err: true},
	{name: "two ufrags", in: "a=ice-ufrag:a\na=ice-ufrag:b\n", err: true},
	{name: "empty mid", in: "a=mid:\n", err: true},
	{name: "short m line", in: "m=audio\n", err: true},
	{name: "control char", in: "a=ice-ufrag:a\x00b\n", err: true},
}

func TestParseSDPFrag(t *testing.T) {
	for _, tc := range fragCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSDPFrag([]byte(tc.in))
			if tc.err {
				if !errors.Is(err, ErrBadSDPFrag) {
					t.Fatalf("err %v, want ErrBadSDPFrag", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Ufrag != tc.want.Ufrag || got.Pwd != tc.want.Pwd || got.EndOfCandidates != tc.want.EndOfCandidates || len(got.Candidates) != len(tc.want.Candidates) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got.Candidates {
				if got.Candidates[i] != tc.want.Candidates[i] {
					t.Fatalf("candidate %d: %+v, want %+v", i, got.Candidates[i], tc.want.Candidates[i])
				}
			}
		})
	}
}

func FuzzParseSDPFrag(f *testing.F) {
	for _, tc := range fragCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseSDPFrag(b)
		if err != nil {
			if !errors.Is(err, ErrBadSDPFrag) {
				t.Fatalf("error not ErrBadSDPFrag: %v", err)
			}
			return
		}
		for _, c := range got.Candidates {
			if err := checkCandidate(c.Candidate[len("candidate:"):]); err != nil {
				t.Fatalf("accepted candidate %q fails its own check: %v", c.Candidate, err)
			}
		}
	})
}
