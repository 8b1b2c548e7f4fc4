package api

import (
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/fragment"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/ingest/camsim"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// recordedIndex records the H.264+AAC test clip into an in-memory index
// and returns it, the keyring, the server time of the recording's start and
// the number of fragments.
func recordedIndex(t *testing.T) (*index.Index, *seal.Keyring, time.Time, int) {
	t.Helper()
	idx, err := index.Open(index.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	if _, err := idx.CreateStream(t.Context(), index.Stream{Name: "cam1"}); err != nil {
		t.Fatal(err)
	}
	clip, err := camsim.ReadClip(filepath.Join("..", "..", "..", "testdata", "h264_aac.ts"))
	if err != nil {
		t.Fatal(err)
	}
	kr := &seal.Keyring{Store: &seal.MemKeyStore{}, Master: seal.NewMasterKey()}
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	now := base
	var stored int
	r := &fragment.Recorder{
		Stream: "cam1", Tracks: clip.Tracks, Sink: idx, Sealer: kr,
		Now: func() time.Time { return now }, OnStored: func(index.Fragment) { stored++ },
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range clip.Frames {
		now = base.Add(f.DTS)
		c := *f
		r.WriteFrame(&c)
	}
	r.Close()
	if stored < 2 {
		t.Fatalf("stored %d fragments", stored)
	}
	return idx, kr, base, stored
}

// topBoxes returns the types of the top-level ISO BMFF boxes of b
// (ISO/IEC 14496-12 section 4.2).
func topBoxes(t *testing.T, b []byte) []string {
	t.Helper()
	var types []string
	for len(b) > 0 {
		if len(b) < 8 {
			t.Fatalf("%d trailing bytes", len(b))
		}
		size := int(binary.BigEndian.Uint32(b))
		if size < 8 || size > len(b) {
			t.Fatalf("box %q of size %d with %d bytes left", b[4:8], size, len(b))
		}
		types = append(types, string(b[4:8]))
		b = b[size:]
	}
	return types
}

func TestMediaMP4(t *testing.T) {
	idx, kr, base, n := recordedIndex(t)
	rfc := func(tm time.Time) string { return tm.UTC().Format(time.RFC3339) }
	rangeQ := "start=" + rfc(base) + "&end=" + rfc(base.Add(time.Minute))
	otherKeys := &seal.Keyring{Store: &seal.MemKeyStore{}, Master: seal.NewMasterKey()}
	cases := []struct {
		name   string
		opener *seal.Keyring
		query  string
		status int
		ctype  string
		boxes  int // top-level boxes expected: ftyp, moov, then moof+mdat per fragment
	}{
		{"whole recording", kr, rangeQ + "&format=mp4", 200, "video/mp4", 2 + 2*n},
		{"mkv still", kr, rangeQ + "&format=mkv", 200, "video/x-matroska", 0},
		{"empty range", kr, "start=" + rfc(base.Add(-time.Hour)) + "&end=" + rfc(base.Add(-50*time.Minute)) + "&format=mp4", 404, "application/json", 0},
		{"undecryptable", otherKeys, rangeQ + "&format=mp4", 500, "application/json", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mux := http.NewServeMux()
			(&Handler{Index: idx, Opener: c.opener}).Register(mux)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/streams/cam1/media?"+c.query, nil))
			if rec.Code != c.status || rec.Header().Get("Content-Type") != c.ctype {
				t.Fatalf("%d %q, want %d %q: %.200s", rec.Code, rec.Header().Get("Content-Type"), c.status, c.ctype, rec.Body)
			}
			if c.boxes == 0 {
				return
			}
			if cd := rec.Header().Get("Content-Disposition"); !strings.HasSuffix(cd, `.mp4"`) {
				t.Fatalf("Content-Disposition %q", cd)
			}
			boxes := topBoxes(t, rec.Body.Bytes())
			if len(boxes) != c.boxes || boxes[0] != "ftyp" || boxes[1] != "moov" {
				t.Fatalf("boxes %v, want ftyp moov and %d moof+mdat", boxes, n)
			}
			for i := 2; i < len(boxes); i += 2 {
				if boxes[i] != "moof" || boxes[i+1] != "mdat" {
					t.Fatalf("boxes %v", boxes)
				}
			}
		})
	}
}

// TestMediaMP4FFprobe plays a format=mp4 answer over loopback HTTP with
// ffprobe, as a player streaming it would: every stored frame is there.
func TestMediaMP4FFprobe(t *testing.T) {
	ffprobe := testtool.Need(t, "ffprobe")
	idx, kr, base, _ := recordedIndex(t)
	var frames int
	err := idx.Iterate(t.Context(), "cam1", index.Query{Start: base.Add(-time.Minute), End: base.Add(time.Minute)}, func(f index.Fragment) error {
		frames += f.Frames
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	(&Handler{Index: idx, Opener: kr}).Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	url := srv.URL + "/v1/streams/cam1/media?format=mp4&start=" + base.UTC().Format(time.RFC3339) + "&end=" + base.Add(time.Minute).UTC().Format(time.RFC3339)
	out, err := testtool.Command(t, time.Minute, ffprobe, "-v", "error", "-count_packets", "-show_entries", "stream=codec_name,nb_read_packets", "-of", "csv=p=0", url).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, out)
	}
	got := 0
	var codecs []string
	for _, line := range strings.Fields(string(out)) {
		name, n, _ := strings.Cut(line, ",")
		k, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("ffprobe line %q", line)
		}
		got += k
		codecs = append(codecs, name)
	}
	if frames == 0 || got != frames || strings.Join(codecs, " ") != "h264 aac" {
		t.Fatalf("ffprobe saw %v with %d packets, %d frames stored", codecs, got, frames)
	}
}
