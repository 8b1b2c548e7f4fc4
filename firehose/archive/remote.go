package archive

import (
	"context"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/kinedge/kinedge/dataplane/video/replay"
	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/fragment/seal"
)

// Remote reads an appliance's archive from its bucket alone, with the
// master key for a sealed one: what a replacement appliance (or an
// operator's laptop) needs to replay footage whose local copy is gone.
type Remote struct {
	Bucket      Reader
	Prefix      string
	ApplianceID string
	Master      seal.MasterKey
	// Retired are earlier master keys (kinedge keys rotate-master): objects
	// archived before a rotation carry data keys wrapped by them.
	Retired []seal.MasterKey
	// Local, when set, is the appliance's own key store, asked first for
	// an archived object's data key: a key it holds costs no request, and
	// one it destroyed is refused without asking the bucket. Keys it does
	// not know (a predecessor's) are read from the bucket.
	Local seal.KeyStore
}

// Fragments returns the manifest entries of stream whose server time is
// in [start, end], in order, with the wrapped keys that open them. It
// reads the manifest of every hour of the range that has one, found by
// walking the YYYY/MM/DD/HH levels of the stream's keys (ManifestHours),
// so an open-ended range costs a few listings, not one per hour.
func (r *Remote) Fragments(ctx context.Context, stream string, start, end time.Time) ([]Entry, map[string]Key, error) {
	return r.fragments(ctx, stream, start, end, 0, nil)
}

