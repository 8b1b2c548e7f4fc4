package update

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Installer installs a verified bundle's binary at Path and checks that the
// service comes back with it.
type Installer struct {
	// Path is the installed binary to replace.
	Path string
	// Restart restarts the service (systemctl restart kinedge). Required.
	Restart func(ctx context.Context) error
	// Version asks the running service for its version; an error means
	// not healthy (yet). Required.
	Version func(ctx context.Context) (string, error)
	// Timeout is how long the new version has to become healthy. It
	// defaults to 60 s.
	Timeout time.Duration
	// Poll is the interval between health checks. It defaults to 250 ms.
	Poll time.Duration
	// Log defaults to discarding.
	Log *slog.Logger
}

// Apply installs b's binary (Verify it first), restarts the service and
// waits for it to report b's version. When it does not within Timeout, the
// previous binary is put back, the service restarted again, and Apply
// returns an error wrapping ErrRolledBack (and saying whether the previous
// version came back).
func (in *Installer) Apply(ctx context.Context, b *Bundle) error {
	log := in.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := in.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	prevVersion, _ := in.Version(ctx) // for the report only: it may be down
	if err := Swap(in.Path, b.Binary); err != nil {
		return err
	}
	log.Info("update: binary swapped, restarting", "path", in.Path, "version", b.Manifest.Version)
	err := in.Restart(ctx)
	if err == nil {
		err = in.waitVersion(ctx, b.Manifest.Version, timeout)
	}
	if err == nil {
		log.Info("update: healthy", "version", b.Manifest.Version)
		return nil
	}
	if ctx.Err() != nil {
		// Interrupted: still roll back, on a fresh context bounded the same.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 2*timeout)
		defer cancel()
	}
	log.Warn("update: not healthy, rolling back", "version", b.Manifest.Version, "err", err)
	if rerr := Rollback(in.Path); rerr != nil {
		return fmt.Errorf("%w (%v); rollback failed: %w", ErrRolledBack, err, rerr)
	}
	if rerr := in.Restart(ctx); rerr != nil {
		return fmt.Errorf("%w (%v); restart after rollback failed: %w", ErrRolledBack, err, rerr)
	}
	if prevVersion == "" {
		return fmt.Errorf("%w: %s: %v", ErrRolledBack, b.Manifest.Version, err)
	}
	if werr := in.waitVersion(ctx, prevVersion, timeout); werr != nil {
		return fmt.Errorf("%w: %s: %v; the previous version %s is not healthy either: %v", ErrRolledBack, b.Manifest.Version, err, prevVersion, werr)
	}
	return fmt.Errorf("%w: %s: %v; %s serves again", ErrRolledBack, b.Manifest.Version, err, prevVersion)
}

// waitVersion polls Version until it reports want or timeout passes.
func (in *Installer) waitVersion(ctx context.Context, want string, timeout time.Duration) error {
	poll := in.Poll
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(poll)
	defer t.Stop()
	var last error
	for {
		v, err := in.Version(ctx)
		switch {
		case err != nil:
			last = err
		case v == want:
			return nil
		default:
			last = fmt.Errorf("reports version %q", v)
		}
		select {
		case <-ctx.Done():
			if last == nil {
				last = ctx.Err()
			}
			return fmt.Errorf("not healthy with version %s within %v: %w", want, timeout, last)
		case <-t.C:
		}
	}
}

// Swap replaces the binary at path with binary: written to path.new and
// synced, the current one hard-linked (or copied) to path.previous, .new
// renamed over path, the directory synced. The file mode is the current
// binary's.
func Swap(path string, binary []byte) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	newPath, prevPath := path+".new", path+".previous"
	if err := writeSynced(newPath, binary, st.Mode().Perm()); err != nil {
		return err
	}
	if err := os.Remove(prevPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		os.Remove(newPath)
		return fmt.Errorf("update: %w", err)
	}
	if err := os.Link(path, prevPath); err != nil {
		old, rerr := os.ReadFile(path)
		if rerr == nil {
			rerr = writeSynced(prevPath, old, st.Mode().Perm())
		}
		if rerr != nil {
			os.Remove(newPath)
			return fmt.Errorf("update: keep previous binary: %w", rerr)
		}
	}
	if err := os.Rename(newPath, path); err != nil {
		os.Remove(newPath)
		return fmt.Errorf("update: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// Rollback renames path.previous back over path.
func Rollback(path string) error {
	if err := os.Rename(path+".previous", path); err != nil {
		return fmt.Errorf("update: rollback: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

func writeSynced(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("update: write %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("update: sync %s: %w", dir, err)
	}
	return nil
}
