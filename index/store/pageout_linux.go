//go:build linux

package store

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pageOutMapped advises the kernel on this process's mappings of Badger's
// files in dir, and returns the bytes paged out.
//
// Every table (.sst), value-log file and memtable log is paged out
// (MADV_PAGEOUT). Badger v4 writes its value log and tables through
// shared memory maps and keeps each file mapped until it deletes it, so
// without this every record written since the last value-log GC stays in
// the process's RSS (file-backed). MADV_PAGEOUT loses nothing (a dirty
// page is only unmapped; a synced one is dropped from the page cache and
// read back on the next access; for the files being written that is the
// page under the write position, once per check).
//
// The files Badger writes, the newest value-log file and the memtable
// logs (.mem), are advised MADV_RANDOM: with read-ahead on, the page
// cache backs such a mapping with large folios, and every fsync of a
// commit writes the whole folio under the write position again (a whole
// 1 MiB for a commit of a few kilobytes): 1.8 bytes reached the disk per
// byte of video with sixteen cameras. Without read-ahead the mapping
// faults in single pages, and a sync writes what changed.
//
// Neither advice harms a range that was unmapped and reused since
// /proc/self/maps was read (Badger deletes files from other goroutines:
// compaction, value-log GC), unlike MADV_DONTNEED.
func pageOutMapped(dir string) (int64, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	type vma struct {
		start, end uintptr
		vlog, mem  bool
		fid        uint64
	}
	var vmas []vma
	var newest uint64
	prefix := filepath.Clean(dir) + "/"
	s := bufio.NewScanner(f)
	for s.Scan() {
		// 7f...-7f... rw-s 00000000 fd:00 1234   /dir/000012.vlog
		fields := bytes.Fields(s.Bytes())
		if len(fields) != 6 {
			continue // anonymous, or " (deleted)"
		}
		name, ok := strings.CutPrefix(string(fields[5]), prefix)
		if !ok || strings.Contains(name, "/") {
			continue
		}
		base, ext, _ := strings.Cut(name, ".")
		if ext != "vlog" && ext != "sst" && ext != "mem" {
			continue
		}
		fid, err := strconv.ParseUint(base, 10, 64)
		lo, hi, _ := bytes.Cut(fields[0], []byte("-"))
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err != nil || err1 != nil || err2 != nil || end <= start {
			continue
		}
		v := vma{start: uintptr(start), end: uintptr(end), vlog: ext == "vlog", mem: ext == "mem", fid: fid}
		if v.vlog {
			newest = max(newest, fid)
		}
		vmas = append(vmas, v)
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	var advised int64
	for _, v := range vmas {
		// A file Badger no longer writes gets read-ahead back (the advice
		// stays with the mapping): replay and GetRecords read it in
		// sequence.
		advice := []int{unix.MADV_NORMAL, unix.MADV_PAGEOUT}
		if v.mem || v.vlog && v.fid == newest {
			advice = []int{unix.MADV_RANDOM, unix.MADV_PAGEOUT}
		}
		for _, a := range advice {
			_, _, errno := unix.Syscall(unix.SYS_MADVISE, v.start, v.end-v.start, uintptr(a))
			switch errno {
			case 0:
				if a == unix.MADV_PAGEOUT {
					advised += int64(v.end - v.start)
				}
			case unix.ENOMEM:
				// Unmapped since /proc/self/maps was read (file deleted).
			default:
				return advised, errno // EINVAL: a kernel before 5.4
			}
		}
	}
	return advised, nil
}
