// Package index is the store of video fragments in the appliance's Badger
// database: the registry of video streams, sealed fragment blobs, their
// metadata, time indexes by server and producer timestamp, fragment
// numbers, tags, usage per stream, retention, and eviction for the
// storage budget.
//
// # The database
//
// The appliance's one Badger database belongs to package index/store,
// which hands each owner a Space scoped to its key prefix and guards the
// disk (see its package doc). The index owns "v/" (video) and "k/" (the
// keyring's data keys); Open takes the shared store.DB, or opens one of its
// own (tests, tools). Writes of fragments are store.Data (refused when the
// storage budget says so); the registry and keys are store.Meta; the
// deletions of retention and eviction are store.Reclaim.
//
// # Key layout under "v/"
//
// Integers are big-endian; times are Unix nanoseconds with the sign bit
// flipped, so byte order is time order. sid is a stream's internal id (a
// stream deleted and created again under the same name gets a new one).
//
//	v/r/<name>                        stream record (JSON)
//	v/n/<number>                      fragment metadata (CBOR)
//	v/s/<sid><server time><number>    fragment metadata, server-time index
//	v/p/<sid><producer time><number>  fragment metadata, producer-time index
//	v/b/<sid><bucket end><number>     sealed blob
//	v/x/<sid>                         deleted stream awaiting purge
//	v/u/<sid><bucket end>             usage of a blob bucket: sealed bytes, fragments
//	v/t/<sid>                         the stream's tags (JSON)
//	v/e                               eviction floor (Unix ns): media before it was evicted for the budget
//	v/c/<first number>                a run that started with its clock unsynchronised (JSON; docs/clock.md)
//	v/q/...                           badger Sequences (fragment numbers, ids, versions)
//
// The metadata is stored with each index entry, so List (KVS
// ListFragments) is one seek and a sequential scan whatever the range: a
// page of 100 from the middle of a week-long index (302,400 fragments)
// takes about 0.8 ms (BenchmarkList1Week, amd64). Fragment metadata is a
// few hundred bytes and stays in the LSM tree; blobs are above
// ValueThreshold (1 KiB) and go to the value log, so LSM compactions move
// only small keys and never rewrite video.
//
// # Retention and reclaiming space
//
// Reads never return a fragment whose server time is older than its
// stream's current retention (or the eviction floor, below), whatever the
// state of the disk: List,
// Iterate, Fragment, Blob, Earliest and Latest filter on the injected
// clock. Every key of a fragment also carries a badger TTL (the end of its
// bucket plus the retention plus ExpirySlack) as a backstop, but for a
// fragment marked ClockUnsynced: badger reads TTLs on the system clock,
// and a TTL stamped while it read 1970 would expire the moment NTP sets
// it, before the fragment's time is corrected (the correction that
// settles it gives it its TTL).
//
// Space is the hard part. Badger's value-log GC only rewrites a value-log
// file once badger's discard statistics say enough of it is garbage, and
// those statistics are updated only when a compaction drops the keys that
// point into the file. Expired TTLs alone do not trigger that for keys in
// the memtable or in tables that no compaction visits: in a trial, 80 MiB of
// expired blobs freed nothing until something forced a compaction.
// So retention works in buckets:
//
//   - Blob keys carry the end of their time bucket (up to BucketWidth,
//     10 min; shorter on a small budget, see below) right after the
//     stream id. A bucket whose end is past the retention
//     cutoff is dropped with one DropPrefix call per GC cycle for all
//     streams, which flushes the memtables and compacts exactly the tables
//     that hold the bucket, recording every dropped blob as garbage in the
//     value-log file that holds it.
//   - Fragments are written in time order, so a value-log file
//     (ValueLogFileSize, 64 MiB: about 4 min of a 2 Mbit/s camera) holds
//     consecutive fragments. With one retention for all streams, a file
//     becomes entirely garbage once the buckets it spans expire, and
//     RunValueLogGC deletes it without rewriting anything: video is
//     written to the SD card once.
//   - The small keys (number, indexes) of expired fragments are deleted in
//     batches; retention decreases take effect at the next cycle.
//   - GC runs RunValueLogGC(GCDiscardRatio) until it finds nothing to do,
//     every GCInterval (5 min) and on RunGC. With 0.5 (badger's
//     suggestion) files that straddle a bucket boundary get their live half
//     rewritten; with the default 0.9 they wait for their next bucket.
//
// Measured (go test ./index -run '^$' -bench RetentionSpace -benchtime 1x;
// 4 simulated hours, a 64 KiB fragment every 10 s per camera, 4 MiB value
// log files, GC every 5 simulated minutes; bytes written are badger's own
// counters, counting a memtable flush as much as its write-ahead log):
//
//	one camera, 1 h retention, ratio 0.9 (default): 1.05 disk bytes per video byte (value log 1.00), value log at most 36 MiB
//	one camera, 1 h retention, ratio 0.5:           1.20 (value log 1.16), at most 38 MiB
//	1 h and 2 h cameras mixed, ratio 0.9:           1.06 (value log 1.00), at most 104 MiB
//	1 h and 2 h cameras mixed, ratio 0.5:           1.15 (value log 1.10), at most 105 MiB
//
// One hour of one camera is 22.5 MiB here; the value log holds the
// retention plus up to one bucket, one GC interval and the open file. The
// LSM share (3 to 4 KiB per fragment: metadata three times, write-ahead
// log, flushes and compactions) shrinks relative to real fragment sizes
// (0.1 to 2 MB). Streams of different retentions share value-log files,
// so the shorter retention's space comes back only when the longer one's
// data in the same files expires (or the file reaches GCDiscardRatio):
// the mixed case holds 104 MiB where the live data is 67.5 MiB. A lower
// ratio rewrites live video to get space back sooner, and in these runs
// it gained nothing. TestGCReclaimsSpace checks the one-retention case: 3
// hours of 128 KiB fragments (135 MiB) kept at most 60 MiB of value log on
// disk (the test allows 64) and wrote the value log 1.00 times per video
// byte (it allows 1.02).
//
// Retention 0 (KVS: the stream does not persist data) keeps fragments for
// Options.ZeroRetention (10 min) so live readers can still read them. A
// retention increase extends fragments stored before it only up to their
// TTL (old retention plus ExpirySlack).
//
// # The storage budget: eviction
//
// The store (index/store) measures the disk and, under
// DELETE_OLDEST_MEDIA, asks the index, its Evictor, to remove media when
// usage passes the budget. Evict raises the eviction floor (v/e) to the
// end of the oldest blob buckets of all streams that together hold the
// bytes asked for, so every read hides their fragments at once (reads cut
// at the later of a stream's retention and the floor), then runs a GC
// cycle that sweeps their metadata, drops their buckets and collects the
// value-log files they leave. The floor is one key for the whole
// appliance: eviction is oldest first across cameras. PutFragment reads
// the floor in its transaction, so a fragment older than the floor is
// refused (ErrInvalidFragment, in words) and a concurrent eviction makes
// it conflict rather than land in a dropped bucket. The bucket still
// being written is never evicted.
//
// The archive (firehose/archive) sets an eviction hold
// (SetEvictionHold): the time before which everything is uploaded.
// Eviction then drops only buckets that end before the hold while there
// are any, so archived media goes first, and goes past the hold (counted,
// logged) only when nothing archived is left: the budget stays a hard
// limit, and fragments evicted unarchived are missing from the archive.
// Eviction works by whole buckets behind one floor, so the hold is per
// appliance (the oldest unarchived fragment of any stream), not per
// fragment.
//
// Every blob bucket has a usage record (v/u/, written in PutFragment's
// transaction, dropped with the bucket): what each stream holds is their
// sum, kept in memory from Open on (Usage), and the bytes removed are
// counted by reason, retention or budget (Stats).
//
// Buckets must be small next to the budget: a 10 minute bucket of four
// 4 Mbit/s cameras holds 1.2 GB. The width of a new fragment's bucket is
// the time in which the recent ingest rate stores 1/32 of the budget's
// limit, from 1 s up to BucketWidth (width.go).
//
// Measured (TestBudgetReclaimsSpace: 3 simulated hours of a camera, a
// 128 KiB fragment every 10 s, 24 h retention, a 48 MiB budget with 4 MiB
// value-log files): usage at most 34.3 MiB, the value log written 1.005
// times per video byte (1.024 with the LSM), 14 minutes of video kept
// (the reserves, the preallocated files and the eviction margin take the
// rest of a budget that small). A round that frees no value-log file
// (the oldest file still holds newer media) evicts a quarter file more
// rather than rewrite the file's live part; rewriting files half garbage
// instead wrote the value log 1.150 times. On a real disk
// (TestStorageFillDeleteOldest, four 6 Mbit/s cameras on a 320 MiB tmpfs
// and ext4 image), an eviction round drops about 17 MB and gives it back
// to the filesystem in about half a second, and the disk never came
// within 100 MiB of full.
//
// # A full disk
//
// Badger writes its value log and memtable logs through memory maps of
// sparse files; a page fault on a filesystem without a free block is
// SIGBUS, which killed the appliance (a 48 MB tmpfs and four cameras
// ended in "unexpected fault address" within a minute, and the restart
// faulted opening the database). The decision, written down in
// index/store: keep Badger's mapped files preallocated (fallocate), keep
// the budget and admission control above the room Badger may take on its
// own, hold a reserve file that is released when another program fills
// the disk, and start read-only when even that is not enough. Measured:
// the same 48 MB tmpfs and four cameras now start and answer "22.0 MiB
// free on the disk, the database needs 62.0 MiB to work safely" (pi
// profile; /healthz 503, and RTSP 503 to the cameras);
// TestStorageForeignFill fills tmpfs and ext4 to the last block with
// another file under both policies, kills the appliance with SIGKILL on
// the full disk, and it starts on it, lists and replays every fragment it
// had, and records once there is room.
//
// # Fragments recorded before the clock was set
//
// A fragment may carry ClockUnsynced and the offset of the boot's
// timeline it was recorded on (docs/clock.md). CorrectClock moves such
// fragments when the clock is set: per fragment, in one transaction, the
// server-time entry (and the producer-time entry when it was the
// server's) is rewritten at the corrected time and the blob moves to its
// corrected bucket with its usage, so retention and eviction count from
// the real age. Options.TimeFloor and FutureTolerance make PutFragment
// refuse a time before the build or past the clock.
//
// A run (one process) that starts unsynchronised records where its
// timeline sits on the kernel's boot clock and its first fragment number
// (RecordClockRun, v/c/). The boot clock survives a restart of the
// process, not a reboot: when a later run of the same boot is
// synchronised, CorrectEarlierRuns places each earlier run's timeline by
// the boot time between them and settles its fragments (the numbers up to
// the next run's first) the same way. Runs of other boots keep their
// marks; their records are dropped.
//
// # Deleting a stream
//
// DeleteStream removes the registry entry and leaves a v/x/ marker in the
// same transaction, so the stream and its fragments vanish from readers at
// once. The background loop then deletes the number keys in batches and
// drops the stream's index and blob prefixes, resuming after a restart.
//
// # Data keys and crypto-shredding
//
// Keys (the seal.KeyStore under "k/") holds the wrapped data keys.
// DeleteStream destroys every key of the stream's alias before it returns,
// and each GC cycle destroys the keys whose whole sealing period (from
// their creation to their successor's) is beyond their stream's retention
// and the archive's hold (shredExpiredKeys); each leaves a tombstone under
// "k/x/" saying why, and OnKeysDestroyed tells the keyring. See
// docs/keys.md.
//
// # Durability and tuning
//
// SyncWrites is on: a fragment is durable when PutFragment returns, and
// concurrent writers share the fsyncs of one Badger commit batch.
// BenchmarkPutFragment (1 MiB fragments, amd64 virtio disk shared with
// other work, syncs counted with strace as in its comment): one writer
// 82 to 160 MB/s with 2.2 msyncs per fragment (value log and memtable
// log), 8 writers 177 to 186 MB/s with 1.4. Badger's sizes (memtables,
// caches, value-log files) are the store's options, set by the
// appliance's memory profile (default or pi). After 300 PutFragment
// calls of 1 MiB with the default sizes (amd64), the Go heap in use was
// 12 MiB and the anonymous RSS 11 MiB; Badger writes the value log
// through mmap, so the recently written video also shows as file-backed
// RSS (page cache that the kernel reclaims). Fragment numbers come from a
// Sequence leased 1000 at a time: unique and increasing across restarts
// and crashes, with gaps after a crash.
package index
