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
// up when it comes back. An ERROR ack is thus retried like an outage: the
// upstream's transient refusals (throttling, storage full, 5001
// ARCHIVAL_ERROR) pass; a permanent one (a fragment the upstream will
// never accept) holds the stream back and shows as a growing backlog and
// lag and a failure count, logged with the fragment number and ErrorCode,
// rather than a silent hole. Skipping such a fragment is left to an
// operator (not built).
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
// sessions_total.
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
// space under t/<stream> (credentials included, like the config file
// keeps them; the database is the appliance's own) and started again at
// Start. The API never returns credentials; a PUT without them keeps the
// current ones. Replacing a target closes its forwarder (a session in
// flight is abandoned and sent again: at least once) and starts a new one;
// a new endpoint or remote stream starts a new cursor. The collector
// (Manager.Collector) reads the forwarders at each scrape.
//
// # Not built
//
// Skipping a fragment an upstream refuses for good (an operator's
// decision); telling permanent ERROR acks (4006, 4010, 4011) from
// transient ones. A kinedge fragment that lacks frames of one of its
// tracks (a camera's silent audio) is refused by AWS KVS with 4011
// FRAMES_MISSING_FOR_TRACK and would hold the stream back.
package upstream
