// Command build makes kinedge's board binaries and .deb packages:
//
//	go run ./firmware/build [-version v] [-out dist] [-targets linux/arm64,linux/arm/7,linux/arm/6,linux/amd64]
//
// Run from the repository's root. For each target it cross-builds a static
// binary (CGO_ENABLED=0, -trimpath, the version stamped into main.version
// with -ldflags -X) as <out>/kinedge_<os>_<arch>[v<arm>] and packages it
// with nfpm (as a library, no external tool) as
// <out>/kinedge_<debversion>_<debarch>.deb. The version defaults to
// `git describe --tags --always --dirty`, or "dev" outside a git checkout.
//
// The package installs /usr/bin/kinedge, /etc/kinedge/kinedge.yaml (a
// conffile, root:kinedge 0640), /lib/systemd/system/kinedge.service and
// /var/lib/kinedge (0700, owned by the kinedge system user the postinst
// creates); the postinst enables and starts the service where systemd
// runs, the prerm stops and disables it on removal, and a purge keeps the
// data and the user (see firmware/debian/postrm). targets.go says why
// linux/arm/6 is an armhf package.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	cancel()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("version", "", "version to stamp (default: git describe --tags --always --dirty, else \"dev\")")
	out := fs.String("out", "dist", "output directory")
	targets := fs.String("targets", "linux/arm64,linux/arm/7,linux/arm/6,linux/amd64", "comma-separated targets")
	repo := fs.String("repo", ".", "the repository's root")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("build: unexpected arguments %q", fs.Args())
	}
	ts, err := parseTargets(*targets)
	if err != nil {
		return err
	}
	if *version == "" {
		*version = gitVersion(ctx, *repo)
	}
	mtime := gitCommitTime(ctx, *repo)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	for _, t := range ts {
		bin, err := buildBinary(ctx, t, *version, *repo, *out, true)
		if err != nil {
			return err
		}
		debPath := filepath.Join(*out, debFileName(t, *version))
		if err := writeDeb(packageInfo(t, *version, bin, *repo, mtime), debPath); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-12s %s %s\n", t, bin, debPath)
	}
	return nil
}

// buildBinary cross-builds ./cmd/kinedge for t into out and returns the
// binary's path. A release is built with -trimpath (no build machine's
// paths in the binary); the tests build without it, sharing the build
// cache of CI's cross-build step.
func buildBinary(ctx context.Context, t target, version, repo, out string, trimpath bool) (string, error) {
	name := "kinedge_" + t.GOOS + "_" + t.GOARCH
	if t.GOARM != "" {
		name += "v" + t.GOARM
	}
	bin, err := filepath.Abs(filepath.Join(out, name))
	if err != nil {
		return "", fmt.Errorf("build: %w", err)
	}
	args := []string{"build", "-ldflags", "-s -w -X main.version=" + version, "-o", bin}
	if trimpath {
		args = append(args, "-trimpath")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/kinedge")...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.GOOS, "GOARCH="+t.GOARCH, "GOARM="+t.GOARM)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build: go build for %s: %w\n%s", t, err, b)
	}
	return bin, nil
}

// gitVersion is `git describe --tags --always --dirty`, or "dev".
func gitVersion(ctx context.Context, repo string) string {
	cmd := exec.CommandContext(ctx, "git", "describe", "--tags", "--always", "--dirty")
	cmd.Dir = repo
	b, err := cmd.Output()
	if v := strings.TrimSpace(string(b)); err == nil && v != "" {
		return v
	}
	return "dev"
}

// gitCommitTime is the time of HEAD's commit, stamped on the packages'
// files so that a build of one commit gives the same package; the current
// time outside a git checkout.
func gitCommitTime(ctx context.Context, repo string) time.Time {
	cmd := exec.CommandContext(ctx, "git", "log", "-1", "--format=%ct")
	cmd.Dir = repo
	b, err := cmd.Output()
	if err == nil {
		if s, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil {
			return time.Unix(s, 0).UTC()
		}
	}
	return time.Now().UTC().Truncate(time.Second)
}
