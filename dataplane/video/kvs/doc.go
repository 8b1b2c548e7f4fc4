// Package kvs serves the Amazon Kinesis Video Streams control plane
// (API version 2017-09-30, Smithy protocol "aws.protocols#restJson1":
// POST /<operation> with a JSON body), the archived-media ListFragments,
// GetMediaForFragmentList, GetClip, GetImages,
// GetHLSStreamingSessionURL and GetDASHStreamingSessionURL operations and
// the media GetMedia operation on top of the appliance's index, so that
// code written against
// AWS with aws-sdk-go-v2's service/kinesisvideo (or any SDK, the AWS CLI)
// manages and reads the appliance's video streams by changing only the
// endpoint.
//
// Operations (KVS API reference, "Amazon Kinesis Video Streams" actions):
//
//	POST /createStream         StreamName, DeviceName, MediaType, KmsKeyId, DataRetentionInHours, Tags → StreamARN
//	POST /describeStream       StreamName | StreamARN → StreamInfo
//	POST /listStreams          MaxResults (1-10000), NextToken, StreamNameCondition (BEGINS_WITH) → StreamInfoList, NextToken
//	POST /deleteStream         StreamARN, CurrentVersion
//	POST /updateStream         StreamName | StreamARN, CurrentVersion, DeviceName, MediaType
//	POST /updateDataRetention  StreamName | StreamARN, CurrentVersion, Operation, DataRetentionChangeInHours
//	POST /getDataEndpoint      StreamName | StreamARN, APIName → DataEndpoint
//	POST /tagStream            StreamName | StreamARN, Tags
//	POST /untagStream          StreamName | StreamARN, TagKeyList
//	POST /listTagsForStream    StreamName | StreamARN → Tags
//	POST /listFragments        (Kinesis Video Streams Archived Media) StreamName | StreamARN,
//	                           MaxResults (1-1000), NextToken, FragmentSelector → Fragments, NextToken
//	POST /getMedia             (Kinesis Video Streams Media) StreamName | StreamARN, StartSelector
//	                           (StartSelectorType NOW, EARLIEST, FRAGMENT_NUMBER + AfterFragmentNumber,
//	                           SERVER_TIMESTAMP | PRODUCER_TIMESTAMP + StartTimestamp,
//	                           CONTINUATION_TOKEN + ContinuationToken) → video/webm stream
//	POST /getMediaForFragmentList  (Archived Media) StreamName | StreamARN, Fragments (1-1000) → video/webm
//	POST /getClip              (Archived Media) StreamName | StreamARN, ClipFragmentSelector
//	                           (FragmentSelectorType, TimestampRange) → video/mp4
//	POST /getImages            (Archived Media) StreamName | StreamARN, ImageSelectorType, StartTimestamp,
//	                           EndTimestamp, SamplingInterval (≥ 200 ms), Format (JPEG | PNG),
//	                           FormatConfig (JPEGQuality), WidthPixels, HeightPixels, MaxResults
//	                           (1-100, 25), NextToken → Images, NextToken
//	POST /getHLSStreamingSessionURL  (Archived Media) StreamName | StreamARN, PlaybackMode
//	                           (LIVE, LIVE_REPLAY, ON_DEMAND), HLSFragmentSelector, ContainerFormat,
//	                           DiscontinuityMode, DisplayFragmentTimestamp, Expires (300-43200),
//	                           MaxMediaPlaylistFragmentResults (1-5000) → HLSStreamingSessionURL
//	POST /getDASHStreamingSessionURL  (Archived Media) StreamName | StreamARN, PlaybackMode,
//	                           DASHFragmentSelector, DisplayFragmentTimestamp, DisplayFragmentNumber,
//	                           Expires (300-43200), MaxManifestFragmentResults (1-5000)
//	                           → DASHStreamingSessionURL
//
// # HLS sessions
//
// getHLSStreamingSessionURL checks the request as KVS does, finds the
// session's first fragment (ResourceNotFoundException without one; for
// LIVE, when the stream stored nothing in the last 30 s), makes its fMP4
// init segment (so codecs fMP4 or HLS cannot carry are refused up front:
// UnsupportedStreamMediaTypeException, MissingCodecPrivateDataException),
// and returns <endpoint>/hls/v1/getHLSMasterPlaylist.m3u8?SessionToken=…
// (the endpoint as getDataEndpoint gives it). The token (package hls) is
// signed, holds the whole session (stream and its ARN, mode, selector,
// range, options, expiry) and is the only credential of the session's
// GETs, which RegisterHLS mounts outside the SigV4 middleware:
//
//	GET /hls/v1/getHLSMasterPlaylist.m3u8   one variant: CODECS, RESOLUTION, BANDWIDTH
//	GET /hls/v1/getHLSMediaPlaylist.m3u8    one segment per stored fragment
//	GET /hls/v1/getMP4InitFragment.mp4      [FragmentNumber=] ftyp+moov of that fragment's tracks
//	GET /hls/v1/getMP4MediaFragment.mp4     FragmentNumber= one moof+mdat
//	GET /hls/v1/getTSFragment.ts            FragmentNumber= one MPEG-TS segment (MPEG_TS sessions)
//
// Segments come from replay's MP4 writer (WriteMP4Init, WriteMP4Segment),
// or for ContainerFormat MPEG_TS its TS writer (WriteTSSegment: the same
// samples and timing, another container), decrypted in memory. An
// MPEG_TS session carries what KVS's does, H.264 or H.265 video and AAC
// audio: it leaves Opus out (TS players do not take it; fMP4 sessions
// carry it), and anything else is UnsupportedStreamMediaTypeException
// when the session is asked for; its playlists are version 3 without EXT-X-MAP
// and its segments video/mp2t; the resources of the other container
// answer InvalidArgumentException. A fragment outside the session's
// range, or of another stream, is out of the token's scope:
// NotAuthorizedException with HTTP 403, as an invalid or expired token (a
// fragment number nothing stores is ResourceNotFoundException). They allow any origin (CORS
// Access-Control-Allow-Origin: *, for hls.js on any page). The session
// lives in its token: a playlist numbers the session's fragments from 0
// at its start (EXT-X-MEDIA-SEQUENCE), so a sliding LIVE playlist
// numbers a fragment alike on every reload. The Handler keeps where each
// session's last walk of the index ended (walks.go, a bounded LRU), so a
// reload reads only what was stored since; a session it forgot, or any
// after a restart, is walked from its start again. LIVE lists the newest
// MaxMediaPlaylistFragmentResults (5) fragments; LIVE_REPLAY lists them
// from StartTimestamp, as far as the playback time elapsed since the
// session began plus 6 s, and ends (EXT-X-ENDLIST) once an EndTimestamp
// has passed; ON_DEMAND lists the first 1000 of its range and ends.
// DiscontinuityMode ALWAYS (the default with server timestamps) marks
// every fragment boundary, ON_DISCONTINUITY a gap of more than 50 ms or
// a change of codecs or picture size, NEVER (the default with producer
// timestamps) only the latter, which also starts a new EXT-X-MAP.
//
// # DASH sessions
//
// getDASHStreamingSessionURL is an HLS fMP4 session with another
// manifest: the same checks and errors (openSession, with DASH's member
// names in them), the same token (hls.Session with DASH set, so its
// token opens no HLS playlist and an HLS token no manifest), the same
// window of fragments (segments) and the same segment handlers, mounted
// by RegisterHLS under KVS's DASH paths as well:
//
//	GET /dash/v1/getDASHManifest.mpd       the MPD (package dash)
//	GET /dash/v1/getMP4InitFragment.mp4    TrackNumber= FragmentNumber= ftyp+moov of one track
//	GET /dash/v1/getMP4MediaFragment.mp4   TrackNumber= SequenceNumber= moof+mdat of one track
//
// The manifest has one AdaptationSet per track (video; audio when
// present), so each segment request names its track (TrackNumber, 1
// based, in the fragment's order; replay.MP4Options.Track); without one
// (HLS) a segment carries every track. Its media template numbers
// segments by their place in the session ($Number$, 1 for the session's
// first fragment), as KVS does; SequenceNumber resolves it in the
// session's window as the manifest's request left it, or for an older
// one by counting the session's fragments from its start, and a
// FragmentNumber is accepted as well. ON_DEMAND manifests are static;
// LIVE and LIVE_REPLAY ones dynamic (availabilityStartTime: the
// session's Origin for LIVE, its creation for LIVE_REPLAY, whose window
// runs ahead of the playback as its HLS playlist does;
// minimumUpdatePeriod: the newest fragment's duration), and an ended
// LIVE_REPLAY turns static. A DASH session's DiscontinuityMode is NEVER:
// a codec change starts a new Period (its id counts the changes since
// the session began and its start is its first fragment's, so both stay
// the same on every reload of a sliding window), and a gap in
// the recording is a gap in the SegmentTimeline.
// DisplayFragmentNumber and DisplayFragmentTimestamp ALWAYS add kvs:fn
// and kvs:ts to each S element, as KVS does.
//
// # Media operations
//
// getMedia and getMediaForFragmentList answer with one self-contained
// Matroska file (EBML header + Segment) per fragment, back to back, as
// KVS sends its "chunks"; each carries the tags
// AWS_KINESISVIDEO_FRAGMENT_NUMBER, _SERVER_TIMESTAMP and
// _PRODUCER_TIMESTAMP (replay.Source.AppendFragmentMKV), and getMedia's
// also _CONTINUATION_TOKEN and _MILLIS_BEHIND_NOW. getMedia flushes each
// fragment, and once it has caught up it waits on index.Stored (a wake-up
// when the stream's next fragment is stored, no polling), so a follower is
// one fragment (about 2 s) behind the camera. A session that stays idle
// for Handler.GetMediaIdle ends as KVS's does: a last Segment holding only
// a Tags element with the continuation token to resume from. getClip
// writes the fragments of the range as one MP4 through replay's MP4
// writer (the plain API's /v1/streams/<name>/media?format=mp4 path).
//
// getImages makes a picture per sample time from the video keyframe at or
// before it in the fragment that holds it, decoded by ffmpeg through
// Handler.Thumbnails (shared with the web page's pictures); a sample in a
// gap is the image error NO_MEDIA, an undecodable frame MEDIA_ERROR.
// Without ffmpeg it answers AWS's common error NotImplemented (HTTP 501).
//
// Limits (KVS quotas, configurable): getMedia takes
// Handler.GetMediaCallsPerSecond calls per second per stream (5; then
// ClientLimitExceededException, HTTP 400; ConnectionLimitExceededException
// is KVS's error for concurrent connections, which the appliance does not
// bound) and holds each session to Handler.GetMediaBytesPerSecond (25 MB/s).
// getClip stops at 200 fragments or 100 MB, as KVS does (the clip is cut,
// not refused).
//
// Errors: an unknown stream, or a fragment number the stream does not
// hold (AfterFragmentNumber, Fragments), is ResourceNotFoundException
// (404); so is a getClip range without fragments. getClip of a stream with
// DataRetentionInHours 0 is NoDataRetentionException; codecs MP4 cannot
// carry are UnsupportedStreamMediaTypeException, codec private data that
// cannot be read InvalidCodecPrivateDataException. A selector missing its
// member (FRAGMENT_NUMBER without AfterFragmentNumber ...) is
// InvalidArgumentException. Failures after the first byte cut the
// connection (the status is gone), and are logged.
//
// Paths no operation claims: Fallback sends a SigV4-signed POST to
// UnknownOperation (HTTP 404, UnknownOperationException naming the path),
// through the SigV4 middleware so a bad signature still gets its AWS
// error, and anything else to the handler behind it (the web page and the
// plain API with their Basic auth): a correctly signed request never gets
// a Basic challenge. getDataEndpoint answers only for the APIs served
// (GET_MEDIA, LIST_FRAGMENTS, GET_MEDIA_FOR_FRAGMENT_LIST, GET_CLIP,
// GET_IMAGES, GET_HLS_STREAMING_SESSION_URL and Handler.ExtraDataAPIs)
// and refuses the others with
// InvalidArgumentException.
//
// Requests are validated as KVS validates them (stream names 1 to 256 of
// [a-zA-Z0-9_.-], retention 0 to 87600 hours, tag keys 1 to 128 and values
// 0 to 256 characters, at most 50 tags per stream). Errors are KVS's:
// the HTTP status (404 for ResourceNotFoundException, 401 for
// NotAuthorizedException and AccessDeniedException, 400 for the others),
// the type in the X-Amzn-ErrorType header ("<Type>:") and in "__type", the
// text in "message", which is how aws-sdk-go-v2's restjson deserializers
// pick the typed error. Timestamps are JSON numbers of epoch seconds.
//
// # Where the appliance differs from AWS
//
//   - A createStream without DataRetentionInHours keeps Handler's
//     DefaultRetentionHours (24 h unless set): the appliance exists to keep
//     video. An explicit 0 is KVS's "no persistence" (index.ZeroRetentionHours:
//     the index keeps a short window for live readers).
//   - KmsKeyId names the appliance's data-key line (index Stream.KeyAlias);
//     describeStream omits it when none was given (the sealing code then uses
//     the stream name), where AWS would name its managed key.
//   - getDataEndpoint returns the appliance itself, as the client reached it:
//     the scheme of the connection and the Host header (or
//     Handler.DataEndpoint when set, for an appliance behind a proxy).
//   - listTagsForStream returns every tag in one page (at most 50).
//   - Continuation tokens are "<fragment number>_<server time, Unix ns>"
//     (KVS's are opaque): the time lets a token resume after its fragment
//     expired. StartSelector FRAGMENT_NUMBER starts after the fragment
//     named (KVS: "start with the chunk after a specific fragment").
//   - NOW starts with the latest stored fragment (KVS: "the latest
//     chunk"), then follows; the appliance stores whole fragments, so it
//     cannot hand out the fragment still being recorded, as KVS streams a
//     PutMedia fragment still arriving.
//   - GetMediaIdle (10 s) is the appliance's choice: KVS documents that an
//     idle GetMedia ends with the continuation token, not after how long.
//   - getClip is a fragmented MP4 (the plain API's writer), where KVS
//     writes a progressive one; both play in every MP4 player.
//   - getImages pictures the keyframe at or before each sample time (the
//     appliance decodes keyframes only, so with 2-s fragments a picture
//     may be up to a GOP older than its TimeStamp, which is the sample
//     time asked).
//   - getMedia sends a stream's fragments in server-time order; a fragment
//     stored after the session passed its server time (an ingest that
//     stores out of order) is not sent to that session.
//   - HLS sessions: the init segment URL may name a FragmentNumber (the
//     one after a codec change); a LIVE_REPLAY playlist advances with the
//     session's wall-clock age, not with what the player fetched (the
//     session keeps no state); a restart of the appliance ends every
//     session (the token key is per process unless Handler.HLSSigner is
//     set); each media segment's last frame lasts as long as the one
//     before it (segments are made alone).
//   - DASH sessions: KVS does not document the namespace of kvs:fn and
//     kvs:ts (dash.Namespace is the appliance's own) nor kvs:ts's format
//     (RFC 3339 UTC with milliseconds here); segments are made alone, so
//     an audio track's segments may overlap or leave a gap of under a
//     millisecond (the Matroska timecodes' precision) where they meet;
//     a G.711 track is refused (UnsupportedStreamMediaTypeException) as
//     in HLS sessions, where KVS's DASH carries it: fMP4 would hold it
//     as linear PCM ("ipcm"), which neither browsers' MSE nor the
//     ffmpeg here (5.1) reads.
//   - The media operations send no error chunks (AWS_KINESISVIDEO_ERROR_ID):
//     a fragment that expires while a session reads is skipped, any other
//     failure cuts the connection.
//
// # Tags
//
// Tags are kept by the index with the stream ((*index.Index).StreamTags,
// UpdateStreamTags), by stream id: a stream deleted and created again
// under the same name starts without tags, and a deleted stream's tags
// are purged with its fragments.
//
// # Wiring
//
// Register mounts every operation on a ServeMux, each wrapped by the
// SigV4 middleware:
//
//	v := &awsproto.Verifier{Secret: ..., Service: "kinesisvideo"}
//	sigv4 := func(next http.Handler) http.Handler { return awsproto.Middleware(v, next, 0) }
//	h := &kvs.Handler{Index: idx, Opener: keyring, Logger: logger}
//	h.Register(mux, sigv4)
//	h.RegisterHLS(mux) // token-authenticated GETs (HLS and DASH), ahead of any login
//	mux.Handle("/", h.Fallback(sigv4, webPage))
package kvs
