// Package fragment turns a session's frames into fragments: self-contained
// pieces of media, cut at keyframes, that the index stores sealed.
//
// # Cutting
//
// With a video track, a fragment is closed at the first video keyframe whose
// decode time is at least Target (default 2 s) past the fragment's start, so
// every fragment begins with a keyframe that carries its parameter sets
// in-band and decodes alone. Audio frames go to the fragment that is open
// when they arrive. Audio-only sessions are cut at the first frame past
// Target.
//
// # Long GOPs and the cap
//
// A camera whose keyframe interval exceeds Max (default 10 s, the KVS
// limit) would otherwise produce unbounded fragments. When a fragment
// reaches Max without a keyframe it is closed there, and the frames that
// follow are dropped until the next keyframe, because a fragment
// that starts without a keyframe cannot be decoded alone. Operators fix the
// cause by lowering the camera's GOP or raising Max (up to 30 s; Matroska
// block timecodes are 16-bit milliseconds relative to the cluster).
// The Recorder counts both (RecorderStats.FragmentsOverMax and
// FramesOverMax, shown on /metrics) and logs them, at most once per 10 s
// per stream.
//
// # Timelines
//
// Frames carry their media timeline (PTS/DTS, unwrapped by ingest). The
// Recorder anchors each continuous run of that timeline to the server clock
// once, at the run's first frame, so fragment server timestamps follow the
// camera's media clock without network jitter; when the two clocks drift
// apart by more than DriftTolerance the anchor is reset. A discontinuity
// (reconnect, timestamp jump) closes the open fragment and marks the next one
// as the first after a gap. Producer timestamps come from the camera's wall
// clock (RTCP sender reports) when it sends one, else they equal the server
// timestamp. A frame is not captured after it arrived: a sender-report
// producer time is held at or before its fragment's server time (the
// jitter-free server time can lie a network jitter before a keyframe's
// real arrival, which the ingest compared against). PutMedia's producer
// timestamps are the producer's own and are stored as sent
// (ProducerTimesAsSent), as KVS keeps them.
//
// # Storing
//
// The Recorder seals each fragment and hands it to its Sink, which is the
// index itself (*index.Index): the record it fills is index.Fragment, the
// index's own type, so a fragment crosses from recorder to index in one
// call with nothing copying it on the way. The dependency points one way:
// fragment imports index (for the record type); index imports only the
// leaf fragment/seal.
package fragment
