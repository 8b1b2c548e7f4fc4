package archive

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/store"
	"github.com/kinedge/kinedge/testdata/s3test"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// keyIDs returns the data key ids of fragments.
func keyIDs(frags []index.Fragment) map[string]bool {
	ids := map[string]bool{}
	for _, f := range frags {
		ids[f.KeyID] = true
	}
	return ids
}

// shredded waits until every key of ids has a tombstone and no key object
// in the bucket.
func shredded(t *testing.T, b *S3Bucket, ids map[string]bool) {
	t.Helper()
	testtool.WaitFor(t, "the archived keys shredded", func() bool {
		keys, err := b.List(t.Context(), "video/pi-7/"+keysDir+"/")
		if err != nil {
			return false // the bucket is not back yet
		}
		have := map[string]bool{}
		for _, k := range keys {
			have[k] = true
		}
		for id := range ids {
			if have[KeyObjectKey("video/", "pi-7", id)] || !have[TombstoneKey("video/", "pi-7", id)] {
				return false
			}
		}
		return true
	})
}

// opensNone checks that no archived object of stream opens from the
// bucket, each failing with the destroyed-key error.
func opensNone(t *testing.T, r *Remote, stream string, stored []index.Fragment) {
	t.Helper()
	far, farEnd := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	frags, entries, src, err := r.Source(t.Context(), stream, far, farEnd)
	if err != nil || len(frags) != len(stored) {
		t.Fatalf("Source(%s): %d fragments, %v; want the %d listed", stream, len(frags), err, len(stored))
	}
	for i, f := range frags {
		obj, err := src.Store.Blob(t.Context(), f.Number)
		if err != nil {
			t.Fatalf("fetch %s: %v", entries[i].Key, err)
		}
		_, err = src.Opener.Open(t.Context(), stream, f.Number, obj)
		if !errors.Is(err, seal.ErrKeyDestroyed) || !strings.Contains(err.Error(), "data key "+entries[i].KeyID+" was destroyed") || !strings.Contains(err.Error(), "deleted") {
			t.Fatalf("open %s after the stream was deleted: %v", entries[i].Key, err)
		}
	}
	if _, _, err := r.WriteMKV(t.Context(), io.Discard, stream, far, farEnd); !errors.Is(err, seal.ErrKeyDestroyed) {
		t.Fatalf("WriteMKV(%s) after the stream was deleted: %v", stream, err)
	}
}

