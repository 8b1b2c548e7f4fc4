package archive

import (
	"context"
	"time"

	"github.com/kinedge/kinedge/firehose/uplink"
)

// Windows are daily upload windows (firehose/uplink, shared with the
// upstream forwarder), open when any of them is. None is always open.
type Windows = uplink.Windows

// ParseWindows parses "HH:MM-HH:MM" windows separated by commas; "" is
// always open.
func ParseWindows(s string) (Windows, error) { return uplink.ParseWindows(s) }

// pace waits for the upload window and the bandwidth cap before an upload
// of n bytes, and books the bytes. The cap is an uplink.Limiter without
// burst: uploads are spaced by the time their bytes take at the cap.
func (a *Archiver) pace(ctx context.Context, n int) error {
	if d := a.Window.Wait(a.Now()); d > 0 {
		a.Logger.Info("archive waiting for its upload window", "window", a.Window.String(), "wait", d)
		if err := a.sleep(ctx, d); err != nil {
			return err
		}
	}
	return a.limiter.Wait(ctx, n)
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error { return uplink.Sleep(ctx, d) }
