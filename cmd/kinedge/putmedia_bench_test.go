package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/testdata/testtool"
)

// BenchmarkPutMediaIngest: 1 and 16 producers send a 10 s clip each
// (ffmpeg's Matroska: 1280x720 H.264 at about 2 Mbit/s with AAC, 2.7 MB,
// clusters of at most a second or 32 KiB, ffmpeg's live default: 73 of
// them), as fast as the appliance takes it, to `kinedge serve` over
// loopback, each into a stream of its own, signed as the producer SDKs
// sign; an op is one round, ended when every cluster of every producer is
// acknowledged PERSISTED (stored, sealed, indexed). Reported: clusters
// acknowledged a second, MB/s of MKV, and the server's CPU seconds per MB
// (its /proc/<pid>/stat):
//
//	go test -run '^$' -bench PutMediaIngest -benchtime 3x ./cmd/kinedge/
func BenchmarkPutMediaIngest(b *testing.B) {
	ffmpeg := testtool.Need(b, "ffmpeg")
	clipPath := filepath.Join(b.TempDir(), "clip.mkv")
	if out, err := testtool.Command(b, 2*time.Minute, ffmpeg, "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "10", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "2M", "-maxrate", "2M", "-bufsize", "2M", "-g", "25", "-keyint_min", "25",
		"-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "matroska", "-cluster_time_limit", "1000", "-live", "1", "-y", clipPath).CombinedOutput(); err != nil {
		b.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	clip, err := os.ReadFile(clipPath)
	if err != nil {
		b.Fatal(err)
	}
	clusters := 0
	for r := mkv.NewReader(bytes.NewReader(clip), mkv.ReaderOptions{}); ; {
		ev, err := r.Next()
		if err != nil {
			break
		}
		if _, ok := ev.(mkv.ClusterStart); ok {
			clusters++
		}
	}
	s := startServer(b, b.TempDir(), freeUDPPair(b))
	for _, producers := range []int{1, 16} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			round := 0
			cpu0, err := procCPU(s.cmd.Process.Pid)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				round++
				var wg sync.WaitGroup
				errs := make(chan error, producers)
				for p := range producers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						stream := fmt.Sprintf("pmb%d-%d-%d", producers, round, p)
						n, err := sendPutMedia(b.Context(), s.httpAddr, stream, clip)
						if err == nil && n != clusters {
							err = fmt.Errorf("%s: %d of %d clusters PERSISTED", stream, n, clusters)
						}
						errs <- err
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			cpu1, err := procCPU(s.cmd.Process.Pid)
			if err != nil {
				b.Fatal(err)
			}
			secs := b.Elapsed().Seconds()
			mb := float64(len(clip)*producers*b.N) / 1e6
			b.ReportMetric(float64(clusters*producers*b.N)/secs, "clusters/s")
			b.ReportMetric(mb/secs, "MB/s")
			b.ReportMetric((cpu1-cpu0)/mb, "cpu-s/MB")
		})
	}
}

// sendPutMedia streams body to /putMedia for stream, signed as a producer
// SDK signs (the empty payload's hash), and returns how many clusters
// were acknowledged PERSISTED, or the first ERROR ack.
func sendPutMedia(ctx context.Context, addr, stream string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/putMedia", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.ContentLength = -1 // chunked, as producers stream
	req.Header.Set("x-amzn-stream-name", stream)
	req.Header.Set("x-amzn-fragment-timecode-type", "RELATIVE")
	req.Header.Set("x-amzn-producer-start-timestamp", strconv.FormatFloat(float64(time.Now().UnixMilli())/1000, 'f', 3, 64))
	creds := aws.Credentials{AccessKeyID: "admin", SecretAccessKey: "adminsecret"}
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, emptySHA256, "kinesisvideo", "us-east-1", time.Now()); err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: HTTP %d", stream, resp.StatusCode)
	}
	persisted := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var a struct{ EventType, ErrorCode string }
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			return persisted, fmt.Errorf("%s: ack %q: %w", stream, sc.Text(), err)
		}
		switch a.EventType {
		case "PERSISTED":
			persisted++
		case "ERROR":
			return persisted, fmt.Errorf("%s: ERROR %s", stream, a.ErrorCode)
		}
	}
	return persisted, sc.Err()
}
