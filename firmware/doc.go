// Package firmware holds what makes kinedge an appliance on a board rather
// than a program: the systemd unit (systemd/kinedge.service, with the
// service watchdog), the board's default configuration (kinedge.yaml), and
// the sd_notify client the appliance uses to tell systemd it is ready, alive
// and stopping (sdnotify).
//
// Cross-builds for the boards are plain Go, CGO disabled:
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -o kinedge-arm64 ./cmd/kinedge
//	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 go build -o kinedge-armv7 ./cmd/kinedge
//
// `go run ./firmware/build` (firmware/build) does that for every board with
// the version stamped and packages each binary as a .deb with nfpm used as
// a library; the package's maintainer scripts are in debian/. They honour
// DPKG_ROOT, so the build's tests install the package with dpkg into a
// scratch root (chrootless: the root has no shell) without touching the
// host, and check what the postinst made there. firmware/update is the
// signed update bundle (kinedge update): verification, atomic swap, and
// rollback when the new version is not healthy in time. A purge keeps the data
// directory and the user: it holds the video and master.key.
package firmware
