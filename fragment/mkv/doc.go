// Package mkv writes and reads the Matroska subset kinedge stores and
// serves: one EBML header, a Segment, Info, Tracks, Clusters of
// SimpleBlocks, and Tags (Matroska: RFC 9559; EBML: RFC 8794). It imports
// nothing of the application.
//
// # Why our own EBML code
//
// The element set is fixed and tiny, the writer sits on the hot path of
// every fragment, and the fragment store needs a cluster whose timecode can
// be rewritten in place. A general EBML library (ebml-go was considered)
// marshals through reflection and cannot promise either property, so the
// writer is a set of append functions over caller-owned byte slices that do
// not allocate when the slice has room (see BenchmarkWriteCluster), and the
// reader is a small streaming state machine hardened for untrusted input.
//
// # Writing
//
// Every timecode is in milliseconds (TimecodeScale 1,000,000 ns). A live
// stream is AppendEBMLHeader, AppendSegmentStart (unknown size), AppendInfo,
// AppendTracks, then clusters; a self-contained single-fragment file is
// AppendFragment. A cluster is
//
//	start := len(buf)
//	buf = mkv.AppendClusterStart(buf, 0)
//	buf, err = mkv.AppendSimpleBlock(buf, 1, relMS, key, frame) // repeated
//	err = mkv.FinishCluster(buf[start:])
//
// Its size is known, and its Timecode element is always the 8-byte unsigned
// integer at ClusterTimecodeOffset (14) from the cluster's first byte, so
// PatchClusterTimecode can move a stored cluster (kept with timecode 0) to
// any point in time without re-encoding. Block timecodes are signed 16-bit
// milliseconds relative to the cluster, so a cluster spans at most about
// 32 s; AppendSimpleBlock returns ErrTimecodeRange beyond that.
//
// Codec private data: AVCConfig (H.264), HEVCConfig (H.265), OpusHead
// (Opus); AAC uses its AudioSpecificConfig as is. VideoSize reads the
// picture size from an SPS.
//
// Kinesis Video Streams compatibility: AppendTags writes the KVS fragment
// tags (TagFragmentNumber, TagServerTimestamp, TagProducerTimestamp) as
// SimpleTags of a Tag with TargetTypeValue 50, which ffmpeg shows as format
// tags; AppendFragment puts them after the cluster, as KVS does, and adds a
// SeekHead so seeking players find them. Nothing serves these files yet:
// they are the fragments of KVS GetMedia and GetMediaForFragmentList, which
// come with the KVS media APIs (see replay.Source.AppendFragmentMKV).
//
// # Reading
//
// Reader turns a stream into events (Header, SegmentInfo, Tracks,
// ClusterStart, Block, ClusterEnd, Tags). It accepts Segments and Clusters
// of unknown size (ffmpeg and GStreamer live output; an unknown-size cluster
// ends at the next segment-level element), several header+segment pairs in
// a row (KVS GetMedia output), BlockGroups (keyframe = no ReferenceBlock)
// and Xiph, EBML and fixed-size lacing, and skips every element it does not
// know. Against hostile input it bounds element size
// (ReaderOptions.MaxElementSize), nesting (MaxDepth) and the number of
// tracks and tags, and allocates only as data actually arrives, so a size
// field of 2^56 costs nothing. Its errors are final, except that a live
// receiver may call Resync after malformed data inside a segment: it
// skips to the next Cluster ID and reading goes on (KVS PutMedia acks the
// broken cluster with an error and keeps the session).
package mkv
