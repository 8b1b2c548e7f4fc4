// Package dash writes MPEG-DASH media presentation descriptions (MPD,
// ISO/IEC 23009-1) for the fMP4 segments of a KVS DASH session. It is a
// leaf: it imports nothing of the appliance. The KVS
// GetDASHStreamingSessionURL operation (dataplane/video/kvs) builds on
// it; the session, its token, its window of fragments and its segments
// are those of HLS (dataplane/video/hls Session and Signer, the kvs
// package's session code, the replay package's WriteMP4Init and
// WriteMP4Segment), so DASH adds a manifest and nothing else.
//
// # The manifest
//
// An MPD is written in the ISO live profile
// (urn:mpeg:dash:profile:isoff-live:2011), with the time of every
// segment stated:
//
//	<MPD type="static|dynamic" ...>        static: ON_DEMAND (and an ended LIVE_REPLAY),
//	                                         with mediaPresentationDuration;
//	                                         dynamic: LIVE, LIVE_REPLAY, with
//	                                         availabilityStartTime, publishTime,
//	                                         minimumUpdatePeriod, timeShiftBufferDepth
//	  <Period id start>                     one per run of fragments with the same tracks
//	    <AdaptationSet contentType mimeType>  one per track (video; audio when present)
//	      <Representation id codecs bandwidth [width height | audioSamplingRate]>
//	        <SegmentTemplate timescale="1000" presentationTimeOffset startNumber
//	                         initialization="…" media="…$Number$…">
//	          <SegmentTimeline>
//	            <S t d [kvs:fn] [kvs:ts]/>    one per segment (one stored fragment)
//
// Times are milliseconds (timescale 1000). Every S states its t, so a gap
// in the recording is a gap in the timeline rather than a drift, and the
// t of a segment is its media time: the presentation time of its first
// frame as the segment's boxes carry it (the decode time, tfdt, plus the
// composition offset of a video that reorders frames), so that a player
// that places segments by the manifest and one that places them by their
// boxes agree. A Period's
// presentationTimeOffset is the media time of its first segment and its
// start that media time less the MPD's Zero, so periods follow one
// another on one presentation timeline.
//
// Segments are numbered by $Number$ in the media template: a segment's
// number is its place in the session (startNumber is the number of the
// period's first), which is how KVS names DASH segments; the fragment
// number is the kvs:fn attribute of the S element when ShowNumber is set
// (KVS DisplayFragmentNumber ALWAYS), and the fragment's timestamp is
// kvs:ts when ShowTime is set (DisplayFragmentTimestamp ALWAYS),
// written as RFC 3339 with milliseconds in UTC. The kvs prefix is bound
// to the namespace Namespace: KVS documents the attribute names but not
// their namespace, so the URI here is the appliance's own.
//
// A codec change (a camera restarted with other settings) starts a new
// Period with its own initialisation segment, as a DASH player must
// reinitialise its decoders there (ISO/IEC 23009-1 section 5.3.2).
package dash
