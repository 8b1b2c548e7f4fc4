package upstream

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/ingest/camsim"
	"github.com/kinedge/kinedge/ingest/media"
	"github.com/kinedge/kinedge/ingest/putmedia"
)

// TestPermanent: the ErrorIds KVS documents as refusing the fragment
// itself are permanent; connection, stream state, KMS and server errors
// (and unknown ids) are transient.
func TestPermanent(t *testing.T) {
	for id, want := range map[putmedia.ErrorID]bool{
		putmedia.StreamReadError: false, putmedia.MaxFragmentSizeReached: true, putmedia.MaxFragmentDurationReached: true,
		putmedia.MaxConnectionDurationReached: false, putmedia.FragmentTimecodeLesserThanPrev: true,
		putmedia.MoreThanAllowedTracksFound: true, putmedia.InvalidMKVData: true, putmedia.InvalidProducerTimestamp: true,
		putmedia.StreamNotActive: false, putmedia.FragmentMetadataLimitReached: true, putmedia.TrackNumberMismatch: true,
		putmedia.FramesMissingForTrack: true, putmedia.KMSKeyAccessDenied: false, 4501: false, putmedia.InternalError: false,
		putmedia.ArchivalError: false, 4999: false, 0: false,
	} {
		if got := Permanent(id); got != want {
			t.Errorf("Permanent(%d %s) = %v, want %v", id, id, got, want)
		}
	}
	if _, ok := permanentRefusal(&AckError{ID: putmedia.InvalidMKVData}); ok {
		t.Error("an ERROR ack naming no fragment sent is taken as a refusal of one")
	}
	if _, ok := permanentRefusal(fmt.Errorf("round: %w", &AckError{ID: putmedia.InvalidMKVData, Number: 7})); !ok {
		t.Error("a wrapped 4006 for fragment 7 is not permanent")
	}
	if _, ok := permanentRefusal(&HTTPError{Status: 403}); ok {
		t.Error("a 403 is taken as permanent")
	}
}

// blobOf opens a stored fragment.
func blobOf(t *testing.T, b *box, fr index.Fragment) fragment.Blob {
	t.Helper()
	sealed, err := b.idx.Blob(t.Context(), fr.Number)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := b.kr.Open(t.Context(), fr.Stream, fr.Number, sealed)
	if err != nil {
		t.Fatal(err)
	}
	bl, err := fragment.DecodeBlob(plain)
	if err != nil {
		t.Fatal(err)
	}
	return bl
}

// silentAudio records the H.264+AAC clip without its audio between 2 s
// and 6 s (a camera's silent audio track): the fragments in between hold
// no audio block.
func silentAudio(t *testing.T, b *box, stream string, base time.Time) (stored []index.Fragment, silent int) {
	t.Helper()
	stored = b.recordSome(t, stream, base, func(c *camsim.Clip, f *media.Frame) bool {
		return c.Tracks[f.Track].Kind() != media.KindAudio || f.DTS < 2*time.Second || f.DTS > 6*time.Second
	})
	for _, fr := range stored {
		spans, err := blockSpans(blobOf(t, b, fr).Cluster)
		if err != nil {
			t.Fatal(err)
		}
		if len(spans) == 1 {
			silent++
		}
	}
	if silent == 0 || silent == len(stored) {
		t.Fatalf("%d of %d fragments without audio: the test needs some of each", silent, len(stored))
	}
	return stored, silent
}

// TestSessionTracks: a fragment holding every track is sent under the
// Tracks as stored; one without audio under a Tracks of its video track
// alone, as stored.
func TestSessionTracks(t *testing.T) {
	b := openBox(t)
	stored, _ := silentAudio(t, b, "cam1", time.Now().Add(-time.Hour).Truncate(time.Second))
	var full, videoOnly int
	for _, fr := range stored {
		bl := blobOf(t, b, fr)
		spans, err := blockSpans(bl.Cluster)
		if err != nil {
			t.Fatal(err)
		}
		st, err := sessionTracks(bl.Tracks, spans)
		if err != nil {
			t.Fatal(err)
		}
		declared, err := parseTracks(bl.Tracks)
		if err != nil {
			t.Fatal(err)
		}
		if len(declared) != 2 {
			t.Fatalf("stored %d tracks, want 2", len(declared))
		}
		if len(spans) == 2 {
			full++
			if !bytes.Equal(st, bl.Tracks) {
				t.Errorf("fragment %d holds both tracks and was given other Tracks", fr.Number)
			}
			continue
		}
		videoOnly++
		got, err := parseTracks(st)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Type != mkv.TrackVideo || got[0].Number != declared[0].Number ||
			!bytes.Equal(got[0].CodecPrivate, declared[0].CodecPrivate) || got[0].Width != declared[0].Width {
			t.Errorf("fragment %d without audio: tracks %+v, want the stored video track %+v", fr.Number, got, declared[0])
		}
		// The entry kept is the stored one: the full set, written
		// again, is the stored element.
		again, err := mkv.AppendTracks(nil, declared)
		if err != nil || !bytes.Equal(again, bl.Tracks) {
			t.Errorf("stored Tracks do not survive a reading and writing: %v", err)
		}
	}
	if full == 0 || videoOnly == 0 {
		t.Fatalf("%d fragments with both tracks, %d without audio", full, videoOnly)
	}
}