// fragments is Fragments of the entries keep keeps (nil: all), reading
// hour after hour only until it has limit of them (0: no limit), which it
// returns (the first limit of the range).
func (r *Remote) fragments(ctx context.Context, stream string, start, end time.Time, limit int, keep func(Entry) bool) ([]Entry, map[string]Key, error) {
	var out []Entry
	keys := map[string]Key{}
	for mk, err := range r.hours(ctx, stream, start, end) {
		if err != nil {
			return nil, nil, err
		}
		if limit > 0 && len(out) >= limit {
			break
		}
		names, err := r.Bucket.List(ctx, mk)
		if err != nil {
			return nil, nil, err
		}
		if len(names) == 0 || names[0] != mk {
			continue // no manifest for this hour (yet)
		}
		body, err := r.Bucket.Get(ctx, mk)
		if err != nil {
			return nil, nil, err
		}
		m, err := ParseManifest(body)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", mk, err)
		}
		var hour []Entry
		for _, e := range m.Fragments {
			if !e.ServerTime.Before(start) && !e.ServerTime.After(end) && (keep == nil || keep(e)) {
				if !m.Sealed {
					e.KeyID = "" // a playable MKV (see Source)
				}
				hour = append(hour, e)
			}
		}
		sortEntries(hour)
		out = append(out, hour...)
		for id, k := range m.Keys {
			keys[id] = k
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, keys, nil
}

// dirLister lists one level of keys (S3Bucket.Dirs).
type dirLister interface {
	Dirs(ctx context.Context, prefix string) ([]string, error)
}

// hourLevels are the layouts of the levels of an hour's directory.
var hourLevels = []string{"2006", "2006/01", "2006/01/02", "2006/01/02/15"}

// rangeLister lists one level for a caller that needs only what is
// before end (Cache.DirsBefore).
type rangeLister interface {
	DirsBefore(ctx context.Context, prefix string, end time.Time) ([]string, error)
}

// ManifestHours returns the keys of the manifests stream may have for
// the hours that overlap [start, end], in order: the hour directories
// that exist, walked level by level (year, month, day, hour) and pruned
// to the range, when the bucket lists one level (S3Bucket.Dirs); else
// the manifests among all of the stream's keys.
func (r *Remote) ManifestHours(ctx context.Context, stream string, start, end time.Time) ([]string, error) {
	var out []string
	for mk, err := range r.hours(ctx, stream, start, end) {
		if err != nil {
			return nil, err
		}
		out = append(out, mk)
	}
	return out, nil
}

// hours yields what ManifestHours returns, walking depth first and only
// as far as the caller reads.
func (r *Remote) hours(ctx context.Context, stream string, start, end time.Time) iter.Seq2[string, error] {
	root := Root(r.Prefix, r.ApplianceID, stream)
	from, to := start.UTC().Truncate(time.Hour), end.UTC()
	return func(yield func(string, error) bool) {
		d, ok := r.Bucket.(dirLister)
		if !ok {
			all, err := r.Bucket.List(ctx, root)
			if err != nil {
				yield("", err)
				return
			}
			for _, k := range all {
				rel, ok := strings.CutSuffix(strings.TrimPrefix(k, root), "/manifest.json")
				if h, err := time.Parse(hourLevels[3], rel); ok && err == nil && !h.Before(from) && !h.After(to) {
					if !yield(k, nil) {
						return
					}
				}
			}
			return
		}
		list := d.Dirs
		if rl, ok := r.Bucket.(rangeLister); ok {
			list = func(ctx context.Context, prefix string) ([]string, error) {
				return rl.DirsBefore(ctx, prefix, to.Add(1))
			}
		}
		// walk yields the manifests under the directory p of level lvl.
		var walk func(lvl int, p string) bool
		walk = func(lvl int, p string) bool {
			if lvl == len(hourLevels) {
				return yield(root+p+"manifest.json", nil)
			}
			names, err := list(ctx, root+p)
			if err != nil {
				yield("", err)
				return false
			}
			for _, n := range names {
				rel, ok := strings.CutSuffix(strings.TrimPrefix(n, root), "/")
				if !ok {
					continue
				}
				t, err := time.Parse(hourLevels[lvl], rel)
				if err != nil {
					continue
				}
				periodEnd := [4]time.Time{t.AddDate(1, 0, 0), t.AddDate(0, 1, 0), t.AddDate(0, 0, 1), t.Add(time.Hour)}[lvl]
				if periodEnd.After(from) && !t.After(to) && !walk(lvl+1, rel+"/") {
					return false
				}
			}
			return true
		}
		walk(0, "")
	}
}

// Source returns stream's archived fragments in [start, end] (server
// time), in order, as replay fragments, with their manifest entries, and
// the replay.Source that opens them: it fetches each object from the
// bucket and opens it with the data key of its manifest unwrapped by the
// master key, or, in a plaintext archive, reads it as the one-fragment
// MKV it is. The appliance's video API replays archived fragments with
// it (tiered replay).
func (r *Remote) Source(ctx context.Context, stream string, start, end time.Time) ([]replay.Fragment, []Entry, replay.Source, error) {
	return r.SourceLimit(ctx, stream, start, end, 0)
}

// SourceLimit is Source for the first limit fragments of the range (0:
// all): it reads the manifests hour after hour only until it has them.
func (r *Remote) SourceLimit(ctx context.Context, stream string, start, end time.Time, limit int) ([]replay.Fragment, []Entry, replay.Source, error) {
	return r.SourceWhere(ctx, stream, start, end, limit, nil)
}

// SourceWhere is SourceLimit of the entries keep keeps (nil: all): the
// limit counts those only. Tiered listing by producer time selects with
// it.
func (r *Remote) SourceWhere(ctx context.Context, stream string, start, end time.Time, limit int, keep func(Entry) bool) ([]replay.Fragment, []Entry, replay.Source, error) {
	entries, keys, err := r.fragments(ctx, stream, start, end, limit, keep)
	if err != nil {
		return nil, nil, replay.Source{}, err
	}
	// The data keys are read from the bucket when an object is opened
	// (a tombstone makes one destroyed); the keyring keeps them.
	ks := bucketKeys{r: r, legacy: keys}
	byNumber := map[uint64]string{}
	plain := map[uint64]bool{}
	frags := make([]replay.Fragment, 0, len(entries))
	for _, e := range entries {
		n, err := strconv.ParseUint(e.Number, 10, 64)
		if err != nil {
			return nil, nil, replay.Source{}, err
		}
		byNumber[n] = e.Key
		if e.KeyID == "" {
			plain[n] = true
		}
		frags = append(frags, replay.Fragment{Number: n, ServerTime: e.ServerTime, ProducerTime: e.ProducerTime,
			Duration: time.Duration(e.DurationMS) * time.Millisecond, Codecs: e.Codecs})
	}
	src := replay.Source{Store: bucketStore{r.Bucket, byNumber}, Opener: objectOpener{&seal.Keyring{Store: ks, Master: r.Master, Retired: r.Retired}, plain}}
	return frags, entries, src, nil
}

// objectOpener opens archived objects: sealed blobs with the keyring of
// their manifests, playable MKV (a plaintext archive's, listed in plain)
// by taking its tracks and cluster back out (fragment.BlobFromMKV).
type objectOpener struct {
	sealed replay.Opener
	plain  map[uint64]bool
}

func (o objectOpener) Open(ctx context.Context, stream string, number uint64, object []byte) ([]byte, error) {
	if o.plain[number] {
		return fragment.BlobFromMKV(object)
	}
	return o.sealed.Open(ctx, stream, number, object)
}

// WriteMKV writes stream's archived fragments in [start, end] as one
// continuous Matroska stream, as the appliance's replay does, opening
// each object with the data key of its manifest unwrapped by the master
// key. A missing or altered object ends it with an error. Where the
// codecs change within the range (a camera restarted with another
// codec: one file cannot hold both) the stream ends before the change,
// and next is the first fragment of the rest (nil when the range is
// whole), for a second file.
func (r *Remote) WriteMKV(ctx context.Context, w io.Writer, stream string, start, end time.Time) (st replay.Stats, next *replay.Fragment, err error) {
	frags, _, src, err := r.Source(ctx, stream, start, end)
	if err != nil {
		return replay.Stats{}, nil, err
	}
	seq := iter.Seq2[replay.Fragment, error](func(yield func(replay.Fragment, error) bool) {
		for _, f := range frags {
			if !yield(f, nil) {
				return
			}
		}
	})
	survey, err := replay.SurveyRange(seq)
	if err != nil {
		return replay.Stats{}, nil, err
	}
	st, err = src.WriteMKVWith(ctx, w, stream, replay.MKVOptions{Title: stream, Duration: survey.Duration, Cues: true}, replay.Before(seq, survey.Cut))
	return st, survey.Cut, err
}

// Streams returns the names of the streams archived under the
// appliance's root (<prefix><appliance-id>/), sorted. It lists one level
// when the bucket can (S3Bucket.Dirs), else every key.
func (r *Remote) Streams(ctx context.Context) ([]string, error) {
	root := Root(r.Prefix, r.ApplianceID, "")
	var keys []string
	var err error
	if d, ok := r.Bucket.(interface {
		Dirs(ctx context.Context, prefix string) ([]string, error)
	}); ok {
		keys, err = d.Dirs(ctx, root)
	} else {
		keys, err = r.Bucket.List(ctx, root)
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range keys {
		name, _, ok := strings.Cut(strings.TrimPrefix(k, root), "/")
		if ok && name != "" && name != keysDir && (len(out) == 0 || out[len(out)-1] != name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// LastFragmentNumber returns the highest fragment number archived under
// the appliance's root (0 when there is none), from the object names of
// each stream's latest hour (fragment numbers grow with time, and the
// objects of the current hour are there before its manifest lists
// them). A replacement appliance seeds its numbering with it
// (index.SeedFragmentNumbers) so that its objects never take its
// predecessor's keys.
func (r *Remote) LastFragmentNumber(ctx context.Context) (uint64, error) {
	streams, err := r.Streams(ctx)
	if err != nil {
		return 0, err
	}
	var last uint64
	for _, stream := range streams {
		hours, err := r.ManifestHours(ctx, stream, time.Unix(0, 0), time.Now().Add(24*time.Hour))
		if err != nil {
			return 0, err
		}
		if len(hours) == 0 {
			continue
		}
		dir := strings.TrimSuffix(hours[len(hours)-1], "manifest.json")
		keys, err := r.Bucket.List(ctx, dir)
		if err != nil {
			return 0, err
		}
		for _, k := range keys {
			name, ok := strings.CutSuffix(strings.TrimPrefix(k, dir), ".mkv")
			if n, err := strconv.ParseUint(name, 10, 64); ok && err == nil {
				last = max(last, n)
			}
		}
	}
	return last, nil
}

// bucketStore is a replay.Store on archived objects.
type bucketStore struct {
	b    Reader
	keys map[uint64]string
}

func (s bucketStore) Blob(ctx context.Context, number uint64) ([]byte, error) {
	k, ok := s.keys[number]
	if !ok || strings.HasSuffix(k, "/") {
		return nil, fmt.Errorf("archive: fragment %d is in no manifest", number)
	}
	return s.b.Get(ctx, k)
}
