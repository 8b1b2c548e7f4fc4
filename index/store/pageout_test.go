//go:build linux

package store

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rssFile returns this process's file-backed resident memory.
func rssFile(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// TestPageOut checks that the values Badger wrote through its memory maps
// leave the process's RSS once paged out, and stay readable.
func TestPageOut(t *testing.T) {
	dir := pageOutDir(t)
	d := openT(t, Options{Dir: dir, MemTableSize: mib, ValueLogFileSize: mib, CheckInterval: time.Hour}) // synced writes: clean pages
	s := space(t, d, "v/")
	const n, size = 48, 512 << 10
	for i := range n {
		if err := put(s, Data, fmt.Sprint("k", i), size); err != nil {
			t.Fatal(err)
		}
	}
	readAll := func() error {
		return s.View(func(txn *Txn) error {
			for i := range n {
				item, err := txn.Get(s.Key([]byte(fmt.Sprint("k", i))))
				if err != nil {
					return err
				}
				v, err := item.ValueCopy(nil)
				if err != nil || len(v) != size || v[size-1] != 'x' {
					return fmt.Errorf("value %d: %d bytes, %v", i, len(v), err)
				}
			}
			return nil
		})
	}
	// Reads come from the maps: the values are resident now.
	if err := readAll(); err != nil {
		t.Fatal(err)
	}
	before := rssFile(t)
	advised, err := pageOutMapped(d.budget.pageOutDir, -1)
	if err != nil {
		t.Fatalf("pageOutMapped: %v", err)
	}
	after := rssFile(t)
	if advised < n*size/2 || before-after < n*size/2 {
		t.Errorf("paged out: %d bytes advised, file RSS %d → %d; want at least %d less", advised, before, after, n*size/2)
	}
	err = readAll()
	if err != nil {
		t.Errorf("reading back after the page-out: %v", err)
	}
	t.Logf("file RSS %d MiB → %d MiB, %d MiB advised", before>>20, after>>20, advised>>20)
}

// TestPageOutKeepsTail checks that the page-out leaves the last
// ResidentTail bytes written to the newest value-log file resident, and
// pages out what is below them.
func TestPageOutKeepsTail(t *testing.T) {
	dir := pageOutDir(t)
	// One value-log file holds every value: the newest.
	d := openT(t, Options{Dir: dir, MemTableSize: mib, ValueLogFileSize: 32 * mib, CheckInterval: time.Hour})
	s := space(t, d, "v/")
	const n, size, tail = 32, 512 << 10, 6 * mib
	for i := range n {
		if err := put(s, Data, fmt.Sprint("k", i), size); err != nil {
			t.Fatal(err)
		}
	}
	err := s.View(func(txn *Txn) error {
		for i := range n {
			item, err := txn.Get(s.Key([]byte(fmt.Sprint("k", i))))
			if err != nil {
				return err
			}
			if v, err := item.ValueCopy(nil); err != nil || len(v) != size {
				return fmt.Errorf("value %d: %d bytes, %v", i, len(v), err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before := rssFile(t)
	advised, err := pageOutMapped(d.budget.pageOutDir, tail)
	if err != nil {
		t.Fatalf("pageOutMapped: %v", err)
	}
	after := rssFile(t)
	t.Logf("file RSS %d MiB → %d MiB, %d MiB advised, tail %d MiB", before>>20, after>>20, advised>>20, tail>>20)
	// 16 MiB written: about 10 MiB below the tail leave, the tail stays.
	if want := int64(n*size-tail) / 2; before-after < want {
		t.Errorf("file RSS went down by %d bytes, want at least %d", before-after, want)
	}
	if most := int64(n*size - tail/2); before-after > most {
		t.Errorf("file RSS went down by %d bytes, want at most %d: the tail of %d was paged out", before-after, most, tail)
	}
}

// kernelPagesOut probes, without the store, whether madvise(MADV_PAGEOUT)
// takes a clean file mapping's pages out of this process's RSS here.
func kernelPagesOut(t *testing.T, dir string) bool {
	t.Helper()
	const size = 8 << 20
	f, err := os.CreateTemp(dir, "probe-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	var sum byte
	for i := 0; i < size; i += 4096 {
		sum += m[i]
	}
	before := rssFile(t)
	if sum != 0 {
		t.Fatalf("probe file reads %d, want zeros", sum)
	}
	if err := unix.Madvise(m, unix.MADV_PAGEOUT); err != nil {
		return false
	}
	return rssFile(t) < before-size/4
}

// pageOutDir returns a temp dir whose file pages the kernel can page out,
// or skips the test where it cannot: tmpfs (no swap), qemu-user.
func pageOutDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type == unix.TMPFS_MAGIC {
		t.Skip("the temp dir is on tmpfs, whose pages cannot be paged out without swap")
	}
	if !kernelPagesOut(t, dir) {
		t.Skip("MADV_PAGEOUT has no effect here (qemu-user emulation does not pass it to the kernel): nothing to test")
	}
	return dir
}
