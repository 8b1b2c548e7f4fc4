//go:build !linux

package store

import (
	"errors"
	"os"
)

// statDisk is not implemented off Linux: the budget then only applies
// MaxBytes.
func statDisk(string) (DiskSpace, error) { return DiskSpace{}, errors.ErrUnsupported }

func allocated(fi os.FileInfo) int64 { return fi.Size() }

func preallocate(string, int64) error { return errors.ErrUnsupported }

func createReserve(path string, n int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	err = writeZeros(f, n)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
