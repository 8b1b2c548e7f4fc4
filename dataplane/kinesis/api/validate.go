package api

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/kinedge/kinedge/dataplane/awsproto"
)

// Input validation with the ValidationException wording of AWS's
// Coral-based services:
//
//	1 validation error detected: Value 'x!' at 'streamName' failed to satisfy
//	constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+
//
// Member paths are lower camel case; list members are
// 'records.1.member.partitionKey' (1-based).

// Patterns of the Kinesis API model.
const (
	patName        = `[a-zA-Z0-9_.-]+`
	patStreamARN   = `arn:aws.*:kinesis:.*:\d{12}:stream/\S+`
	patConsumerARN = `^(arn):aws.*:kinesis:.*:\d{12}:.*stream\/[a-zA-Z0-9_.-]+\/consumer\/[a-zA-Z0-9_.-]+:[0-9]+`
	patHashKey     = `0|([1-9]\d{0,38})`
	patSeq         = `0|([1-9]\d{0,128})`
)

// validator collects the violations of one request.
type validator struct {
	re   *regexps
	msgs []string
}

// regexps are compiled once per Handler.
type regexps struct {
	name, streamARN, consumerARN, hashKey, seq *regexp.Regexp
}

func compileRegexps() *regexps {
	full := func(p string) *regexp.Regexp { return regexp.MustCompile(`^(?:` + p + `)$`) }
	return &regexps{
		name:        full(patName),
		streamARN:   full(patStreamARN),
		consumerARN: regexp.MustCompile(patConsumerARN + `$`),
		hashKey:     full(patHashKey),
		seq:         full(patSeq),
	}
}

func quote(v string) string {
	if len(v) > 256 {
		v = v[:256] + "..."
	}
	return "'" + v + "'"
}

func (v *validator) fail(value, path, constraint string) {
	v.msgs = append(v.msgs, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: Member must %s", value, path, constraint))
}

// err returns the ValidationException for the collected violations, or nil.
func (v *validator) err() error {
	switch len(v.msgs) {
	case 0:
		return nil
	case 1:
		return awsproto.Errorf(awsproto.ValidationException, "1 validation error detected: %s", v.msgs[0])
	}
	return awsproto.Errorf(awsproto.ValidationException, "%d validation errors detected: %s", len(v.msgs), strings.Join(v.msgs, "; "))
}

func (v *validator) required(p *string, path string) bool {
	if p == nil {
		v.fail("null", path, "not be null")
		return false
	}
	return true
}

// str checks an optional string's length (in characters) and pattern.
func (v *validator) str(p *string, path string, minLen, maxLen int, re *regexp.Regexp, pattern string) {
	if p == nil {
		return
	}
	n := utf8.RuneCountInString(*p)
	if n < minLen {
		v.fail(quote(*p), path, fmt.Sprintf("have length greater than or equal to %d", minLen))
	}
	if maxLen > 0 && n > maxLen {
		v.fail(quote(*p), path, fmt.Sprintf("have length less than or equal to %d", maxLen))
	}
	if re != nil && n >= minLen && !re.MatchString(*p) {
		v.fail(quote(*p), path, "satisfy regular expression pattern: "+pattern)
	}
}

func (v *validator) name(p *string, path string) {
	v.str(p, path, 1, 128, v.re.name, patName)
}

func (v *validator) streamARN(p *string, path string) {
	v.str(p, path, 1, 2048, v.re.streamARN, patStreamARN)
}

func (v *validator) intRange(p *int64, path string, lo, hi int64) {
	if p == nil {
		return
	}
	if *p < lo {
		v.fail(fmt.Sprintf("'%d'", *p), path, fmt.Sprintf("have value greater than or equal to %d", lo))
	}
	if *p > hi {
		v.fail(fmt.Sprintf("'%d'", *p), path, fmt.Sprintf("have value less than or equal to %d", hi))
	}
}

func (v *validator) enum(p *string, path string, values ...string) {
	if p == nil {
		return
	}
	for _, x := range values {
		if *p == x {
			return
		}
	}
	v.fail(quote(*p), path, "satisfy enum value set: ["+strings.Join(values, ", ")+"]")
}

// streamRef checks StreamName/StreamARN (both optional in the model).
func (v *validator) streamRef(r streamRef) {
	v.name(r.StreamName, "streamName")
	v.streamARN(r.StreamARN, "streamARN")
}

func (v *validator) tags(tags map[string]string, path string) {
	for k, val := range tags {
		if n := utf8.RuneCountInString(k); n < 1 || n > 128 {
			v.fail(quote(k), path+".key", "have length between 1 and 128")
		}
		if n := utf8.RuneCountInString(val); n > 256 {
			v.fail(quote(val), path+".value", "have length less than or equal to 256")
		}
	}
}