// opensAll checks that stream replays whole from the bucket.
func opensAll(t *testing.T, r *Remote, stream string, stored []index.Fragment) {
	t.Helper()
	var out bytes.Buffer
	st, _, err := r.WriteMKV(t.Context(), &out, stream, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || st.Fragments != len(stored) {
		t.Fatalf("WriteMKV(%s): %d fragments, %v; want %d", stream, st.Fragments, err, len(stored))
	}
}

// TestShredDeletedStreamArchive: after DeleteStream the deleted stream's
// archived objects never open again, from this appliance's tier (through
// the Cache) or a replacement's (the bucket and the master key alone),
// while the other stream's still do.
func TestShredDeletedStreamArchive(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(bucket)
	master := seal.NewMasterKey()
	b := openBox(t, "", master)
	base := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	gone := b.record(t, "cam1", base)
	kept := b.record(t, "cam2", base)
	bk := s3Bucket(t, srv)
	a := startArchiver(t, b, bk, true)
	b.idx.OnKeysDestroyed(func(ids ...string) { b.kr.Forget(ids...); a.KeysDestroyed(ids...) })
	archived(t, a, uint64(len(gone)+len(kept)))
	manifested(t, srv, len(gone)+len(kept))
	s3b := bk.Bucket.(*S3Bucket)
	tierRemote := &Remote{Bucket: &Cache{Reader: s3b, Root: Root("video/", "pi-7", "")}, Prefix: "video/", ApplianceID: "pi-7", Master: master}
	opensAll(t, tierRemote, "cam1", gone) // before: it opens

	if err := b.idx.DeleteStream(t.Context(), "cam1"); err != nil {
		t.Fatal(err)
	}
	shredded(t, bk.Bucket.(*S3Bucket), keyIDs(gone))
	testtool.WaitFor(t, "the archiver to count the keys shredded", func() bool { return a.Shredded() == uint64(len(keyIDs(gone))) })
	for id := range keyIDs(kept) {
		if _, err := s3b.Get(t.Context(), KeyObjectKey("video/", "pi-7", id)); err != nil {
			t.Fatalf("key %s of the kept stream: %v", id, err)
		}
	}
	opensNone(t, tierRemote, "cam1", gone)
	opensAll(t, tierRemote, "cam2", kept)
	// The appliance's own tier asks its key store first.
	localFirst := &Remote{Bucket: s3b, Prefix: "video/", ApplianceID: "pi-7", Master: master, Local: b.idx.Keys()}
	opensNone(t, localFirst, "cam1", gone)
	opensAll(t, localFirst, "cam2", kept)

	// A replacement appliance: a fresh database, the same master key and
	// bucket. Its archiver shreds nothing and uploads nothing of cam1; its
	// replay from the bucket refuses cam1 and plays cam2.
	a.Close()
	b.close()
	nb := openBox(t, "", master)
	na := startArchiver(t, nb, bk, true)
	testtool.WaitFor(t, "the replacement's first pass", func() bool { return na.Stats().Passes > 1 })
	replacement := &Remote{Bucket: s3b, Prefix: "video/", ApplianceID: "pi-7", Master: master}
	opensNone(t, replacement, "cam1", gone)
	opensAll(t, replacement, "cam2", kept)
	if na.Shredded() != 0 {
		t.Fatalf("the replacement shredded %d keys", na.Shredded())
	}
}

// TestShredWaitsForTheBucket: a stream deleted while the bucket is down
// (and the appliance restarted meanwhile) is shredded in the bucket once
// it is back.
func TestShredWaitsForTheBucket(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(bucket)
	master := seal.NewMasterKey()
	b := openBox(t, t.TempDir(), master)
	base := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	gone := b.record(t, "cam1", base)
	bk := s3Bucket(t, srv)
	a := startArchiver(t, b, bk, true)
	b.idx.OnKeysDestroyed(func(ids ...string) { b.kr.Forget(ids...); a.KeysDestroyed(ids...) })
	archived(t, a, uint64(len(gone)))
	manifested(t, srv, len(gone))

	srv.Stop()
	failures := a.Stats().UploadFailures
	if err := b.idx.DeleteStream(t.Context(), "cam1"); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "the shredding to fail against the stopped bucket", func() bool { return a.Stats().UploadFailures > failures+2 })
	// The appliance restarts during the outage: the shredding owed is in
	// its database (the key marks and the local tombstones), not in memory.
	a.Close()
	a2 := startArchiver(t, b, bk, true)
	testtool.WaitFor(t, "the restarted archiver to retry", func() bool { return a2.Stats().UploadFailures > 0 })
	srv.Restart()
	shredded(t, bk.Bucket.(*S3Bucket), keyIDs(gone))
	opensNone(t, &Remote{Bucket: bk.Bucket.(*S3Bucket), Prefix: "video/", ApplianceID: "pi-7", Master: master}, "cam1", gone)
}

