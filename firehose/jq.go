package firehose

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The MetadataExtraction processor's query: the subset of jq the
// appliance evaluates (see doc.go). A query is one object construction
//
//	{customer_id: .customer_id, device: .device.id, "a b": .["x y"][0], city}
//
// whose keys are identifiers or JSON strings and whose values are paths:
// . then steps .name, ."name", .["name"], ["name"], [n] (n may be
// negative, from the end), [0] directly after a step (.a[0]). {name}
// is {name: .name}. Anything else (pipes, functions, operators,
// optional ?, slices, string interpolation) is refused when the stream
// is created or updated.

// maxQueryKeys bounds the keys of one query.
const maxQueryKeys = 50

// jqQuery is a parsed MetadataExtractionQuery.
type jqQuery struct {
	keys  []string
	paths [][]jqStep
}

// jqStep is one step of a path: a field name, or an array index.
type jqStep struct {
	field string
	index int
	isIdx bool
}

// queryError is a parse error at a byte offset of the query.
type queryError struct {
	at  int
	msg string
}

func (e *queryError) Error() string { return fmt.Sprintf("at offset %d: %s", e.at, e.msg) }

// parseQuery parses a MetadataExtractionQuery of the subset.
func parseQuery(q string) (*jqQuery, error) {
	p := &jqParser{s: q}
	out, err := p.object()
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.i < len(p.s) {
		return nil, p.errf("unexpected %q after the object (only one object construction {key: .path, …} is supported)", p.rest())
	}
	return out, nil
}

type jqParser struct {
	s string
	i int
}

func (p *jqParser) errf(format string, args ...any) error {
	return &queryError{at: p.i, msg: fmt.Sprintf(format, args...)}
}

func (p *jqParser) rest() string {
	r := p.s[p.i:]
	if len(r) > 16 {
		r = r[:16] + "…"
	}
	return r
}

func (p *jqParser) ws() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *jqParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *jqParser) expect(c byte) error {
	p.ws()
	if p.peek() != c {
		if p.i >= len(p.s) {
			return p.errf("expected %q, the query ends", c)
		}
		return p.errf("expected %q, found %q", c, p.rest())
	}
	p.i++
	return nil
}

func (p *jqParser) object() (*jqQuery, error) {
	if err := p.expect('{'); err != nil {
		return nil, err
	}
	q := &jqQuery{}
	seen := map[string]bool{}
	p.ws()
	if p.peek() == '}' {
		return nil, p.errf("the object has no keys")
	}
	for {
		p.ws()
		var key string
		shorthand := false
		switch c := p.peek(); {
		case c == '"':
			s, err := p.str()
			if err != nil {
				return nil, err
			}
			key = s
		case isIdentStart(c):
			key = p.ident()
			shorthand = true
		default:
			return nil, p.errf("expected a key (an identifier or a \"string\"), found %q", p.rest())
		}
		if key == "" {
			return nil, p.errf("empty key")
		}
		if seen[key] {
			return nil, p.errf("key %q appears twice", key)
		}
		seen[key] = true
		p.ws()
		var path []jqStep
		if p.peek() == ':' {
			p.i++
			var err error
			if path, err = p.path(); err != nil {
				return nil, err
			}
		} else if shorthand {
			path = []jqStep{{field: key}}
		} else {
			return nil, p.errf("expected ':' after key %q", key)
		}
		q.keys = append(q.keys, key)
		q.paths = append(q.paths, path)
		if len(q.keys) > maxQueryKeys {
			return nil, p.errf("more than %d keys", maxQueryKeys)
		}
		p.ws()
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			return q, nil
		default:
			if p.i >= len(p.s) {
				return nil, p.errf("expected ',' or '}', the query ends")
			}
			return nil, p.errf("expected ',' or '}', found %q (values are paths such as .a.b or .[\"c\"][0]: no pipes, functions or operators)", p.rest())
		}
	}
}

// path parses . then steps.
func (p *jqParser) path() ([]jqStep, error) {
	p.ws()
	if p.peek() != '.' {
		return nil, p.errf("expected a path starting with '.', found %q", p.rest())
	}
	p.i++
	steps := []jqStep{}
	first := true // just after a '.' with no name yet
	for {
		c := p.peek()
		switch {
		case first && isIdentStart(c):
			steps = append(steps, jqStep{field: p.ident()})
		case first && c == '"':
			s, err := p.str()
			if err != nil {
				return nil, err
			}
			steps = append(steps, jqStep{field: s})
		case c == '[':
			st, err := p.bracket()
			if err != nil {
				return nil, err
			}
			steps = append(steps, st)
		case !first && c == '.':
			p.i++
			n := p.peek()
			if !isIdentStart(n) && n != '"' && n != '[' {
				return nil, p.errf("expected a name after '.', found %q", p.rest())
			}
			first = true
			continue
		default:
			if first && len(steps) > 0 {
				return nil, p.errf("expected a name after '.'")
			}
			return steps, nil
		}
		first = false
	}
}

