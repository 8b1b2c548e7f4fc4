package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// statDisk measures the filesystem holding dir with statfs(2).
func statDisk(dir string) (DiskSpace, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return DiskSpace{}, fmt.Errorf("store: statfs %s: %w", dir, err)
	}
	bs := int64(st.Bsize)
	return DiskSpace{Total: int64(st.Blocks) * bs, Free: int64(st.Bavail) * bs}, nil
}

// allocated returns the bytes fi's file holds on disk: its allocated
// blocks, which for Badger's sparse, memory-mapped files is less than
// their size until written (or preallocated).
func allocated(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}

// preallocate makes the filesystem allocate blocks for the first n bytes
// of the file at path, without changing its size (fallocate(2) with
// FALLOC_FL_KEEP_SIZE): a later write through a memory map into that range
// cannot fault for lack of space (SIGBUS). It fails with ENOSPC when the
// filesystem lacks the room, leaving what it allocated.
func preallocate(path string, n int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, n)
	if errors.Is(err, unix.EOPNOTSUPP) {
		return errors.ErrUnsupported
	}
	return err
}

// createReserve creates (or completes) the reserve file at path holding n
// allocated bytes.
func createReserve(path string, n int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	err = unix.Fallocate(int(f.Fd()), 0, 0, n)
	if errors.Is(err, unix.EOPNOTSUPP) {
		// A filesystem without fallocate: write the bytes.
		err = writeZeros(f, n)
	}
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
