// Package hls writes HTTP Live Streaming playlists (RFC 8216) for fMP4
// and MPEG-TS segments, and signs the session tokens that let a player fetch them
// without credentials. It is a leaf: it imports nothing of the appliance;
// the KVS GetHLSStreamingSessionURL operation (dataplane/video/kvs) and
// the web page's live view build on it, and so do KVS
// GetDASHStreamingSessionURL's sessions (Session.DASH: the same token,
// window and segments, with an MPD of package dash instead of the
// playlists), and the segments themselves come
// from the MP4 export (dataplane/video/replay: WriteMP4Init,
// WriteMP4Segment; WriteTSSegment for MPEG-TS sessions, on the same
// sample and timing path), so there is one muxer of samples.
//
// # Playlists
//
// A MediaPlaylist is written as RFC 8216 version 7 (fMP4 segments need
// EXT-X-MAP, section 4.3.2.5, and version 6 or later; version 7 lets the
// map stand in a playlist without I-frames only):
//
//	#EXTM3U
//	#EXT-X-VERSION:7
//	#EXT-X-TARGETDURATION:<the longest segment, rounded up>
//	#EXT-X-MEDIA-SEQUENCE:<the first segment's sequence number>
//	#EXT-X-DISCONTINUITY-SEQUENCE:<n>    when not 0
//	#EXT-X-PLAYLIST-TYPE:VOD              when Ended (ON_DEMAND)
//	#EXT-X-INDEPENDENT-SEGMENTS           every segment starts with a keyframe
//	#EXT-X-MAP:URI="<init segment>"
//	#EXT-X-DISCONTINUITY                  before a segment after a gap or a codec change
//	#EXT-X-PROGRAM-DATE-TIME:<RFC 3339>   per segment when ShowTime
//	#EXTINF:<seconds>,
//	<segment URI>
//	#EXT-X-ENDLIST                        when Ended
//
// A discontinuity that changes the codec parameters is followed by a new
// EXT-X-MAP (section 4.3.2.5: a map applies until the next one), so a
// player reinitialises its decoder there.
//
// A playlist of MPEG-TS segments (KVS ContainerFormat MPEG_TS,
// Session.TS) has no EXT-X-MAP: each segment carries its own PAT, PMT and
// parameter sets. It is written as version 3 (MediaPlaylist.Version; the
// decimal EXTINF durations need 3, section 7), and so is its master
// playlist.
//
// A MasterPlaylist lists variants with BANDWIDTH, CODECS (RFC 6381 codec
// strings, see CodecString) and RESOLUTION (section 4.3.4.2).
//
// # Session tokens
//
// A Session says what a token opens: one stream, a playback mode, a
// fragment selector and its range, the playlist options, and an expiry.
// Its token is the JSON of the session and its HMAC-SHA256 under the
// Signer's key, both base64url without padding and joined by a dot: the
// envelope of mediatoken (mediatoken.Seal and Open, one implementation);
// Verify parses untrusted bytes (bounded by MaxTokenLen,
// fuzzed) and answers ErrTokenExpired or ErrTokenInvalid. The key is
// random per process unless the caller keeps one: a restart ends every
// session, as a KVS session ends at its Expires.
package hls
