package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kinedge/kinedge/dataplane/video/replay"
	"github.com/kinedge/kinedge/firehose/archive"
	"github.com/kinedge/kinedge/fragment/mkv"
	"github.com/kinedge/kinedge/fragment/seal"
)

const archiveUsage = `usage: kinedge archive ls|verify|get [flags]

  ls      list the archive's objects (of one stream with --stream)
  verify  check every manifest entry: the object is there and its SHA-256 is right
  get KEY write one object to stdout (or --out FILE)
  replay  --stream NAME --start T --end T --out FILE: replay a time range
          from the bucket alone (a sealed archive needs the master key:
          KINEDGE_MASTER_KEY or <data_dir>/master.key)

The bucket, prefix, appliance id and S3 server come from the appliance's
configuration (--config FILE, KINEDGE_* variables).
`

// runArchive is "kinedge archive": operator access to the video archive.
func runArchive(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, archiveUsage)
		return errors.New("archive: no subcommand")
	}
	sub := args[0]
	fs := flag.NewFlagSet("archive "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "the appliance's YAML config `file`")
	stream := fs.String("stream", "", "only this video `stream`")
	out := fs.String("out", "", "get, replay: write to `file` instead of stdout (replay: where the codecs change the file ends and the rest goes to FILE.2.mkv and so on)")
	startS := fs.String("start", "", "replay: range start: RFC 3339, now, or -DURATION")
	endS := fs.String("end", "now", "replay: range end: RFC 3339, now, or -DURATION")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	var cargs []string
	if *configFile != "" {
		cargs = []string{"--config", *configFile}
	}
	cfg, _, err := loadConfig(cargs, stderr)
	if err != nil {
		return err
	}
	if cfg.Archive.Bucket == "" {
		return errors.New("archive: no archive.bucket (KINEDGE_ARCHIVE_BUCKET) configured")
	}
	b, err := archive.NewS3Bucket(cfg.s3(), cfg.Archive.Bucket)
	if err != nil {
		return err
	}
	root := archive.Root(cfg.Archive.Prefix, cfg.ApplianceID, *stream)
	switch sub {
	case "ls":
		keys, err := b.List(ctx, root)
		if err != nil {
			return err
		}
		for _, k := range keys {
			fmt.Fprintln(stdout, k)
		}
		return nil
	case "verify":
		rep, err := archive.Verify(ctx, b, root)
		if err != nil {
			return err
		}
		for _, m := range rep.BadManifests {
			fmt.Fprintf(stdout, "BAD MANIFEST %s\n", m)
		}
		for _, p := range rep.Problems {
			fmt.Fprintf(stdout, "%s %s (fragment %s, %s): %s\n", map[string]string{"missing": "MISSING", "corrupt": "CORRUPT"}[p.What], p.Key, p.Number, p.Manifest, p.Detail)
		}
		for _, k := range rep.Unlisted {
			fmt.Fprintf(stdout, "unlisted %s (in no manifest yet)\n", k)
		}
		fmt.Fprintf(stdout, "%d manifests, %d fragments, %d bytes verified, %d problems, s3://%s/%s\n",
			rep.Manifests, rep.Fragments, rep.Bytes, len(rep.Problems)+len(rep.BadManifests), cfg.Archive.Bucket, root)
		if !rep.OK() {
			return fmt.Errorf("archive verify: %d problems", len(rep.Problems)+len(rep.BadManifests))
		}
		return nil
	case "replay":
		if *stream == "" || *startS == "" {
			return errors.New("archive replay: --stream and --start are required")
		}
		start, end, err := parseRange(*startS, *endS, time.Now())
		if err != nil {
			return err
		}
		// A plaintext archive needs no key; a sealed one fails to open
		// without it, and the error says why.
		masters, keyErr := archiveMasterKey(&cfg)
		r := &archive.Remote{Bucket: b, Prefix: cfg.Archive.Prefix, ApplianceID: cfg.ApplianceID, Master: masters.Active, Retired: masters.Others()}
		// One file per run of the same codecs, as kinedge replay writes
		// them: FILE, FILE.2.mkv, …
		name := *out
		for part := 1; ; part++ {
			st, next, err := archiveReplayFile(ctx, r, *stream, start, end, name, stdout)
			if err != nil && keyErr != nil {
				return fmt.Errorf("%w (%v)", err, keyErr)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "%d fragments, %d bytes from s3://%s/%s\n", st.Fragments, st.Bytes, cfg.Archive.Bucket, root)
			if next == nil {
				return nil
			}
			at := next.ServerTime.Format(time.RFC3339Nano)
			if *out == "" || *out == "-" {
				fmt.Fprintf(stderr, "archive replay: the codecs change to %s at %s: the output ends there; replay the rest with --start %s\n",
					strings.Join(next.Codecs, ","), at, at)
				return nil
			}
			if part == maxReplayParts {
				return fmt.Errorf("archive replay: the codecs change more than %d times in the range; the rest begins at %s", maxReplayParts, at)
			}
			ext := filepath.Ext(*out)
			name = fmt.Sprintf("%s.%d%s", strings.TrimSuffix(*out, ext), part+1, ext)
			fmt.Fprintf(stderr, "the codecs change to %s at %s: the rest goes to %s\n", strings.Join(next.Codecs, ","), at, name)
			start = next.ServerTime
		}
	case "get":
		if fs.NArg() != 1 {
			return errors.New("archive get: one object key expected")
		}
		body, err := b.Get(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		if *out != "" {
			return os.WriteFile(*out, body, 0o600)
		}
		_, err = stdout.Write(body)
		return err
	}
	fmt.Fprint(stderr, archiveUsage)
	return fmt.Errorf("archive: unknown subcommand %q", sub)
}

// archiveMasterKey returns the master keys of the configuration or of an
// existing master key file (master_key_file or <data_dir>/master.key),
// with the retired ones next to it; it never creates one.
func archiveMasterKey(cfg *Config) (seal.MasterKeys, error) {
	path := masterKeyPath(cfg)
	if cfg.MasterKey == "" {
		if _, err := os.Stat(path); err != nil {
			return seal.MasterKeys{}, fmt.Errorf("archive: no master key: set KINEDGE_MASTER_KEY or provide %s: %w", path, err)
		}
	}
	m, _, err := loadMasterKeys(cfg, slog.New(slog.DiscardHandler))
	return m, err
}

// archiveReplayFile writes one Matroska file of the archived range to out
// (empty or "-": stdout), up to where the codecs change (next, nil when
// the range is whole). A file gets its SeekHead pointed at the Cues.
func archiveReplayFile(ctx context.Context, r *archive.Remote, stream string, start, end time.Time, out string, stdout io.Writer) (replay.Stats, *replay.Fragment, error) {
	if out == "" || out == "-" {
		return r.WriteMKV(ctx, stdout, stream, start, end)
	}
	f, err := os.OpenFile(out, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return replay.Stats{}, nil, err
	}
	defer f.Close()
	st, next, err := r.WriteMKV(ctx, f, stream, start, end)
	if err != nil {
		return st, next, err
	}
	if err := mkv.FinishFile(f, st.Bytes); err != nil && !errors.Is(err, mkv.ErrNotFinishable) {
		return st, next, fmt.Errorf("archive replay: %w", err)
	}
	return st, next, f.Close()
}
