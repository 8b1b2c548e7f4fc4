package rtc

import (
	"strings"
	"testing"
)

const answerSDP = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=ice-ufrag:olduf\r\na=ice-pwd:oldpasswordoldpassword\r\n" +
	"a=candidate:1 1 udp 2130706431 127.0.0.1 8189 typ host\r\na=end-of-candidates\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\na=ice-ufrag:olduf\r\na=ice-pwd:oldpasswordoldpassword\r\n" +
	"a=candidate:1 1 udp 2130706431 127.0.0.1 8189 typ host\r\na=end-of-candidates\r\n"

// ICEFrag's fragment parses back to the SDP's credentials and its
// candidates once; ReplaceICE sets new credentials everywhere and drops
// the old candidates.
func TestICEFragAndReplaceICE(t *testing.T) {
	f, err := ParseSDPFrag(ICEFrag(answerSDP))
	if err != nil {
		t.Fatal(err)
	}
	if f.Ufrag != "olduf" || f.Pwd != "oldpasswordoldpassword" || len(f.Candidates) != 1 || f.Candidates[0].Mid != "0" || !f.EndOfCandidates {
		t.Fatalf("fragment %+v", f)
	}
	re := ReplaceICE(answerSDP, "newuf", "newpasswordnewpassword")
	if strings.Contains(re, "old") || strings.Count(re, "a=ice-ufrag:newuf\r\n") != 2 || strings.Count(re, "a=ice-pwd:newpasswordnewpassword\r\n") != 2 ||
		strings.Contains(re, "a=candidate") || strings.Contains(re, "end-of-candidates") || !strings.Contains(re, "m=audio 9") {
		t.Fatalf("ReplaceICE:\n%s", re)
	}
}
