package firehose

import (
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Error output types: the value of !{firehose:error-output-type}.
const (
	// ErrorProcessingFailed: records the transformation endpoint failed
	// (or did not answer for), as AWS writes them.
	ErrorProcessingFailed = "processing-failed"
	// ErrorS3Failed: a batch whose writes kept failing for
	// Options.RetryFor. AWS discards such data after 24 hours; the
	// appliance writes it under the error prefix instead (a name of its
	// own: AWS has no error output type for S3 delivery).
	ErrorS3Failed = "s3-failed"
	// ErrorPartitioningFailed: records whose partition keys could not
	// be extracted (not JSON, a key missing, null or not a scalar) or
	// whose evaluated prefix is longer than 512 characters, with dynamic
	// partitioning (AWS's error output type).
	ErrorPartitioningFailed = "partitioning-failed"
)

// The namespaces of dynamic partitioning's keys.
const (
	nsQuery  = "partitionKeyFromQuery"
	nsLambda = "partitionKeyFromLambda"
)

// defaultTimestamp is what AWS appends to a prefix without a timestamp
// expression.
const defaultTimestamp = "yyyy/MM/dd/HH/"

// expr is one piece of a parsed prefix: a literal, or an expression
// !{ns:value}.
type expr struct {
	lit       string
	ns, value string
}

// parsePrefix splits p into literals and expressions, checking AWS's
// rules for each expression (the namespaces and values the appliance
// evaluates).
func parsePrefix(p, field string) ([]expr, error) {
	var out []expr
	for {
		i := strings.Index(p, "!{")
		if i < 0 {
			if p != "" {
				out = append(out, expr{lit: p})
			}
			return out, nil
		}
		if i > 0 {
			out = append(out, expr{lit: p[:i]})
		}
		end := strings.IndexByte(p[i:], '}')
		if end < 0 {
			return nil, errorf(ErrInvalidArgument, "%s %q: the sequence !{ can only appear in !{namespace:value} expressions.", field, p)
		}
		body := p[i+2 : i+end]
		p = p[i+end+1:]
		ns, value, ok := strings.Cut(body, ":")
		if !ok || value == "" {
			return nil, errorf(ErrInvalidArgument, "%s: expression !{%s} is not of the form !{namespace:value}.", field, body)
		}
		switch ns {
		case "timestamp":
			if err := checkTimestamp(value); err != nil {
				return nil, errorf(ErrInvalidArgument, "%s: !{timestamp:%s}: %s", field, value, err.Error())
			}
		case "firehose":
			if value != "random-string" && value != "error-output-type" {
				return nil, errorf(ErrInvalidArgument, "%s: !{firehose:%s}: the firehose namespace has the values error-output-type and random-string.", field, value)
			}
		case nsQuery, nsLambda:
		default:
			return nil, errorf(ErrInvalidArgument, "%s: unknown namespace %q in !{%s}: use timestamp, firehose, partitionKeyFromQuery or partitionKeyFromLambda.", field, ns, body)
		}
		out = append(out, expr{ns: ns, value: value})
	}
}

// timestampLetters are the Java DateTimeFormatter fields the appliance
// evaluates, with their Go layouts.
var timestampLetters = map[string]string{
	"yyyy": "2006", "MM": "01", "dd": "02", "HH": "15", "mm": "04", "ss": "05",
}

type badPattern string

func (b badPattern) Error() string { return string(b) }

// checkTimestamp checks a DateTimeFormatter pattern of the subset:
// yyyy, MM, dd, HH, mm, ss; other letters only inside single quotes;
// ” is a quote.
func checkTimestamp(p string) error {
	_, err := formatTimestamp(p, time.Time{})
	return err
}

// formatTimestamp formats t with Java DateTimeFormatter pattern p (the
// subset of checkTimestamp).
func formatTimestamp(p string, t time.Time) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == '\'':
			if i+1 < len(p) && p[i+1] == '\'' {
				b.WriteByte('\'')
				i += 2
				continue
			}
			j := i + 1
			for ; j < len(p); j++ {
				if p[j] == '\'' {
					if j+1 < len(p) && p[j+1] == '\'' {
						b.WriteByte('\'')
						j++
						continue
					}
					break
				}
				b.WriteByte(p[j])
			}
			if j >= len(p) {
				return "", badPattern("unterminated quote")
			}
			i = j + 1
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(p) && p[j] == c {
				j++
			}
			layout, ok := timestampLetters[p[i:j]]
			if !ok {
				return "", badPattern("pattern letters " + p[i:j] + " are not supported (yyyy, MM, dd, HH, mm, ss; quote literal text)")
			}
			b.WriteString(t.Format(layout))
			i = j
		case c == '[' || c == ']' || c == '{' || c == '}' || c == '#':
			return "", badPattern("reserved character " + string(c))
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

// prefixes are a destination's parsed Prefix and ErrorOutputPrefix.
type prefixes struct {
	ok, failed []expr
}

// checkPrefixes applies AWS's rules for Prefix and ErrorOutputPrefix:
// ErrorOutputPrefix can be empty only if Prefix has no expressions;
// Prefix cannot hold !{firehose:error-output-type}; an ErrorOutputPrefix
// with expressions holds at least one !{firehose:error-output-type}.
func checkPrefixes(prefix, errPrefix string) (prefixes, error) {
	ok, err := parsePrefix(prefix, "Prefix")
	if err != nil {
		return prefixes{}, err
	}
	failed, err := parsePrefix(errPrefix, "ErrorOutputPrefix")
	if err != nil {
		return prefixes{}, err
	}
	if hasExpr(ok, "firehose", "error-output-type") {
		return prefixes{}, errorf(ErrInvalidArgument, "Prefix cannot contain !{firehose:error-output-type}.")
	}
	if hasExpr(ok, "", "") && errPrefix == "" {
		return prefixes{}, errorf(ErrInvalidArgument, "ErrorOutputPrefix cannot be null or empty when Prefix contains expressions.")
	}
	if hasExpr(failed, "", "") && !hasExpr(failed, "firehose", "error-output-type") {
		return prefixes{}, errorf(ErrInvalidArgument, "ErrorOutputPrefix must contain !{firehose:error-output-type} when it contains expressions.")
	}
	return prefixes{ok: ok, failed: failed}, nil
}

// hasExpr reports whether es holds an expression ns:value ("" matches
// any).
func hasExpr(es []expr, ns, value string) bool {
	for _, e := range es {
		if e.ns != "" && (ns == "" || e.ns == ns) && (value == "" || e.value == value) {
			return true
		}
	}
	return false
}

// maxEvaluatedPrefix is AWS's limit on an evaluated Prefix or
// ErrorOutputPrefix, in characters.
const maxEvaluatedPrefix = 512

// evalPrefix evaluates es at t (in its location), appending AWS's
// default yyyy/MM/dd/HH/ when es has no timestamp expression (nor
// partition key). keys holds
// the partition keys of dynamic partitioning, by "<namespace>:<name>"
// (partitionKeyFromQuery:customer_id); a missing key evaluates empty.
func evalPrefix(es []expr, t time.Time, errType string, keys map[string]string) string {
	var b strings.Builder
	for _, e := range es {
		switch {
		case e.ns == "":
			b.WriteString(e.lit)
		case e.ns == "timestamp":
			s, _ := formatTimestamp(e.value, t)
			b.WriteString(s)
		case e.ns == nsQuery || e.ns == nsLambda:
			b.WriteString(keys[e.ns+":"+e.value])
		case e.value == "random-string":
			b.WriteString(randomString())
		case e.value == "error-output-type":
			b.WriteString(errType)
		}
	}
	// A prefix with partition keys is not (AWS's dynamic partitioning
	// examples: customer_id=1234/device=4567/ and the object name).
	if !hasExpr(es, "timestamp", "") && !hasExpr(es, nsQuery, "") && !hasExpr(es, nsLambda, "") {
		s, _ := formatTimestamp(defaultTimestamp, t)
		b.WriteString(s)
	}
	return b.String()
}

// randomString is !{firehose:random-string}: 11 characters, as AWS's
// example (046b6c7f-0b).
func randomString() string { return uuid.NewString()[:11] }

// reFileExtension is AWS's pattern of FileExtension.
var reFileExtension = regexp.MustCompile(`^$|^\.[0-9a-z!\-_.*'()]+$`)
