//go:build linux

package store

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

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
// The last tail bytes of the newest value-log file up to its write
// position stay resident (tail -1: none): the records just written are
// what a reader such as a Firehose delivery reads next, and paged out
// they came back from disk one 4 KiB page at a time (MADV_RANDOM). The
// write position is the end of the file's highest page in the page
// cache (mincore): the check pages out everything below the tail, so
// only what was written or read since the last check, and the tail, is
// there, and nothing above the write position is read. A file with no
// page in the cache is paged out whole.
//
// Neither advice harms a range that was unmapped and reused since
// /proc/self/maps was read (Badger deletes files from other goroutines:
// compaction, value-log GC), unlike MADV_DONTNEED. Each advice applies
// to a whole mapping, or, for MADV_PAGEOUT, a range of one: advising a
// part of it differently would split the mapping in two, and Badger's
// mremap of a value-log file it truncates fails across two mappings.
func pageOutMapped(dir string, tail int64) (int64, error) {
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
		end := v.end // of the range paged out
		if v.mem || v.vlog && v.fid == newest {
			advice = []int{unix.MADV_RANDOM, unix.MADV_PAGEOUT}
		}
		if v.vlog && v.fid == newest && tail >= 0 {
			hi, err := highestResident(v.start, v.end)
			switch {
			case err == unix.ENOMEM:
				continue // unmapped since /proc/self/maps was read
			case err != nil:
				return advised, err
			case hi > 0:
				end = v.start + uintptr(max(0, int64(hi-v.start)-tail))
				end &^= uintptr(os.Getpagesize() - 1)
			}
		}
		for _, a := range advice {
			n := v.end - v.start
			if a == unix.MADV_PAGEOUT {
				if n = end - v.start; n == 0 {
					continue
				}
			}
			_, _, errno := unix.Syscall(unix.SYS_MADVISE, v.start, n, uintptr(a))
			switch errno {
			case 0:
				if a == unix.MADV_PAGEOUT {
					advised += int64(n)
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

// highestResident returns the end of the highest page of the mapping
// [start, end) that is in the page cache, or 0 if none is (mincore).
func highestResident(start, end uintptr) (uintptr, error) {
	page := uintptr(os.Getpagesize())
	vec := make([]byte, (end-start+page-1)/page)
	if len(vec) == 0 {
		return 0, nil
	}
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, start, end-start, uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		return 0, errno
	}
	for i := len(vec) - 1; i >= 0; i-- {
		if vec[i]&1 != 0 {
			return start + uintptr(i+1)*page, nil
		}
	}
	return 0, nil
}
