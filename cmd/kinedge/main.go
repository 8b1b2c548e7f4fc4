// Command kinedge is the edge video ingestion appliance: Kinesis Video
// Streams, Kinesis Data Streams and Firehose on one small board, with an
// S3 video archive.
//
//	kinedge serve       run the appliance
//	kinedge camsim      simulated RTSP cameras
//	kinedge fragments   list a stream's fragments in a time range
//	kinedge replay      save a time range of a stream as MKV or MP4
//	kinedge archive     ls, verify, get, replay the S3 video archive
//	kinedge doctor      check config, disk, clock, TLS, cameras, S3; say what to fix
//	kinedge bench-ingest  measure the ingest path with simulated cameras
//	kinedge update      install a signed update bundle (keygen, bundle, sign)
//	kinedge keys        list data keys, rotate and retire master keys (offline)
//	kinedge version     print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set by the build (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "kinedge:", err)
		os.Exit(1)
	}
}

const usage = `usage: kinedge <command> [flags]

commands:
  serve       run the appliance (no configuration needed)
  camsim      publish simulated cameras over RTSP
  fragments   list the fragments of a stream in a time range
  replay      save a time range of a stream (at most 168 h) as a playable MKV or MP4
  archive     ls|verify|get|replay the S3 video archive (verify: every manifest entry present, its SHA-256 right)
  doctor      check config, data dir, disk, clock, the running appliance, cameras, S3: OK/WARN/FAIL with what to fix
  bench-ingest  measure ingest: serve + N simulated cameras, prints CPU, RSS, frames lost
  users       add|list|remove|rotate users and their permissions (admin API of the running appliance)
  update      install a signed update bundle, rolling back if unhealthy (keygen|bundle|sign for the operator)
  keys        list|rotate-master|retire-master: data and master keys (offline: stop serve first)
  version     print the version

Run "kinedge <command> -h" for the flags of a command.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, stdout, stderr)
	case "camsim":
		return runCamsim(ctx, rest, stdout, stderr)
	case "fragments":
		return runFragments(ctx, rest, stdout, stderr)
	case "replay":
		return runReplay(ctx, rest, stdout, stderr)
	case "archive":
		return runArchive(ctx, rest, stdout, stderr)
	case "doctor":
		return runDoctor(ctx, rest, stdout, stderr)
	case "bench-ingest":
		return runBenchIngest(ctx, rest, stdout, stderr)
	case "users":
		return runUsers(ctx, rest, stdout, stderr)
	case "update":
		return runUpdate(ctx, rest, stdout, stderr)
	case "keys":
		return runKeys(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "kinedge", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
