package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/kinedge/kinedge/dataplane/video/replay"
	"github.com/kinedge/kinedge/firehose"
	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/ingest/camsim"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/testdata/s3test"
	"github.com/kinedge/kinedge/testdata/testtool"
)

const bucket = "archive"

// box is an appliance's database, index and keyring.
type box struct {
	db  *store.DB
	idx *index.Index
	kr  *seal.Keyring
	sp  *store.Space
}

// openBox opens a database in dir ("" in memory) with an index and a
// keyring under master.
func openBox(t testing.TB, dir string, master seal.MasterKey) *box {
	t.Helper()
	db, err := store.Open(store.Options{Dir: dir, InMemory: dir == "", NoSync: true,
		MemTableSize: 8 << 20, BlockCacheSize: 1 << 20, IndexCacheSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := index.Open(index.Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := db.Space("a/")
	if err != nil {
		t.Fatal(err)
	}
	b := &box{db: db, idx: idx, sp: sp, kr: &seal.Keyring{Store: idx.Keys(), Master: master}}
	t.Cleanup(b.close)
	return b
}

func (b *box) close() {
	b.idx.Close()
	b.db.Close()
}

// clip is the H.264+AAC test clip.
func clip(t *testing.T) *camsim.Clip { return clipNamed(t, "h264_aac.ts") }

// clipNamed reads a clip of the repository's testdata.
func clipNamed(t *testing.T, name string) *camsim.Clip {
	t.Helper()
	c, err := camsim.ReadClip(filepath.Join("..", "..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// record records the clip into stream starting at base and returns the
// fragments stored.
func (b *box) record(t *testing.T, stream string, base time.Time) []index.Fragment {
	t.Helper()
	return b.recordClip(t, stream, base, clip(t))
}

// recordClip records c into stream starting at base and returns the
// fragments stored.
func (b *box) recordClip(t *testing.T, stream string, base time.Time, c *camsim.Clip) []index.Fragment {
	t.Helper()
	if _, err := b.idx.Stream(t.Context(), stream); errors.Is(err, index.ErrStreamNotFound) {
		if _, err := b.idx.CreateStream(t.Context(), index.Stream{Name: stream}); err != nil {
			t.Fatal(err)
		}
	}
	now := base
	var mu sync.Mutex
	var stored []index.Fragment
	r := &fragment.Recorder{
		Stream: stream, Tracks: c.Tracks, Sink: b.idx, Sealer: b.kr,
		Now: func() time.Time { return now },
		OnStored: func(f index.Fragment) {
			mu.Lock()
			stored = append(stored, f)
			mu.Unlock()
		},
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range c.Frames {
		now = base.Add(f.DTS)
		cf := *f
		r.WriteFrame(&cf)
	}
	r.Close()
	if len(stored) < 2 {
		t.Fatalf("stored %d fragments", len(stored))
	}
	return stored
}

// countingBucket counts the PUTs of each key.
type countingBucket struct {
	Bucket
	mu   sync.Mutex
	puts map[string]int
}

func (c *countingBucket) Put(ctx context.Context, key string, body []byte, meta map[string]string) error {
	err := c.Bucket.Put(ctx, key, body, meta)
	if err == nil {
		c.mu.Lock()
		if c.puts == nil {
			c.puts = map[string]int{}
		}
		c.puts[key]++
		c.mu.Unlock()
	}
	return err
}

func (c *countingBucket) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for k, v := range c.puts {
		out[k] = v
	}
	return out
}

func s3Config(srv *s3test.Server) firehose.S3Config {
	return firehose.S3Config{Endpoint: srv.Endpoint(), AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey}
}

func s3Bucket(t testing.TB, srv *s3test.Server) *countingBucket {
	t.Helper()
	b, err := NewS3Bucket(s3Config(srv), bucket)
	if err != nil {
		t.Fatal(err)
	}
	return &countingBucket{Bucket: b}
}

func startArchiver(t *testing.T, b *box, bk Bucket, sealed bool) *Archiver {
	t.Helper()
	a := &Archiver{Index: b.idx, Space: b.sp, Bucket: bk, Keys: b.idx.Keys(), Opener: b.kr, Sealed: sealed,
		ApplianceID: "pi-7", Prefix: "video/", MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Rescan: 50 * time.Millisecond}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// archived waits until a has archived n fragments and has no backlog.
func archived(t *testing.T, a *Archiver, n uint64) {
	t.Helper()
	testtool.WaitFor(t, "the archive", func() bool {
		st := a.Stats()
		return st.Objects >= n && st.Backlog == 0 && st.Manifests > 0
	})
}

// manifested waits until the bucket's manifests list n fragments: a
// manifest is written after the uploads it lists, so the archiver's
// counters can be done before the last rewrite lands.
func manifested(t *testing.T, srv *s3test.Server, n int) {
	t.Helper()
	testtool.WaitFor(t, fmt.Sprintf("manifests listing %d fragments", n), func() bool {
		_, manifests := bucketObjects(t, srv)
		listed := 0
		for _, m := range manifests {
			listed += len(m.Fragments)
		}
		return listed >= n
	})
}

// bucketObjects splits the bucket's objects into fragments and manifests.
func bucketObjects(t *testing.T, srv *s3test.Server) (frags map[string][]byte, manifests []Manifest) {
	t.Helper()
	frags = map[string][]byte{}
	for _, o := range srv.Objects(bucket) {
		switch {
		case strings.HasSuffix(o.Key, ".mkv"):
			frags[o.Key] = o.Body
		case strings.HasSuffix(o.Key, "/manifest.json"):
			m, err := ParseManifest(o.Body)
			if err != nil {
				t.Fatalf("%s: %v", o.Key, err)
			}
			manifests = append(manifests, m)
		case strings.Contains(o.Key, "/"+keysDir+"/"): // data keys and tombstones
		default:
			t.Fatalf("unexpected object %s", o.Key)
		}
	}
	return frags, manifests
}

func TestArchiveSealed(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(bucket)
	b := openBox(t, "", seal.NewMasterKey())
	base := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	stored := b.record(t, "cam1", base)
	a := startArchiver(t, b, s3Bucket(t, srv), true)
	archived(t, a, uint64(len(stored)))
	manifested(t, srv, len(stored))

	frags, manifests := bucketObjects(t, srv)
	if len(frags) != len(stored) {
		t.Fatalf("%d fragment objects, want %d", len(frags), len(stored))
	}
	entries := map[string]Entry{}
	keys := map[string]Key{}
	for _, m := range manifests {
		if !m.Sealed || m.Appliance != "pi-7" || m.Stream != "cam1" {
			t.Fatalf("manifest %+v", m)
		}
		for _, e := range m.Fragments {
			entries[e.Number] = e
		}
		if len(m.Keys) != 0 {
			t.Fatalf("manifest carries wrapped keys: %v", m.Keys)
		}
	}
	for _, o := range srv.Objects(bucket) {
		id, ok := strings.CutPrefix(o.Key, "video/pi-7/"+keysDir+"/")
		if !ok {
			continue
		}
		k, err := ParseKeyObject(id, o.Body)
		if err != nil {
			t.Fatal(err)
		}
		keys[id] = Key{Alias: k.Alias, Wrapped: k.Wrapped, MasterCheck: k.MasterCheck}
	}
	// A keyring that knows only the master key and the key objects'
	// wrapped keys opens every object: the bucket alone is enough to
	// replay.
	ks := &seal.MemKeyStore{}
	for id, k := range keys {
		if err := ks.PutKey(t.Context(), seal.KeyRecord{ID: id, Alias: k.Alias, Wrapped: k.Wrapped, MasterCheck: k.MasterCheck}); err != nil {
			t.Fatal(err)
		}
	}
	fresh := &seal.Keyring{Store: ks, Master: b.kr.Master}
	for _, f := range stored {
		key := ObjectKey("video/", "pi-7", "cam1", f.ServerTime, f.Number)
		if !strings.HasPrefix(key, "video/pi-7/cam1/"+f.ServerTime.UTC().Format("2006/01/02/15")+"/") {
			t.Fatalf("key %s", key)
		}
		body, ok := frags[key]
		if !ok {
			t.Fatalf("fragment %d not archived (%s)", f.Number, key)
		}
		blob, err := b.idx.Blob(t.Context(), f.Number)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, blob) {
			t.Fatalf("object %s differs from the stored blob", key)
		}
		e, ok := entries[f.NumberString()]
		sum := sha256.Sum256(body)
		if !ok || e.SHA256 != hex.EncodeToString(sum[:]) || e.Size != int64(len(body)) || e.KeyID != f.KeyID || e.Key != key {
			t.Fatalf("manifest entry %+v of fragment %d", e, f.Number)
		}
		if _, err := fresh.Open(t.Context(), "cam1", f.Number, body); err != nil {
			t.Fatalf("open %s with the manifest's key: %v", key, err)
		}
		info, err := srv.Client().StatObject(t.Context(), bucket, key, minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if info.UserMetadata["Kinedge-Key-Id"] != f.KeyID || info.UserMetadata["Kinedge-Wrapped-Key"] != "" || info.UserMetadata["Kinedge-Fragment"] != f.NumberString() {
			t.Fatalf("object metadata of %s: %v", key, info.UserMetadata)
		}
	}
	// No piece of the clip's video is in the bucket in plain text.
	var all []byte
	for _, o := range srv.Objects(bucket) {
		all = append(all, o.Body...)
	}
	c := clip(t)
	checked := 0
	for _, f := range c.Frames {
		if c.Tracks[f.Track].Kind() != media.KindVideo || len(f.Data) < 40 {
			continue
		}
		for _, off := range []int{4, len(f.Data) / 2} {
			w := f.Data[off : off+24]
			if bytes.Contains(all, w) {
				t.Fatalf("plaintext of a frame found in the bucket")
			}
			checked++
		}
	}
	if checked < 10 {
		t.Fatalf("checked %d windows", checked)
	}
}

func TestArchivePlainPlays(t *testing.T) {
	ffprobe := testtool.Need(t, "ffprobe")
	srv := s3test.Start(t)
	srv.MakeBucket(bucket)
	b := openBox(t, "", seal.NewMasterKey())
	stored := b.record(t, "cam1", time.Now().UTC().Add(-time.Minute).Truncate(time.Second))
	a := startArchiver(t, b, s3Bucket(t, srv), false)
	archived(t, a, uint64(len(stored)))
	manifested(t, srv, len(stored))
	frags, manifests := bucketObjects(t, srv)
	if len(frags) != len(stored) || len(manifests) == 0 || manifests[0].Sealed || len(manifests[0].Keys) != 0 {
		t.Fatalf("%d objects, manifests %+v", len(frags), manifests)
	}
	key := ObjectKey("video/", "pi-7", "cam1", stored[1].ServerTime, stored[1].Number)
	path := filepath.Join(t.TempDir(), "f.mkv")
	if err := os.WriteFile(path, frags[key], 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := testtool.Command(t, time.Minute, ffprobe, "-v", "error", "-count_frames", "-show_entries", "stream=codec_name,nb_read_frames", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "h264") {
		t.Fatalf("ffprobe found no H.264 in %s:\n%s", key, out)
	}
}

// TestArchiveOutageExactlyOnce records while the S3 server is down: the
// archiver retries until it is back, then every fragment is in the
// bucket once.
func TestArchiveOutageExactlyOnce(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(bucket)
	srv.Stop()
	b := openBox(t, "", seal.NewMasterKey())
	stored := b.record(t, "cam1", time.Now().UTC().Add(-2*time.Minute).Truncate(time.Second))
	bk := s3Bucket(t, srv)
	a := startArchiver(t, b, bk, true)
	testtool.WaitFor(t, "failed uploads", func() bool { return a.Stats().UploadFailures >= 3 })
	if st := a.Stats(); st.Backlog != int64(len(stored)) || st.Lag <= 0 || st.Objects != 0 {
		t.Fatalf("during the outage: %+v", st)
	}
	srv.Restart()
	archived(t, a, uint64(len(stored)))
	frags, _ := bucketObjects(t, srv)
	if len(frags) != len(stored) {
		t.Fatalf("%d fragment objects after the outage, want %d", len(frags), len(stored))
	}
	for k, n := range bk.counts() {
		if strings.HasSuffix(k, ".mkv") && n != 1 {
			t.Fatalf("%s written %d times", k, n)
		}
	}
}

// TestArchiveRestartResumes archives a recording, stops, records more
// and starts again on the same database: only the new fragments are
// uploaded.
func TestArchiveRestartResumes(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(bucket)
	dir := t.TempDir()
	master := seal.NewMasterKey()
	b := openBox(t, dir, master)
	base := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Second)
	first := b.record(t, "cam1", base)
	a := startArchiver(t, b, s3Bucket(t, srv), true)
	archived(t, a, uint64(len(first)))
	a.Close()
	b.close()

	b = openBox(t, dir, master)
	second := b.record(t, "cam1", base.Add(5*time.Minute))
	bk := s3Bucket(t, srv)
	a = startArchiver(t, b, bk, true)
	archived(t, a, uint64(len(second)))
	puts := bk.counts()
	for _, f := range first {
		if n := puts[ObjectKey("video/", "pi-7", "cam1", f.ServerTime, f.Number)]; n != 0 {
			t.Fatalf("fragment %d of the first run uploaded again after the restart", f.Number)
		}
	}
	for _, f := range second {
		if n := puts[ObjectKey("video/", "pi-7", "cam1", f.ServerTime, f.Number)]; n != 1 {
			t.Fatalf("fragment %d of the second run uploaded %d times", f.Number, n)
		}
	}
	manifested(t, srv, len(first)+len(second))
	frags, manifests := bucketObjects(t, srv)
	if len(frags) != len(first)+len(second) {
		t.Fatalf("%d objects, want %d", len(frags), len(first)+len(second))
	}
	n := 0
	for _, m := range manifests {
		n += len(m.Fragments)
	}
	if n != len(frags) {
		t.Fatalf("manifests list %d fragments, the bucket holds %d", n, len(frags))
	}
}

// TestVerifyFindsDeletedAndCorrupted archives a recording, deletes one
// object and overwrites another: Verify names both, and only them.
func TestVerifyFindsDeletedAndCorrupted(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(bucket)
	b := openBox(t, "", seal.NewMasterKey())
	stored := b.record(t, "cam1", time.Now().UTC().Add(-time.Minute).Truncate(time.Second))
	bk := s3Bucket(t, srv)
	a := startArchiver(t, b, bk, true)
	archived(t, a, uint64(len(stored)))
	manifested(t, srv, len(stored))
	a.Close()
	r := bk.Bucket.(*S3Bucket)
	rep, err := Verify(t.Context(), r, Root("video/", "pi-7", ""))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Fragments != len(stored) || len(rep.Unlisted) != 0 {
		t.Fatalf("intact archive: %+v", rep)
	}
	gone := ObjectKey("video/", "pi-7", "cam1", stored[0].ServerTime, stored[0].Number)
	bad := ObjectKey("video/", "pi-7", "cam1", stored[1].ServerTime, stored[1].Number)
	if err := srv.Client().RemoveObject(t.Context(), bucket, gone, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	body, err := r.Get(t.Context(), bad)
	if err != nil {
		t.Fatal(err)
	}
	body[len(body)/2] ^= 1
	if err := r.Put(t.Context(), bad, body, nil); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(t.Context(), r, Root("video/", "pi-7", "cam1"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range rep.Problems {
		got[p.Key] = p.What
	}
	if rep.OK() || len(got) != 2 || got[gone] != "missing" || got[bad] != "corrupt" {
		t.Fatalf("problems %+v", rep.Problems)
	}
}

// TestRemoteReplaysFromTheBucketAlone: with the appliance's database gone,
// the bucket and the master key replay the recording, byte for byte as
// the appliance replayed it.
func TestRemoteReplaysFromTheBucketAlone(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(bucket)
	b := openBox(t, "", seal.NewMasterKey())
	base := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	stored := b.record(t, "cam1", base)
	bk := s3Bucket(t, srv)
	a := startArchiver(t, b, bk, true)
	archived(t, a, uint64(len(stored)))
	manifested(t, srv, len(stored))
	a.Close()
	local := localReplay(t, replay.Source{Store: b.idx, Opener: b.kr}, stored)
	master := b.kr.Master
	b.close() // the appliance is gone

	r := &Remote{Bucket: bk.Bucket.(*S3Bucket), Prefix: "video/", ApplianceID: "pi-7", Master: master}
	var remote bytes.Buffer
	st, next, err := r.WriteMKV(t.Context(), &remote, "cam1", base.Add(-time.Hour), time.Now())
	if err != nil || next != nil {
		t.Fatalf("WriteMKV: next %v, %v", next, err)
	}
	if st.Fragments != len(stored) || !bytes.Equal(remote.Bytes(), local) {
		t.Fatalf("replay from the bucket: %d fragments, %d bytes; the appliance's: %d fragments, %d bytes",
			st.Fragments, remote.Len(), len(stored), len(local))
	}
	// What tiered replay asks: the archived streams, and the fragments of
	// an open-ended range, found by walking the hour directories (S3Bucket
	// lists one level) or among all keys (a bucket that cannot).
	if names, err := r.Streams(t.Context()); err != nil || len(names) != 1 || names[0] != "cam1" {
		t.Fatalf("Streams = %v, %v", names, err)
	}
	far, farEnd := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, rr := range []*Remote{r, {Bucket: plainReader{r.Bucket}, Prefix: "video/", ApplianceID: "pi-7", Master: master}} {
		frags, entries, src, err := rr.Source(t.Context(), "cam1", far, farEnd)
		if err != nil || len(frags) != len(stored) || len(entries) != len(stored) {
			t.Fatalf("Source over a century: %d fragments, %v; want %d", len(frags), err, len(stored))
		}
		var again bytes.Buffer
		if _, err := src.WriteMKVWith(t.Context(), &again, "cam1", replay.MKVOptions{Title: "cam1", Duration: mkvDuration(frags), Cues: true}, func(yield func(replay.Fragment, error) bool) {
			for _, f := range frags {
				if !yield(f, nil) {
					return
				}
			}
		}); err != nil || !bytes.Equal(again.Bytes(), local) {
			t.Fatalf("Source replay: %d bytes, %v", again.Len(), err)
		}
		if hours, err := rr.ManifestHours(t.Context(), "cam1", farEnd, farEnd); err != nil || len(hours) != 0 {
			t.Fatalf("ManifestHours of an empty range = %v, %v", hours, err)
		}
		// A replacement appliance seeds its numbering past this.
		if n, err := rr.LastFragmentNumber(t.Context()); err != nil || n != stored[len(stored)-1].Number {
			t.Fatalf("LastFragmentNumber = %d, %v; want %d", n, err, stored[len(stored)-1].Number)
		}
	}
	// Another master key opens nothing.
	r.Master = seal.NewMasterKey()
	if _, _, err := r.WriteMKV(t.Context(), &remote, "cam1", base.Add(-time.Hour), time.Now()); err == nil {
		t.Fatal("a wrong master key replayed the archive")
	}
}

// TestRemoteReplayEndsAtCodecChange: a camera restarted with another
// codec cannot continue one Matroska file: the bucket's replay ends before
// the change and names the first fragment of the rest, which replays as
// a second file.
func TestRemoteReplayEndsAtCodecChange(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(bucket)
	b := openBox(t, "", seal.NewMasterKey())
	base := time.Now().UTC().Add(-2 * time.Minute).Truncate(time.Second)
	h264 := b.record(t, "cam1", base)
	h265 := b.recordClip(t, "cam1", base.Add(time.Minute), clipNamed(t, "h265_opus.ts"))
	bk := s3Bucket(t, srv)
	a := startArchiver(t, b, bk, true)
	archived(t, a, uint64(len(h264)+len(h265)))
	manifested(t, srv, len(h264)+len(h265))
	a.Close()

	r := &Remote{Bucket: bk.Bucket.(*S3Bucket), Prefix: "video/", ApplianceID: "pi-7", Master: b.kr.Master}
	var first, second bytes.Buffer
	st, next, err := r.WriteMKV(t.Context(), &first, "cam1", base.Add(-time.Hour), time.Now())
	if err != nil || next == nil || st.Fragments != len(h264) || next.Number != h265[0].Number {
		t.Fatalf("first file: %d fragments, next %+v, %v; want %d, then fragment %d", st.Fragments, next, err, len(h264), h265[0].Number)
	}
	st, next, err = r.WriteMKV(t.Context(), &second, "cam1", h265[0].ServerTime, time.Now())
	if err != nil || next != nil || st.Fragments != len(h265) {
		t.Fatalf("second file: %d fragments, next %+v, %v; want %d", st.Fragments, next, err, len(h265))
	}
	for _, c := range []struct {
		file  []byte
		codec string
	}{{first.Bytes(), mkv.CodecH264}, {second.Bytes(), mkv.CodecH265}} {
		if !bytes.Contains(c.file, []byte(c.codec)) {
			t.Fatalf("a file without %s", c.codec)
		}
	}
}

// localReplay replays the stored fragments from the appliance's own
// store as Remote.WriteMKV writes a range (Duration and Cues).
func localReplay(t *testing.T, src replay.Source, stored []index.Fragment) []byte {
	t.Helper()
	frags := make([]replay.Fragment, 0, len(stored))
	for _, f := range stored {
		var codecs []string
		for _, tr := range f.Tracks {
			codecs = append(codecs, tr.Codec)
		}
		frags = append(frags, replay.Fragment{Number: f.Number, ServerTime: f.ServerTime, ProducerTime: f.ProducerTime, Duration: f.Duration, Codecs: codecs})
	}
	var b bytes.Buffer
	if _, err := src.WriteMKVWith(t.Context(), &b, "cam1", replay.MKVOptions{Title: "cam1", Duration: mkvDuration(frags), Cues: true}, func(yield func(replay.Fragment, error) bool) {
		for _, f := range frags {
			if !yield(f, nil) {
				return
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// mkvDuration is the length of the file that replays frags.
func mkvDuration(frags []replay.Fragment) time.Duration {
	var end time.Time
	for _, f := range frags {
		if e := f.ServerTime.Add(f.Duration); e.After(end) {
			end = e
		}
	}
	return end.Sub(frags[0].ServerTime)
}

// plainReader hides S3Bucket.Dirs: a Reader that lists only recursively.
type plainReader struct{ Reader }
