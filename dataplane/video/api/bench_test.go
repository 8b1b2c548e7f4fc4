package api

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kinedge/kinedge/dataplane/video/kvs"
	"github.com/kinedge/kinedge/fragment/seal"
	"github.com/kinedge/kinedge/index"
	"github.com/kinedge/kinedge/index/indextest"
)

// The synthetic store of BenchmarkMillionFragments (index/indextest):
// one camera's fragments of 2 s, a gap of a minute every 30 minutes, kept
// between runs in -bench.store and reused when complete.
var (
	benchFragments = flag.Int("bench.fragments", 1_000_000, "fragments in the synthetic store of BenchmarkMillionFragments")
	benchStore     = flag.String("bench.store", "", "`dir` of the synthetic store, reused when complete (default: kinedge-bench-<fragments> in the temp dir)")
)

const benchStream = indextest.Stream

func benchTime(start time.Time, i int) time.Time { return indextest.Time(start, i) }

// openBenchStore opens the synthetic store, building it first when it is
// not complete.
func openBenchStore(b *testing.B) (*index.Index, *seal.Keyring, time.Time) {
	b.Helper()
	dir := *benchStore
	if dir == "" {
		dir = indextest.DefaultDir(*benchFragments)
	}
	return indextest.Open(b, *benchFragments, dir)
}

