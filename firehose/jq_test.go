package firehose

import (
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
)

func TestQueryParseAndEval(t *testing.T) {
	rec := []byte(`{"customer_id": "c-42", "device": {"id": 7, "tags": ["a", "b"]}, "x y": [{"z": true}], "f": 1.50, "e": 1e2, "n": null, "o": {}}`)
	for q, want := range map[string]map[string]string{
		`{customer_id: .customer_id, device: .device.id}`: {"customer_id": "c-42", "device": "7"},
		`{customer_id}`: {"customer_id": "c-42"},
		` { "a b" : .["x y"][0].z , t:.device.tags[-1] } `: {"a b": "true", "t": "b"},
		`{t: .device["tags"][0], f: .f, e: .e}`:            {"t": "a", "f": "1.5", "e": "100"},
		`{q: ."customer_id"}`:                              {"q": "c-42"},
		`{t: .device.tags.[1]}`:                            {"t": "b"},
	} {
		pq, err := parseQuery(q)
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		got, err := pq.eval(rec)
		if err != nil || !maps.Equal(got, want) {
			t.Errorf("%s: %v, %v; want %v", q, got, err, want)
		}
		// The canonical form parses to the same query.
		back, err := parseQuery(pq.String())
		if err != nil || !reflect.DeepEqual(back, pq) {
			t.Errorf("%s: canonical %s parses to %+v, %v", q, pq.String(), back, err)
		}
	}
	for _, bad := range []string{``, `{}`, `.a`, `{a: .a | tostring}`, `{a: .a, a: .b}`, `{a: .a[]}`, `{a: .a[1:2]}`, `{a: .a?}`,
		`{a: "\(.b)"}`, `{a: .a}{b: .b}`, `{a: .a + 1}`, `{a: .a.}`, `{a: (.a)}`, `{"a": }`, `{a .a}`, `{a: .a,}`, `{a: .[99999999999]}`, `{"x"}`} {
		if _, err := parseQuery(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	q, _ := parseQuery(`{id: .id, d: .device.id}`)
	for rec, why := range map[string]string{
		`not json`:                                          "not JSON",
		`{"id": 1}`:                                         "null or missing",
		`{"id": 1, "device": 3}`:                            "cannot index",
		`{"id": {}, "device": {"id": 1}}`:                   "object",
		`{"id": [1], "device": {"id": 1}}`:                  "array",
		`{"id": null, "device": {"id": 1}}`:                 "null",
		`{"id": 1, "device": {"id": 2}} {}`:                 "more than one",
		strings.Repeat("[", 300) + strings.Repeat("]", 300): "deeper",
	} {
		if _, err := q.eval([]byte(rec)); !errors.Is(err, errExtract) || !strings.Contains(err.Error(), why) {
			t.Errorf("%.40s: %v, want %q", rec, err, why)
		}
	}
}

// FuzzMetadataQuery: the parser never panics; what it accepts prints
// in a canonical form that parses back to the same query, and evaluates
// against any record without panicking.
func FuzzMetadataQuery(f *testing.F) {
	for _, s := range []string{`{customer_id: .customer_id, device: .device.id}`, `{a}`, `{"a b": .["x y"][0].z}`,
		`{t: .device.tags[-1]}`, `{a: .}`, `{a: .a | b}`, `{"\u00e9": ."\n"}`, `{a: .[0][1]["c"]}`} {
		f.Add(s, []byte(`{"a": {"b": [1, "x", {"c": true}]}, "customer_id": "c", "device": {"id": 1}}`))
	}
	f.Fuzz(func(t *testing.T, query string, record []byte) {
		q, err := parseQuery(query)
		if err != nil {
			var qe *queryError
			if !errors.As(err, &qe) || qe.at < 0 || qe.at > len(query) {
				t.Fatalf("%q: error %v has no offset in the query", query, err)
			}
			return
		}
		back, err := parseQuery(q.String())
		if err != nil || !reflect.DeepEqual(back, q) {
			t.Fatalf("%q: canonical %q parses to %+v, %v", query, q.String(), back, err)
		}
		keys, err := q.eval(record)
		if err == nil && len(keys) != len(q.keys) {
			t.Fatalf("%d keys of %d", len(keys), len(q.keys))
		}
		if err != nil && !errors.Is(err, errExtract) {
			t.Fatalf("error %v is not an extraction error", err)
		}
	})
}