// TestShredLegacyKeys: an archive written before key objects existed (the
// wrapped key in the manifest only) replays with the manifest's key, and
// once its stream is deleted the key is tombstoned and no longer opens
// it.
func TestShredLegacyKeys(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(bucket)
	master := seal.NewMasterKey()
	b := openBox(t, "", master)
	gone := b.record(t, "cam1", time.Now().UTC().Add(-time.Minute).Truncate(time.Second))
	bk := s3Bucket(t, srv)
	s3b := bk.Bucket.(*S3Bucket)
	a := startArchiver(t, b, bk, true)
	archived(t, a, uint64(len(gone)))
	manifested(t, srv, len(gone))
	a.Close()
	// Make it a legacy archive: the keys move into the manifests, their
	// objects and marks go.
	keys := map[string]Key{}
	for id := range keyIDs(gone) {
		rec, err := b.idx.Keys().GetKey(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		keys[id] = Key{Alias: rec.Alias, Wrapped: rec.Wrapped, MasterCheck: rec.MasterCheck}
		if err := s3b.Delete(t.Context(), KeyObjectKey("video/", "pi-7", id)); err != nil {
			t.Fatal(err)
		}
		if err := b.sp.Update(t.Context(), store.Meta, func(txn *store.Txn) error { return txn.Delete(a.keyMark(id)) }); err != nil {
			t.Fatal(err)
		}
	}
	names, err := s3b.List(t.Context(), "video/pi-7/cam1/")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !strings.HasSuffix(n, "/manifest.json") {
			continue
		}
		body, err := s3b.Get(t.Context(), n)
		if err != nil {
			t.Fatal(err)
		}
		m, err := ParseManifest(body)
		if err != nil {
			t.Fatal(err)
		}
		m.Keys = keys
		body, _ = json.Marshal(m)
		if err := s3b.Put(t.Context(), n, body, nil); err != nil {
			t.Fatal(err)
		}
	}
	r := &Remote{Bucket: s3b, Prefix: "video/", ApplianceID: "pi-7", Master: master}
	opensAll(t, r, "cam1", gone)

	a2 := startArchiver(t, b, bk, true)
	b.idx.OnKeysDestroyed(func(ids ...string) { b.kr.Forget(ids...); a2.KeysDestroyed(ids...) })
	if err := b.idx.DeleteStream(t.Context(), "cam1"); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "the legacy keys tombstoned", func() bool { return a2.Shredded() == uint64(len(keys)) })
	opensNone(t, r, "cam1", gone)
}

