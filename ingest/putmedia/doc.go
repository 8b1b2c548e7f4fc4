// Package putmedia serves Kinesis Video Streams PutMedia (POST /putMedia):
// a producer streams Matroska (chunked), the appliance records it through
// the same path as an RTSP camera (the Publisher: one source per video
// stream, fragmenter, sealing, index) and answers with a stream of
// newline-separated JSON acks (KVS API reference, PutMedia and AckEvent).
//
// # Request
//
// Headers x-amzn-stream-name or x-amzn-stream-arn (one of them),
// x-amzn-fragment-timecode-type ABSOLUTE or RELATIVE,
// x-amzn-producer-start-timestamp (seconds since the epoch, a float) and
// x-amzn-fragment-acknowledgment-required (default true; false sends only
// ERROR and IDLE acks). Bad headers get HTTP 400 InvalidArgumentException
// before a byte of the body is read. The body's head (EBML header, Info,
// Tracks) is read before the response starts, so the refusals that depend
// on the stream still get KVS's HTTP errors: an unknown stream 404
// ResourceNotFoundException, a stream another producer feeds 400
// ResourceInUseException, storage that cannot record 503
// ServiceUnavailableException, a codec kinedge does not record 400
// InvalidArgumentException. SigV4 is checked by
// awsproto.StreamingMiddleware on the headers alone: the producer SDKs sign
// the empty payload hash (or UNSIGNED-PAYLOAD), never the body.
//
// # Clusters, fragments and acks
//
// Each Cluster is what KVS calls a fragment; its FragmentTimecode in the
// acks is the cluster's Timecode (ms) as the producer wrote it. For each
// cluster the session sends BUFFERING at its start, RECEIVED at its end,
// and PERSISTED once the fragment that holds its last frame is durable in
// the index. The frames go through the same fragmenter as every other
// source, so stored fragments are cut at the producer's keyframes (which
// start its clusters) by the fragmenter's target duration: a stored
// fragment may hold several short clusters, and then they are all
// PERSISTED together. The link is the producer time: the Server is told of
// every stored fragment (Server.Stored, wired to the recorder's OnStored
// hook) with its producer start time plus duration, and a cluster is
// persisted by the first stored fragment that ends after the cluster's
// latest frame. The last cluster's fragment is cut when the body ends, so
// its PERSISTED ack follows the end of the upload. PERSISTED acks carry the
// fragment number.
//
// Timecodes: ABSOLUTE makes a block's timecode (ms, after TimecodeScale)
// the producer time since the Unix epoch; RELATIVE adds it to the producer
// start timestamp (the server's clock at the request when absent). The
// session's media timeline starts at its first cluster.
//
// # Errors (ErrorId)
//
// A cluster with a timecode before the previous one gets
// 4004 FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS, a block of a track number
// the Tracks do not list 4010 TRACK_NUMBER_MISMATCH, a cluster larger than
// MaxFragmentSize 4001, longer than MaxFragmentDuration 4002, a block whose
// NAL unit lengths do not add up 4006 INVALID_MKV_DATA: the rest of that
// cluster is skipped (its frames before the fault are recorded), the
// recorder is told of the break (media.Writer.Discontinuity: it goes on at
// the next keyframe, since later frames may refer to the lost ones) and
// the session goes on with the next cluster, as KVS does. Malformed Matroska
// structure (what the fragment/mkv Reader refuses) inside a cluster gets
// 4006 INVALID_MKV_DATA for that cluster, and mkv.Reader.Resync skips to
// the next Cluster ID, so the session goes on there too (malformed data
// outside any cluster gets a 4006 ack without timecode). A body that fails
// or is cut ends the session with 4000 STREAM_READ_ERROR, a head with more
// than MaxTracks tracks with 4005, a head that is not Matroska with 4006. Clusters RECEIVED but not
// persisted when the session ends (a storage refusal) get 5001
// ARCHIVAL_ERROR. A second segment (a producer restarting its muxer) must
// repeat the session's tracks, else 4010 ends the session.
//
// Two of KVS's rules are opt-in (the appliance leaves them off):
// MaxConnectionDuration ends a session at the first cluster that starts
// after it, with 4003 MAX_CONNECTION_DURATION_REACHED for that cluster
// (the producer reconnects and sends it again); RequireAllTracks gives a
// cluster that holds no block of one of the Tracks 4011
// FRAMES_MISSING_FOR_TRACK at its end instead of RECEIVED, as KVS does.
// kinedge records such a cluster otherwise (a camera's silent audio
// track), and its frames went to the recorder as they came, so with the
// rule on they stay recorded though the producer is told the fragment was
// refused.
//
// Ack and ParseAck are the one AckEvent type of both ends: the upstream
// forwarder (dataplane/video/upstream) reads another server's acks with
// ParseAck (fuzzed).
//
// IDLE acks are sent when nothing else was sent for an IdleInterval, so
// producers and proxies see a live connection during long fragments.
//
// # Memory
//
// The body is parsed by the streaming, fuzzed fragment/mkv Reader with
// MaxElementSize at KVS's fragment limit (50 MB): a block is the largest
// thing held, clusters are streamed. Frames go to the recorder's bounded
// queue. When more than InFlightBytes were received and not yet persisted,
// the reader waits before the next cluster (for a PERSISTED or one
// IdleInterval, whichever is first: the open fragment is only cut by the
// next cluster's keyframe, so waiting longer could wait for itself), so
// an offline producer uploading faster than storage pushes back through
// TCP instead of having frames dropped.
//
// # Goroutines
//
// Per request: the handler's goroutine owns the response and the pending
// clusters; one reader goroutine owns the body, the Matroska reader and the
// media.Writer, and ends when the body ends, fails, or the handler moves
// the read deadline to now (a Kick, the client gone). The handler returns
// only after the reader's last event, which follows the Writer's Close
// (the last fragment stored).
package putmedia
