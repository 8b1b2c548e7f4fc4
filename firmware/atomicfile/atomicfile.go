// Package atomicfile writes the appliance's small files (generated
// credentials, the pulled-camera list, the master key) so that a power cut
// leaves either the old file or the new one, never a torn or empty one:
// the data goes to a temporary file in the same directory, is synced,
// renamed (or linked) into place, and the directory is synced so the new
// name survives too.
//
// Write replaces whatever is at the path. Create never replaces: when two
// processes race to create a file that must not change once in use (a
// master key), exactly one wins and the other learns it.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Write stores data at path with the permission bits perm, replacing any
// file there. The parent directory is created (0700) if missing.
func Write(path string, data []byte, perm fs.FileMode) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // left only on the error paths
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// Create stores data at path unless a file is there already; created is
// false, with a nil error, when one is. link(2) never replaces an existing
// name; on filesystems without hard links it falls back to a rename after
// checking that nothing is there (a race there is not detected).
func Create(path string, data []byte, perm fs.FileMode) (created bool, err error) {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		if _, serr := os.Lstat(path); serr == nil {
			return false, nil
		}
		if err := os.Rename(tmp, path); err != nil {
			return false, fmt.Errorf("atomicfile: %w", err)
		}
	}
	return true, syncDir(filepath.Dir(path))
}

// writeTemp writes data to a synced temporary file next to path and
// returns its name.
func writeTemp(path string, data []byte, perm fs.FileMode) (string, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("atomicfile: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*") // mode 0600 until Chmod
	if err != nil {
		return "", fmt.Errorf("atomicfile: %w", err)
	}
	tmp := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("atomicfile: %s: %w", path, err)
	}
	return tmp, nil
}

// syncDir fsyncs a directory so a new name in it survives a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("atomicfile: sync %s: %w", dir, err)
	}
	return nil
}
