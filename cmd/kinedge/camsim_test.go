package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

// camsimSink is an in-process RTSP server that accepts any publisher and
// counts RTP packets per path.
type camsimSink struct {
	mu      sync.Mutex
	packets map[string]int
}

func (s *camsimSink) OnAnnounce(*gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (s *camsimSink) OnSetup(*gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil, nil
}

func (s *camsimSink) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	path := strings.Trim(ctx.Path, "/")
	ctx.Session.OnPacketRTPAny(func(*description.Media, format.Format, *rtp.Packet) {
		s.mu.Lock()
		s.packets[path]++
		s.mu.Unlock()
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func TestRunCamsimPublishesEmbeddedClip(t *testing.T) {
	sink := &camsimSink{packets: map[string]int{}}
	var addr string
	srv := &gortsplib.Server{
		Handler:     sink,
		RTSPAddress: "127.0.0.1:0",
		Listen: func(network, address string) (net.Listener, error) {
			l, err := net.Listen(network, address)
			if err == nil {
				addr = l.Addr().String()
			}
			return l, err
		},
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := runCamsim(ctx, []string{"--url", "rtsp://" + addr + "/", "--cameras", "2",
		"--prefix", "door", "--duration", "1s", "--log-level", "warn"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("runCamsim: %v\nstderr: %s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"door1", "door2", "total", "2 cameras, clip h264_aac.ts, tcp"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	// 1 s of the 25 fps clip: 25 video frames per camera.
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && strings.HasPrefix(f[0], "door") && f[1] != "25" {
			t.Errorf("camera line %q: want 25 video frames", l)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		sink.mu.Lock()
		n1, n2 := sink.packets["door1"], sink.packets["door2"]
		sink.mu.Unlock()
		if n1 > 0 && n2 > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server received %d and %d packets", n1, n2)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunCamsimRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"transport", []string{"--transport", "sctp"}, "Transport"},
		{"pacing", []string{"--pacing", "lazy"}, "--pacing"},
		{"log level", []string{"--log-level", "loud"}, "--log-level"},
		{"extra args", []string{"cam1"}, "unexpected arguments"},
		{"url", []string{"--url", "http://127.0.0.1/"}, "scheme"},
		{"missing clip", []string{"--clip", "/nonexistent/clip.ts"}, "clip.ts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			err := runCamsim(ctx, tt.args, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("runCamsim(%q) = %v, want an error mentioning %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestWithPublishCredentials(t *testing.T) {
	tests := []struct {
		user, in, want string
	}{
		{"", "rtsp://127.0.0.1:8554/", "rtsp://127.0.0.1:8554/"},
		{"cam", "rtsp://127.0.0.1:8554/", "rtsp://cam:pw@127.0.0.1:8554/"},
		{"cam", "rtsp://other:x@127.0.0.1:8554/", "rtsp://other:x@127.0.0.1:8554/"},
	}
	for _, tt := range tests {
		t.Setenv("KINEDGE_PUBLISH_USER", tt.user)
		t.Setenv("KINEDGE_PUBLISH_PASS", "pw")
		if got := withPublishCredentials(tt.in); got != tt.want {
			t.Errorf("user %q: withPublishCredentials(%q) = %q, want %q", tt.user, tt.in, got, tt.want)
		}
	}
}
