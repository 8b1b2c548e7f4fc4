package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kinedge/kinedge/ingest/camsim"
	"github.com/kinedge/kinedge/testdata"
)

const camsimUsage = `usage: kinedge camsim [flags]

Publish N simulated cameras to an RTSP server (ANNOUNCE/RECORD), looping a
clip in real time with continuous timestamps. With no flags it publishes the
embedded h264_aac.ts clip as rtsp://127.0.0.1:8554/cam1, using
KINEDGE_PUBLISH_USER / KINEDGE_PUBLISH_PASS as credentials when the URL has
none, until interrupted. A summary of what was sent is printed at the end.

flags:
`

// runCamsim is the "camsim" subcommand: simulated cameras (ingest/camsim).
func runCamsim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("camsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, camsimUsage)
		fs.PrintDefaults()
	}
	rawURL := fs.String("url", "rtsp://127.0.0.1:8554/", "base RTSP URL; camera i publishes to <url><prefix><i> (credentials as rtsp://user:pass@host:port/)")
	cameras := fs.Int("cameras", 1, "number of cameras")
	prefix := fs.String("prefix", camsim.DefaultPrefix, "stream name prefix")
	transport := fs.String("transport", camsim.TransportTCP, "RTP transport: tcp or udp")
	clip := fs.String("clip", "", "MPEG-TS clip to loop (H.264/H.265 + AAC/Opus); empty = embedded "+testdata.NameH264AAC+
		"; the names "+strings.Join(testdata.Names(), ", ")+" pick an embedded clip when no such file exists")
	duration := fs.Duration("duration", 0, "media time each camera publishes (0 = until interrupted)")
	stagger := fs.Duration("stagger", 0, "delay between camera starts (0 = spread over one GOP, negative = all at once)")
	pacing := fs.String("pacing", "shared", "scheduler: shared (one goroutine for all cameras) or per-camera")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("camsim: unexpected arguments %q", fs.Args())
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("camsim: --log-level: %w", err)
	}
	cfg := camsim.Config{
		URL:       withPublishCredentials(*rawURL),
		Cameras:   *cameras,
		Prefix:    *prefix,
		Transport: *transport,
		Duration:  *duration,
		Stagger:   *stagger,
		Logger:    slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	switch *pacing {
	case "shared":
		cfg.Pacing = camsim.PacingShared
	case "per-camera":
		cfg.Pacing = camsim.PacingPerCamera
	default:
		return fmt.Errorf("camsim: --pacing %q: want shared or per-camera", *pacing)
	}
	clipName := *clip
	switch {
	case clipName == "":
		clipName = testdata.NameH264AAC
		cfg.ClipData, _ = testdata.Clip(clipName)
	case fileMissing(clipName):
		if b, ok := testdata.Clip(clipName); ok {
			cfg.ClipData = b
			break
		}
		cfg.Clip = clipName
	default:
		cfg.Clip = clipName
	}

	st, err := camsim.Run(ctx, cfg)
	if err != nil && len(st.Cameras) == 0 {
		return err
	}
	printCamsimSummary(stdout, clipName, cfg, st)
	return err
}

// withPublishCredentials adds KINEDGE_PUBLISH_USER / KINEDGE_PUBLISH_PASS to
// a URL without credentials.
func withPublishCredentials(raw string) string {
	user, pass := os.Getenv("KINEDGE_PUBLISH_USER"), os.Getenv("KINEDGE_PUBLISH_PASS")
	if user == "" {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil {
		return raw
	}
	u.User = url.UserPassword(user, pass)
	return u.String()
}

func fileMissing(path string) bool {
	_, err := os.Stat(path)
	return errors.Is(err, os.ErrNotExist)
}

// printCamsimSummary prints what each camera sent and the totals.
func printCamsimSummary(w io.Writer, clipName string, cfg camsim.Config, st camsim.Stats) {
	secs := st.Elapsed.Seconds()
	if secs <= 0 {
		secs = 1
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "camera\tvideo\taudio\tkeyframes\tpackets\tbytes\tMbit/s\tdropped\treconnects\tmedia time\t")
	for _, c := range st.Cameras {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%.2f\t%d\t%d\t%v\t\n",
			c.Path, c.VideoFrames, c.AudioFrames, c.Keyframes, c.Packets, c.Bytes,
			float64(c.Bytes)*8/secs/1e6, c.Dropped, c.Reconnects, c.MediaTime.Round(time.Millisecond))
	}
	t := st.Total()
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%d\t%d\t%.2f\t%d\t%d\t\t\n",
		t.VideoFrames, t.AudioFrames, t.Keyframes, t.Packets, t.Bytes,
		float64(t.Bytes)*8/secs/1e6, t.Dropped, t.Reconnects)
	tw.Flush()
	fmt.Fprintf(w, "%d cameras, clip %s, %s, pacing %s, %v elapsed: %d frames sent, at most %v late\n",
		len(st.Cameras), clipName, cfg.Transport, st.Pacing, st.Elapsed.Round(time.Millisecond), t.Frames,
		t.MaxLate.Round(100*time.Microsecond))
	for _, c := range st.Cameras {
		if c.Connects == 0 && c.LastError != "" {
			fmt.Fprintf(w, "%s never published: %s\n", c.Path, c.LastError)
		}
	}
}
