package archive

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ManifestVersion is the version of the manifest format this package
// writes and reads.
const ManifestVersion = 1

// Manifest lists the archived fragments of one stream and one UTC hour
// (its object is rewritten as the hour fills).
type Manifest struct {
	Version   int    `json:"version"`
	Appliance string `json:"appliance"`
	Stream    string `json:"stream"`
	// Hour is the UTC hour the fragments' server times fall in.
	Hour time.Time `json:"hour"`
	// Sealed says whether the objects are sealed blobs (open them with
	// the data key named by KeyID, unwrapped by the master key) or
	// playable Matroska.
	Sealed bool `json:"sealed"`
	// Keys are the wrapped data keys of the hour's fragments, by key id
	// (sealed archives only): with the master key they open the objects
	// without the appliance's database.
	Keys map[string]Key `json:"keys,omitempty"`
	// Fragments in server-time order.
	Fragments []Entry `json:"fragments"`
	// Gaps are holes in the recording between consecutive fragments.
	Gaps []Gap `json:"gaps,omitempty"`
}

// Key is a wrapped data key (seal.KeyRecord without its state).
type Key struct {
	Alias       string `json:"alias"`
	Wrapped     []byte `json:"wrapped"` // base64 in JSON
	MasterCheck string `json:"master_check"`
}

// Entry is one archived fragment.
type Entry struct {
	// Number is the fragment number, a decimal string as KVS writes it.
	Number       string    `json:"number"`
	Key          string    `json:"key"`
	ServerTime   time.Time `json:"server_time"`
	ProducerTime time.Time `json:"producer_time"`
	DurationMS   int64     `json:"duration_ms"`
	// Size and SHA256 are of the object's bytes.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	KeyID  string `json:"key_id,omitempty"`
	// Codecs of the fragment's tracks, in track order.
	Codecs []string `json:"codecs,omitempty"`
	// Gap is set on the first fragment after a discontinuity the
	// recorder saw.
	Gap bool `json:"gap,omitempty"`
}

// Gap is a hole in the recording: nothing was stored from From to To.
type Gap struct {
	After string    `json:"after"` // fragment number before the hole
	From  time.Time `json:"from"`
	To    time.Time `json:"to"`
}

// gapTolerance is the slack between one fragment's end and the next
// one's start that is not a gap.
const gapTolerance = time.Second

// ErrManifest is wrapped by ParseManifest's errors.
var ErrManifest = errors.New("archive: bad manifest")

// ParseManifest reads and checks a manifest.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	if m.Version != ManifestVersion {
		return Manifest{}, fmt.Errorf("%w: version %d (want %d)", ErrManifest, m.Version, ManifestVersion)
	}
	if m.Stream == "" || m.Appliance == "" {
		return Manifest{}, fmt.Errorf("%w: no stream or appliance", ErrManifest)
	}
	seen := map[string]bool{}
	for i, e := range m.Fragments {
		if _, err := strconv.ParseUint(e.Number, 10, 64); err != nil {
			return Manifest{}, fmt.Errorf("%w: fragment %d: number %q", ErrManifest, i, e.Number)
		}
		if seen[e.Number] {
			return Manifest{}, fmt.Errorf("%w: fragment %s listed twice", ErrManifest, e.Number)
		}
		seen[e.Number] = true
		if d, err := hex.DecodeString(e.SHA256); err != nil || len(d) != 32 {
			return Manifest{}, fmt.Errorf("%w: fragment %s: sha256 %q", ErrManifest, e.Number, e.SHA256)
		}
		if e.Key == "" || e.Size < 0 || e.DurationMS < 0 {
			return Manifest{}, fmt.Errorf("%w: fragment %s: key, size or duration", ErrManifest, e.Number)
		}
		if i > 0 && e.ServerTime.Before(m.Fragments[i-1].ServerTime) {
			return Manifest{}, fmt.Errorf("%w: fragment %s out of server-time order", ErrManifest, e.Number)
		}
		// A sealed entry names its data key, archived as its own object
		// (KeyObjectKey) or, in a manifest written before those, listed
		// in Keys.
		if m.Sealed && !validKeyID(e.KeyID) {
			return Manifest{}, fmt.Errorf("%w: fragment %s: key id %q", ErrManifest, e.Number, e.KeyID)
		}
	}
	return m, nil
}

// gaps returns the holes between consecutive entries.
func gaps(es []Entry) []Gap {
	var out []Gap
	for i := 1; i < len(es); i++ {
		end := es[i-1].ServerTime.Add(time.Duration(es[i-1].DurationMS) * time.Millisecond)
		if es[i].ServerTime.Sub(end) > gapTolerance {
			out = append(out, Gap{After: es[i-1].Number, From: end, To: es[i].ServerTime})
		}
	}
	return out
}
