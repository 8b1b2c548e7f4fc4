package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goreleaser/nfpm/v2/files"

	"github.com/kinedge/kinedge/testdata/testtool"
)

// repoRoot is the repository's root seen from this package's directory.
const repoRoot = "../.."

func TestParseTargets(t *testing.T) {
	ts, err := parseTargets("linux/arm64, linux/arm/7,linux/arm/6,linux/amd64")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range ts {
		got = append(got, x.String()+"="+x.DebArch+"/"+x.FileArch)
	}
	want := []string{"linux/arm64=arm64/arm64", "linux/arm/7=armhf/armhf", "linux/arm/6=armhf/armhf-armv6", "linux/amd64=amd64/amd64"}
	if !slices.Equal(got, want) {
		t.Errorf("targets = %q, want %q", got, want)
	}
	for _, bad := range []string{"", "linux/mips", "linux/arm", "linux/arm64,windows/amd64"} {
		if _, err := parseTargets(bad); err == nil {
			t.Errorf("parseTargets(%q): no error", bad)
		}
	}
}

// debVersionSyntax is deb-version(7) without epoch and revision: what
// debVersion promises.
var debVersionSyntax = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`)

var debVersionTests = []struct{ in, want string }{
	{"v1.2.3", "1.2.3"},
	{"1.2.3", "1.2.3"},
	{"v1.2.3-4-gabcdef0", "1.2.3+4.gabcdef0"},
	{"v1.2.3-4-gabcdef0-dirty", "1.2.3+4.gabcdef0.dirty"},
	{"9d1d930", "0~9d1d930"},
	{"9d1d930-dirty", "0~9d1d930+dirty"},
	{"dev", "0~dev"},
	{"", "0~"},
	{"v2.0_beta/1", "2.0.beta.1"},
}

func TestDebVersion(t *testing.T) {
	for _, tt := range debVersionTests {
		if got := debVersion(tt.in); got != tt.want {
			t.Errorf("debVersion(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzDebVersion(f *testing.F) {
	for _, tt := range debVersionTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got := debVersion(v)
		if !debVersionSyntax.MatchString(got) {
			t.Errorf("debVersion(%q) = %q: not a Debian version", v, got)
		}
	})
}

func TestPackageInfo(t *testing.T) {
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tg := range knownTargets {
		info := packageInfo(tg, "v1.2.3", "/tmp/kinedge-bin", repoRoot, mtime)
		if info.Name != "kinedge" || info.Arch != tg.DebArch || info.Version != "1.2.3" {
			t.Errorf("%s: name/arch/version = %s/%s/%s", tg, info.Name, info.Arch, info.Version)
		}
		got := map[string]string{}
		for _, c := range info.Contents {
			got[c.Destination] = c.Type + " " + c.FileInfo.Mode.String() + " " + c.FileInfo.Owner + ":" + c.FileInfo.Group
			if c.Source != "" {
				if _, err := os.Stat(c.Source); err != nil && c.Destination != binPath {
					t.Errorf("%s: %s: %v", tg, c.Destination, err)
				}
			}
		}
		want := map[string]string{
			binPath:    " -rwxr-xr-x root:root",
			configPath: files.TypeConfig + " -rw-r----- root:root",
			unitPath:   " -rw-r--r-- root:root",
			sysctlPath: " -rw-r--r-- root:root",
			dataDir:    files.TypeDir + " -rwx------ root:root",
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", tg, k, got[k], v)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: contents %v, want %v", tg, got, want)
		}
		for _, s := range []string{info.Scripts.PostInstall, info.Scripts.PreRemove, info.Scripts.PostRemove} {
			if _, err := os.Stat(s); err != nil {
				t.Errorf("%s: script: %v", tg, err)
			}
		}
	}
	if n := debFileName(knownTargets[2], "v1.2.3-1-gabc"); n != "kinedge_1.2.3+1.gabc_armhf-armv6.deb" {
		t.Errorf("armv6 file name %q", n)
	}
}

// TestUnitMatchesPackage: the unit starts the binary where the package
// puts it, as the user the postinst makes, with the data where the config
// says.
func TestUnitMatchesPackage(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join(repoRoot, "firmware", "systemd", "kinedge.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"ExecStart=" + binPath + " serve --config " + configPath,
		"User=kinedge",
		"StateDirectory=kinedge",
		"StateDirectoryMode=0700",
	} {
		if !strings.Contains(string(unit), "\n"+line+"\n") {
			t.Errorf("kinedge.service lacks %q", line)
		}
	}
	cfg, err := os.ReadFile(filepath.Join(repoRoot, "firmware", "kinedge.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cfg), "\ndata_dir: "+dataDir+"\n") {
		t.Errorf("kinedge.yaml: data_dir is not %s", dataDir)
	}
}

// buildDeb cross-builds the binary for tg stamped with version and
// packages it into dir.
func buildDeb(t *testing.T, tg target, version, dir string) (deb, bin string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	bin, err := buildBinary(ctx, tg, version, repoRoot, dir, false)
	if err != nil {
		t.Fatal(err)
	}
	deb = filepath.Join(dir, debFileName(tg, version))
	if err := writeDeb(packageInfo(tg, version, bin, repoRoot, time.Now()), deb); err != nil {
		t.Fatal(err)
	}
	return deb, bin
}

// output runs name args with a deadline and returns its standard output;
// a failure fails the test with the tool's standard error.
func output(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := testtool.Command(t, 2*time.Minute, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// TestDebPackage builds the amd64 package, reads it back with dpkg-deb,
// installs it with dpkg into a scratch root and runs the installed binary.
func TestDebPackage(t *testing.T) {
	dpkgDeb := testtool.Need(t, "dpkg-deb")
	skipUnderRace(t)
	dir := t.TempDir()
	const version = "v9.8.7-4-gabcdef0"
	deb, _ := buildDeb(t, target{GOOS: "linux", GOARCH: "amd64", DebArch: "amd64", FileArch: "amd64"}, version, dir)
	if filepath.Base(deb) != "kinedge_9.8.7+4.gabcdef0_amd64.deb" {
		t.Errorf("package file %s", filepath.Base(deb))
	}

	// The contents, with modes and owners.
	listing := output(t, dpkgDeb, "-c", deb)
	for _, want := range []string{
		`-rwxr-xr-x root/root +[0-9]+ .* \./usr/bin/kinedge\n`,
		`-rw-r----- root/root +[0-9]+ .* \./etc/kinedge/kinedge\.yaml\n`,
		`-rw-r--r-- root/root +[0-9]+ .* \./lib/systemd/system/kinedge\.service\n`,
		`-rw-r--r-- root/root +[0-9]+ .* \./usr/lib/sysctl\.d/60-kinedge\.conf\n`,
		`drwx------ root/root +0 .* \./var/lib/kinedge/\n`,
	} {
		if !regexp.MustCompile(want).MatchString(listing) {
			t.Errorf("dpkg-deb -c lacks %s:\n%s", want, listing)
		}
	}

	// The control fields and the conffiles.
	fields := output(t, dpkgDeb, "-f", deb, "Package", "Version", "Architecture", "Depends")
	wantFields := "Package: kinedge\nVersion: 9.8.7+4.gabcdef0\nArchitecture: amd64\nDepends: adduser | passwd\n"
	if fields != wantFields {
		t.Errorf("dpkg-deb -f:\n%s\nwant:\n%s", fields, wantFields)
	}
	if got := output(t, dpkgDeb, "-I", deb, "conffiles"); got != configPath+"\n" {
		t.Errorf("conffiles = %q", got)
	}
	info := output(t, dpkgDeb, "-I", deb)
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		if !regexp.MustCompile(`\d+ bytes, +\d+ lines +\* +` + s + ` +#!/bin/sh`).MatchString(info) {
			t.Errorf("dpkg-deb -I: no executable %s script:\n%s", s, info)
		}
	}
	control := filepath.Join(dir, "control")
	output(t, dpkgDeb, "-e", deb, control)
	for _, s := range []string{"postinst", "prerm", "postrm"} {
		output(t, "sh", "-n", filepath.Join(control, s))
	}

	t.Run("install", func(t *testing.T) { testInstall(t, deb, version) })
}