// bracket parses ["name"] or [n].
func (p *jqParser) bracket() (jqStep, error) {
	p.i++ // [
	p.ws()
	var st jqStep
	switch c := p.peek(); {
	case c == '"':
		s, err := p.str()
		if err != nil {
			return st, err
		}
		st.field = s
	case c == '-' || c >= '0' && c <= '9':
		j := p.i
		if c == '-' {
			p.i++
		}
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		n, err := strconv.Atoi(p.s[j:p.i])
		if err != nil || n > 1<<30 || n < -(1<<30) {
			return st, &queryError{at: j, msg: fmt.Sprintf("array index %q is not a small integer", p.s[j:p.i])}
		}
		st.index, st.isIdx = n, true
	default:
		return st, p.errf("expected a \"string\" or an integer in [ ], found %q (no slices or iterators)", p.rest())
	}
	if err := p.expect(']'); err != nil {
		return st, err
	}
	return st, nil
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func (p *jqParser) ident() string {
	j := p.i
	for p.i < len(p.s) && (isIdentStart(p.s[p.i]) || p.s[p.i] >= '0' && p.s[p.i] <= '9') {
		p.i++
	}
	return p.s[j:p.i]
}

// str parses a JSON string literal (no jq interpolation \(…)).
func (p *jqParser) str() (string, error) {
	j := p.i
	p.i++
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case '\\':
			p.i += 2
			continue
		case '"':
			p.i++
			var s string
			if err := json.Unmarshal([]byte(p.s[j:p.i]), &s); err != nil {
				return "", &queryError{at: j, msg: fmt.Sprintf("string %s is not a JSON string (no interpolation)", p.s[j:p.i])}
			}
			return s, nil
		}
		p.i++
	}
	return "", &queryError{at: j, msg: "unterminated string"}
}

// String writes q in the subset's canonical form.
func (q *jqQuery) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range q.keys {
		if i > 0 {
			b.WriteString(", ")
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteString(": .")
		for j, st := range q.paths[i] {
			switch {
			case st.isIdx:
				fmt.Fprintf(&b, "[%d]", st.index)
			default:
				fb, _ := json.Marshal(st.field)
				if j > 0 {
					b.WriteByte('.')
				}
				b.Write(fb)
			}
		}
	}
	b.WriteByte('}')
	return b.String()
}

// errExtract is a record whose keys cannot be extracted.
var errExtract = errors.New("metadata extraction failed")

// maxRecordDepth bounds the nesting of a record's JSON.
const maxRecordDepth = 256

// eval extracts q's keys from record: one JSON value (an object, for
// any key to be found). A key's value must be a string, a number or a
// boolean (written as jq writes it); a missing or null key, an object or
// an array is an error, as is a record that is not JSON.
func (q *jqQuery) eval(record []byte) (map[string]string, error) {
	if err := checkDepth(record); err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(record, &v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) && json.Valid(firstValue(record)) {
			return nil, fmt.Errorf("%w: the record holds more than one JSON value (or trailing data)", errExtract)
		}
		return nil, fmt.Errorf("%w: the record is not JSON: %v", errExtract, err)
	}
	out := make(map[string]string, len(q.keys))
	for i, k := range q.keys {
		cur := v
		for _, st := range q.paths[i] {
			switch c := cur.(type) {
			case nil:
			case map[string]any:
				if st.isIdx {
					return nil, fmt.Errorf("%w: key %s: cannot index an object with a number", errExtract, k)
				}
				cur = c[st.field]
			case []any:
				if !st.isIdx {
					return nil, fmt.Errorf("%w: key %s: cannot index an array with %q", errExtract, k, st.field)
				}
				n := st.index
				if n < 0 {
					n += len(c)
				}
				if n < 0 || n >= len(c) {
					cur = nil
				} else {
					cur = c[n]
				}
			default:
				return nil, fmt.Errorf("%w: key %s: cannot index a %s", errExtract, k, jsonType(cur))
			}
		}
		switch c := cur.(type) {
		case nil:
			return nil, fmt.Errorf("%w: key %s is null or missing", errExtract, k)
		case string:
			out[k] = c
		case bool:
			out[k] = strconv.FormatBool(c)
		case float64:
			out[k] = jqNumber(c)
		default:
			return nil, fmt.Errorf("%w: key %s is a %s, not a string, number or boolean", errExtract, k, jsonType(cur))
		}
	}
	return out, nil
}

// checkDepth refuses JSON nested deeper than maxRecordDepth (before
// decoding it into maps).
func checkDepth(b []byte) error {
	depth := 0
	inStr := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			if depth++; depth > maxRecordDepth {
				return fmt.Errorf("%w: the record nests deeper than %d", errExtract, maxRecordDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

func jsonType(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64:
		return "number"
	}
	return "null"
}

// jqNumber writes a number as jq 1.6 does: as a double, shortest form
// (100 for 1e2 and 100.0; 1e+100 for 1e100).
func jqNumber(f float64) string {
	if f == float64(int64(f)) && f > -1e17 && f < 1e17 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// firstValue returns the first JSON value of b (for the message of a
// record holding more than one), or b when it cannot tell.
func firstValue(b []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(b))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return b
	}
	if _, err := dec.Token(); errors.Is(err, io.EOF) {
		return b
	}
	return raw
}
