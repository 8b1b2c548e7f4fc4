// Package store owns the appliance's one Badger database: it opens and
// closes it, hands every other package a Space (a handle scoped to that
// package's key prefix), and guards the disk under it. Nothing else
// touches Badger's write path.
//
// # One database, one prefix per owner
//
// Space(prefix) returns a package's handle; prefixes must not overlap.
// Writes through a Space are checked against its prefix
// (ErrOutsidePrefix), wait while another owner drops a prefix (Badger
// refuses writes during DropPrefix with ErrBlockedWrites; the store's gate
// makes them wait instead), and pass admission control (below). The
// appliance's prefixes:
//
//	"v/"  video: package index (registry, fragments, blobs, indexes, tags, usage)
//	"k/"  data keys: package index, for the sealing keyring
//	"d/"  data streams: package dataplane/kinesis/engine (Kinesis Data Streams)
//	"f/"  Firehose's delivery spool: package firehose (definitions, records, fixed batches)
//
// Writes are of a Class: Data (media and records) is what the budget
// refuses; Meta (registry, keys, sequences) is refused only when the disk
// lacks the room Badger needs to flush; Reclaim (deletions, retention,
// eviction) is never refused for lack of space.
//
// # Why a full disk killed the process, and what prevents it
//
// Badger writes its value log (.vlog), its memtable write-ahead logs (.mem)
// and its discard statistics through shared memory maps of files it
// creates sparse (ftruncate to twice their size), and builds each table
// (.sst) by copying into a fresh memory-mapped file. A store into a page
// that has no disk block behind it, on a filesystem with no free block,
// is SIGBUS, which kills a Go program ("unexpected fault address"): on an
// SD card, on ext4 and on tmpfs alike. Badger v4 has no option to write
// these files with write(2) instead. The store combines four measures:
//
//   - Preallocation. The guard (every CheckInterval, and after every
//     WriteKick bytes committed) gives real blocks to the value-log file
//     being written (up to ValueLogFileSize plus a write: Badger moves
//     to a new file past ValueLogFileSize), the memtable log being
//     written (5/4 of a memtable) and the discard file, with fallocate(2)
//     and FALLOC_FL_KEEP_SIZE, so Badger sees the same sizes: writes into
//     them can no longer fault, whoever fills the disk. The blocks past
//     a value-log file's end come back when Badger truncates it at
//     rotation.
//   - Headroom and admission control. Data writes are refused (ErrFull)
//     while the disk has less free than the room Badger may take on its
//     own before the guard runs again (dataFloor: the next value-log file
//     and memtable logs as preallocated, flushes and compactions, a
//     WriteKick); Meta writes need the room to flush the memtables
//     (metaFloor, NumMemtables+1 memtables). The budget keeps at least
//     dataFloor plus a value-log file free, so in normal operation the
//     budget binds first and the floors only bind when something else
//     fills the disk. With the pi profile (4 MiB memtables, 16 MiB
//     value-log files) dataFloor is 62 MiB; with the default one 172 MiB.
//   - A reserve file (kinedge.reserve in the database directory: a
//     value-log file and NumMemtables+4 memtables, room for a flush, the
//     compaction it triggers and a value-log GC rewrite; 40 MiB with the
//     pi profile). When another program fills the disk below metaFloor
//     and the disk stopped shrinking (two checks agree: that program is
//     done), the store deletes it, so Badger's flushes and the eviction
//     that frees space have room; released while the disk still shrinks,
//     the other program would take it. It is taken again once the disk
//     has room for it and for writing. The budget counts it at its full
//     size even while it is released.
//   - Prefix drops (eviction, retention) flush every memtable into new
//     tables first; DropPrefix checks for dropFloor (metaFloor and two
//     memtables) free, releasing the reserve under the same rule, and
//     otherwise refuses with ErrFull: the evictor retries on its next
//     round. (Without that check a drop on a disk filled by a program
//     that was still writing faulted in table.CreateTable: SIGBUS, seen
//     once in eight runs of the foreign-fill test.)
//   - A safe start. Badger needs about 1 MiB and the size of the memtable
//     logs it replays to open for writing (its pid file, a new memtable,
//     flushes). A second, smaller reserve file (kinedge.reserve-start,
//     1 MiB and NumMemtables+2 memtable logs: 11 MiB with the pi profile)
//     is kept for that and released only by Open, after the runtime
//     reserve: a database that crashed cannot be opened read-only (Badger
//     must truncate its memtable logs first), so a kill -9 on a disk that
//     another program filled needs room to open for writing. When even
//     that is not enough Open opens a cleanly closed database read-only,
//     so the appliance starts and serves what it has, and reopens it for
//     writing by itself once there is room; a crashed one it refuses with
//     ErrFull saying how much room it needs.
//
// What remains: a new table, value-log file or memtable log is sparse for
// the moment between Badger creating it and the guard allocating it (or,
// for a table, while Badger copies it out), so a program that takes the
// last free block of the filesystem in that moment can still fault
// Badger. The floors make that need another program to consume tens of
// MB at once; when one does, the restart is safe (above).
//
// On a 32-bit process (linux/arm) the budget is capped at 1.5 GiB:
// Badger maps every file of the database into the 3 GiB address space.
//
// # Memory and writes of the memory-mapped files
//
// Badger keeps every value-log file and table mapped until it deletes it,
// so every byte written since the last value-log GC stayed resident
// (file-backed RSS: 1.2 GB after 1M records of a data-streams load). Each
// check (every CheckInterval and WriteKick bytes) pages out the process's
// mappings of Badger's files (MADV_PAGEOUT, found through
// /proc/self/maps; pageout_linux.go): nothing is lost, a dirty page stays
// dirty in the page cache, and unlike MADV_DONTNEED it cannot harm a
// range Badger unmapped and the runtime reused meanwhile. The files
// Badger writes (the newest value-log file, the memtable logs) are also
// advised MADV_RANDOM, and the others MADV_NORMAL: with read-ahead on,
// the page cache backs a written mapping with large folios, and every
// commit's fsync wrote the whole folio under the write position again,
// 1.8 bytes to disk per byte of video with sixteen cameras; without it a
// sync writes what changed (1.017). Files that are no longer written get
// read-ahead back for replay and GetRecords. Measured with `kinedge
// bench-ingest` and BenchmarkPutRecordsSDK (see the README).
//
// The last ResidentTail bytes of the newest value-log file below its
// write position (the end of its highest page in the page cache,
// mincore) are not paged out: records just written are what a reader
// reads next (a Firehose delivery reads its batch seconds after the
// puts), and paged out they came back from disk one 4 KiB page at a
// time, read-ahead being off on that file. The tail defaults to a
// quarter of ValueLogFileSize (16 MiB; 4 MiB with the pi profile), so
// the file-backed RSS the page-out leaves grows by at most that much.
// The tail cannot get its own advice (read-ahead on below it): advising
// part of a mapping splits it, and Badger's mremap of a value-log file
// it truncates fails across two mappings.
//
// # The budget
//
// Budget bounds what the database directory holds on disk (allocated
// blocks, Badger's files and the reserve): the limit is the smaller of
// MaxBytes and what keeps max(MinFreeBytes, MinFreePercent of the
// filesystem, dataFloor plus a value-log file) free. Past EvictAt (the
// limit less two value-log files or 2%), DeleteOldestMedia has the
// Evictor (the video index) drop the oldest media (whole time buckets of
// all streams, see package index), with value-log GC after each round,
// until usage is a value-log file below EvictAt; DenyNewMedia refuses
// Data writes from the limit until retention has brought usage a margin
// below it. Status says which state the disk is in (ok, low, full,
// denying) and why, in words; /healthz and the metrics show it.
package store
