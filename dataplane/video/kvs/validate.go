package kvs

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kinedge/kinedge/dataplane/awsproto"
	"github.com/kinedge/kinedge/index/streamname"
)

// Limits of the KVS API reference (request parameters and data types).
const (
	maxNameLen        = streamname.MaxLen // StreamName, ComparisonValue
	maxARNLen         = 1024              // ResourceARN
	maxDeviceLen      = 128               // DeviceName
	maxMediaTypeLen   = 128               // MediaType
	maxKmsKeyIDLen    = 2048              // KmsKeyId
	maxVersionLen     = 64                // Version
	maxTagKeyLen      = 128               // TagKey
	maxTagValueLen    = 256               // TagValue
	maxTags           = 50                // tags per stream
	maxListStreams    = 10000             // ListStreams MaxResults
	maxStreamsToken   = 512               // ListStreams NextToken
	maxFragmentsToken = 4096              // ListFragments NextToken
)

// checker collects validation failures, worded as AWS words them, and
// reports them all at once.
type checker struct {
	msgs []string
}

// fail records that value at member fails constraint.
func (c *checker) fail(member, value, constraint string) {
	if len(value) > 64 {
		value = value[:64] + "..."
	}
	c.msgs = append(c.msgs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: %s", value, member, constraint))
}

// required records a missing member.
func (c *checker) required(member string) {
	c.msgs = append(c.msgs, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", member))
}

// err returns the InvalidArgumentException of the failures, or nil.
func (c *checker) err() error {
	switch len(c.msgs) {
	case 0:
		return nil
	case 1:
		return errorf(awsproto.InvalidArgumentException, "1 validation error detected: %s", c.msgs[0])
	}
	return errorf(awsproto.InvalidArgumentException, "%d validation errors detected: %s", len(c.msgs), strings.Join(c.msgs, "; "))
}

// length checks that s is min to max bytes long.
func (c *checker) length(member, s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		c.fail(member, s, fmt.Sprintf("Member must have length between %d and %d", min, max))
		return false
	}
	return true
}

// name checks a StreamName (or ComparisonValue) against the video stream
// name rule (package streamname), worded as AWS words it.
func (c *checker) name(member, s string) {
	if !c.length(member, s, 1, maxNameLen) {
		return
	}
	if !streamname.ValidChars(s) {
		c.fail(member, s, "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
	}
}

// deviceName checks a DeviceName: 1-128 of [a-zA-Z0-9_.-].
func (c *checker) deviceName(s string) {
	if c.length("deviceName", s, 1, maxDeviceLen) && !streamname.ValidChars(s) {
		c.fail("deviceName", s, "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
	}
}

// mediaType checks a MediaType: 1-128 characters matching
// [\w\-\.\+]+/[\w\-\.\+]+(,[\w\-\.\+]+/[\w\-\.\+]+)*.
func (c *checker) mediaType(s string) {
	if !c.length("mediaType", s, 1, maxMediaTypeLen) {
		return
	}
	for _, part := range strings.Split(s, ",") {
		typ, sub, ok := strings.Cut(part, "/")
		if !ok || !mediaToken(typ) || !mediaToken(sub) {
			c.fail("mediaType", s, `Member must satisfy regular expression pattern: [\w\-\.\+]+/[\w\-\.\+]+(,[\w\-\.\+]+/[\w\-\.\+]+)*`)
			return
		}
	}
}

// version checks a CurrentVersion: 1-64 of [a-zA-Z0-9].
func (c *checker) version(s string) {
	if !c.length("currentVersion", s, 1, maxVersionLen) {
		return
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			c.fail("currentVersion", s, "Member must satisfy regular expression pattern: [a-zA-Z0-9]+")
			return
		}
	}
}

// tagKey checks a tag key: 1-128 characters of [\p{L}\p{Z}\p{N}_.:/=+\-@],
// not starting with the reserved "aws:".
func (c *checker) tagKey(k string) {
	if n := utf8.RuneCountInString(k); n < 1 || n > maxTagKeyLen {
		c.fail("tagKey", k, fmt.Sprintf("Member must have length between 1 and %d", maxTagKeyLen))
		return
	}
	if !tagChars(k) {
		c.fail("tagKey", k, `Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)
		return
	}
	if strings.HasPrefix(strings.ToLower(k), "aws:") {
		c.fail("tagKey", k, "Member must not start with the reserved prefix aws:")
	}
}

// tagValue checks a tag value: 0-256 characters of [\p{L}\p{Z}\p{N}_.:/=+\-@].
func (c *checker) tagValue(v string) {
	if utf8.RuneCountInString(v) > maxTagValueLen {
		c.fail("tagValue", v, fmt.Sprintf("Member must have length between 0 and %d", maxTagValueLen))
		return
	}
	if !tagChars(v) {
		c.fail("tagValue", v, `Member must satisfy regular expression pattern: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)
	}
}

// tags checks a tag map of at most maxTags entries; more is a
// TagsPerResourceExceededLimitException.
func (c *checker) tags(tags map[string]string) error {
	if len(tags) > maxTags {
		return errorf(TagsPerResourceExceededLimitException, "A stream can have at most %d tags; the request has %d.", maxTags, len(tags))
	}
	for k, v := range tags {
		c.tagKey(k)
		c.tagValue(v)
	}
	return nil
}

func isAlnum(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

// mediaToken reports whether s is 1 or more of [\w\-\.\+] (RE2 \w is
// ASCII [0-9A-Za-z_]).
func mediaToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !isAlnum(b) && b != '_' && b != '-' && b != '.' && b != '+' {
			return false
		}
	}
	return true
}

// tagChars reports whether s is valid UTF-8 made of letters, separators,
// numbers and _.:/=+-@.
func tagChars(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case unicode.IsLetter(r), unicode.IsNumber(r), unicode.In(r, unicode.Z):
		case strings.ContainsRune("_.:/=+-@", r):
		default:
			return false
		}
	}
	return true
}

// itoa formats n for validation messages.
func itoa(n int64) string { return strconv.FormatInt(n, 10) }
