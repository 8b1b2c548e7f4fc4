package archive

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/testdata/s3test"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// TestSeedBucketDownAtStart: a replacement appliance (a fresh database,
// the same appliance id and bucket) starts while the S3 server is down. It
// numbers from the clock, records in the hour its predecessor recorded,
// and once the server is back its archive adds objects without
// overwriting any of its predecessor's. A third one, whose clock is
// unset, numbers from ClockFloor and, once the bucket answers, past the
// archive's last number.
func TestSeedBucketDownAtStart(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(bucket)
	master := seal.NewMasterKey()
	hour := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	old := openBox(t, "", master)
	stored := old.record(t, "cam1", hour.Add(10*time.Minute))
	last := stored[len(stored)-1].Number
	a := startArchiver(t, old, s3Bucket(t, srv), true)
	archived(t, a, uint64(len(stored)))
	manifested(t, srv, len(stored))
	a.Close()
	before := map[string][]byte{}
	for _, o := range srv.Objects(bucket) {
		before[o.Key] = o.Body
	}
	srv.Stop()

	// Unseeded, a fresh database would number from 1 and take the
	// predecessor's keys: the case this test is about.
	control := openBox(t, "", master)
	if n, err := control.idx.NextFragmentNumber(t.Context()); err != nil || n > last {
		t.Fatalf("an unseeded database numbers from %d (%v), past the predecessor's %d", n, err, last)
	}
	remote := &Remote{Bucket: s3Bucket(t, srv).Bucket.(*S3Bucket), Prefix: "video/", ApplianceID: "pi-7"}
	fresh := openBox(t, "", master)
	sd := &Seeder{Archive: remote, Index: fresh.idx, Timeout: time.Second, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	if err := sd.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sd.Close)
	if sd.Checked() {
		t.Fatal("numbering checked against a bucket that is down")
	}
	second := fresh.record(t, "cam1", hour.Add(20*time.Minute))
	if second[0].Number <= last {
		t.Fatalf("fresh appliance numbers from %d, not past its predecessor's %d", second[0].Number, last)
	}
	srv.Restart()
	testtool.WaitFor(t, "the numbering checked against the bucket", sd.Checked)
	b := startArchiver(t, fresh, s3Bucket(t, srv), true)
	archived(t, b, uint64(len(second)))
	manifested(t, srv, len(stored)+len(second))
	b.Close()
	after := map[string][]byte{}
	objs := 0
	for _, o := range srv.Objects(bucket) {
		after[o.Key] = o.Body
		if strings.HasSuffix(o.Key, ".mkv") {
			objs++
		}
	}
	for k, body := range before {
		if strings.HasSuffix(k, ".mkv") && !bytes.Equal(after[k], body) {
			t.Fatalf("predecessor's object %s overwritten", k)
		}
	}
	if objs != len(stored)+len(second) {
		t.Fatalf("%d fragment objects, want %d + %d", objs, len(stored), len(second))
	}
	// The hour's manifest lists both appliances' fragments, with the keys
	// that open them: the replacement merged its predecessor's manifest.
	m, err := ParseManifest(after[ManifestKey("video/", "pi-7", "cam1", hour)])
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, e := range m.Fragments {
		listed[e.Number] = true
		if _, ok := m.Keys[e.KeyID]; !ok && after[KeyObjectKey("video/", "pi-7", e.KeyID)] == nil {
			t.Fatalf("neither the manifest nor a key object holds the key %s of fragment %s", e.KeyID, e.Number)
		}
	}
	for _, f := range append(append([]index.Fragment(nil), stored...), second...) {
		if !listed[f.NumberString()] {
			t.Fatalf("manifest of the shared hour lacks fragment %d", f.Number)
		}
	}
	if len(m.Fragments) != len(stored)+len(second) {
		t.Fatalf("manifest lists %d fragments, want %d", len(m.Fragments), len(stored)+len(second))
	}

	// An unset clock: numbered from the floor, then past the archive.
	srv.Stop()
	third := openBox(t, "", master)
	sd3 := &Seeder{Archive: remote, Index: third.idx, Timeout: time.Second, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Now: func() time.Time { return time.Date(1970, 1, 1, 0, 0, 42, 0, time.UTC) }}
	if err := sd3.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sd3.Close)
	n, err := third.idx.NextFragmentNumber(t.Context())
	if err != nil || n <= uint64(ClockFloor.UnixMilli()) {
		t.Fatalf("with an unset clock: number %d (%v), want past the floor %d", n, err, ClockFloor.UnixMilli())
	}
	top := second[len(second)-1].Number
	if n > top {
		t.Fatalf("the floor %d is past the archive's %d: the background seed is not tested", n, top)
	}
	srv.Restart()
	testtool.WaitFor(t, "the unset clock's numbering checked", sd3.Checked)
	if n, err := third.idx.NextFragmentNumber(t.Context()); err != nil || n <= top {
		t.Fatalf("after the bucket answered: number %d (%v), want past the archive's %d", n, err, top)
	}
}