// TestForwarderSilentAudio: the upstream applies KVS's rule that every
// cluster holds frames of every track of its session (4011
// FRAMES_MISSING_FOR_TRACK); every fragment of a camera whose audio went
// silent for a while is forwarded all the same, every frame once.
func TestForwarderSilentAudio(t *testing.T) {
	b := openBox(t)
	rec, up := newUpstream(t)
	rec.srv.RequireAllTracks = true // before any request
	stored, silent := silentAudio(t, b, "cam1", time.Now().Add(-time.Hour).Truncate(time.Second))
	f := &Forwarder{Index: b.idx, Space: b.sp, Opener: b.kr, Client: testClient(up.URL), Stream: "cam1",
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Rescan: time.Hour}
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	eventually(t, "the recording forwarded", func() error {
		if st := f.Stats(); st.Fragments != uint64(len(stored)) || st.Backlog != 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	st := f.Stats()
	if st.Failures != 0 || st.Skipped != 0 {
		t.Errorf("stats %+v: refusals (%v)", st, rec.srv.Stats().Errors())
	}
	if errs := rec.srv.Stats().Errors(); len(errs) != 0 {
		t.Errorf("the upstream sent ERROR acks: %v", errs)
	}
	if st.Sessions < 3 {
		t.Errorf("%d sessions: the %d fragments without audio were not sent in sessions of their own", st.Sessions, silent)
	}
	frames := 0
	for _, fr := range stored {
		frames += fr.Frames
	}
	if n := len(rec.walls()); n != frames {
		t.Fatalf("upstream recorded %d frames, %d stored", n, frames)
	}
}

// dataBytes is what a putmedia server counts of a cluster against its
// MaxFragmentSize: the blocks' frame bytes.
func dataBytes(t *testing.T, cluster []byte) (n int64) {
	t.Helper()
	r := mkv.NewReader(bytes.NewReader(cluster), mkv.ReaderOptions{SegmentBody: true})
	for {
		ev, err := r.Next()
		if err != nil {
			return n
		}
		if bl, ok := ev.(mkv.Block); ok {
			n += int64(len(bl.Data))
		}
	}
}

// TestForwarderSkipsRefusedFragment: an upstream whose MaxFragmentSize is
// below one fragment refuses it with 4001 MAX_FRAGMENT_SIZE_REACHED each
// time; the third refusal in a row skips it (recorded with the clock's
// time, counted, cursor past it) and every other fragment is forwarded.
func TestForwarderSkipsRefusedFragment(t *testing.T) {
	b := openBox(t)
	rec, up := newUpstream(t)
	stored := b.record(t, "cam1", time.Now().Add(-time.Hour).Truncate(time.Second))
	sizes := make([]int64, len(stored))
	big := 0
	for i, fr := range stored {
		sizes[i] = dataBytes(t, blobOf(t, b, fr).Cluster)
		if sizes[i] > sizes[big] {
			big = i
		}
	}
	limit := int64(0)
	for i, s := range sizes {
		if i != big {
			limit = max(limit, s)
		}
	}
	if limit >= sizes[big] || big == 0 {
		t.Fatalf("fragment sizes %v: the test needs one larger than all others, not the first", sizes)
	}
	rec.srv.MaxFragmentSize = limit // before any request
	now := time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)
	f := &Forwarder{Index: b.idx, Space: b.sp, Opener: b.kr, Client: testClient(up.URL), Stream: "cam1", Remote: "edge",
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Rescan: time.Hour,
		Now: func() time.Time { return now }}
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	eventually(t, "the recording forwarded but one", func() error {
		if st := f.Stats(); st.Fragments != uint64(len(stored)-1) || st.Skipped != 1 || st.Backlog != 0 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	if st := f.Stats(); st.Failures != DefaultSkipAfter {
		t.Errorf("%d failed sessions, want %d (the refusals)", st.Failures, DefaultSkipAfter)
	}
	if n := rec.srv.Stats().Errors()[putmedia.MaxFragmentSizeReached]; n != DefaultSkipAfter {
		t.Errorf("the upstream refused %d times, want %d", n, DefaultSkipAfter)
	}
	total, last, err := f.Skips()
	if err != nil {
		t.Fatal(err)
	}
	want := Skip{Stream: "cam1", Number: stored[big].Number, ErrorID: putmedia.MaxFragmentSizeReached, ErrorCode: "MAX_FRAGMENT_SIZE_REACHED",
		Endpoint: up.URL, Remote: "edge", At: now}
	if total != 1 || len(last) != 1 {
		t.Fatalf("skips %d %+v", total, last)
	}
	got := last[0]
	got.Message = ""
	if got != want {
		t.Errorf("skip %+v, want %+v", got, want)
	}
	lastFr := stored[len(stored)-1]
	if _, n, ok, err := f.Cursor(); err != nil || !ok || n != lastFr.Number {
		t.Errorf("cursor %d %v %v, want %d", n, ok, err, lastFr.Number)
	}
	frames := 0
	for i, fr := range stored {
		if i != big {
			frames += fr.Frames
		}
	}
	// The refused cluster's frames before the fault went to the
	// upstream's recorder each time (as KVS's own, kinedge's server
	// records a refused cluster's frames up to the fault): count the
	// others' only.
	if n := len(rec.walls()); n < frames {
		t.Errorf("upstream recorded %d frames, want at least the %d of the fragments not refused", n, frames)
	}
}

// TestSkipBookkeeping: refusals in a row are counted per fragment; the
// SkipAfter-th skips it only when it is the first not persisted; the
// record keeps the total and the latest MaxSkips with the clock's time.
func TestSkipBookkeeping(t *testing.T) {
	b := openBox(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := &Forwarder{Index: b.idx, Space: b.sp, Opener: b.kr, Client: testClient("http://127.0.0.1:1"), Stream: "cam1", Remote: "up",
		SkipAfter: 3, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	ae := func(n uint64) *AckError {
		return &AckError{ID: putmedia.InvalidMKVData, Code: "INVALID_MKV_DATA", Number: n}
	}
	fr := func(n uint64) index.Fragment {
		return index.Fragment{Stream: "cam1", Number: n, ServerTime: time.Unix(1000+int64(n), 0)}
	}
	step := func(n uint64, first bool) bool {
		t.Helper()
		skipped, err := f.refused(ctx, fr(n), ae(n), first)
		if err != nil {
			t.Fatal(err)
		}
		return skipped
	}
	// Two refusals of 5, one of 6: the count starts again.
	for i, n := range []uint64{5, 5, 6, 5, 5} {
		if step(n, true) {
			t.Fatalf("refusal %d (fragment %d) skipped before three refusals in a row", i+1, n)
		}
	}
	if step(5, false) {
		t.Fatal("skipped a fragment after one not persisted")
	}
	if !step(5, true) {
		t.Fatal("not skipped at the fourth refusal in a row, first")
	}
	if _, n, ok, err := f.Cursor(); err != nil || !ok || n != 5 {
		t.Fatalf("cursor %d %v %v, want 5", n, ok, err)
	}
	for n := uint64(10); n < 10+MaxSkips+1; n++ {
		now = now.Add(time.Second)
		for i := range 3 {
			if got := step(n, true); got != (i == 2) {
				t.Fatalf("fragment %d refusal %d: skipped %v", n, i+1, got)
			}
		}
	}
	total, last, err := f.Skips()
	if err != nil {
		t.Fatal(err)
	}
	if total != MaxSkips+2 || len(last) != MaxSkips {
		t.Fatalf("total %d, %d kept; want %d, %d", total, len(last), MaxSkips+2, MaxSkips)
	}
	if last[0].Number != 11 || last[MaxSkips-1].Number != 10+MaxSkips || !last[MaxSkips-1].At.Equal(now) ||
		last[0].ErrorID != putmedia.InvalidMKVData || last[0].Remote != "up" {
		t.Errorf("kept %+v … %+v", last[0], last[MaxSkips-1])
	}
	if f.Stats().Skipped != MaxSkips+2 {
		t.Errorf("stats skipped %d", f.Stats().Skipped)
	}
}