// BenchmarkMillionFragments measures, on a store of a million fragments
// (-bench.fragments) served by the HTTP API over a loopback connection,
// the time to the first byte of a replay of one minute from a random time
// (ttfb-mkv, ttfb-mp4: 200 random starts a round, p50 and p99 reported,
// the distribution logged) and the timeline of the last week at a minute
// a step (timeline-week-1m) and the API requests of opening the web page
// on a camera (page-open: 50 at random hours a round, p50 and p99), and
// an ON_DEMAND HLS session of an hour a week back up to the first byte of
// its media playlist (hls-week-back: 50 a round, p50 and p99):
//
//	go test -run '^$' -bench MillionFragments -benchtime 3x -timeout 30m ./dataplane/video/api/
func BenchmarkMillionFragments(b *testing.B) {
	idx, kr, start := openBenchStore(b)
	n := *benchFragments
	end := benchTime(start, n)
	mux := http.NewServeMux()
	(&Handler{Index: idx, Opener: kr}).Register(mux)
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	client := srv.Client()
	get := func(path string, q url.Values) (*http.Response, time.Duration, error) {
		began := time.Now()
		resp, err := client.Get(srv.URL + path + "?" + q.Encode())
		if err != nil {
			return nil, 0, err
		}
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return nil, 0, fmt.Errorf("%s: %s %s", path, resp.Status, body)
		}
		var one [1]byte
		if _, err := io.ReadFull(resp.Body, one[:]); err != nil {
			resp.Body.Close()
			return nil, 0, err
		}
		return resp, time.Since(began), nil
	}
	for _, format := range []string{"mkv", "mp4"} {
		b.Run("ttfb-"+format, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			const starts = 200
			var all []time.Duration
			for b.Loop() {
				for range starts {
					at := start.Add(time.Duration(rng.Int64N(int64(end.Sub(start) - time.Minute))))
					resp, ttfb, err := get("/v1/streams/"+benchStream+"/media", url.Values{
						"start": {at.UTC().Format(time.RFC3339Nano)}, "end": {at.Add(time.Minute).UTC().Format(time.RFC3339Nano)}, "format": {format}})
					if err != nil {
						b.Fatal(err)
					}
					// The whole minute is read: the next request starts on
					// an idle server.
					if _, err := io.Copy(io.Discard, resp.Body); err != nil {
						b.Fatal(err)
					}
					resp.Body.Close()
					all = append(all, ttfb)
				}
			}
			slices.Sort(all)
			p50, p99 := all[len(all)/2], all[len(all)*99/100]
			b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(0, "ns/op")
			b.Logf("ttfb %s over %d random starts: min %v p50 %v p90 %v p99 %v max %v", format, len(all),
				all[0], p50, all[len(all)*9/10], p99, all[len(all)-1])
		})
	}
	// The API part of opening the web page on a camera: the grid's
	// stream list, then the camera's hour timeline at the page's step
	// for a 1,250-pixel bar (3 s), each read to its end (the browser's
	// rendering and the thumbnails' decoding are not in it).
	b.Run("page-open", func(b *testing.B) {
		read := func(path string, q url.Values) {
			resp, _, err := get(path, q)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
		rng := rand.New(rand.NewPCG(3, 4))
		var all []time.Duration
		for b.Loop() {
			for range 50 {
				at := start.Add(time.Hour + time.Duration(rng.Int64N(int64(end.Sub(start)-time.Hour))))
				began := time.Now()
				read("/v1/streams", nil)
				read("/v1/streams/"+benchStream+"/timeline", url.Values{
					"start": {at.Add(-time.Hour).UTC().Format(time.RFC3339)}, "end": {at.UTC().Format(time.RFC3339)}, "step": {"3s"}})
				all = append(all, time.Since(began))
			}
		}
		slices.Sort(all)
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(0, "ns/op")
	})
	// An hour of HLS from a week back (KVS GetHLSStreamingSessionURL,
	// ON_DEMAND, the session's own GETs): from the session request to the
	// first byte of its media playlist (the master playlist read between),
	// as a player opening the URL waits for it. 50 random hours a round.
	b.Run("hls-week-back", func(b *testing.B) {
		kmux := http.NewServeMux()
		kh := &kvs.Handler{Index: idx, Opener: kr}
		kh.Register(kmux, nil)
		kh.RegisterHLS(kmux)
		ksrv := httptest.NewServer(kmux)
		defer ksrv.Close()
		first := func(u string) ([]byte, error) {
			resp, err := ksrv.Client().Get(u)
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("%s: %s %s", u, resp.Status, body)
			}
			return body, err
		}
		rng := rand.New(rand.NewPCG(5, 6))
		var all []time.Duration
		for b.Loop() {
			for range 50 {
				at := end.Add(-7*24*time.Hour + time.Duration(rng.Int64N(int64(time.Hour))))
				body := fmt.Sprintf(`{"StreamName":%q,"PlaybackMode":"ON_DEMAND","HLSFragmentSelector":{"FragmentSelectorType":"SERVER_TIMESTAMP","TimestampRange":{"StartTimestamp":%d,"EndTimestamp":%d}}}`,
					benchStream, at.Unix(), at.Add(time.Hour).Unix())
				began := time.Now()
				resp, err := ksrv.Client().Post(ksrv.URL+kvs.PathGetHLSStreamingSessionURL, "application/json", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				var out struct{ HLSStreamingSessionURL string }
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("session: HTTP %d %v", resp.StatusCode, err)
				}
				master, err := first(out.HLSStreamingSessionURL)
				if err != nil {
					b.Fatal(err)
				}
				lines := strings.Split(strings.TrimSpace(string(master)), "\n")
				base, _ := url.Parse(out.HLSStreamingSessionURL)
				ref, err := base.Parse(lines[len(lines)-1])
				if err != nil {
					b.Fatal(err)
				}
				mresp, err := ksrv.Client().Get(ref.String())
				if err != nil {
					b.Fatal(err)
				}
				var one [1]byte
				_, err = io.ReadFull(mresp.Body, one[:])
				ttfb := time.Since(began)
				rest, _ := io.ReadAll(mresp.Body)
				mresp.Body.Close()
				if err != nil || mresp.StatusCode != http.StatusOK || !strings.Contains(string(rest), "#EXT-X-ENDLIST") {
					b.Fatalf("media playlist: HTTP %d %v %.200s", mresp.StatusCode, err, rest)
				}
				all = append(all, ttfb)
			}
		}
		slices.Sort(all)
		b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("timeline-week-1m", func(b *testing.B) {
		q := url.Values{"start": {end.Add(-7 * 24 * time.Hour).UTC().Format(time.RFC3339)}, "end": {end.UTC().Format(time.RFC3339)}, "step": {"1m"}}
		var size int64
		for b.Loop() {
			resp, _, err := get("/v1/streams/"+benchStream+"/timeline", q)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil {
				b.Fatal(err)
			}
			size = n + 1
		}
		if size < 100 {
			b.Fatal(errors.New("timeline: a short answer"))
		}
		b.ReportMetric(float64(size), "bytes")
	})
}
