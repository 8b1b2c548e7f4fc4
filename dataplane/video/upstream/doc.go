// Package upstream forwards recorded video to an upstream Kinesis Video
// Streams endpoint (edge-agent mode): AWS KVS, or another appliance's
// PutMedia. Client is the PutMedia client; Forwarder ships one local
// stream's stored fragments through it, in order, from a durable cursor.
//
// # The wire
//
// A session is one POST <endpoint>/putMedia, chunked, signed with SigV4
// (service "kinesisvideo") over the headers only, with the empty payload's
// SHA-256 as the producer SDKs sign it (the body streams; the server
// accepts that hash, awsproto.StreamingMiddleware). Headers:
// x-amzn-stream-name, x-amzn-fragment-timecode-type ABSOLUTE,
// x-amzn-producer-start-timestamp (the first fragment's producer time),
// x-amzn-fragment-acknowledgment-required 1. The body is an EBML header,
// a Segment of unknown size, an Info and the Tracks once, then one Cluster
// per stored fragment: the fragment's decrypted Matroska cluster exactly
// as recorded, with its timecode set to the producer time in ms (ABSOLUTE:
// blocks stay relative to it), moved a few ms later where needed (see
// Batches), so the frames arrive unchanged. The response is KVS's stream of JSON acks: the
// client reads them with putmedia.ParseAck (fuzzed), the one Ack type the
// receiver writes, so both ends share the AckEvent and its ErrorIds. A PERSISTED ack for a cluster means
// the upstream holds it and every cluster before it (an upstream persists
// in order, and may store several short clusters as one fragment).
//
// # Batches
//
// A session carries a batch (Batch) of consecutive fragments with the
// same Tracks and non-decreasing producer times, and its body ends after
// the last one: the upstream cuts its last fragment at the end of the
// body (kinedge's PutMedia server does: its open fragment is cut by the
// next keyframe or the body's end), so every cluster sent gets its
// PERSISTED and a session never waits for media not recorded yet. A
// change of tracks (a camera's new resolution) or a producer clock that
// went back starts a new session: one Segment has one Tracks, and KVS
// refuses a timecode before the previous one in a session.
//
// # Tracks without frames (a camera's silent audio)
//
// AWS KVS requires every fragment (cluster) of a session to hold at least
// one frame of every track its Tracks declare: one that does not gets
// ERROR 4011 FRAMES_MISSING_FOR_TRACK (the producer SDKs' issues say so
// of audio+video streams whose audio paused). kinedge records such
// fragments (its fragmenter cuts at video keyframes, silence or not), so
// each fragment is sent under its session tracks (sessionTracks): the
// stored Tracks when it holds frames of all of them, else a Tracks of
// only the entries it holds frames of, as stored (track numbers kept).
// A change of session tracks is a change of tracks: a new session, not a
// second EBML header and Segment in the same body (kinedge's own server
// ends a session whose second Segment changes the tracks with 4010, and
// a new PutMedia is what a producer SDK does for a new stream format).
// A camera whose audio comes and goes thus costs a session per change;
// the upstream sees the audio track come and go with it (a kinedge
// upstream marks the fragment after each session boundary with its gap
// flag). kinedge's PutMedia server applies KVS's rule when
// kvs.put_media_require_all_tracks is set (putmedia.Server.RequireAllTracks),
// which is how the appliance-to-appliance tests check it.
//
// A batch's clusters are placed on one media timeline (place): each
// cluster's timecode is its fragment's producer time in ms, unless that
// would put a track's first block at or before the same track's latest
// block of the previous cluster; then it is moved to 1 ms past it. Two
// consecutive fragments' producer times can be a few ms closer than the
// media of the first (a fragment's producer time is its first frame's
// arrival-mapped time, its frames' spacing is the media's), and a kinedge
// upstream drops a frame whose DTS is not 1 ms past its track's previous
// one (kinedge_stream_fragmenter_frames_dropped_total{reason="backwards"}):
// sent at their producer times, 10 of 1,438 frames were lost in the
// appliance-to-appliance test (TestUpstreamForwarding); placed, none are.
// KVS's own rule is on the clusters alone (4004
// FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS: timecodes must not decrease in
// a session), which placed clusters keep. A moved cluster does not push
// the next: each starts again from its own producer time, so the drift
// is bounded by one fragment's overlap. The upstream re-cuts the frames
// by its own target duration, so its fragments need not be the local
// ones one for one (the frames and their order are).
//
// The appliance sends DefaultBatch (32) fragments a session: a request
// per 32 fragments during a catch-up rather than one per fragment (AWS
// KVS throttles PutMedia connections per stream). The upstream's
// fragment after a session boundary carries its gap flag (kinedge marks
// a new publisher session so).
//
// # Cursor and ordering
//
// Like the S3 archive (firehose/archive), the forwarder is driven by the
// index, not by fragment events: Notify (wired to the recorders' OnStored)
// only wakes it, and every Rescan it reads the index anyway. Its cursor,
// the server time and number of the last fragment the upstream
// acknowledged PERSISTED, is kept in the index's database (space "u/",
// key c/<stream>\0<endpoint>\0<remote stream>) and moves only on a
// PERSISTED ack, in the order sent. Each round lists the fragments after
// the cursor in server-time order, sends the first batch, and moves the
// cursor as the acks come; the backlog is counted on the first round
// after a wait and every 64 rounds of a catch-up (a batch is read in
// between, so a long backlog costs no more than one reading per 64
// batches). So a restart, a crash or
// an upstream outage resumes at the first fragment not acknowledged:
// nothing is skipped, and the order is the recording's. A fragment is
// sent twice only if the upstream persisted it and its ack was lost (the
// connection cut between the two): delivery is at least once, as any
// PutMedia producer's. Pointing a stream at another endpoint or remote
// stream starts a new cursor, from the oldest fragment stored.
//
// # Failures and ERROR acks
//
// A failed session (connection refused or cut, an HTTP refusal such as
// 404 ResourceNotFoundException or 403, an ERROR ack, no line for
// AckTimeout) ends the round: the cursor stays after the last PERSISTED,
// failures_total counts it, it is logged, and the round is retried after
// capped exponential backoff with equal jitter (MinBackoff 500 ms doubling
// to MaxBackoff 1 min), forever: the promise is that the upstream catches
// up when it comes back. An HTTP refusal (403, 404, throttling 400/503)
// is never taken as a fragment's: it is retried forever.
//
// ERROR acks are told apart by KVS's ErrorId (Permanent, from the KVS API
// reference's meanings):
//
//	permanent (the same bytes are refused again)  transient (retried forever)
//	4001 MAX_FRAGMENT_SIZE_REACHED                4000 STREAM_READ_ERROR
//	4002 MAX_FRAGMENT_DURATION_REACHED            4003 MAX_CONNECTION_DURATION_REACHED
//	4004 FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS   4008 STREAM_NOT_ACTIVE
//	4005 MORE_THAN_ALLOWED_TRACKS_FOUND           45xx KMS key errors (access, disabled, …)
//	4006 INVALID_MKV_DATA                         5000 INTERNAL_ERROR
//	4007 INVALID_PRODUCER_TIMESTAMP               5001 ARCHIVAL_ERROR
//	4009 FRAGMENT_METADATA_LIMIT_REACHED          any other id
//	4010 TRACK_NUMBER_MISMATCH
//	4011 FRAMES_MISSING_FOR_TRACK
//
// The skip rule: a permanent ERROR ack that names a fragment sent (its
// FragmentTimecode is a cluster of the session) counts one refusal of
// that fragment; the count is of refusals in a row of one fragment (a
// permanent refusal of another, or its PERSISTED, starts it again; a
// transient failure in between leaves it), kept by the loop goroutine (a
// restart starts it again: at most SkipAfter more tries). A refused
// fragment is sent first in a session of its own next time (the ones
// before it are persisted first), and at its SkipAfter-th refusal (3)
// while first, it is skipped: the cursor moves past it and the skip
// (Skip: stream, fragment number, ErrorId, ErrorCode, message, endpoint,
// remote stream, when by the injected clock) is added to the stream's
// record (key k/<stream>: the total and the latest MaxSkips, 100), in one
// transaction; skipped_total counts it, a warning logs it with the
// fragment number and ErrorCode, and GET /v1/streams/{name}/upstream
// lists it. The upstream never has that fragment: a hole it shows, rather
// than a stream held back for good.
//
// # Retention
//
// The forwarder holds nothing back from eviction: a fragment the index
// evicts or expires before it is forwarded is not sent (the listing after
// the cursor no longer has it), and the upstream shows a gap.
//
// # Goroutines and metrics
//
// One goroutine per forwarded stream, owned by its Forwarder (Start,
// Close waits). Each session has one body-writer goroutine, owned and
// waited for by Client.Put. Collector exports kinedge_upstream_*
// {stream}: backlog_fragments, lag_seconds (the oldest fragment not
// forwarded), fragments_total, bytes_total, failures_total,
// sessions_total, skipped_total (the record's total: it survives
// restarts).
//
// # Upload windows and bandwidth cap
//
// Windows (several daily "HH:MM-HH:MM", local time) and BandwidthLimit
// (bytes/s) come from firehose/uplink, the scheduler leaf the S3 archive
// uses too (each owns its own). Outside the windows a round reads the
// index (the backlog and lag stay current) and starts no session; the
// loop wakes at the opening, the next Rescan or a Notify. A session
// started inside a window runs to its end (at most Batch fragments). The
// cap is an uplink.Limiter, a token bucket of one second's bytes, set as
// the Client's Limiter: the body writer waits on it before each cluster.
// The clock and the cap's sleep are injected (tests advance them).
//
// # Manager and API
//
// Manager owns an appliance's forwarders: the config file's (fixed: the
// API reads them but neither changes nor deletes them) and those set by
// GET/PUT/DELETE /v1/streams/{name}/upstream (Register), kept in the
// space under t/<stream> and started again at Start. The secret key is
// kept sealed: the Sealer (the appliance's keyring) seals it under the
// alias "kinedge/upstream" (SealAlias; rotated like any alias, never a
// video stream's, so crypto-shredding leaves it), bound to
// "kinedge/upstream/<stream>" (a record copied to another stream's key
// does not open). A record from before sealing (secret_key in clear) is
// sealed again and rewritten at Start; the clear bytes of the old record
// stay in Badger's files until its compaction drops them (not scrubbed).
// The access key is kept in clear (an identifier). The API never returns
// credentials; a PUT without them keeps the current ones. Replacing a target closes its forwarder (a session in
// flight is abandoned and sent again: at least once) and starts a new one;
// a new endpoint or remote stream starts a new cursor. The collector
// (Manager.Collector) reads the forwarders at each scrape.
//
// # Not built
//
// A test against AWS KVS itself (the tests use kinedge's PutMedia server
// with KVS's rules on). An operator's "skip this fragment now" (the rule
// above is automatic) and a retry of skipped fragments. Scrubbing a
// legacy clear record's old bytes from Badger's files.
package upstream
