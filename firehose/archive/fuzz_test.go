package archive

import (
	"encoding/json"
	"testing"
	"time"
)

func FuzzParseManifest(f *testing.F) {
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	m := Manifest{Version: 1, Appliance: "pi", Stream: "cam1", Hour: t0, Sealed: true,
		Keys: map[string]Key{"k1": {Alias: "cam1", Wrapped: []byte{1, 2, 3}, MasterCheck: "ab"}},
		Fragments: []Entry{
			{Number: "1", Key: "pi/cam1/2026/12/02/09/1.mkv", ServerTime: t0, DurationMS: 2000, Size: 10, SHA256: "00000000000000000000000000000000000000000000000000000000000000ff", KeyID: "k1"},
			{Number: "2", Key: "pi/cam1/2026/12/02/09/2.mkv", ServerTime: t0.Add(9 * time.Second), DurationMS: 2000, Size: 10, SHA256: "00000000000000000000000000000000000000000000000000000000000000ff", KeyID: "k1"},
		}}
	m.Gaps = gaps(m.Fragments)
	b, _ := json.Marshal(m)
	f.Add(b)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		// What parses writes back and parses to the same.
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := ParseManifest(out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if len(m2.Fragments) != len(m.Fragments) || m2.Stream != m.Stream {
			t.Fatalf("round trip changed the manifest")
		}
	})
}

func TestGaps(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	es := []Entry{{Number: "1", ServerTime: t0, DurationMS: 2000}, {Number: "2", ServerTime: t0.Add(2500 * time.Millisecond), DurationMS: 2000},
		{Number: "3", ServerTime: t0.Add(10 * time.Second), DurationMS: 2000}}
	g := gaps(es)
	if len(g) != 1 || g[0].After != "2" || !g[0].From.Equal(t0.Add(4500*time.Millisecond)) || !g[0].To.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("gaps %+v", g)
	}
}

// FuzzParseKeyObject: the archived data keys and tombstones are read from
// the bucket (untrusted): what parses names the key asked for, a key
// object has a wrapped key and a master check.
func FuzzParseKeyObject(f *testing.F) {
	k, _ := json.Marshal(KeyObject{ID: "0123456789abcdef", Alias: "cam1", Wrapped: []byte{1, 2, 3}, MasterCheck: "ab"})
	ts, _ := json.Marshal(Tombstone{ID: "0123456789abcdef", Reason: "stream cam1 deleted", Shredded: time.Unix(0, 0).UTC()})
	f.Add("0123456789abcdef", k)
	f.Add("0123456789abcdef", ts)
	f.Add("x", []byte(`{"id":"x"}`))
	f.Add("", []byte(`null`))
	f.Fuzz(func(t *testing.T, id string, b []byte) {
		if o, err := ParseKeyObject(id, b); err == nil && (o.ID != id || len(o.Wrapped) == 0 || o.MasterCheck == "") {
			t.Fatalf("ParseKeyObject(%q) accepted %+v", id, o)
		}
		if ts, err := ParseTombstone(id, b); err == nil && ts.ID != id {
			t.Fatalf("ParseTombstone(%q) accepted %+v", id, ts)
		}
		_ = validKeyID(id)
	})
}