// TestShredRetiredKeyKeepsTheRest: a key destroyed as retention destroys
// one (DestroyKey, then the hook), its stream kept, is shredded in the
// bucket: its fragments no longer open, the stream's later key's still
// do.
func TestShredRetiredKeyKeepsTheRest(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(bucket)
	master := seal.NewMasterKey()
	b := openBox(t, "", master)
	clock := time.Now().Add(-3 * time.Hour)
	b.kr.Now = func() time.Time { return clock }
	b.kr.Rotation = time.Hour
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	old := b.record(t, "cam1", base)
	clock = clock.Add(2 * time.Hour) // the next fragments get a new key
	cur := b.record(t, "cam1", base.Add(10*time.Minute))
	oldIDs, curIDs := keyIDs(old), keyIDs(cur)
	for id := range oldIDs {
		if curIDs[id] {
			t.Fatalf("key %s sealed both recordings", id)
		}
	}
	bk := s3Bucket(t, srv)
	a := startArchiver(t, b, bk, true)
	b.idx.OnKeysDestroyed(func(ids ...string) { b.kr.Forget(ids...); a.KeysDestroyed(ids...) })
	archived(t, a, uint64(len(old)+len(cur)))
	manifested(t, srv, len(old)+len(cur))

	var ids []string
	for id := range oldIDs {
		if err := b.idx.Keys().DestroyKey(t.Context(), id, "retention of stream cam1 expired its period"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	a.KeysDestroyed(ids...) // what the index's GC calls
	shredded(t, bk.Bucket.(*S3Bucket), oldIDs)

	r := &Remote{Bucket: bk.Bucket.(*S3Bucket), Prefix: "video/", ApplianceID: "pi-7", Master: master}
	frags, entries, src, err := r.Source(t.Context(), "cam1", base.Add(-time.Hour), time.Now())
	if err != nil || len(frags) != len(old)+len(cur) {
		t.Fatalf("Source: %d fragments, %v", len(frags), err)
	}
	for i, f := range frags {
		obj, err := src.Store.Blob(t.Context(), f.Number)
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Opener.Open(t.Context(), "cam1", f.Number, obj)
		switch {
		case oldIDs[entries[i].KeyID]:
			if !errors.Is(err, seal.ErrKeyDestroyed) || !strings.Contains(err.Error(), "retention of stream cam1") {
				t.Fatalf("fragment %d of the shredded key: %v", f.Number, err)
			}
		case err != nil:
			t.Fatalf("fragment %d of the current key: %v", f.Number, err)
		}
	}
}

// legacyArchive turns the archive of streams into one written before key
// objects existed: each data key wrapped (the keyring's own sealing)
// into its fragment objects' metadata and its hours' manifests, its key
// object and mark gone. It returns the wrapped keys by id.
func legacyArchive(t *testing.T, b *box, a *Archiver, s3b *S3Bucket, streams ...string) map[string]Key {
	t.Helper()
	keys := map[string]Key{}
	for _, stream := range streams {
		names, err := s3b.List(t.Context(), "video/pi-7/"+stream+"/")
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if !strings.HasSuffix(n, "/manifest.json") {
				continue
			}
			body, err := s3b.Get(t.Context(), n)
			if err != nil {
				t.Fatal(err)
			}
			m, err := ParseManifest(body)
			if err != nil {
				t.Fatal(err)
			}
			m.Keys = map[string]Key{}
			for _, e := range m.Fragments {
				k, ok := keys[e.KeyID]
				if !ok {
					rec, err := b.idx.Keys().GetKey(t.Context(), e.KeyID)
					if err != nil {
						t.Fatal(err)
					}
					k = Key{Alias: rec.Alias, Wrapped: rec.Wrapped, MasterCheck: rec.MasterCheck}
					keys[e.KeyID] = k
				}
				m.Keys[e.KeyID] = k
				obj, err := s3b.Get(t.Context(), e.Key)
				if err != nil {
					t.Fatal(err)
				}
				meta, err := s3b.Meta(t.Context(), e.Key)
				if err != nil {
					t.Fatal(err)
				}
				meta[LegacyWrappedKeyMeta] = base64.StdEncoding.EncodeToString(k.Wrapped)
				if err := s3b.Put(t.Context(), e.Key, obj, meta); err != nil {
					t.Fatal(err)
				}
			}
			body, _ = json.Marshal(m)
			if err := s3b.Put(t.Context(), n, body, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	for id := range keys {
		if err := s3b.Delete(t.Context(), KeyObjectKey("video/", "pi-7", id)); err != nil {
			t.Fatal(err)
		}
		if err := b.sp.Update(t.Context(), store.Meta, func(txn *store.Txn) error { return txn.Delete(a.keyMark(id)) }); err != nil {
			t.Fatal(err)
		}
	}
	// Older code kept no scrub state (the archive's first pass found it
	// clean before it was made legacy here).
	if err := b.sp.Update(t.Context(), store.Meta, func(txn *store.Txn) error {
		for _, k := range []string{"again", "cursor", "clean"} {
			if err := txn.Delete(a.scrubKey(k)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// wrappedCopies counts, for each key of keys, the copies of its wrapped
// form in the bucket: in any object's user metadata and in any JSON
// object's body (manifests, key objects, tombstones).
func wrappedCopies(t *testing.T, s3b *S3Bucket, keys map[string]Key) (map[string]int, error) {
	t.Helper()
	names, err := s3b.List(t.Context(), "video/")
	if err != nil {
		return nil, err
	}
	copies := map[string]int{}
	for _, n := range names {
		meta, err := s3b.Meta(t.Context(), n)
		if err != nil {
			return nil, err
		}
		var body []byte
		if strings.HasSuffix(n, ".json") || strings.Contains(n, "/"+keysDir+"/") {
			if body, err = s3b.Get(t.Context(), n); err != nil {
				return nil, err
			}
		}
		for id, k := range keys {
			b64 := base64.StdEncoding.EncodeToString(k.Wrapped)
			for _, v := range meta {
				if strings.Contains(v, b64) {
					copies[id]++
				}
			}
			if bytes.Contains(body, []byte(b64)) {
				copies[id]++
			}
		}
	}
	return copies, nil
}

// TestShredScrubsLegacyCopies: an archive written before key objects
// carries each data key wrapped in its objects' metadata and its
// manifests. Deleting a stream (its keys shredded) while the bucket is
// down, the appliance restarting meanwhile, scrubs every copy of its
// keys once the bucket is back: no object's metadata and no manifest
// holds them, its objects fail with the destroyed-key error, the
// manifests keep their entries; the other stream's legacy copies stay
// and open.
func TestShredScrubsLegacyCopies(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(bucket)
	master := seal.NewMasterKey()
	b := openBox(t, t.TempDir(), master)
	base := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	gone := b.record(t, "cam1", base)
	kept := b.record(t, "cam2", base)
	bk := s3Bucket(t, srv)
	s3b := bk.Bucket.(*S3Bucket)
	a := startArchiver(t, b, bk, true)
	archived(t, a, uint64(len(gone)+len(kept)))
	manifested(t, srv, len(gone)+len(kept))
	a.Close()
	keys := legacyArchive(t, b, a, s3b, "cam1", "cam2")
	goneKeys, keptKeys := map[string]Key{}, map[string]Key{}
	for id, k := range keys {
		if keyIDs(gone)[id] {
			goneKeys[id] = k
		} else {
			keptKeys[id] = k
		}
	}
	if len(goneKeys) == 0 || len(keptKeys) == 0 {
		t.Fatalf("keys: %d of cam1, %d of cam2", len(goneKeys), len(keptKeys))
	}
	copies, err := wrappedCopies(t, s3b, keys)
	if err != nil {
		t.Fatal(err)
	}
	for id := range keys {
		if copies[id] < 2 { // at least one object and one manifest
			t.Fatalf("the legacy archive holds %d copies of key %s", copies[id], id)
		}
	}
	r := &Remote{Bucket: s3b, Prefix: "video/", ApplianceID: "pi-7", Master: master}
	opensAll(t, r, "cam1", gone)
	opensAll(t, r, "cam2", kept)

	// The bucket goes down; the stream is deleted; the appliance restarts.
	a2 := startArchiver(t, b, bk, true)
	b.idx.OnKeysDestroyed(func(ids ...string) { b.kr.Forget(ids...); a2.KeysDestroyed(ids...) })
	testtool.WaitFor(t, "the archiver's first pass", func() bool { return a2.Stats().Passes > 1 })
	srv.Stop()
	failures := a2.Stats().UploadFailures
	if err := b.idx.DeleteStream(t.Context(), "cam1"); err != nil {
		t.Fatal(err)
	}
	testtool.WaitFor(t, "the shredding to fail against the stopped bucket", func() bool { return a2.Stats().UploadFailures > failures+2 })
	a2.Close()
	a3 := startArchiver(t, b, bk, true)
	testtool.WaitFor(t, "the restarted archiver to retry", func() bool { return a3.Stats().UploadFailures > 0 })
	srv.Restart()

	testtool.WaitFor(t, "every copy of cam1's keys scrubbed", func() bool {
		c, err := wrappedCopies(t, s3b, goneKeys)
		if err != nil {
			return false // the bucket is not back yet
		}
		for id := range goneKeys {
			if c[id] != 0 {
				return false
			}
		}
		return true
	})
	if a3.Scrubbed() == 0 {
		t.Error("Scrubbed() is 0")
	}
	// Counted means shown: /metrics has it.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(a3))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	shown := false
	for _, f := range families {
		if f.GetName() == "kinedge_archive_keys_scrubbed_total" {
			shown = f.GetMetric()[0].GetCounter().GetValue() == float64(a3.Scrubbed())
		}
	}
	if !shown {
		t.Error("kinedge_archive_keys_scrubbed_total is not Scrubbed()")
	}
	copies, err = wrappedCopies(t, s3b, keptKeys)
	if err != nil {
		t.Fatal(err)
	}
	for id := range keptKeys {
		if copies[id] < 2 {
			t.Errorf("cam2's key %s: %d copies left, want its legacy copies kept", id, copies[id])
		}
	}
	shredded(t, s3b, keyIDs(gone))
	opensNone(t, r, "cam1", gone) // the manifests still list every fragment
	opensAll(t, r, "cam2", kept)
	// The objects' other metadata and their bytes are kept.
	for _, f := range gone {
		key := ObjectKey("video/", "pi-7", "cam1", f.ServerTime, f.Number)
		meta, err := s3b.Meta(t.Context(), key)
		if err != nil || meta["kinedge-key-id"] != f.KeyID {
			t.Fatalf("%s after the scrub: %v %v", key, meta, err)
		}
	}
}
