package testtool

import (
	"os"
	"os/exec"
	"testing"
)

// packages names the Debian packages that provide the tests' tools.
var packages = map[string]string{
	"ffmpeg":              "ffmpeg",
	"ffprobe":             "ffmpeg",
	"gst-launch-1.0":      "gstreamer1.0-tools gstreamer1.0-plugins-{base,good,bad,ugly} gstreamer1.0-rtsp",
	"gst-inspect-1.0":     "gstreamer1.0-tools",
	"mkfs.ext4":           "e2fsprogs",
	"losetup":             "mount",
	"aws":                 "awscli",
	"dpkg":                "dpkg",
	"dpkg-deb":            "dpkg",
	"qemu-aarch64-static": "qemu-user-static",
}

// goTools names the Go programs among the tests' tools.
var goTools = map[string]string{
	"versitygw": "github.com/versity/versitygw/cmd/versitygw@v1.8.0",
}

// Need returns the path of the external tool name. Without it the test is
// skipped with a message naming the tool and its package, except under
// CI=true, where a missing tool is a failure.
func Need(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true: %v", name, err)
	}
	if mod := goTools[name]; mod != "" {
		t.Skipf("%s not found; install it (GOFLAGS= GOBIN=$(go env GOPATH)/bin go install %s, with $(go env GOPATH)/bin on PATH) to run this test", name, mod)
	}
	if pkg := packages[name]; pkg != "" {
		t.Skipf("%s not found; install it (apt-get install %s) to run this test", name, pkg)
	}
	t.Skipf("%s not found; install it to run this test", name)
	return ""
}
