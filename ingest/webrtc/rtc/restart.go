package rtc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// ICESession is the ICE side of a WHIP or WHEP session resource, the
// answerer's: its entity tag and the peer's ICE credentials, both of
// which an ICE restart (RFC 9725 section 4.4) changes. PATCHes of one
// session are served one at a time.
type ICESession struct {
	mu               sync.Mutex
	etag, ufrag, pwd string
}

// NewICESession returns the ICE state of a session whose ETag is etag
// (quoted) and whose peer offered ufrag and pwd.
func NewICESession(etag, ufrag, pwd string) *ICESession {
	return &ICESession{etag: etag, ufrag: ufrag, pwd: pwd}
}

// ETag returns the session's current entity tag.
func (s *ICESession) ETag() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.etag
}

// restartTimeout bounds the renegotiation and gathering of an ICE restart.
const restartTimeout = 5 * time.Second

// Patch serves a PATCH of the session, its body (an SDP fragment) read:
// an If-Match other than "*" or the current ETag gets 412; a fragment
// with the peer's credentials (or none) trickles its candidates into pc,
// 204; one with new credentials restarts ICE: 200 with the appliance's
// new credentials and candidates as an SDP fragment, and a new ETag. It
// writes the response.
func (s *ICESession) Patch(w http.ResponseWriter, r *http.Request, pc *webrtc.PeerConnection, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := r.Header.Get("If-Match"); m != "" && m != "*" && m != s.etag {
		Fail(w, http.StatusPreconditionFailed, "If-Match %s does not match the session's ETag %s", m, s.etag)
		return
	}
	frag, err := ParseSDPFrag(body)
	if err != nil {
		Fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if (frag.Ufrag == "" || frag.Ufrag == s.ufrag) && (frag.Pwd == "" || frag.Pwd == s.pwd) {
		if err := addCandidates(pc, frag); err != nil {
			Fail(w, http.StatusBadRequest, "%v", err)
			return
		}
		CORS(w)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if frag.Ufrag == "" || frag.Pwd == "" {
		Fail(w, http.StatusBadRequest, "%v: an ICE restart needs both a=ice-ufrag and a=ice-pwd", ErrBadSDPFrag)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), restartTimeout)
	defer cancel()
	answer, err := RestartICE(ctx, pc, frag)
	if err != nil {
		Fail(w, http.StatusInternalServerError, "ICE restart: %v", err)
		return
	}
	s.ufrag, s.pwd = frag.Ufrag, frag.Pwd
	s.etag = `"` + NewSessionID()[:16] + `"`
	CORS(w)
	w.Header().Set("ETag", s.etag)
	w.Header().Set("Content-Type", "application/trickle-ice-sdpfrag")
	w.WriteHeader(http.StatusOK)
	w.Write(answer)
}

// RestartICE restarts ICE on pc, the answerer, for a fragment with the
// peer's new credentials: the peer's description is applied again as an
// offer with them (and without its old candidates), pion restarts its
// agent with new local credentials and gathers, the fragment's
// candidates are added, and the new answer's ICE lines come back as an
// SDP fragment (session-level credentials, the first media section's
// m= and mid, its candidates, end-of-candidates). The media and DTLS go
// on.
func RestartICE(ctx context.Context, pc *webrtc.PeerConnection, frag SDPFrag) ([]byte, error) {
	remote := pc.RemoteDescription()
	if remote == nil {
		return nil, errors.New("the session has no remote description")
	}
	offer := webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: ReplaceICE(remote.SDP, frag.Ufrag, frag.Pwd)}
	if err := pc.SetRemoteDescription(offer); err != nil {
		return nil, fmt.Errorf("applying the new credentials: %w", err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return nil, fmt.Errorf("answering: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return nil, fmt.Errorf("local description: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return nil, fmt.Errorf("gathering: %w", ctx.Err())
	}
	if err := addCandidates(pc, frag); err != nil {
		return nil, err
	}
	return ICEFrag(pc.LocalDescription().SDP), nil
}

// ReplaceICE returns sdp with every a=ice-ufrag and a=ice-pwd set to
// ufrag and pwd and without candidates or end-of-candidates: the old
// generation's.
func ReplaceICE(sdp, ufrag, pwd string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(sdp, "\n") {
		l := strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(l, "a=ice-ufrag:"):
			b.WriteString("a=ice-ufrag:" + ufrag + "\r\n")
		case strings.HasPrefix(l, "a=ice-pwd:"):
			b.WriteString("a=ice-pwd:" + pwd + "\r\n")
		case strings.HasPrefix(l, "a=candidate:"), l == "a=end-of-candidates":
		default:
			b.WriteString(line)
		}
	}
	return b.String()
}

// ICEFrag returns the ICE lines of a full SDP as a trickle-ICE fragment
// (RFC 8840): the credentials, the first m= line and its mid, and the
// candidates (BUNDLE: they serve every section).
func ICEFrag(sdp string) []byte {
	var ufrag, pwd, mline, mid string
	var cands []string
	seen := map[string]bool{}
	for _, line := range strings.Split(sdp, "\n") {
		l := strings.TrimRight(line, "\r")
		switch {
		case strings.HasPrefix(l, "a=ice-ufrag:") && ufrag == "":
			ufrag = l
		case strings.HasPrefix(l, "a=ice-pwd:") && pwd == "":
			pwd = l
		case strings.HasPrefix(l, "m=") && mline == "":
			mline = l
		case strings.HasPrefix(l, "a=mid:") && mid == "":
			mid = l
		case strings.HasPrefix(l, "a=candidate:") && !seen[l]:
			seen[l] = true
			cands = append(cands, l)
		}
	}
	var b strings.Builder
	for _, l := range []string{ufrag, pwd, mline, mid} {
		if l != "" {
			b.WriteString(l + "\r\n")
		}
	}
	for _, c := range cands {
		b.WriteString(c + "\r\n")
	}
	b.WriteString("a=end-of-candidates\r\n")
	return []byte(b.String())
}

// addCandidates adds the candidates of a fragment to pc.
func addCandidates(pc *webrtc.PeerConnection, frag SDPFrag) error {
	for _, c := range frag.Candidates {
		init := webrtc.ICECandidateInit{Candidate: c.Candidate}
		if c.Mid != "" {
			init.SDPMid = &c.Mid
		}
		if c.MLineIndex >= 0 {
			idx := uint16(c.MLineIndex)
			init.SDPMLineIndex = &idx
		}
		if err := pc.AddICECandidate(init); err != nil {
			return fmt.Errorf("candidate %q: %w", c.Candidate, err)
		}
	}
	return nil
}