// TestManifestMergeTakesOnlyItsHour: the manifest found in the bucket is
// merged entry by entry; an entry that is not this hour's object of this
// appliance (another key, another hour) is left out, the others are kept
// with their wrapped key.
func TestManifestMergeTakesOnlyItsHour(t *testing.T) {
	b := openBox(t, "", seal.NewMasterKey())
	hour := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	bk := &memBucket{}
	sum := strings.Repeat("ab", 32)
	at := hour.Add(time.Minute)
	entry := func(n uint64, key string, server time.Time) Entry {
		return Entry{Number: strconv.FormatUint(n, 10), Key: key, ServerTime: server, ProducerTime: server, DurationMS: 2000, Size: 10, SHA256: sum, KeyID: "old-key"}
	}
	prior := Manifest{Version: ManifestVersion, Appliance: "pi-7", Stream: "cam1", Hour: hour, Sealed: true,
		Keys: map[string]Key{"old-key": {Alias: "alias/old", Wrapped: []byte("wrapped"), MasterCheck: "check"}},
		Fragments: []Entry{
			entry(1003, ObjectKey("", "pi-7", "cam1", at, 1003), at),
			entry(1004, "elsewhere/1004.mkv", at.Add(2*time.Second)),
			entry(1005, ObjectKey("", "pi-7", "cam1", at.Add(time.Hour), 1005), at.Add(time.Hour)),
		}}
	body, err := json.Marshal(prior)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseManifest(body); err != nil {
		t.Fatalf("the prior manifest: %v", err)
	}
	if err := bk.Put(t.Context(), ManifestKey("", "pi-7", "cam1", hour), body, nil); err != nil {
		t.Fatal(err)
	}
	stored := b.record(t, "cam1", hour.Add(10*time.Minute))
	a := &Archiver{Index: b.idx, Space: b.sp, Bucket: bk, Keys: b.idx.Keys(), Sealed: true, ApplianceID: "pi-7", Rescan: time.Hour}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	testtool.WaitFor(t, "the hour's manifest rewritten", func() bool {
		body, err := bk.Get(t.Context(), ManifestKey("", "pi-7", "cam1", hour))
		if err != nil {
			return false
		}
		m, err := ParseManifest(body)
		return err == nil && len(m.Fragments) > len(stored)
	})
	a.Close()
	body, _ = bk.Get(t.Context(), ManifestKey("", "pi-7", "cam1", hour))
	m, err := ParseManifest(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Fragments) != len(stored)+1 || m.Fragments[0].Number != "1003" {
		t.Fatalf("merged manifest lists %d fragments, first %s; want %d + fragment 1003 only", len(m.Fragments), m.Fragments[0].Number, len(stored))
	}
	if k := m.Keys["old-key"]; string(k.Wrapped) != "wrapped" || k.Alias != "alias/old" {
		t.Fatalf("the merged entry's wrapped key: %+v", k)
	}
}
