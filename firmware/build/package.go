package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// The paths the package installs.
const (
	binPath    = "/usr/bin/kinedge"
	configPath = "/etc/kinedge/kinedge.yaml"
	unitPath   = "/lib/systemd/system/kinedge.service"
	dataDir    = "/var/lib/kinedge"
	sysctlPath = "/usr/lib/sysctl.d/60-kinedge.conf"
)

// packageInfo is the nfpm description of the .deb for t: bin is the
// built binary, repo the repository's root (the unit, the default config
// and the maintainer scripts are read from under firmware/), mtime the
// time stamped on every file (reproducible packages).
func packageInfo(t target, version, bin, repo string, mtime time.Time) *nfpm.Info {
	fw := func(name string) string { return filepath.Join(repo, "firmware", name) }
	file := func(mode os.FileMode) *files.ContentFileInfo {
		return &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: mtime}
	}
	info := &nfpm.Info{
		Name:          "kinedge",
		Arch:          t.DebArch,
		Platform:      t.GOOS,
		Version:       debVersion(version),
		VersionSchema: "none",
		Section:       "video",
		Priority:      "optional",
		Maintainer:    "kinedge <kinedge@users.noreply.github.com>",
		Description: "edge video ingestion appliance\n" +
			"Kinesis Video Streams, Kinesis Data Streams and Firehose on a board:\n" +
			"RTSP/WebRTC cameras, keyframe fragments sealed in Badger, replay by time.",
		Vendor:   "kinedge",
		Homepage: "https://github.com/kinedge/kinedge",
		License:  "Apache-2.0",
		MTime:    mtime,
		Overridables: nfpm.Overridables{
			// The postinst makes the system user with adduser, or with
			// useradd (passwd, Priority: required) where adduser is missing.
			Depends: []string{"adduser | passwd"},
			Contents: files.Contents{
				{Source: bin, Destination: binPath, FileInfo: file(0o755)},
				{Source: fw("kinedge.yaml"), Destination: configPath, Type: files.TypeConfig, FileInfo: file(0o640)},
				{Source: fw("systemd/kinedge.service"), Destination: unitPath, FileInfo: file(0o644)},
				// The WebRTC socket's receive buffer (applied by the
				// postinst; /etc/sysctl.d overrides it).
				{Source: fw("sysctl/60-kinedge.conf"), Destination: sysctlPath, FileInfo: file(0o644)},
				// Owned by root until the postinst hands it to the user it
				// makes (the user does not exist when dpkg unpacks).
				{Destination: dataDir, Type: files.TypeDir, FileInfo: file(0o700)},
			},
			Scripts: nfpm.Scripts{
				PostInstall: fw("debian/postinst"),
				PreRemove:   fw("debian/prerm"),
				PostRemove:  fw("debian/postrm"),
			},
			Deb: nfpm.Deb{Compression: "xz"},
		},
	}
	return nfpm.WithDefaults(info)
}

// debFileName is the .deb's file name: kinedge_<version>_<arch>.deb.
func debFileName(t target, version string) string {
	return fmt.Sprintf("kinedge_%s_%s.deb", debVersion(version), t.FileArch)
}

// writeDeb packages info into the file path.
func writeDeb(info *nfpm.Info, path string) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("build: %w", cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if err := deb.Default.Package(info, f); err != nil {
		return fmt.Errorf("build: packaging %s: %w", filepath.Base(path), err)
	}
	return nil
}
