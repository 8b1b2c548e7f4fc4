package whep

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/kinedge/kinedge/ingest/webrtc/rtc"
)

// network opens an rtc.Network on loopback for tests.
func network(t testing.TB) *rtc.Network {
	t.Helper()
	n, err := rtc.Listen(rtc.Config{UDPAddress: "127.0.0.1:0", IncludeLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// streams is a Streams with a fixed set of names.
type streams map[string]bool

func (s streams) StreamExists(_ context.Context, name string) (bool, error) { return s[name], nil }

func describeResp(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%s %s", resp.Status, b)
}
