package rtc

import (
	"fmt"
	"strconv"
	"strings"
)

// SDPFrag is a trickle-ICE SDP fragment (RFC 8840 §9,
// application/trickle-ice-sdpfrag), as a WHIP/WHEP client PATCHes it.
type SDPFrag struct {
	// Ufrag and Pwd are the session-level (or first media-level) ICE
	// credentials; a change from the session's marks an ICE restart.
	Ufrag, Pwd string
	// Candidates in the order of the fragment.
	Candidates []FragCandidate
	// EndOfCandidates is true when the fragment says a=end-of-candidates.
	EndOfCandidates bool
}

// FragCandidate is one a=candidate line and the media section it belongs
// to.
type FragCandidate struct {
	// Mid is the a=mid of the candidate's media section, "" when none.
	Mid string
	// MLineIndex is the index of the candidate's m= line in the fragment,
	// -1 before any m= line.
	MLineIndex int
	// Candidate is the attribute without "a=": "candidate:…".
	Candidate string
}

// maxFragLines bounds the lines of one fragment (a client trickles a few
// candidates per PATCH).
const maxFragLines = 256

// ParseSDPFrag parses a trickle-ICE SDP fragment. Lines end with CRLF or
// LF; blank lines and attributes other than those of SDPFrag are ignored.
func ParseSDPFrag(b []byte) (SDPFrag, error) {
	var f SDPFrag
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	if len(lines) > maxFragLines {
		return f, fmt.Errorf("%w: %d lines (at most %d)", ErrBadSDPFrag, len(lines), maxFragLines)
	}
	mline, mid := -1, ""
	for i, line := range lines {
		if line == "" {
			continue
		}
		if len(line) < 2 || line[1] != '=' {
			return f, fmt.Errorf("%w: line %d is not type=value: %q", ErrBadSDPFrag, i+1, clip(line))
		}
		for _, c := range line {
			if c < 0x20 && c != '\t' || c == 0x7f {
				return f, fmt.Errorf("%w: line %d has a control character", ErrBadSDPFrag, i+1)
			}
		}
		typ, val := line[0], line[2:]
		switch typ {
		case 'm':
			fields := strings.Fields(val)
			if len(fields) < 3 {
				return f, fmt.Errorf("%w: line %d: m= needs media, port and proto: %q", ErrBadSDPFrag, i+1, clip(line))
			}
			mline++
			mid = ""
		case 'a':
			name, arg, _ := strings.Cut(val, ":")
			switch name {
			case "ice-ufrag":
				if err := setCred(&f.Ufrag, arg, "ice-ufrag", i); err != nil {
					return f, err
				}
			case "ice-pwd":
				if err := setCred(&f.Pwd, arg, "ice-pwd", i); err != nil {
					return f, err
				}
			case "mid":
				if arg == "" {
					return f, fmt.Errorf("%w: line %d: empty a=mid", ErrBadSDPFrag, i+1)
				}
				mid = arg
			case "candidate":
				if err := checkCandidate(arg); err != nil {
					return f, fmt.Errorf("%w: line %d: %v", ErrBadSDPFrag, i+1, err)
				}
				f.Candidates = append(f.Candidates, FragCandidate{Mid: mid, MLineIndex: mline, Candidate: val})
			case "end-of-candidates":
				f.EndOfCandidates = true
			}
		}
	}
	return f, nil
}

// setCred sets an ICE credential once; a second, different value in one
// fragment is an error (RFC 8840 allows one set per fragment).
func setCred(dst *string, v, name string, line int) error {
	if v == "" || strings.ContainsAny(v, " \t") {
		return fmt.Errorf("%w: line %d: bad a=%s", ErrBadSDPFrag, line+1, name)
	}
	if *dst != "" && *dst != v {
		return fmt.Errorf("%w: line %d: two different a=%s", ErrBadSDPFrag, line+1, name)
	}
	*dst = v
	return nil
}

// checkCandidate checks the fixed fields of a candidate attribute value
// (RFC 8839 §5.1): foundation, component, transport, priority, address,
// port, "typ", type.
func checkCandidate(v string) error {
	fields := strings.Fields(v)
	if len(fields) < 8 {
		return fmt.Errorf("candidate has %d fields, want at least 8", len(fields))
	}
	if comp, err := strconv.ParseUint(fields[1], 10, 16); err != nil || comp == 0 {
		return fmt.Errorf("candidate component %q", clip(fields[1]))
	}
	if _, err := strconv.ParseUint(fields[3], 10, 32); err != nil {
		return fmt.Errorf("candidate priority %q", clip(fields[3]))
	}
	if port, err := strconv.ParseUint(fields[5], 10, 16); err != nil || port > 65535 {
		return fmt.Errorf("candidate port %q", clip(fields[5]))
	}
	if fields[6] != "typ" {
		return fmt.Errorf("candidate has %q where \"typ\" belongs", clip(fields[6]))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
