package main

import (
	"fmt"
	"regexp"
	"strings"
)

// A target is one board architecture: how Go builds for it and how Debian
// names it.
type target struct {
	GOOS, GOARCH, GOARM string
	// DebArch is the Debian architecture of the package.
	DebArch string
	// FileArch is the architecture part of the .deb's file name: DebArch,
	// except for the ARMv6 build, which shares armhf with the ARMv7 one.
	FileArch string
}

// String is the target as -targets spells it: linux/arm64, linux/arm/7.
func (t target) String() string {
	if t.GOARM != "" {
		return t.GOOS + "/" + t.GOARCH + "/" + t.GOARM
	}
	return t.GOOS + "/" + t.GOARCH
}

// knownTargets are the boards kinedge is built for.
//
// linux/arm/6 is packaged as armhf, not armel: Raspberry Pi OS 32-bit
// (Pi Zero, Pi 1) calls itself armhf while its armhf is ARMv6 with VFP,
// and dpkg refuses an armel package there; Debian's armel is ARMv5
// without an FPU, where a GOARM=6 binary (VFP instructions) would not run
// anyway. A Go binary is static, so the hard-float ABI of the system's
// libraries does not matter. The ARMv6 package is kinedge_<v>_armhf-armv6.deb;
// kinedge_<v>_armhf.deb (GOARM=7) is for ARMv7+ boards (Pi 2 and later,
// Debian armhf).
var knownTargets = []target{
	{GOOS: "linux", GOARCH: "arm64", DebArch: "arm64", FileArch: "arm64"},
	{GOOS: "linux", GOARCH: "arm", GOARM: "7", DebArch: "armhf", FileArch: "armhf"},
	{GOOS: "linux", GOARCH: "arm", GOARM: "6", DebArch: "armhf", FileArch: "armhf-armv6"},
	{GOOS: "linux", GOARCH: "amd64", DebArch: "amd64", FileArch: "amd64"},
}

// parseTargets reads -targets: a comma-separated list of knownTargets.
func parseTargets(s string) ([]target, error) {
	var out []target
	var bad []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		found := false
		for _, t := range knownTargets {
			if t.String() == name {
				out = append(out, t)
				found = true
				break
			}
		}
		if !found {
			bad = append(bad, name)
		}
	}
	if len(bad) > 0 {
		known := make([]string, len(knownTargets))
		for i, t := range knownTargets {
			known[i] = t.String()
		}
		return nil, fmt.Errorf("build: unknown targets %q (known: %s)", bad, strings.Join(known, ","))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("build: no targets")
	}
	return out, nil
}

var (
	debVersionBad     = regexp.MustCompile(`[^A-Za-z0-9.+~]+`)
	debVersionRelease = regexp.MustCompile(`^[0-9]+\.[0-9]+`)
)

// debVersion turns a version as git describe prints it into a Debian
// package version (deb-version(7)): the leading "v" goes, the first "-"
// (git describe's commit count, or a pre-release) becomes "+" so that
// v1.2.0-3-gabcdef sorts after v1.2.0, and any other character outside
// [A-Za-z0-9.+~] becomes ".". A version that is not a release (a bare
// commit id, "dev") gets "0~" in front: it sorts before every release.
func debVersion(v string) string {
	v = strings.TrimPrefix(v, "v")
	v = strings.Replace(v, "-", "+", 1)
	v = strings.Trim(debVersionBad.ReplaceAllString(v, "."), ".")
	if !debVersionRelease.MatchString(v) {
		v = "0~" + v
	}
	return v
}
