// Package archive is the video archive: it uploads every fragment the
// index stores to an S3-compatible bucket (through minio-go), one object
// per fragment, with a manifest per stream and hour, so a replaced
// appliance with the same master key, appliance id and bucket can replay
// the footage.
//
// # Driven by the index, not by fragment events
//
// A fragment event (Recorder.OnStored, events.Queue) is sent after the
// fragment's transaction commits, from memory: a power cut between the
// two loses the event, and a full event queue drops it. The archive
// therefore never trusts events. It keeps, per stream, a durable cursor
// (server time and fragment number of the last fragment archived, in its
// own key space "a/" of index/store) and reconciles: on start, after each
// Notify (wired to the recorders' OnStored, only a wake-up) and every
// Rescan, it lists the index after each stream's cursor and uploads what
// it finds, in server-time order, a batch of 64 per stream in turn. The
// cursor moves in the same transaction that records the fragment's
// manifest entry, after the PUT succeeded: a crash anywhere before that
// uploads the fragment again, to the same key. Object keys are
// deterministic, so a retry or a replay of the backlog overwrites rather
// than duplicates; nothing stored is skipped unless retention or eviction
// removed it first (see below).
//
// # Newest first
//
// Priority Newest (archive.priority: newest) uploads the most recent
// fragments first, across streams, then the backlog from the newest to
// the oldest; fragments stored meanwhile go before the rest of the
// backlog. The cursor then no longer says all that is done: a fragment
// archived past its stream's cursor gets a done mark ("a/x/<stream>",
// ordered like the cursor), set in the transaction of its manifest entry,
// and after each upload the cursor moves over the marks that join it,
// deleting them. So the marks are bounded by the backlog (a drained
// backlog leaves none), a restart resumes from the cursor and the marks
// (nothing is uploaded twice, nothing skipped), and everything the cursor
// says stays as with Oldest: an hour's manifest is complete when the
// cursor passes the hour's end, and ArchivedThrough is the first fragment
// after the cursor, i.e. the oldest not archived (Newest therefore keeps
// the eviction hold at the start of the backlog until it drains: the
// budget finds less archived media to evict first). A pass reads the
// newest fragments by windows of server time going back from the latest,
// each twice as long as the last, and remembers in memory which run it
// has archived, so a backlog costs about one reading of the index.
// Each round takes a batch per stream and uploads those newer than the
// oldest of any full batch, newest first, so no stream's older fragment
// goes before another's newer one (TestArchiveNewestFirst). Oldest stays
// the default: manifests complete hour by hour, archived media grows
// from the oldest. Marks left by a run with Newest are honoured by
// Oldest.
//
// Uploads are retried forever with capped exponential backoff and equal
// jitter (MinBackoff 500 ms doubling to MaxBackoff 1 min): the archive's
// promise is that it catches up whenever the uplink comes back.
//
// # Layout
//
//	<prefix><appliance-id>/<stream>/YYYY/MM/DD/HH/<fragment-number>.mkv
//	<prefix><appliance-id>/<stream>/YYYY/MM/DD/HH/manifest.json
//
// The hour is the fragment's server time in UTC; the number is decimal,
// as KVS writes it. The manifest (Manifest, JSON) lists the hour's
// fragments in server-time order: number, object key, server and
// producer time, duration, size and SHA-256 of the object's bytes, key
// id, the recorder's gap flag, the gaps between consecutive fragments
// (more than 1 s between one's end and the next one's start); a sealed
// archive's data keys are objects of their own (below). The entries of an hour are kept
// in "a/m/" until the stream's cursor passes the hour's end and the
// manifest has been written once more; a manifest is rewritten when
// fragments were added to it ("a/d/" marks it): at once the first time,
// then at most every ManifestInterval (10 s in the appliance) while its
// hour fills, and once more when the hour is complete. So the manifest of
// the current hour lags its objects by up to ManifestInterval, and a
// camera's hour costs about 360 manifest writes rather than one per
// fragment (the manifest grows to some 500 KB by the hour's end); a
// crash leaves the mark, and the next start writes the manifest.
// ParseManifest reads one back and checks it.
//
// # Sealed or plaintext
//
// By default (archive.sealed: true) an object is the sealed blob exactly
// as stored: AES-256-GCM under the stream's data key, bound to the stream
// name and fragment number (both in the key). Its user metadata carries
// the key id, the key's alias and the master key's check value; the data
// key itself, wrapped by the master key, is archived once as its own
// object, <prefix><appliance-id>/~keys/<key id> (KeyObject; "~" is not in
// stream names), uploaded before anything it sealed (a mark "a/u/<id>"
// is set before its PUT), so the bucket plus the master key opens every
// object with nothing from the appliance's database (TestArchiveSealed
// does this with a fresh keyring); plaintext never leaves the box.
// Manifests written before key objects existed carry the wrapped keys
// (Manifest.Keys) and still open. With archive.sealed: false the object
// is a self-contained Matroska file of the fragment with the KVS fragment
// tags (replay.AppendFragmentMKV), which ffprobe and players open
// directly.
//
// # Crypto-shredding
//
// Keeping each data key in one object is what makes shredding reach the
// bucket: when the index destroys keys (DeleteStream, retention) its
// OnKeysDestroyed calls KeysDestroyed, and before its next uploads the
// archiver goes through its key marks and, for each key destroyed
// locally, writes the tombstone ~keys/<id>.destroyed (Tombstone: why,
// when), deletes the key object (Bucket.Delete) and then the mark, each
// step retried until the bucket answers. The marks are the durable
// queue: an outage or a restart leaves them, and every Start goes through
// them again (TestShredWaitsForTheBucket). Remote reads a key from the
// bucket when an object is opened, its tombstone first, so a shredded
// key's objects fail with seal.ErrKeyDestroyed ("data key <id> was
// destroyed: …") through the tier and kinedge archive alike
// (TestShredDeletedStreamArchive); a legacy manifest's wrapped key is
// overridden by a tombstone too (KeysDestroyed marks ids it has no mark
// for). The copies in legacy objects' metadata (LegacyWrappedKeyMeta) and
// manifests (Manifest.Keys) are scrubbed after the key objects, after
// each pass of uploads (scrub.go; an outage must not keep the backlog
// from being counted and uploaded first):
// KeysDestroyed, and the first Start, ask for a pass ("a/s/again"); the
// pass walks the appliance's manifests in key order (Bucket.Dirs, down
// the hour levels), and in each that lists a destroyed key of this
// keyring rewrites the objects that key sealed without it
// (Bucket.Meta, Bucket.ReplaceMeta: S3 CopyObject onto itself with
// REPLACE metadata) and then the manifest without it, moving a durable
// cursor ("a/s/cursor") past each manifest; every call is retried. A pass
// that finds no key of this keyring in any manifest marks the archive
// clean ("a/s/clean"): this package writes none there any more, so no
// pass is run again (TestShredScrubsLegacyCopies). Fragment objects and
// manifests are kept: sealed blobs no one can open. See docs/keys.md
// (versioned buckets keep deleted versions).
//
// # Eviction
//
// The index's eviction (DELETE_OLDEST_MEDIA) works by whole time buckets
// behind one appliance-wide floor, oldest first. The archiver publishes
// ArchivedThrough, a time before which every stored fragment of every
// stream is archived (the oldest pending fragment's server time, or now
// minus a minute when nothing is pending: a fragment is stored at most
// fragment.max, 30 s, after it began). The index's Evict, given it as its
// hold, evicts first only buckets that end before it: archived media goes
// first. When no such bucket is left and the budget still needs room, it
// evicts unarchived media (counted in the index's stats and logged): a full
// disk would stop every camera, and the budget is the operator's hard
// limit. Those fragments are then missing from the archive; the manifest
// shows the hole as a gap.
//
// # Operators
//
// Verify reads every manifest under a root and checks each listed
// object's presence, size and SHA-256 (kinedge archive verify; ls and get
// list and fetch objects); objects no manifest lists are reported apart
// (the current hour's manifest lags by up to ManifestInterval).
//
// # Fragments recorded before the clock was set
//
// With ClockHold (the appliance: a run that started at a time known to be
// wrong, docs/clock.md), a fragment marked ClockUnsynced is not uploaded
// until the clock correction has moved it to its real time, or until it is
// UnsyncedGrace (an hour) old on Now, the recording clock: its object key
// and its manifest name its time. The stream's uploads stop at it, in
// order, and the eviction hold stays before it.
//
// # Uplink
//
// Window (archive.upload_window, "01:00-05:00" in local time, or several
// separated by commas, "22:00-06:00,12:00-13:00"; a window may span
// midnight) holds uploads until one opens; BandwidthLimit
// (archive.bandwidth_limit, bytes/s) spaces uploads so their bytes
// average the cap (each upload books len/limit seconds before the next may
// start; an uplink.Limiter without burst — the window and the cap are the
// firehose/uplink leaf, shared with the upstream forwarder): fragments and manifests alike (a manifest grows to some 500 KB
// by its hour's end and is rewritten every ManifestInterval while the hour
// fills, so it is not negligible on a thin uplink). Both wait on the loop
// goroutine between uploads, so a restart or an outage resumes from the
// cursor like any other wait.
//
// # Disaster recovery
//
// Remote reads an archive with nothing but the bucket and, when it is
// sealed, the master key: it reads the manifests of the hours of a range,
// builds a keyring from their wrapped keys, and writes the range as one
// continuous MKV through replay.Source, byte for byte what the
// appliance's own replay writes (TestRemoteReplaysFromTheBucketAlone,
// TestRemoteReplaysPlaintextArchive); kinedge archive replay runs it from
// an empty data dir. A plaintext archive's objects (the entries of a
// manifest with sealed false) are opened by taking the Tracks and the
// Cluster back out of their MKV (fragment.BlobFromMKV): no key, the same
// bytes out.
//
// # Tiered replay
//
// The appliance's video API (dataplane/video/api, its Archive interface)
// uses Remote as its second tier, sealed or plaintext (cmd/kinedge tier.go
// adapts it): Remote.Streams lists the stream names under the appliance's
// root (one delimited listing), Remote.SourceWhere the archived fragments
// of a range (the first limit of them, optionally filtered by producer
// time) with the replay.Source that fetches and opens them. The manifests
// of a range are found by walking the hour directories level by level,
// depth first and only as far as the limit needs (ManifestHours), pruned
// to the range. The API reads the archive only for the part of a range
// older than the stream's oldest local fragment (the index drops a
// stream's media oldest first), so a range that is all local costs no
// request, and it marks local fragments archived from the archiver's
// state, not from the bucket: at or before the cursor, in an hour whose
// manifest has no rewrite pending (Archiver.Listed; with Newest, a
// fragment uploaded ahead of the cursor shows archived only once the
// cursor joins it).
//
// The tier reads through a Cache (bounded by bytes, 16 MiB, least
// recently used out) of the manifests and the hour listings. What is
// final comes from the archiver's own state, not from the clock: an
// hour's manifest can change long after the hour (an outage, an upload
// window), but not once the stream's cursor is past the hour's end and
// no manifest before it waits to be rewritten (Archiver.SettledThrough,
// read before the bucket is). Entries read for times before that point
// are kept without expiry; the rest (the hour being filled, the list of
// streams, an archive this appliance does not write, such as a
// predecessor's stream it is not recording) for DefaultCacheTTL (10 s, the
// manifests' own lag). TestCacheReadsSettledHoursOnce and, through the
// API, TestTierReadsTheBucketOnlyForWhatIsNotLocal count the requests at a
// proxy in front of versitygw.
//
// Listing by producer time: the manifests are by server time, so the
// server times within the API's ProducerSkew (1 h) of the range are read
// and filtered by producer time; a camera whose clock is off by more is
// found by server time only. Media by producer time is local only.
//
// # Left to do
//
// The manifest cache's size is fixed (16 MiB: some 32 full hours of one
// camera; a longer range read again re-reads its manifests; its counters
// are kinedge_archive_cache_*); multipart upload for fragments above a
// few MiB; deleting the per-hour entries of a deleted stream; a scrub
// pass reads every manifest of the archive while legacy keys remain
// (narrowing it to the hours of the destroyed keys would need their
// creation and retirement times kept past their destruction).
//
// # A replacement recording under its predecessor's id
//
// Object keys hold fragment numbers, and a fresh database numbers from 1:
// in an hour both recorded, the replacement would overwrite its
// predecessor's objects. At start, before anything records, Seeder reads
// the highest number archived under the appliance's id
// (Remote.LastFragmentNumber: the object names of each stream's latest
// hour) and has the index number past it (index.SeedFragmentNumbers, a
// persisted base that only grows).
//
// If the bucket cannot be read then (S3 down, no uplink yet) and the
// database is fresh (index.FragmentNumbersIssued: no number ever issued,
// never seeded), it seeds from the wall clock in milliseconds. A
// predecessor issued a few fragments per second at most since its own
// start, so its numbers are far below now-in-ms whether it numbered from
// 1 or from its own clock (each crash loses a lease of 1000 numbers: only
// a crash loop of one restart a second could catch up). A database that
// has issued numbers keeps its own: it is the archive's owner, or was
// seeded at its first start. Either way the seeder goes on reading the
// bucket in the background (capped backoff) and, when it answers, seeds
// past its last number (a seed while recording keeps the numbers
// increasing), logging an error if that number was past the clock's seed.
// Recording is never held back: cameras losing footage is worse than the
// remaining risk. A clock before ClockFloor (this code's release: a board
// without a battery-backed clock before NTP) is taken as unset: the seed
// is ClockFloor's milliseconds and an error is logged; fragments recorded
// then carry that clock's hours in their keys, where no predecessor has
// objects. Appliances without an archive are not concerned: their
// numbering is unchanged.
//
// The manifest of an hour both recorded would still be replaced by the
// replacement's, listing only its own fragments: so the first time an
// archiver writes an hour's manifest it reads the one in the bucket, if
// any, and adds the entries it lacks (and their wrapped keys, kept in
// "a/k/") to the hour's entries (TestSeedBucketDownAtStart). That costs
// one GET per stream and hour, usually answered "no such key".
package archive