// testInstall installs deb with dpkg into a scratch root. The maintainer
// scripts run chrootless with DPKG_ROOT set to the scratch root (there is
// no shell inside it to chroot into): they honour it, so the user, the
// ownership and the modes land in the scratch root, and systemctl is not
// called (no systemd runs there). Then it runs the installed binary and
// purges the package.
func testInstall(t *testing.T, deb, version string) {
	dpkg := testtool.Need(t, "dpkg")
	if os.Geteuid() != 0 {
		// The postinst chowns the data directory to the user it makes.
		if os.Getenv("CI") == "true" {
			t.Fatal("the scratch-root install needs root under CI=true")
		}
		t.Skip("the scratch-root install needs root (the postinst chowns /var/lib/kinedge)")
	}
	root := t.TempDir()
	for _, d := range []string{"etc", "var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{
		"etc/passwd":             "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":              "root:x:0:\n",
		"etc/shadow":             "root:*:20000:0:99999:7:::\n",
		"etc/gshadow":            "root:*::\n",
		"var/lib/dpkg/status":    "",
		"var/lib/dpkg/available": "",
	} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dpkgArgs := func(args ...string) []string {
		// --force-depends: the scratch root has no adduser or passwd.
		return append([]string{"--root=" + root, "--log=/dev/null", "--force-script-chrootless", "--force-depends"}, args...)
	}
	output(t, dpkg, dpkgArgs("-i", deb)...)
	if st := output(t, "dpkg-query", "--root="+root, "-W", "-f=${Status} ${Version}", "kinedge"); st != "install ok installed 9.8.7+4.gabcdef0" {
		t.Errorf("dpkg-query: %q", st)
	}

	passwd, err := os.ReadFile(filepath.Join(root, "etc", "passwd"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^kinedge:[^:]*:([0-9]+):([0-9]+):[^:]*:/var/lib/kinedge:/usr/sbin/nologin$`).FindStringSubmatch(string(passwd))
	if m == nil {
		t.Fatalf("the postinst made no kinedge system user:\n%s", passwd)
	}
	uid, gid := m[1], m[2]
	if group, _ := os.ReadFile(filepath.Join(root, "etc", "group")); !strings.Contains(string(group), "\nkinedge:x:"+gid+":") {
		t.Errorf("no kinedge group %s:\n%s", gid, group)
	}
	for _, f := range []struct{ path, want string }{
		{dataDir, "drwx------ " + uid + ":" + gid},
		{configPath, "-rw-r----- 0:" + gid},
		{binPath, "-rwxr-xr-x 0:0"},
		{unitPath, "-rw-r--r-- 0:0"},
	} {
		got := output(t, "stat", "-c", "%A %u:%g", filepath.Join(root, f.path))
		if strings.TrimSpace(got) != f.want {
			t.Errorf("%s: %s, want %s", f.path, strings.TrimSpace(got), f.want)
		}
	}

	if got := output(t, filepath.Join(root, binPath), "version"); got != "kinedge "+version+"\n" {
		t.Errorf("installed kinedge version: %q, want %q", got, "kinedge "+version)
	}

	// A purge removes the files and the conffile, keeps the data (and the
	// user): see firmware/debian/postrm.
	if err := os.WriteFile(filepath.Join(root, dataDir, "master.key"), []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	// What kinedge update leaves beside the binary goes with the package.
	for _, f := range []string{binPath + ".previous", binPath + ".new"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("old binary"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	output(t, dpkg, dpkgArgs("--purge", "kinedge")...)
	for _, gone := range []string{binPath, configPath, unitPath, binPath + ".previous", binPath + ".new"} {
		if _, err := os.Stat(filepath.Join(root, gone)); !os.IsNotExist(err) {
			t.Errorf("%s after purge: %v", gone, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, dataDir, "master.key")); err != nil {
		t.Errorf("%s after purge: %v (the data is kept)", dataDir, err)
	}
}
